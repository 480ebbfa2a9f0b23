"""What repositories need when several processes write at once (PostgreSQL).

Helpers portable between SQLite and PostgreSQL:

- :func:`insert_ignoring` builds ``INSERT ... ON CONFLICT (key) DO NOTHING`` through the
  dialect's own ``insert``: two ingests storing the same new file at once both succeed, the
  second finding the first's row, instead of one failing on the unique key. On PostgreSQL the
  second insert waits for the first transaction and then does nothing if it committed.
  :func:`insert_or_update` is the same with ``DO UPDATE`` (the last writer's values win).
- :func:`open_writers` names the transactions that may still commit rows into some tables,
  which is how an index that catches up by id knows when ids stop arriving out of order
  (ADR 0010).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sightline.storage.orm import Base

# Every transaction holding a row-writing lock on one of the tables, other than our own.
# Relation locks are taken when a statement is planned, before its defaults (the id sequence's
# nextval) are evaluated, and held until the transaction ends: a transaction that holds an id
# it has not committed yet always appears here. ``virtualtransaction`` is unique per
# transaction, so a name that disappears never comes back.
_WRITERS = text(
    """
    SELECT DISTINCT l.virtualtransaction
    FROM pg_locks AS l
    WHERE l.locktype = 'relation'
      AND l.mode = 'RowExclusiveLock'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.relation = ANY(CAST(:tables AS regclass[]))
      AND l.pid IS DISTINCT FROM pg_backend_pid()
    """
)


def insert_ignoring(session: Session, entity: type[Base], key: Sequence[str]) -> Insert:
    """``INSERT`` into ``entity``'s table that skips rows whose unique ``key`` is stored."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(entity).on_conflict_do_nothing(index_elements=list(key))
    return sqlite.insert(entity).on_conflict_do_nothing(index_elements=list(key))


def insert_or_update(
    session: Session, entity: type[Base], key: Sequence[str], columns: Sequence[str]
) -> Insert:
    """``INSERT`` into ``entity``'s table that overwrites ``columns`` of a row already stored."""
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(entity)
        return pg.on_conflict_do_update(
            index_elements=list(key), set_={c: pg.excluded[c] for c in columns}
        )
    lite = sqlite.insert(entity)
    return lite.on_conflict_do_update(
        index_elements=list(key), set_={c: lite.excluded[c] for c in columns}
    )


def open_writers(session: Session, tables: Sequence[str]) -> frozenset[str] | None:
    """Transactions (by opaque name) that may still commit rows into ``tables``.

    ``None`` where the database assigns ids in commit order (SQLite: one writer at a time,
    holding the write lock from its first insert to its commit), so an id seen means every
    lower id is final.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    rows = session.execute(_WRITERS, {"tables": list(tables)})
    return frozenset(str(name) for (name,) in rows)
