"""The audit trail: one keyed hash chain, written with its action, whose tampering is found.

The attacks on the database guards themselves, the key record and signed checkpoints are in
``test_audit_tamper.py``.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from sightline.domain.audit import GENESIS_HASH, AuditEvent, AuditHead, chain_hash, event_hash
from sightline.errors import InvalidInputError
from sightline.services.access import audit
from sightline.services.context import AppContext
from sightline.storage.orm import AuditEventRow

N = 5


def _record(ctx: AppContext, count: int, *, actor: str = "user:1") -> None:
    for i in range(count):
        with ctx.uow() as uow:
            audit.record(
                uow,
                actor=actor,
                action="search" if i % 2 else "media.view_original",
                resource=f"media:{i + 1}",
                source="127.0.0.1",
                agency_id=7,
                detail={"count": i, "signals": ["pdq", "sha256"], "blurred": False},
            )
            uow.commit()


def _sql(ctx: AppContext, *statements: str, **params: Any) -> None:
    """Tamper as someone with database access would: the guards off, then raw SQL."""
    with ctx.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            for guard in ("no_update", "no_delete", "append_at_end"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS audit_events_{guard}"))
        for statement in statements:
            connection.execute(text(statement), params)


def _rows(ctx: AppContext) -> list[Any]:
    with ctx.engine.connect() as connection:
        return list(connection.execute(text("SELECT * FROM audit_events ORDER BY id")))


@pytest.fixture
def trail(ctx: AppContext) -> AppContext:
    _record(ctx, N)
    return ctx


def test_events_form_one_chain_that_verifies(trail: AppContext) -> None:
    events = audit.show(trail)
    assert [e.id for e in events] == list(range(1, N + 1))
    assert events[0].prev_hash == GENESIS_HASH
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(events))
    key = trail.master_key.audit_chain_key()
    assert all(event_hash(e, key) == e.hash for e in events)
    assert all(event_hash(e, None) != e.hash for e in events)  # keyed, not plain SHA-256
    assert events[0].detail == {"count": 0, "signals": ["pdq", "sha256"], "blurred": False}
    assert events[0].occurred_at.tzinfo is not None
    assert audit.head(trail) == AuditHead(N, events[-1].hash)
    report = audit.verify(trail, audit.head(trail))
    assert (report.ok, report.checked, report.first_bad_id, report.problem) == (True, N, None, None)


def test_show_pages_and_filters(trail: AppContext) -> None:
    assert [e.id for e in audit.show(trail, after_id=2, limit=2)] == [3, 4]
    assert [e.id for e in audit.show(trail, action="search")] == [2, 4]
    assert audit.show(trail, actor="user:2") == []
    assert audit.head(trail) is not None


def test_an_empty_trail_verifies_and_has_no_head(ctx: AppContext) -> None:
    assert audit.head(ctx) is None
    assert audit.verify(ctx).ok


def test_the_database_refuses_edits_and_deletions(trail: AppContext) -> None:
    for statement in (
        "UPDATE audit_events SET actor = 'user:2' WHERE id = 1",
        "DELETE FROM audit_events WHERE id = 5",
    ):
        with pytest.raises(DBAPIError, match="append-only"), trail.engine.begin() as connection:
            connection.execute(text(statement))
    assert audit.verify(trail).ok


@pytest.mark.parametrize(
    "assignment",
    [
        "actor = 'user:2'",
        "actor_agency_id = NULL",
        "action = 'search'",
        "resource = 'media:99'",
        "outcome = 'denied'",
        "source = '10.0.0.1'",
        "detail = '{\"count\": 99}'",
        "occurred_at = '2020-01-01 00:00:00.000000'",
        f"hash = '{'a' * 64}'",
    ],
)
def test_a_changed_field_is_detected(trail: AppContext, assignment: str) -> None:
    _sql(trail, f"UPDATE audit_events SET {assignment} WHERE id = 3")
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, 3)
    assert report.problem is not None


@pytest.mark.parametrize("deleted", [1, 3])
def test_a_deleted_event_is_detected(trail: AppContext, deleted: int) -> None:
    _sql(trail, "DELETE FROM audit_events WHERE id = :id", id=deleted)
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, deleted)
    assert f"event {deleted} is missing" in str(report.problem)


def test_a_deletion_hidden_by_renumbering_is_detected(trail: AppContext) -> None:
    _sql(
        trail,
        "DELETE FROM audit_events WHERE id = 3",
        "UPDATE audit_events SET id = id - 1 WHERE id > 3",
    )
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, 3)


def test_deleting_the_newest_events_needs_an_anchored_head(trail: AppContext) -> None:
    anchored = audit.head(trail)
    assert anchored is not None
    _sql(trail, "DELETE FROM audit_events WHERE id >= 4")
    assert audit.verify(trail).ok  # a shorter chain is still a chain
    report = audit.verify(trail, anchored)
    assert (report.ok, report.first_bad_id, report.checked) == (False, 4, 3)
    assert "missing" in str(report.problem)


def _content(event: AuditEvent, **changes: Any) -> dict[str, Any]:
    """An event's hashed fields (everything but the two hashes), with ``changes`` applied."""
    content = {
        "id": event.id,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "actor_agency_id": event.actor_agency_id,
        "action": event.action,
        "resource": event.resource,
        "outcome": event.outcome,
        "source": event.source,
        "detail": dict(event.detail),
    }
    return content | changes


