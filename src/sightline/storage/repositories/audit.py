"""The audit trail: appending links to the keyed hash chain, reading and verifying it.

The repository holds the chain key (derived from the master key, never stored): every append
is an HMAC-SHA256 link, and the verifier checks events up to the store's recorded legacy
boundary with plain SHA-256 and every later one with the key (ADR 0011).

Appends are serialised so the chain never forks, and happen inside the caller's transaction
so an event commits or rolls back with the action it records:

* PostgreSQL: ``pg_advisory_xact_lock`` on a constant key, held until the transaction ends.
  Locking the newest row (``SELECT ... FOR UPDATE``) would not do: there is no row to lock
  while the table is empty. The read of the newest row comes after the lock, and under READ
  COMMITTED (the default, which Sightline uses) each statement sees everything committed
  before it, so it sees the previous holder's event.
* SQLite: one writer at a time already, but the Python driver opens its transaction lazily
  (at the first INSERT, UPDATE or DELETE), so a read of the newest row could run before the
  transaction and be stale by the time the insert runs. The append therefore starts with a
  write that changes nothing (``UPDATE ... WHERE id < 0``): it opens the transaction if none
  is open and takes the database's write lock (waiting up to the busy timeout) before the
  newest row is read. When the caller has already written in this transaction, the lock is
  already held and the statement costs nothing.

Ids are the previous id plus one, so a gap means a deleted event. The database refuses an
update, a delete, ``REPLACE`` and any insert that is not the next id linked to the newest hash
(migrations 0004 and 0007); the chain detects whatever gets past those guards.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.orm import Session

from sightline.domain.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditHead,
    KeyRecord,
    LegacySegment,
    NewAuditEvent,
    VerifyReport,
    chain_hash,
    event_hash,
    key_record_mac,
)
from sightline.errors import ConfigurationError
from sightline.storage.orm import AuditEventRow, utcnow
from sightline.storage.repositories.store_key import read_key_record

# Any fixed 64-bit number works; this one spells "SLAUDIT1" so it is easy to spot in pg_locks.
_PG_LOCK_KEY = 0x534C_4155_4449_5431

VERIFY_BATCH = 2000
"""Events read per query while verifying: memory stays flat however long the trail."""

_COLUMNS = (
    AuditEventRow.id,
    AuditEventRow.occurred_at,
    AuditEventRow.actor,
    AuditEventRow.actor_agency_id,
    AuditEventRow.action,
    AuditEventRow.resource,
    AuditEventRow.outcome,
    AuditEventRow.source,
    AuditEventRow.detail,
    AuditEventRow.prev_hash,
    AuditEventRow.hash,
)


def _event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        occurred_at=row.occurred_at,
        actor=row.actor,
        actor_agency_id=row.actor_agency_id,
        action=row.action,
        resource=row.resource,
        outcome=row.outcome,
        source=row.source,
        detail=row.detail,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditRepository:
    """The append-only audit trail, chained by HMAC under ``key`` (the chain key)."""

    def __init__(self, session: Session, key: bytes) -> None:
        self._session = session
        self._key = key

    def append(self, event: NewAuditEvent) -> AuditEvent:
        """Add an event at the end of the chain, in the current transaction.

        The caller commits (together with the action the event records) or rolls back; until
        then other appends wait for this transaction to end.
        """
        self._lock()
        head = self.head()
        values: dict[str, Any] = {
            "id": 1 if head is None else head.id + 1,
            "occurred_at": utcnow(),
            "actor": event.actor,
            "actor_agency_id": event.actor_agency_id,
            "action": event.action,
            "resource": event.resource,
            "outcome": str(event.outcome),
            "source": event.source,
            "detail": dict(event.detail),
        }
        prev_hash = GENESIS_HASH if head is None else head.hash
        digest = chain_hash(prev_hash, key=self._key, **values)
        # A Core insert: the row never enters the session, so nothing can edit it later.
        self._session.execute(
            insert(AuditEventRow).values(**values, prev_hash=prev_hash, hash=digest)
        )
        return AuditEvent(**values, prev_hash=prev_hash, hash=digest)

    def _lock(self) -> None:
        """Serialise appends until the end of the transaction (see the module docstring)."""
        dialect = self._session.get_bind().dialect.name
        if dialect == "postgresql":
            self._session.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        elif dialect == "sqlite":
            self._session.execute(
                update(AuditEventRow)
                .where(AuditEventRow.id < 0)
                .values(id=AuditEventRow.id)
                .execution_options(synchronize_session=False)
            )
        else:
            raise ConfigurationError(
                f"audit appends can only be serialised on sqlite and postgresql, not {dialect!r}"
            )

    def head(self) -> AuditHead | None:
        """The newest event's id and hash (None while the trail is empty), to anchor outside."""
        row = self._session.execute(
            select(AuditEventRow.id, AuditEventRow.hash).order_by(AuditEventRow.id.desc()).limit(1)
        ).first()
        return None if row is None else AuditHead(id=row.id, hash=row.hash)

    def page(
        self,
        after_id: int = 0,
        limit: int = 100,
        *,
        actor: str | None = None,
        action: str | None = None,
        actor_agency_id: int | None = None,
    ) -> list[AuditEvent]:
        """Events after ``after_id``, oldest first, optionally of one actor and/or action.

        ``actor_agency_id`` keeps only the events of actors of that agency (what an agency
        administrator may read).
        """
        query = select(*_COLUMNS).where(AuditEventRow.id > after_id)
        if actor_agency_id is not None:
            query = query.where(AuditEventRow.actor_agency_id == actor_agency_id)
        if actor is not None:
            query = query.where(AuditEventRow.actor == actor)
        if action is not None:
            query = query.where(AuditEventRow.action == action)
        rows = self._session.execute(query.order_by(AuditEventRow.id).limit(limit))
        return [_event(row) for row in rows]

    def verify(
        self, expected_head: AuditHead | None = None, *, batch: int = VERIFY_BATCH
    ) -> VerifyReport:
        """Walk the whole chain in id order and report the first place it breaks.

        Detected: a changed field (the event no longer matches its keyed hash), a deleted
        event (a gap in ids, or a first event that does not follow the genesis hash), events
        swapped or reordered, an inserted event (its ``prev_hash`` is not its predecessor's
        hash, or its hash was not made with the key), a chain rewritten with recomputed
        hashes (only the key makes them), and a legacy (unkeyed) segment that no longer ends
        where the store's key record says. Deleting the newest events, or all of them, leaves
        a consistent chain; that is caught only against ``expected_head``, an (id, hash)
        recorded outside the database earlier (a head or a signed checkpoint).
        """
        legacy, problem = self._legacy_segment()
        if legacy is None:
            return VerifyReport(ok=False, checked=0, problem=problem)
        checked, prev_id, prev_hash = 0, 0, GENESIS_HASH
        rows = self._walk(batch)
        while True:
            try:
                row = next(rows, None)
            except _UnreadableEventError as exc:
                problem = _sequence_problem(exc.event_id, prev_id)
                problem = problem or f"event {exc.event_id} cannot be read: a value was altered"
                return _broken(checked + 1, min(exc.event_id, prev_id + 1), problem)
            if row is None:
                break
            checked += 1
            key = None if row.id <= legacy.last_id else self._key
            problem = (
                _sequence_problem(row.id, prev_id)
                or _link_problem(row, prev_id, prev_hash, key)
                or _legacy_problem(row, legacy)
                or _anchor_problem(row, expected_head)
            )
            if problem is not None:
                return _broken(checked, min(row.id, prev_id + 1), problem)
            prev_id, prev_hash = row.id, row.hash
        end = max(legacy.last_id, 0 if expected_head is None else expected_head.id)
        if prev_id < end:
            anchor = "anchored head" if end != legacy.last_id else "key record's legacy end"
            problem = (
                f"events {prev_id + 1} to {end} are missing: the trail ends at {prev_id} but "
                f"the {anchor} is event {end}"
            )
            return _broken(checked, prev_id + 1, problem)
        return VerifyReport(ok=True, checked=checked)

    def _legacy_segment(self) -> tuple[LegacySegment | None, str | None]:
        """The authenticated legacy boundary, or None and why it cannot be trusted."""
        record = read_key_record(self._session)
        if record is None:
            return None, "the store's key record is missing: the trail cannot be checked"
        if not _record_authentic(record, self._key):
            return None, (
                "the store's key record was altered (or belongs to another key): the legacy "
                "boundary of the trail cannot be trusted"
            )
        return record.legacy, None

    def _walk(self, batch: int) -> Iterator[Row[Any]]:
        """Every event in id order, ``batch`` at a time (keyset pagination, flat memory).

        A stored value the driver cannot decode (a forged time or JSON text) makes the batch
        fail; the batch is then read one event at a time to name the culprit.
        """
        after = 0
        while True:
            query = select(*_COLUMNS).where(AuditEventRow.id > after).order_by(AuditEventRow.id)
            try:
                rows = list(self._session.execute(query.limit(batch)).all())
            except (ValueError, TypeError):
                rows, unreadable = self._one_by_one(after, batch)
                if unreadable is not None:
                    yield from rows
                    raise _UnreadableEventError(unreadable) from None
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].id

    def _one_by_one(self, after: int, batch: int) -> tuple[list[Row[Any]], int | None]:
        """The next ``batch`` events up to the first that cannot be decoded, and its id."""
        ids = self._session.scalars(
            select(AuditEventRow.id)
            .where(AuditEventRow.id > after)
            .order_by(AuditEventRow.id)
            .limit(batch)
        )
        rows: list[Row[Any]] = []
        for event_id in list(ids):
            try:
                rows.append(
                    self._session.execute(
                        select(*_COLUMNS).where(AuditEventRow.id == event_id)
                    ).one()
                )
            except (ValueError, TypeError):
                return rows, event_id
        return rows, None


