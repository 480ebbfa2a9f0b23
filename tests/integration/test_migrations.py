"""The same Alembic migrations create, upgrade and empty both databases."""

from __future__ import annotations

from sqlalchemy import inspect

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
                MigrationContext.configure(connection, opts={"compare_type": False}),
                Base.metadata,
            )
        assert diff == []
    finally:
        engine.dispose()