def _rewrite_from_3(ctx: AppContext, key: bytes | None) -> None:
    """Change event 3 and recompute every hash from there on with ``key`` (None: SHA-256)."""
    events = audit.show(ctx)
    prev = events[1].hash
    for event in events[2:]:
        resource = "media:99" if event.id == 3 else event.resource
        forged = chain_hash(prev, key=key, **_content(event, resource=resource))
        _sql(
            ctx,
            "UPDATE audit_events SET resource = :r, prev_hash = :p, hash = :h WHERE id = :id",
            r=resource,
            p=prev,
            h=forged,
            id=event.id,
        )
        prev = forged


def test_a_chain_recomputed_without_the_key_is_detected(trail: AppContext) -> None:
    """The recipe is public, the key is not: a plain SHA-256 rewrite no longer verifies."""
    _rewrite_from_3(trail, None)
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, 3)
    assert "was changed" in str(report.problem)


def test_a_chain_rewritten_with_the_key_differs_from_the_anchored_head(
    trail: AppContext,
) -> None:
    """Even whoever holds the key cannot rewrite the trail past an anchored head."""
    anchored = audit.head(trail)
    _rewrite_from_3(trail, trail.master_key.audit_chain_key())
    assert audit.verify(trail).ok
    report = audit.verify(trail, anchored)
    assert (report.ok, report.first_bad_id) == (False, N)
    assert "anchored head" in str(report.problem)


def test_swapped_contents_are_detected(trail: AppContext) -> None:
    columns = "occurred_at, actor, actor_agency_id, action, resource, outcome, source"
    two, four = _rows(trail)[1], _rows(trail)[3]
    sets = ", ".join(f"{c} = :{c}" for c in columns.split(", "))
    for row, target in ((four, 2), (two, 4)):
        values = {c: getattr(row, c) for c in columns.split(", ")}
        _sql(trail, f"UPDATE audit_events SET {sets} WHERE id = :id", **values, id=target)
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, 2)


def test_reordered_events_are_detected(trail: AppContext) -> None:
    _sql(
        trail,
        "UPDATE audit_events SET id = -1 WHERE id = 2",
        "UPDATE audit_events SET id = 2 WHERE id = 4",
        "UPDATE audit_events SET id = 4 WHERE id = -1",
    )
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, 2)
    assert "does not follow event 1" in str(report.problem)


def _forge(
    ctx: AppContext, event_id: int, prev_hash: str, key: bytes | None = None
) -> dict[str, Any]:
    """A well-formed event by someone who knows the recipe (and ``key``, if given)."""
    template = audit.show(ctx, limit=1)[0]
    content = _content(template, id=event_id, actor="user:666", resource="case:1")
    return content | {"prev_hash": prev_hash, "hash": chain_hash(prev_hash, key=key, **content)}


def _insert(ctx: AppContext, values: dict[str, Any]) -> None:
    _sql(ctx)  # the guards off: the database refuses an insert that is not the next link
    with ctx.engine.begin() as connection:
        connection.execute(insert(AuditEventRow).values(**values))


def test_a_forged_event_with_a_broken_link_is_detected(trail: AppContext) -> None:
    _insert(trail, _forge(trail, N + 1, "b" * 64))
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, N + 1)
    assert "does not follow" in str(report.problem)


