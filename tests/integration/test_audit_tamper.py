"""Attacks on the audit trail by someone with database access but without the master key.

Each attack is first tried with the database guards on (they must refuse it), then with the
guards off, as an owner of the database could (the keyed chain, the key record or a signed
checkpoint must expose it). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Executable, insert, text
from sqlalchemy.exc import DBAPIError

from sightline.domain.audit import GENESIS_HASH, chain_hash
from sightline.errors import BlobIntegrityError, InvalidInputError
from sightline.services.access import audit
from sightline.services.access.audit_checkpoint import make_checkpoint, read_checkpoint
from sightline.services.context import AppContext
from sightline.storage.blobs.keys import MasterKey
from sightline.storage.orm import AuditEventRow

N = 5
COLUMNS = (
    "id, occurred_at, actor, actor_agency_id, action, resource, outcome, source, detail, "
    "prev_hash, hash"
)


def _record(ctx: AppContext, count: int) -> None:
    for i in range(count):
        with ctx.uow() as uow:
            audit.record(uow, actor="user:1", action="search", resource=f"case:{i + 1}")
            uow.commit()


@pytest.fixture
def trail(ctx: AppContext) -> AppContext:
    _record(ctx, N)
    return ctx


def _rows(ctx: AppContext) -> list[Any]:
    with ctx.engine.connect() as connection:
        return list(connection.execute(text("SELECT * FROM audit_events ORDER BY id")))


def _guards_off(ctx: AppContext, *statements: str, **params: Any) -> None:
    """Lift every guard on the audit tables, as the database's owner can, then run SQL."""
    with ctx.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            connection.execute(text("ALTER TABLE store_key DISABLE TRIGGER USER"))
        else:
            for name in ("no_update", "no_delete", "append_at_end"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS audit_events_{name}"))
            for name in ("no_update", "no_delete", "single_row"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS store_key_{name}"))
        for statement in statements:
            connection.execute(text(statement), params)


def _refused(ctx: AppContext, statement: str | Executable, **params: Any) -> None:
    sql = text(statement) if isinstance(statement, str) else statement
    with pytest.raises(DBAPIError, match="append-only"), ctx.engine.begin() as connection:
        connection.execute(sql, params)


def _forged(event_id: int, prev_hash: str) -> dict[str, Any]:
    """A well-formed event by someone who knows the recipe but not the key (plain SHA-256)."""
    content: dict[str, Any] = {
        "id": event_id,
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
        "actor": "user:666",
        "actor_agency_id": None,
        "action": "search",
        "resource": "case:1",
        "outcome": "allowed",
        "source": "cli",
        "detail": {},
    }
    return content | {"prev_hash": prev_hash, "hash": chain_hash(prev_hash, key=None, **content)}


def _insert(values: dict[str, Any], prefix: str | None = None) -> Executable:
    statement = insert(AuditEventRow).values(**values)
    return statement if prefix is None else statement.prefix_with(prefix)


# --- the guards refuse every rewrite --------------------------------------------------------


def test_replace_cannot_rewrite_or_delete_an_event(sqlite_ctx: AppContext) -> None:
    """SQLite's REPLACE deletes a conflicting row without firing delete triggers."""
    trail = sqlite_ctx
    _record(trail, N)
    before = _rows(trail)
    copy = COLUMNS.replace("actor,", "'user:2',", 1)
    for verb in ("INSERT OR REPLACE", "REPLACE"):
        _refused(
            trail,
            f"{verb} INTO audit_events ({COLUMNS}) SELECT {copy} FROM audit_events WHERE id = 1",
        )
    # a new id whose unique prev_hash collides with event 1: REPLACE would delete event 1
    _refused(trail, _insert(_forged(N + 1, before[0].prev_hash), "OR REPLACE"))
    assert _rows(trail) == before
    assert audit.verify(trail).ok


def test_upserts_cannot_rewrite_an_event(trail: AppContext) -> None:
    before = _rows(trail)
    _refused(
        trail,
        f"INSERT INTO audit_events ({COLUMNS}) SELECT {COLUMNS} FROM audit_events WHERE id = 1 "
        "ON CONFLICT (id) DO UPDATE SET actor = 'user:2'",
    )
    _refused(
        trail,
        f"INSERT INTO audit_events ({COLUMNS}) SELECT {COLUMNS} FROM audit_events WHERE id = 2 "
        "ON CONFLICT (hash) DO UPDATE SET resource = 'case:9'",
    )
    with trail.engine.connect() as connection:
        version = connection.dialect.server_version_info or (0,)
    if trail.engine.dialect.name == "postgresql" and version >= (15,):
        _refused(
            trail,
            "MERGE INTO audit_events t USING (SELECT 3 AS id) s ON t.id = s.id "
            "WHEN MATCHED THEN UPDATE SET actor = 'user:2'",
        )
        _refused(
            trail,
            "MERGE INTO audit_events t USING (SELECT 3 AS id) s ON t.id = s.id "
            "WHEN MATCHED THEN DELETE",
        )
    assert _rows(trail) == before


def test_updates_deletes_and_truncation_are_refused(trail: AppContext) -> None:
    before = _rows(trail)
    _refused(trail, "UPDATE audit_events SET actor = 'user:2' WHERE id = 1")
    _refused(trail, "DELETE FROM audit_events WHERE id = 3")
    _refused(trail, "DELETE FROM audit_events")
    if trail.engine.dialect.name == "postgresql":
        _refused(trail, "TRUNCATE audit_events")
    assert _rows(trail) == before


def test_inserts_anywhere_but_the_next_link_are_refused(trail: AppContext) -> None:
    rows = _rows(trail)
    _refused(trail, _insert(_forged(3, rows[1].hash)))  # in the middle
    _refused(trail, _insert(_forged(N + 2, rows[-1].hash)))  # leaving a gap
    _refused(trail, _insert(_forged(N + 1, "b" * 64)))  # not linked to the head
    assert _rows(trail) == rows


def test_the_key_record_is_written_once(trail: AppContext) -> None:
    with pytest.raises(DBAPIError, match="written once"), trail.engine.begin() as connection:
        connection.execute(text("UPDATE store_key SET legacy_last_id = 99"))
    with pytest.raises(DBAPIError, match="written once"), trail.engine.begin() as connection:
        connection.execute(text("DELETE FROM store_key"))
    assert audit.verify(trail).ok


# --- what gets past the guards is detected --------------------------------------------------


def test_a_correctly_linked_event_without_the_key_is_detected_even_with_a_head(
    trail: AppContext,
) -> None:
    """The guards let the next link in; without the key its hash cannot be right."""
    with trail.engine.begin() as connection:
        connection.execute(_insert(_forged(N + 1, _rows(trail)[-1].hash)))
    for expected in (None, audit.head(trail)):
        report = audit.verify(trail, expected)
        assert (report.ok, report.first_bad_id) == (False, N + 1)
        assert "forged" in str(report.problem)


def test_a_replaced_event_is_detected(trail: AppContext) -> None:
    rows = _rows(trail)
    forged = _forged(2, rows[0].hash) | {"hash": rows[1].hash}  # keeps the link to event 3
    _guards_off(trail, "DELETE FROM audit_events WHERE id = 2")
    with trail.engine.begin() as connection:
        connection.execute(_insert(forged))
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, 2)


def test_a_trail_replaced_by_a_fresh_chain_is_detected(trail: AppContext) -> None:
    _guards_off(trail, "DELETE FROM audit_events")
    first = _forged(1, GENESIS_HASH)
    with trail.engine.begin() as connection:  # the guards let a correct chain in
        connection.execute(_insert(first))
        connection.execute(_insert(_forged(2, first["hash"])))
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, 1)


