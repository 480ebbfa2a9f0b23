"""The store's master key: never replaced over existing data, never another store's.

And a store upgraded from the unkeyed audit chain keeps its old events, pinned by the key
record, and continues the chain keyed (ADR 0011). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text

from sightline.config import Settings
from sightline.domain.audit import GENESIS_HASH, chain_hash, event_hash
from sightline.errors import MasterKeyError
from sightline.services.access import audit
from sightline.services.context import initialise, open_context
from sightline.storage import migrate
from sightline.storage.blobs.keys import create_master_key
from sightline.storage.db import make_engine
from sightline.storage.orm import AuditEventRow


def _populate(settings: Settings) -> None:
    initialise(settings)
    ctx = open_context(settings)
    try:
        with ctx.uow() as uow:
            audit.record(uow, actor="cli:tester", action="search", resource="case:1")
            uow.commit()
    finally:
        ctx.close()


def _other_key(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "master.key"
    create_master_key(path)
    return path


def test_init_never_creates_a_key_over_existing_data(settings: Settings) -> None:
    _populate(settings)
    settings.key_path.unlink()
    with pytest.raises(MasterKeyError, match="restore the key file from backup") as raised:
        initialise(settings)
    assert "sightline init" not in raised.value.message
    assert not settings.key_path.exists()
    with pytest.raises(MasterKeyError, match="restore the key file from backup") as raised:
        open_context(settings)
    assert "sightline init" not in raised.value.message


def test_init_never_creates_a_key_over_stored_blobs(sqlite_settings: Settings) -> None:
    """A blob store with files but no database (it was moved, or the database was lost)."""
    blob = sqlite_settings.media_dir / "ab" / "blob"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"encrypted")
    with pytest.raises(MasterKeyError, match="restore the key file"):
        initialise(sqlite_settings)
    assert not sqlite_settings.key_path.exists()


def test_a_new_store_without_a_key_is_told_to_run_init(settings: Settings) -> None:
    with pytest.raises(MasterKeyError, match="run `sightline init`"):
        open_context(settings)
    assert not (settings.data_dir / "sightline.db").exists()  # looking created nothing
    assert "created master key" in " ".join(initialise(settings))


def test_another_stores_key_is_refused(settings: Settings, tmp_path: Path) -> None:
    _populate(settings)
    original = settings.key_path.read_bytes()
    settings.key_path.unlink()
    shutil.copy2(_other_key(tmp_path), settings.key_path)
    for step in (open_context, initialise):
        with pytest.raises(MasterKeyError, match="not the store's master key"):
            step(settings)
    settings.key_path.unlink()
    settings.key_path.write_bytes(original)
    settings.key_path.chmod(0o600)
    open_context(settings).close()  # the restored key is accepted again


def test_a_store_whose_key_record_was_deleted_refuses_to_open(settings: Settings) -> None:
    _populate(settings)
    engine = make_engine(settings)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("ALTER TABLE store_key DISABLE TRIGGER USER"))
            else:
                connection.execute(text("DROP TRIGGER store_key_no_delete"))
            connection.execute(text("DELETE FROM store_key"))
    finally:
        engine.dispose()
    for step in (open_context, initialise):  # init does not write a fresh record over data
        with pytest.raises(MasterKeyError, match="restore the database from backup"):
            step(settings)


def _legacy_store(settings: Settings, count: int) -> None:
    """A store as version 0006 left it: plain SHA-256 audit events, no key record."""
    settings.data_dir.mkdir(parents=True)
    create_master_key(settings.key_path)
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine, "0006")
        prev = GENESIS_HASH
        with engine.begin() as connection:
            for event_id in range(1, count + 1):
                content: dict[str, Any] = {
                    "id": event_id,
                    "occurred_at": datetime(2026, 11, 30, 12, event_id, tzinfo=UTC),
                    "actor": "user:1",
                    "actor_agency_id": None,
                    "action": "search",
                    "resource": f"case:{event_id}",
                    "outcome": "allowed",
                    "source": "cli",
                    "detail": {},
                }
                digest = chain_hash(prev, key=None, **content)
                connection.execute(
                    insert(AuditEventRow).values(**content, prev_hash=prev, hash=digest)
                )
                prev = digest
    finally:
        engine.dispose()


def test_an_unkeyed_trail_is_kept_and_continued_keyed(settings: Settings) -> None:
    _legacy_store(settings, 3)
    assert "events 1 to 3 kept unkeyed" in " ".join(initialise(settings))
    assert initialise(settings) == []  # once
    ctx = open_context(settings)
    try:
        assert audit.verify(ctx).ok
        with ctx.uow() as uow:
            audit.record(uow, actor="user:1", action="search", resource="case:9")
            uow.commit()
        events = audit.show(ctx)
        key = ctx.master_key.audit_chain_key()
        assert [event_hash(e, None) == e.hash for e in events] == [True, True, True, False]
        assert event_hash(events[3], key) == events[3].hash
        assert events[3].prev_hash == events[2].hash
        assert audit.verify(ctx, audit.head(ctx)).ok
    finally:
        ctx.close()


def test_a_rewritten_unkeyed_segment_is_detected(settings: Settings) -> None:
    """The legacy events use the public recipe, but the key record pins their last hash."""
    _legacy_store(settings, 3)
    initialise(settings)
    ctx = open_context(settings)
    try:
        events = audit.show(ctx)
        prev = events[0].hash
        with ctx.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            else:
                connection.execute(text("DROP TRIGGER audit_events_no_update"))
            for event in events[1:]:
                fields: dict[str, Any] = {
                    "id": event.id,
                    "occurred_at": event.occurred_at,
                    "actor": "user:666" if event.id == 2 else event.actor,
                    "actor_agency_id": event.actor_agency_id,
                    "action": event.action,
                    "resource": event.resource,
                    "outcome": event.outcome,
                    "source": event.source,
                    "detail": dict(event.detail),
                }
                digest = chain_hash(prev, key=None, **fields)
                connection.execute(
                    text(
                        "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h "
                        "WHERE id = :i"
                    ),
                    {"a": fields["actor"], "p": prev, "h": digest, "i": event.id},
                )
                prev = digest
        report = audit.verify(ctx)
        assert (report.ok, report.first_bad_id) == (False, 3)
        assert "unkeyed trail" in str(report.problem)
    finally:
        ctx.close()
