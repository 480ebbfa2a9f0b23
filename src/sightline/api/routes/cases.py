"""Cases (list, open, read, share), a case's triage and an agency's alerts.

What a requester may see or change is decided by the services with the access policy: a case
it may not know of is 404, like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sightline.api.auth import AlertsReader, CasesReader, CasesWriter
from sightline.api.deps import ContextDep
from sightline.api.errors import ERROR_RESPONSES, ErrorEnvelope
from sightline.api.pagination import AfterId, Limit
from sightline.api.params import IdPath
from sightline.api.routes.search import MatchDetailRead
from sightline.domain.access import SharingLevel
from sightline.domain.models import Agency, Case
from sightline.services import catalog
from sightline.services.matching.triage import (
    acknowledge_alert,
    agency_alerts,
    alert_as_dict,
    case_triage,
    triage_as_dict,
)

router = APIRouter(prefix="/api/v1", tags=["cases"])

RESPONSES: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    404: {"model": ErrorEnvelope, "description": "No such case, agency or alert (or hidden)."},
    409: {"model": ErrorEnvelope, "description": "The agency already has this reference."},
}

_SHARING = (
    "Who outside the owning agency sees the case: private (nobody; coordinators learn that a "
    "match exists), signals (other agencies learn that a match exists: agency and reference), "
    "shared (other agencies see its metadata and, with a second factor, its media)."
)


class CaseRead(BaseModel):
    """A case, as a requester who may see its metadata sees it."""

    id: int = Field(examples=[3])
    agency: str = Field(description="The owning agency's code.", examples=["TEST-DE"])
    reference: str = Field(examples=["AZ-1"])
    title: str = Field(examples=["Operation Landscape"])
    sharing: SharingLevel = Field(description=_SHARING, examples=["signals"])
    created_at: datetime


class CasePage(BaseModel):
    """One page of cases; pass ``next_after_id`` as ``after_id`` for the next page."""

    items: list[CaseRead]
    next_after_id: int | None = Field(description="Null on the last page.", examples=[None])


class CaseCreate(BaseModel):
    """A case to open in the requester's own agency."""

    agency: str = Field(description="The owning agency's code.", examples=["TEST-DE"])
    reference: str = Field(min_length=1, max_length=100, examples=["AZ-2"])
    title: str = Field(default="", max_length=300, examples=["Operation Landscape"])
    sharing: SharingLevel = Field(default=SharingLevel.PRIVATE, description=_SHARING)


class CaseUpdate(BaseModel):
    """Fields to change (absent: unchanged)."""

    sharing: SharingLevel | None = Field(default=None, description=_SHARING, examples=["shared"])
    title: str | None = Field(default=None, max_length=300, examples=["Operation Landscape"])


class StackRead(BaseModel):
    """A representative item and the ids of the duplicates stacked under it."""

    media_id: int = Field(examples=[17])
    status: str = Field(description="known-identified, known or new.", examples=["new"])
    reason: str | None = Field(examples=["matches stored material"])
    file_name: str = Field(examples=["img_0001.jpg"])
    stacked: list[int] = Field(examples=[[18, 19]])


class TriageRead(BaseModel):
    """Counts by status and the stacks, new first."""

    agency: str = Field(examples=["TEST-DE"])
    case: str = Field(examples=["AZ-1"])
    counts: dict[str, int] = Field(examples=[{"known-identified": 0, "known": 1, "new": 2}])
    stacks: list[StackRead]


class AlertRead(BaseModel):
    """An overlap between one of the agency's cases and another agency's case (or a list).

    ``visibility`` is ``signal-only`` when the other case only shares match signals with the
    reader: then the agency and case reference say whom to contact, and nothing else is shown.
    """

    id: int = Field(examples=[5])
    case: str = Field(description="The agency's own case.", examples=["AZ-1"])
    media_id: int = Field(description="The agency's own item.", examples=[17])
    other_agency: str = Field(examples=["TEST-GB"])
    other_case: str | None = Field(description="Null for a hash-list entry.", examples=["GB-7"])
    visibility: str = Field(description="full or signal-only.", examples=["signal-only"])
    other_title: str | None = Field(description="Null unless full.", examples=[None])
    other_media_id: int | None = Field(description="Null unless full.", examples=[None])
    signal: str = Field(examples=["sha256"])
    distance: int | None = Field(description="Null unless full.", examples=[None])
    detail: MatchDetailRead | None = Field(
        default=None,
        description="Recordings: where they match, seen from the agency's own item (query "
        "side); null for stills and unless full.",
    )
    acknowledged: bool = Field(examples=[False])


