"""keyed audit chain: the store's key record, inserts only at the end of the trail

``store_key`` holds one row, written by ``sightline init`` (it needs the master key, which a
migration does not have): the key's id and check value, and where the keyed audit chain starts
(ADR 0011). The row is written once: updates, deletes and a second insert are refused.

``audit_events`` gets a guard on INSERT: a new event must take the next id and link to the
newest event's hash. That closes what the UPDATE and DELETE triggers of 0004 left open: on
SQLite, ``INSERT OR REPLACE`` (``REPLACE INTO``) deletes the conflicting row without firing
delete triggers, and an insert in the middle of the trail (on both databases) is refused
instead of merely detected. Upserts (``ON CONFLICT DO UPDATE``) and ``MERGE`` fire the insert
guard first and the update guard after.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY_MESSAGE = "store_key is written once"


def upgrade() -> None:
    op.create_table(
        "store_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("key_check", sa.String(length=64), nullable=False),
        sa.Column("legacy_last_id", sa.Integer(), nullable=False),
        sa.Column("legacy_head_hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_key")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_guards()
    else:
        _sqlite_guards()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_at_end ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_at_end()")
        op.execute("DROP TRIGGER IF EXISTS store_key_written_once ON store_key")
        op.execute("DROP TRIGGER IF EXISTS store_key_no_truncate ON store_key")
        op.execute("DROP TRIGGER IF EXISTS store_key_single_row ON store_key")
        op.execute("DROP TABLE store_key")
        op.execute("DROP FUNCTION IF EXISTS store_key_written_once()")
        op.execute("DROP FUNCTION IF EXISTS store_key_single_row()")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_events_append_at_end")
    op.drop_table("store_key")  # its triggers go with it


def _sqlite_guards() -> None:
    # BEFORE INSERT runs before REPLACE's conflict resolution, so the conflicting row is never
    # deleted; RAISE(ABORT) ends the statement whatever its ON CONFLICT clause says.
    op.execute(
        "CREATE TRIGGER audit_events_append_at_end BEFORE INSERT ON audit_events "
        "WHEN NEW.id IS NOT (SELECT COALESCE(MAX(id), 0) + 1 FROM audit_events) "
        "OR NEW.prev_hash IS NOT COALESCE("
        "(SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1), "
        "'0000000000000000000000000000000000000000000000000000000000000000') "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
    )
    for verb in ("update", "delete"):
        op.execute(
            f"CREATE TRIGGER store_key_no_{verb} BEFORE {verb.upper()} ON store_key "
            f"BEGIN SELECT RAISE(ABORT, '{_KEY_MESSAGE}'); END"
        )
    op.execute(
        "CREATE TRIGGER store_key_single_row BEFORE INSERT ON store_key "
        "WHEN NEW.id IS NOT 1 OR EXISTS (SELECT 1 FROM store_key) "
        "BEGIN SELECT RAISE(ABORT, 'store_key is written once'); END"
    )


def _postgres_guards() -> None:
    op.execute(
        "CREATE FUNCTION audit_events_append_at_end() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE last_id integer; last_hash text; "
        "BEGIN "
        "SELECT id, hash INTO last_id, last_hash FROM audit_events ORDER BY id DESC LIMIT 1; "
        "IF NEW.id IS DISTINCT FROM COALESCE(last_id, 0) + 1 "
        "OR NEW.prev_hash IS DISTINCT FROM COALESCE(last_hash, "
        "'0000000000000000000000000000000000000000000000000000000000000000') THEN "
        "RAISE EXCEPTION 'audit_events is append-only'; END IF; "
        "RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_events_append_at_end BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_at_end()"
    )
    op.execute(
        "CREATE FUNCTION store_key_written_once() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{_KEY_MESSAGE}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER store_key_written_once BEFORE UPDATE OR DELETE ON store_key "
        "FOR EACH ROW EXECUTE FUNCTION store_key_written_once()"
    )
    op.execute(
        "CREATE TRIGGER store_key_no_truncate BEFORE TRUNCATE ON store_key "
        "FOR EACH STATEMENT EXECUTE FUNCTION store_key_written_once()"
    )
    op.execute(
        "CREATE FUNCTION store_key_single_row() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF NEW.id IS DISTINCT FROM 1 OR EXISTS (SELECT 1 FROM store_key) THEN "
        "RAISE EXCEPTION 'store_key is written once'; END IF; RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER store_key_single_row BEFORE INSERT ON store_key "
        "FOR EACH ROW EXECUTE FUNCTION store_key_single_row()"
    )