class _UnreadableEventError(Exception):
    """An event whose stored values cannot be decoded (only tampering produces one)."""

    def __init__(self, event_id: int) -> None:
        super().__init__(f"event {event_id} cannot be read")
        self.event_id = event_id


def _broken(checked: int, first_bad_id: int, problem: str) -> VerifyReport:
    return VerifyReport(ok=False, checked=checked, first_bad_id=first_bad_id, problem=problem)


def _anchor_problem(row: Row[Any], expected_head: AuditHead | None) -> str | None:
    """A problem when ``row`` is the anchored head's event but no longer has its hash."""
    if expected_head is None or row.id != expected_head.id or row.hash == expected_head.hash:
        return None
    return f"event {row.id} differs from the anchored head: the trail was rewritten"


def _sequence_problem(event_id: int, prev_id: int) -> str | None:
    """A problem when ``event_id`` does not directly follow ``prev_id`` (ids have no gaps)."""
    if event_id == prev_id + 1:
        return None
    if event_id <= prev_id:
        return f"event id {event_id} is out of sequence after {prev_id}"
    if event_id == prev_id + 2:
        return f"event {prev_id + 1} is missing: the trail jumps from {prev_id} to {event_id}"
    return (
        f"events {prev_id + 1} to {event_id - 1} are missing: the trail jumps from {prev_id} "
        f"to {event_id}"
    )


def _record_authentic(record: KeyRecord, key: bytes) -> bool:
    expected = key_record_mac(key, record.key_id, record.key_check, record.legacy)
    return hmac.compare_digest(expected, record.mac)


def _legacy_problem(row: Row[Any], legacy: LegacySegment) -> str | None:
    """A problem when ``row`` is the last legacy event but not the one the key record pins."""
    if row.id != legacy.last_id or row.hash == legacy.head_hash:
        return None
    return (
        f"event {row.id} differs from the end of the unkeyed trail recorded at the upgrade: "
        "events up to it were rewritten"
    )


def _link_problem(row: Row[Any], prev_id: int, prev_hash: str, key: bytes | None) -> str | None:
    """Why ``row`` is not a valid successor of (``prev_id``, ``prev_hash``), or None.

    ``key`` is the chain key, or None for an event of the legacy (unkeyed) segment.
    """
    if row.prev_hash != prev_hash:
        before = "the start of the trail" if prev_id == 0 else f"event {prev_id}"
        return (
            f"event {row.id} does not follow {before}: events were removed, reordered or inserted"
        )
    recomputed = event_hash(_event(row), key)
    if recomputed != row.hash:
        return f"event {row.id} was changed or forged: its content does not match its keyed hash"
    return None
