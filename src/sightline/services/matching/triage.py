"""Triage of a case, and an agency's overlap alerts, as far as the requester may see them.

Triage lists a case's items with file names: case content, so it needs ``view-metadata`` on
the case (a case the requester may not know of is *not found*). Alerts belong to the agency
they are addressed to: only its members with ``view-metadata`` read them, and another agency
asking gets *not found*. Each alert's counterpart case is shown by its sharing level: an alert
about a case the reader may not know of is left out, one about a case that only shares match
signals shows the agency code and case reference (whom to contact), and one about a case the
reader may see shows its title, the matching item's id and the distance too. Every read and
every refusal is audited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sightline.domain.access import (
    Action,
    Actor,
    CaseScope,
    Reason,
    SharingLevel,
    allowed_actions,
    decide,
)
from sightline.domain.audit import Requester
from sightline.domain.disclosure import Visibility, disclose, visibility_of
from sightline.domain.models import Alert, Case, CaseTriage, TriageStatus
from sightline.errors import AccessDenied, NotFoundError
from sightline.services.access.audit import authorize, record_denied, record_request
from sightline.services.context import AppContext
from sightline.services.matching.evidence import flip_detail
from sightline.storage.repositories.matching import AlertView
from sightline.storage.unit_of_work import UnitOfWork

FULL = Visibility.FULL.value
SIGNAL_ONLY = Visibility.SIGNAL_ONLY.value
SEE = Action.SEE_MATCH_EXISTS

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


def case_triage(
    ctx: AppContext, agency: str, reference: str, *, requester: Requester
) -> TriageReport:
    """Triage of one case (audited as ``triage.read``).

    Raises:
        NotFoundError: no such agency, no such case, or a case the requester may not know of
            (the same message for the last two).
        AccessDenied: the requester knows of the case but may not see its metadata.
    """
    with ctx.uow() as uow:
        owner = uow.agencies.get(agency.upper())
        case = uow.cases.find(owner.id, reference)
    missing = f"agency {owner.code} has no case {reference!r}"
    if case is None:
        raise NotFoundError(missing)
    try:
        authorize(ctx, requester, Action.VIEW_METADATA, case.scope, audit_action="triage.read")
    except NotFoundError:
        raise NotFoundError(missing) from None
    with ctx.uow() as uow:
        rows = uow.triage.for_case(case.id)
        names = uow.sightings.names_in_case(case.id)
        record_request(
            uow, requester, "triage.read", f"case:{case.id}", detail={"items": len(rows)}
        )
        uow.commit()
    return _report(owner.code, case, rows, names)


def _report(agency: str, case: Case, rows: list[CaseTriage], names: dict[int, str]) -> TriageReport:
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
        agency=agency,
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


@dataclass(frozen=True, slots=True)
class AlertLine:
    """An alert as one reader may see it.

    Attributes:
        alert: The stored alert (its own case and item are the reader's agency's).
        case: The reference of the agency's case the alert is about.
        other_agency: The counterpart's agency code (the owner of the list, for a list entry).
        other_case: The counterpart case's reference; None for a hash-list entry.
        visibility: ``full``, or ``signal-only`` when the reader may only know the
            counterpart case holds a match: then the fields below are None.
        other_title: The counterpart case's title.
        other_media_id: The counterpart's matching item.
        distance: The PDQ distance between the two items.
        detail: For recordings: where they match (shares, aligned segments, frames), seen
            from the agency's own item (``query`` is its side); None for stills.
    """

    alert: Alert
    case: str
    other_agency: str
    other_case: str | None
    visibility: str
    other_title: str | None
    other_media_id: int | None
    distance: int | None
    detail: Mapping[str, Any] | None = None


def agency_alerts(
    ctx: AppContext,
    agency: str,
    *,
    requester: Requester,
    after_id: int = 0,
    limit: int = 100,
) -> list[AlertLine]:
    """An agency's alerts, oldest first, paginated by id (audited as ``alerts.read``).

    Raises:
        NotFoundError: no such agency, or the requester belongs to another agency.
        AccessDenied: a member of the agency who may not see its cases' metadata (not
            certified, or the system administrator).
    """
    now = datetime.now(UTC)
    with ctx.uow() as uow:
        owner = uow.agencies.get(agency.upper())
    if requester.access is not None:
        _check_member(ctx, requester, requester.access, owner.id, "alerts.read", now)
    with ctx.uow() as uow:
        views = uow.alerts.for_agency(
            owner.id,
            scope=requester.scope(Action.VIEW_METADATA, now=now),
            counterparts=requester.scope(Action.SEE_MATCH_EXISTS, now=now),
            after_id=after_id,
            limit=limit,
        )
        record_request(
            uow, requester, "alerts.read", f"agency:{owner.id}", detail={"alerts": len(views)}
        )
        uow.commit()
        details = _details(uow, [v.alert for v in views])
    lines = (_line(view, requester.access, now, details) for view in views)
    return [line for line in lines if line is not None]


def _details(
    uow: UnitOfWork, alerts: Sequence[Alert]
) -> dict[tuple[int, int, str], Mapping[str, Any]]:
    """(own item, other item, signal) -> where they match, from the own item's side."""
    pairs = {
        (a.media_id, a.counterpart_media_id, a.signal)
        for a in alerts
        if a.counterpart_media_id is not None
    }
    if not pairs:
        return {}
    out: dict[tuple[int, int, str], Mapping[str, Any]] = {}
    for match in uow.matches.for_media({m for m, _, _ in pairs}):
        if match.detail is None or match.target_media_id is None:
            continue
        forward = (match.media_id, match.target_media_id, match.signal)
        backward = (match.target_media_id, match.media_id, match.signal)
        if forward in pairs:
            out[forward] = match.detail
        if backward in pairs:
            out[backward] = flip_detail(match.detail)
    return out