@pytest.mark.parametrize(
    "statement",
    ["DELETE FROM audit_events WHERE id >= 4", "DELETE FROM audit_events", "TRUNCATE"],
    ids=["truncated", "deleted", "truncate"],
)
def test_truncation_and_deletion_are_detected_against_a_checkpoint(
    trail: AppContext, statement: str
) -> None:
    checkpoint = make_checkpoint(trail)
    assert checkpoint is not None
    if statement == "TRUNCATE":
        postgres = trail.engine.dialect.name == "postgresql"
        statement = "TRUNCATE audit_events" if postgres else "DELETE FROM audit_events"
    _guards_off(trail, statement)
    assert audit.verify(trail).ok  # a shorter (or empty) chain is still a chain
    expected = read_checkpoint(trail, checkpoint.to_json())
    report = audit.verify(trail, expected)
    first = 1 if "id" not in statement else 4
    assert (report.ok, report.first_bad_id) == (False, first)
    assert f"events {first} to {N} are missing" in str(report.problem)


# --- signed checkpoints -----------------------------------------------------------------------


def test_a_checkpoint_round_trips_and_verifies(trail: AppContext) -> None:
    checkpoint = make_checkpoint(trail)
    assert checkpoint is not None
    assert checkpoint.head == audit.head(trail)
    document = json.loads(checkpoint.to_json())
    assert (document["head_id"], document["key_id"]) == (N, trail.master_key.key_id)
    assert read_checkpoint(trail, checkpoint.to_json()) == checkpoint.head
    _record(trail, 2)  # later events do not invalidate an earlier checkpoint
    assert audit.verify(trail, read_checkpoint(trail, checkpoint.to_json())).ok


