"""Triage of a case and an agency's alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sightline.api.auth import AlertsReader, CasesReader
from sightline.api.deps import ContextDep
from sightline.services.triage import agency_alerts, case_triage, triage_as_dict

router = APIRouter(prefix="/api/v1/agencies/{agency}", tags=["triage"])


class StackRead(BaseModel):
    """A representative item and the ids of the duplicates stacked under it."""

    media_id: int
    status: str = Field(description="known-identified, known or new.")
    reason: str | None
    file_name: str
    stacked: list[int]


class TriageRead(BaseModel):
    """Counts by status and the stacks, new first."""

    agency: str
    case: str
    counts: dict[str, int]
    stacks: list[StackRead]


class AlertRead(BaseModel):
    """An overlap between one of the agency's cases and another agency's case."""

    id: int
    case: str
    media_id: int
    other_agency: str
    other_case: str | None
    signal: str
    distance: int
    acknowledged: bool


class AlertPage(BaseModel):
    """One page of alerts; pass ``next_after_id`` as ``after_id`` for the next page."""

    items: list[AlertRead]
    next_after_id: int | None


@router.get("/cases/{case}/triage", operation_id="case_triage", response_model=TriageRead)
def triage(agency: str, case: str, requester: CasesReader, ctx: ContextDep) -> TriageRead:
    """Triage of a case: known-identified, known and new items, duplicates stacked."""
    return TriageRead.model_validate(triage_as_dict(case_triage(ctx, agency, case)))


@router.get("/alerts", operation_id="agency_alerts", response_model=AlertPage)
def alerts(
    agency: str,
    requester: AlertsReader,
    ctx: ContextDep,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertPage:
    """The agency's overlap alerts, oldest first, paginated by id."""
    rows = agency_alerts(ctx, agency, after_id=after_id, limit=limit)
    items = [
        AlertRead(
            id=a.id,
            case=case,
            media_id=a.media_id,
            other_agency=other,
            other_case=other_case,
            signal=a.signal,
            distance=a.distance,
            acknowledged=a.acknowledged_at is not None,
        )
        for a, case, other, other_case in rows
    ]
    return AlertPage(items=items, next_after_id=items[-1].id if len(items) == limit else None)
