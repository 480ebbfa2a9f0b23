"""The same Alembic migrations create, upgrade and empty both databases."""

from __future__ import annotations

from sqlalchemy import MetaData, String, inspect

from sightline.config import Settings
from sightline.storage import migrate
from sightline.storage.db import make_engine
from sightline.storage.orm import Base

TABLES = set(Base.metadata.tables)


def test_upgrade_from_empty_then_downgrade(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert set(inspect(engine).get_table_names()) >= TABLES
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) & TABLES == set()
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_migrations_match_the_models(settings: Settings) -> None:
    """Autogenerate finds nothing to change: the models and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}),
                Base.metadata,
            )
        assert diff == []
    finally:
        engine.dispose()


def test_the_comparison_sees_column_types(settings: Settings) -> None:
    """The check above would notice type drift: a column declared with another type shows up."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["cases"].c.reference.type = String(50)
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}), drifted
            )
        # Column changes come as lists of (op, schema, table, column, ...), the rest as tuples.
        changes = [c for entry in diff for c in (entry if isinstance(entry, list) else [entry])]
        assert [(c[0], c[2], c[3]) for c in changes] == [("modify_type", "cases", "reference")]
    finally:
        engine.dispose()
