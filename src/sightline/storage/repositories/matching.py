"""Matches, per-case triage and alerts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.orm import Session, aliased

from sightline.domain.access import CaseFilter
from sightline.domain.models import Alert, Case, CaseTriage, MatchRecord, TriageStatus
from sightline.storage.orm import (
    AgencyRow,
    AlertRow,
    CaseMediaRow,
    CaseRow,
    MatchRow,
    SightingRow,
    utcnow,
)
from sightline.storage.repositories._concurrent import insert_ignoring, insert_or_update
from sightline.storage.repositories.catalog import case_from_row, case_scope_clause

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewMatch:
    """A match to record; exactly one of ``target_media_id`` and ``entry_id`` is set."""

    media_id: int
    signal: str
    distance: int
    threshold: int | None
    target_media_id: int | None = None
    entry_id: int | None = None
    # How two recordings match (shares, aligned segments, sample frames); JSON-ready.
    detail: Mapping[str, Any] | None = None

    @property
    def target_key(self) -> str:
        """The single non-null key the unique constraint uses."""
        return f"m:{self.target_media_id}" if self.entry_id is None else f"e:{self.entry_id}"


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to record (deduplicated per case, item and counterpart)."""

    agency_id: int
    case_id: int
    media_id: int
    kind: str
    counterpart_agency_id: int
    counterpart_case_id: int | None
    counterpart_media_id: int | None
    entry_id: int | None
    signal: str
    distance: int

    @property
    def counterpart_key(self) -> str:
        """Identifies the counterpart for deduplication."""
        if self.entry_id is not None:
            return f"e:{self.entry_id}"
        return f"c:{self.counterpart_case_id}/{self.counterpart_media_id}"


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert with what a reader needs to show it: its case and the counterpart's owner.

    ``counterpart_case`` is None for an alert about a hash-list entry; the caller decides,
    with the access policy, how much of a counterpart case to show.
    """

    alert: Alert
    case_reference: str
    counterpart_agency_code: str
    counterpart_case: Case | None


def _match_key(match: NewMatch) -> tuple[int, str, str]:
    return match.media_id, match.target_key, match.signal


def _match(row: MatchRow) -> MatchRecord:
    return MatchRecord(
        id=row.id,
        media_id=row.media_id,
        signal=row.signal,
        distance=row.distance,
        threshold=row.threshold,
        target_media_id=row.target_media_id,
        entry_id=row.entry_id,
        created_at=row.created_at,
        detail=row.detail,
    )


def _alert(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        agency_id=row.agency_id,
        case_id=row.case_id,
        media_id=row.media_id,
        kind=row.kind,
        counterpart_agency_id=row.counterpart_agency_id,
        counterpart_case_id=row.counterpart_case_id,
        counterpart_media_id=row.counterpart_media_id,
        entry_id=row.entry_id,
        signal=row.signal,
        distance=row.distance,
        created_at=row.created_at,
        acknowledged_at=row.acknowledged_at,
    )


class MatchRepository:
    """Links between media items and to hash-list entries."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, matches: Sequence[NewMatch]) -> list[NewMatch]:
        """Record matches not yet recorded; returns the ones that are new.

        A match a concurrent transaction recorded first (two ingests of the same file) is
        left to it and not returned.
        """
        keyed = {(m.media_id, m.target_key, m.signal): m for m in matches}
        key = (MatchRow.media_id, MatchRow.target_key, MatchRow.signal)
        new = sorted(_not_recorded(self._session, key, keyed), key=_match_key)
        if not new:
            return []
        rows = self._session.execute(
            insert_ignoring(self._session, MatchRow, [c.key for c in key]).returning(*key),
            [
                {
                    "media_id": m.media_id,
                    "target_key": m.target_key,
                    "target_media_id": m.target_media_id,
                    "entry_id": m.entry_id,
                    "signal": m.signal,
                    "distance": m.distance,
                    "threshold": m.threshold,
                    "detail": dict(m.detail) if m.detail is not None else None,
                    "created_at": utcnow(),
                }
                for m in new
            ],
        )
        inserted = {(int(m), str(t), str(s)) for m, t, s in rows}
        return [m for m in new if _match_key(m) in inserted]

    def for_media(self, media_ids: Iterable[int]) -> list[MatchRecord]:
        """Matches from or to the given items."""
        wanted = list(set(media_ids))
        if not wanted:
            return []
        rows = self._session.scalars(
            select(MatchRow)
            .where(MatchRow.media_id.in_(wanted) | MatchRow.target_media_id.in_(wanted))
            .order_by(MatchRow.id)
        )
        return [_match(row) for row in rows]