def acknowledge_alert(ctx: AppContext, agency: str, alert_id: int, *, requester: Requester) -> None:
    """Mark one of the agency's alerts as read: ``edit-case`` on the alert's case.

    Raises:
        NotFoundError: no such alert in the agency, or one the requester may not see.
        AccessDenied: the requester may see the alert but not edit its case.
    """
    with ctx.uow() as uow:
        owner = uow.agencies.get(agency.upper())
        missing = f"agency {owner.code} has no alert {alert_id}"
        alert = uow.alerts.get(alert_id)
        if alert is None or alert.agency_id != owner.id:
            raise NotFoundError(missing)
        case = uow.cases.get_by_id(alert.case_id)
        other_id = alert.counterpart_case_id
        other = None if other_id is None else uow.cases.get_by_id(other_id)
    resource, now, actor = f"alert:{alert_id}", datetime.now(UTC), requester.access
    if actor is not None:
        visible = other is None or decide(actor, SEE, other.scope, now=now).allowed
        if actor.agency_id != owner.id or not visible:
            record_denied(ctx, requester, "alert.acknowledge", resource, Reason.OTHER_AGENCY)
            raise NotFoundError(missing)
    authorize(ctx, requester, Action.EDIT_CASE, case.scope, audit_action="alert.acknowledge")
    with ctx.uow() as uow:
        uow.alerts.acknowledge(owner.id, alert_id)
        record_request(uow, requester, "alert.acknowledge", resource)
        uow.commit()


def _check_member(
    ctx: AppContext, requester: Requester, actor: Actor, agency_id: int, action: str, now: datetime
) -> None:
    """Let through members of the agency who may see its cases' metadata; audit refusals."""
    resource = f"agency:{agency_id}"
    if actor.agency_id != agency_id:
        record_denied(ctx, requester, action, resource, Reason.OTHER_AGENCY)
        raise NotFoundError("no alerts of that agency for you to read")
    own_case = CaseScope(case_id=0, agency_id=agency_id, sharing=SharingLevel.PRIVATE)
    decision = decide(actor, Action.VIEW_METADATA, own_case, now=now)
    if not decision.allowed:
        record_denied(ctx, requester, action, resource, decision.reason)
        raise AccessDenied(decision.reason)


def _line(
    view: AlertView,
    actor: Actor | None,
    now: datetime,
    details: Mapping[tuple[int, int, str], Mapping[str, Any]],
) -> AlertLine | None:
    """How much of the counterpart ``actor`` may see (None: not even that it exists)."""
    alert, other = view.alert, view.counterpart_case
    seen = Visibility.FULL  # a list entry is not case content
    if other is not None and actor is not None:
        granted = visibility_of(allowed_actions(actor, other.scope, now=now))
        if granted is None:
            return None
        seen = granted
    shown = disclose(
        seen,
        {
            "other_title": other.title if other is not None else None,
            "other_media_id": alert.counterpart_media_id,
            "distance": alert.distance,
            "detail": details.get((alert.media_id, alert.counterpart_media_id or 0, alert.signal)),
        },
    )
    return AlertLine(
        alert=alert,
        case=view.case_reference,
        other_agency=view.counterpart_agency_code,
        other_case=None if other is None else other.reference,
        visibility=seen.value,
        other_title=cast(str | None, shown["other_title"]),
        other_media_id=cast(int | None, shown["other_media_id"]),
        distance=cast(int | None, shown["distance"]),
        detail=cast(Mapping[str, Any] | None, shown["detail"]),
    )


def alert_as_dict(line: AlertLine) -> dict[str, object]:
    """A JSON-ready view (CLI --json and the API)."""
    return {
        "id": line.alert.id,
        "case": line.case,
        "media_id": line.alert.media_id,
        "other_agency": line.other_agency,
        "other_case": line.other_case,
        "visibility": line.visibility,
        "other_title": line.other_title,
        "other_media_id": line.other_media_id,
        "signal": line.alert.signal,
        "distance": line.distance,
        "detail": dict(line.detail) if line.detail is not None else None,
        "acknowledged": line.alert.acknowledged_at is not None,
    }