class AlertPage(BaseModel):
    """One page of alerts; pass ``next_after_id`` as ``after_id`` for the next page."""

    items: list[AlertRead]
    next_after_id: int | None


def _read(case: Case, agency: Agency | str) -> CaseRead:
    return CaseRead(
        id=case.id,
        agency=agency if isinstance(agency, str) else agency.code,
        reference=case.reference,
        title=case.title,
        sharing=case.sharing,
        created_at=case.created_at,
    )


@router.get("/cases", operation_id="list_cases", response_model=CasePage, responses=RESPONSES)
def list_cases(
    requester: CasesReader,
    ctx: ContextDep,
    agency: Annotated[str | None, Query(description="Only this agency's cases.")] = None,
    after_id: AfterId = 0,
    limit: Limit = 100,
) -> CasePage:
    """The cases whose metadata the requester may see, by id, paginated."""
    rows = catalog.list_cases(ctx, agency, requester=requester, after_id=after_id, limit=limit)
    items = [_read(case, owner) for case, owner in rows]
    return CasePage(items=items, next_after_id=items[-1].id if len(items) == limit else None)


@router.post(
    "/cases",
    operation_id="create_case",
    status_code=201,
    response_model=CaseRead,
    responses=RESPONSES,
)
def create_case(body: CaseCreate, requester: CasesWriter, ctx: ContextDep) -> CaseRead:
    """Open a case in the requester's own agency (investigators and up, certified)."""
    case = catalog.add_case(
        ctx, body.agency, body.reference, body.title, requester=requester, sharing=body.sharing
    )
    return _read(case, body.agency.strip().upper())


@router.get(
    "/cases/{case_id}", operation_id="get_case", response_model=CaseRead, responses=RESPONSES
)
def get_case(case_id: IdPath, requester: CasesReader, ctx: ContextDep) -> CaseRead:
    """One case, if the requester may see its metadata."""
    return _read(*catalog.get_case(ctx, case_id, requester=requester))


@router.patch(
    "/cases/{case_id}", operation_id="update_case", response_model=CaseRead, responses=RESPONSES
)
def update_case(
    case_id: IdPath, body: CaseUpdate, requester: CasesWriter, ctx: ContextDep
) -> CaseRead:
    """Change a case's sharing level or title (its own agency's investigators and up)."""
    changed = catalog.update_case(
        ctx, case_id, requester=requester, sharing=body.sharing, title=body.title
    )
    return _read(*changed)


@router.get(
    "/agencies/{agency}/cases/{case}/triage",
    operation_id="case_triage",
    response_model=TriageRead,
    responses=RESPONSES,
)
def triage(agency: str, case: str, requester: CasesReader, ctx: ContextDep) -> TriageRead:
    """Triage of a case: known-identified, known and new items, duplicates stacked."""
    report = case_triage(ctx, agency, case, requester=requester)
    return TriageRead.model_validate(triage_as_dict(report))


@router.get(
    "/agencies/{agency}/alerts",
    operation_id="agency_alerts",
    response_model=AlertPage,
    responses=RESPONSES,
)
def alerts(
    agency: str,
    requester: AlertsReader,
    ctx: ContextDep,
    after_id: AfterId = 0,
    limit: Limit = 100,
) -> AlertPage:
    """The agency's overlap alerts, oldest first, paginated by id (its own members only)."""
    lines = agency_alerts(ctx, agency, requester=requester, after_id=after_id, limit=limit)
    items = [AlertRead.model_validate(alert_as_dict(line)) for line in lines]
    return AlertPage(items=items, next_after_id=items[-1].id if len(items) == limit else None)


@router.post(
    "/agencies/{agency}/alerts/{alert_id}/ack",
    operation_id="acknowledge_alert",
    status_code=204,
    responses=RESPONSES,
)
def acknowledge(agency: str, alert_id: IdPath, requester: CasesWriter, ctx: ContextDep) -> None:
    """Mark an alert as read (needs the right to edit the agency's case it is about)."""
    acknowledge_alert(ctx, agency, alert_id, requester=requester)