def test_an_empty_trail_has_no_checkpoint(ctx: AppContext) -> None:
    assert make_checkpoint(ctx) is None


@pytest.mark.parametrize(
    "change",
    [
        {"head_id": 4},
        {"head_hash": "c" * 64},
        {"created_at": "2020-01-01T00:00:00.000000Z"},
        {"signature": "QUJD"},
    ],
)
def test_an_altered_checkpoint_is_refused(trail: AppContext, change: dict[str, Any]) -> None:
    checkpoint = make_checkpoint(trail)
    assert checkpoint is not None
    document = json.loads(checkpoint.to_json()) | change
    with pytest.raises(BlobIntegrityError, match="signature"):
        read_checkpoint(trail, json.dumps(document))


def test_a_checkpoint_of_another_key_is_refused(trail: AppContext) -> None:
    """Another store's checkpoint, or one an attacker signed with a key of their own."""
    other = dataclasses.replace(trail, master_key=MasterKey.generate())
    forged = make_checkpoint(other)
    assert forged is not None
    with pytest.raises(BlobIntegrityError, match="not signed by this store"):
        read_checkpoint(trail, forged.to_json())
    document = json.loads(forged.to_json()) | {"key_id": trail.master_key.key_id}
    with pytest.raises(BlobIntegrityError, match="not signed by this store"):
        read_checkpoint(trail, json.dumps(document))


@pytest.mark.parametrize(
    "text_",
    ["", "not json", "[]", '{"format": "sightline-audit-checkpoint"}', "x" * 5000],
)
def test_a_malformed_checkpoint_is_invalid_input(trail: AppContext, text_: str) -> None:
    with pytest.raises(InvalidInputError, match="checkpoint"):
        read_checkpoint(trail, text_)


# --- the key record pins where the keyed chain starts ------------------------------------------


def test_a_moved_legacy_boundary_is_detected(trail: AppContext) -> None:
    """Declaring keyed events legacy would let plain SHA-256 forgeries pass: the MAC says no."""
    rows = _rows(trail)
    _guards_off(
        trail,
        "UPDATE store_key SET legacy_last_id = :n, legacy_head_hash = :h",
        n=N,
        h=rows[-1].hash,
    )
    report = audit.verify(trail)
    assert report.ok is False
    assert "key record was altered" in str(report.problem)


def test_a_deleted_key_record_is_detected(trail: AppContext) -> None:
    _guards_off(trail, "DELETE FROM store_key")
    report = audit.verify(trail)
    assert report.ok is False
    assert "key record is missing" in str(report.problem)