def test_a_forged_event_spliced_into_the_middle_is_detected(trail: AppContext) -> None:
    """A well-formed splice links to its predecessor, but its successor's hash cannot agree."""
    forged = _forge(trail, 4, _rows(trail)[2].hash, trail.master_key.audit_chain_key())
    _sql(
        trail,
        "UPDATE audit_events SET id = id + 10 WHERE id >= 4",
        "UPDATE audit_events SET id = id - 9 WHERE id >= 14",
        "UPDATE audit_events SET prev_hash = :h WHERE id = 5",  # relink the successor
        h=forged["hash"],
    )
    _insert(trail, forged)
    report = audit.verify(trail)
    assert (report.ok, report.first_bad_id) == (False, 5)
    assert "was changed" in str(report.problem)


@pytest.mark.parametrize("batch", [1, 2, 3, 100])
def test_verify_reads_in_batches(trail: AppContext, batch: int) -> None:
    with trail.uow() as uow:
        assert uow.audit.verify(batch=batch).checked == N
    _sql(trail, "UPDATE audit_events SET resource = 'media:99' WHERE id = 4")
    with trail.uow() as uow:
        report = uow.audit.verify(batch=batch)
    assert (report.ok, report.first_bad_id, report.checked) == (False, 4, 4)


def test_an_undecodable_value_is_reported_not_raised(sqlite_ctx: AppContext) -> None:
    _record(sqlite_ctx, N)
    _sql(sqlite_ctx, "UPDATE audit_events SET detail = 'not json' WHERE id = 3")
    report = audit.verify(sqlite_ctx)
    assert (report.ok, report.first_bad_id) == (False, 3)
    assert "cannot be read" in str(report.problem)


def test_an_event_rolled_back_with_its_action_leaves_no_trace(ctx: AppContext) -> None:
    _record(ctx, 2)
    with ctx.uow() as uow:
        audit.record(uow, actor="user:1", action="hashlist.import", resource="hashlist:1")
        uow.rollback()
    with ctx.uow() as uow:
        audit.record(uow, actor="user:1", action="hashlist.import", resource="hashlist:1")
        # leaving the unit of work without commit rolls back too
    assert audit.head(ctx) == AuditHead(2, _rows(ctx)[1].hash)
    _record(ctx, 1, actor="user:3")
    assert [e.id for e in audit.show(ctx)] == [1, 2, 3]  # no gap where the rollbacks were
    assert audit.verify(ctx).ok


def test_concurrent_appends_make_one_chain(ctx: AppContext) -> None:
    threads, per_thread = 4, 15
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(per_thread):
                with ctx.uow() as uow:
                    if i % 2:
                        uow.agencies.list()  # a read first: the append must not trust it
                    audit.record(uow, actor=f"user:{n}", action="search", resource=f"case:{i}")
                    uow.commit()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    report = audit.verify(ctx)
    assert (report.ok, report.checked) == (True, threads * per_thread)
    assert {e.actor for e in audit.show(ctx, limit=1000)} == {f"user:{n}" for n in range(threads)}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("detail", {"path": "/evidence/seized/IMG_0001.jpg"}),
        ("detail", {"name": "IMG_0001.JPG"}),
        ("detail", {"where": "C:\\Users\\x"}),
        ("detail", {"md5": "d41d8cd98f00b204e9800998ecf8427e"}),
        ("detail", {"sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709"}),
        ("detail", {"nested": {"list": ["ok", "sha256:" + "ab" * 32]}}),
        ("detail", {"/tmp/x": 1}),
        ("detail", {"n": float("nan")}),
        ("detail", {"raw": b"bytes"}),
        ("detail", {"deep": [[[["too deep"]]]]}),
        ("detail", {"big": "x" * 3000}),
        ("resource", "media:" + "0" * 64),
        ("resource", ""),
        ("action", "View Original"),
        ("outcome", "maybe"),
        ("actor", "u" * 201),
    ],
)
def test_record_refuses_case_material_and_malformed_events(
    sqlite_ctx: AppContext, field: str, value: Any
) -> None:
    event: dict[str, Any] = {"actor": "user:1", "action": "search", "resource": "case:1"}
    event[field] = value
    with sqlite_ctx.uow() as uow, pytest.raises(ValueError, match=f"audit {field}"):
        audit.record(uow, **event)
    assert audit.head(sqlite_ctx) is None


def test_parse_head_reads_what_head_prints(trail: AppContext) -> None:
    head = audit.head(trail)
    assert audit.parse_head(f" {head} ") == head
    for bad in ("", "5", "0:" + "a" * 64, "5:" + "A" * 64, "5:abc"):
        with pytest.raises(InvalidInputError):
            audit.parse_head(bad)
