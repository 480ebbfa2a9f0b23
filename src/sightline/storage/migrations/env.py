"""Alembic environment: runs the package's migrations on the configured engine.

The caller passes an open connection in ``config.attributes["connection"]`` (see
``sightline.storage.migrate``); the same scripts run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from sightline.storage.orm import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url or pass a connection")
    with create_engine(url).connect() as conn:
        _run(conn)
