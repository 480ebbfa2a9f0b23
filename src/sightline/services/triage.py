"""Triage of a case: what is new comes first, duplicates are stacked, the known is counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sightline.domain.models import Alert, CaseTriage, TriageStatus
from sightline.errors import NotFoundError
from sightline.services.context import AppContext

_ORDER = {TriageStatus.NEW: 0, TriageStatus.KNOWN: 1, TriageStatus.KNOWN_IDENTIFIED: 2}


@dataclass(frozen=True, slots=True)
class StackView:
    """A representative item and the duplicates stacked under it."""

    representative: CaseTriage
    members: tuple[CaseTriage, ...]
    file_name: str


@dataclass(frozen=True, slots=True)
class TriageReport:
    """A case's triage: counts by status and the stacks, new first."""

    agency: str
    case: str
    counts: dict[str, int]
    stacks: tuple[StackView, ...]


def case_triage(ctx: AppContext, agency: str, reference: str) -> TriageReport:
    """Triage of one case; raises NotFoundError for an unknown agency or case."""
    with ctx.uow() as uow:
        owner = uow.agencies.get(agency.upper())
        case = uow.cases.find(owner.id, reference)
        if case is None:
            raise NotFoundError(f"agency {owner.code} has no case {reference!r}")
        rows = uow.triage.for_case(case.id)
        names = uow.sightings.names_in_case(case.id)
    counts = Counter(row.status.value for row in rows)
    by_stack: dict[int, list[CaseTriage]] = {}
    for row in rows:
        by_stack.setdefault(row.stack_media_id, []).append(row)
    stacks = []
    for members in by_stack.values():
        members.sort(key=lambda r: (_ORDER[r.status], r.media_id))
        head = members[0]
        stacks.append(StackView(head, tuple(members[1:]), names.get(head.media_id, "")))
    stacks.sort(key=lambda s: (_ORDER[s.representative.status], s.representative.media_id))
    return TriageReport(
        agency=owner.code,
        case=case.reference,
        counts={status.value: counts.get(status.value, 0) for status in TriageStatus},
        stacks=tuple(stacks),
    )


def triage_as_dict(report: TriageReport) -> dict[str, object]:
    """A JSON-ready view (CLI --json and the API)."""
    return {
        "agency": report.agency,
        "case": report.case,
        "counts": report.counts,
        "stacks": [
            {
                "media_id": s.representative.media_id,
                "status": s.representative.status.value,
                "reason": s.representative.reason,
                "file_name": s.file_name,
                "stacked": [m.media_id for m in s.members],
            }
            for s in report.stacks
        ],
    }


def agency_alerts(
    ctx: AppContext, agency: str, *, after_id: int = 0, limit: int = 100
) -> list[tuple[Alert, str, str, str | None]]:
    """An agency's alerts with its case reference, the other agency's code and case reference.

    What of the counterpart a reader may see will be filtered by the access policy (sharing
    levels); for now the counterpart's agency and case reference are shown, never its media.
    """
    with ctx.uow() as uow:
        owner = uow.agencies.get(agency.upper())
        alerts = uow.alerts.for_agency(owner.id, after_id=after_id, limit=limit)
        cases = {c.id: c for c in uow.cases.list()}
        codes = {a.id: a.code for a in uow.agencies.list()}
    return [
        (
            alert,
            cases[alert.case_id].reference,
            codes[alert.counterpart_agency_id],
            cases[alert.counterpart_case_id].reference if alert.counterpart_case_id else None,
        )
        for alert in alerts
    ]