class TriageRepository:
    """Per-case status and duplicate stacks."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get_many(self, case_id: int, media_ids: Iterable[int]) -> dict[int, CaseTriage]:
        """Triage rows of the case for the given items."""
        wanted = list(set(media_ids))
        if not wanted:
            return {}
        rows = self._session.scalars(
            select(CaseMediaRow).where(
                CaseMediaRow.case_id == case_id, CaseMediaRow.media_id.in_(wanted)
            )
        )
        return {row.media_id: _triage(row) for row in rows}

    def put(self, rows: Sequence[CaseTriage]) -> None:
        """Insert or replace triage rows (two statements, whatever the number of rows)."""
        if not rows:
            return
        keys = {(r.case_id, r.media_id) for r in rows}
        query = select(CaseMediaRow.case_id, CaseMediaRow.media_id).where(
            tuple_(CaseMediaRow.case_id, CaseMediaRow.media_id).in_(list(keys))
        )
        existing = {(int(c), int(m)) for c, m in self._session.execute(query)}
        now = utcnow()
        values = [
            {
                "case_id": r.case_id,
                "media_id": r.media_id,
                "status": r.status.value,
                "stack_media_id": r.stack_media_id,
                "reason": r.reason,
                "updated_at": now,
            }
            for r in {(r.case_id, r.media_id): r for r in rows}.values()
        ]
        new = [v for v in values if (v["case_id"], v["media_id"]) not in existing]
        old = [v for v in values if (v["case_id"], v["media_id"]) in existing]
        if new:  # a concurrent ingest into the case may have inserted some of them meanwhile
            columns = ["status", "stack_media_id", "reason", "updated_at"]
            key = ["case_id", "media_id"]
            self._session.execute(
                insert_or_update(self._session, CaseMediaRow, key, columns),
                sorted(new, key=lambda v: (v["case_id"], v["media_id"])),
            )
        if old:
            self._session.execute(update(CaseMediaRow), old)

    def for_case(self, case_id: int) -> list[CaseTriage]:
        """Every triaged item of a case, by media id."""
        rows = self._session.scalars(
            select(CaseMediaRow)
            .where(CaseMediaRow.case_id == case_id)
            .order_by(CaseMediaRow.media_id)
        )
        return [_triage(row) for row in rows]

    def cases_of(self, media_ids: Iterable[int]) -> dict[int, set[int]]:
        """Media id -> the cases it was sighted in."""
        wanted = list(set(media_ids))
        out: dict[int, set[int]] = {m: set() for m in wanted}
        if wanted:
            rows = self._session.execute(
                select(SightingRow.media_id, SightingRow.case_id)
                .where(SightingRow.media_id.in_(wanted))
                .distinct()
            )
            for media_id, case_id in rows:
                out[int(media_id)].add(int(case_id))
        return out


def _triage(row: CaseMediaRow) -> CaseTriage:
    return CaseTriage(
        case_id=row.case_id,
        media_id=row.media_id,
        status=TriageStatus(row.status),
        stack_media_id=row.stack_media_id,
        reason=row.reason,
    )


class AlertRepository:
    """Alerts to agencies."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, alerts: Sequence[NewAlert]) -> int:
        """Record alerts not yet recorded; returns how many were new.

        An alert a concurrent transaction recorded first is left to it and not counted.
        """
        keyed = {(a.case_id, a.media_id, a.counterpart_key): a for a in alerts}
        key = (AlertRow.case_id, AlertRow.media_id, AlertRow.counterpart_key)
        new = sorted(
            _not_recorded(self._session, key, keyed),
            key=lambda a: (a.case_id, a.media_id, a.counterpart_key),
        )
        if not new:
            return 0
        rows = self._session.execute(
            insert_ignoring(self._session, AlertRow, [c.key for c in key]).returning(AlertRow.id),
            [
                {
                    "agency_id": a.agency_id,
                    "case_id": a.case_id,
                    "media_id": a.media_id,
                    "kind": a.kind,
                    "counterpart_key": a.counterpart_key,
                    "counterpart_agency_id": a.counterpart_agency_id,
                    "counterpart_case_id": a.counterpart_case_id,
                    "counterpart_media_id": a.counterpart_media_id,
                    "entry_id": a.entry_id,
                    "signal": a.signal,
                    "distance": a.distance,
                    "created_at": utcnow(),
                }
                for a in new
            ],
        )
        return len(rows.all())

    def for_agency(
        self,
        agency_id: int,
        *,
        scope: CaseFilter | None = None,
        counterparts: CaseFilter | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[AlertView]:
        """An agency's alerts, oldest first, paginated by id, within access scopes.

        Args:
            agency_id: The agency alerted.
            scope: Which of the agency's cases the reader may see alerts of (its
                ``view-metadata`` scope); None: all.
            counterparts: Which counterpart cases the reader may know of (its
                ``see-match-exists`` scope); an alert about any other case is left out, so
                it does not even show that something matched. None: all.
            after_id: Return alerts with a larger id.
            limit: At most this many.
        """
        other = aliased(CaseRow)
        query = (
            select(AlertRow, CaseRow.reference, AgencyRow.code, other)
            .join(CaseRow, CaseRow.id == AlertRow.case_id)
            .join(AgencyRow, AgencyRow.id == AlertRow.counterpart_agency_id)
            .outerjoin(other, other.id == AlertRow.counterpart_case_id)
            .where(AlertRow.agency_id == agency_id, AlertRow.id > after_id)
            .order_by(AlertRow.id)
            .limit(limit)
        )
        if scope is not None:
            query = query.where(case_scope_clause(scope, CaseRow))
        if counterparts is not None:
            query = query.where(
                or_(
                    AlertRow.counterpart_case_id.is_(None),
                    case_scope_clause(counterparts, other),
                )
            )
        return [
            AlertView(_alert(row), reference, code, None if case is None else case_from_row(case))
            for row, reference, code, case in self._session.execute(query)
        ]

    def get(self, alert_id: int) -> Alert | None:
        """The alert with this id, if any."""
        row = self._session.get(AlertRow, alert_id)
        return None if row is None else _alert(row)

    def count(self, agency_id: int | None = None) -> int:
        """Number of alerts, optionally of one agency."""
        query = select(func.count(AlertRow.id))
        if agency_id is not None:
            query = query.where(AlertRow.agency_id == agency_id)
        return int(self._session.scalar(query) or 0)

    def acknowledge(self, agency_id: int, alert_id: int) -> bool:
        """Mark one of the agency's alerts as read; False if it has no such alert."""
        result = self._session.execute(
            update(AlertRow)
            .where(AlertRow.id == alert_id, AlertRow.agency_id == agency_id)
            .values(acknowledged_at=utcnow())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _not_recorded(
    session: Session, columns: tuple[Any, ...], keyed: Mapping[tuple[Any, ...], T]
) -> list[T]:
    """The values of ``keyed`` whose key (the values of ``columns``) is not stored yet."""
    if not keyed:
        return []
    query = select(*columns).where(tuple_(*columns).in_(list(keyed)))
    existing = {tuple(row) for row in session.execute(query)}
    return [value for key, value in keyed.items() if key not in existing]
