"""Durable jobs over the API: follow an upload, a retro-hunt or an index rebuild.

What a reader sees is the access policy's decision (``domain/access.py``, ``job_filter``): its
own jobs, its agency's when certified, every job for the system administrator without what
they worked on; another agency's jobs are not found. Any valid token or session may ask.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sightline.api.auth import AnyRequester
from sightline.api.deps import ContextDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.pagination import AfterId, Limit, Page, page
from sightline.api.params import IdPath
from sightline.domain.jobs import JobState
from sightline.services.jobs import queue as jobs
from sightline.services.jobs.queue import JobView

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    404: {"description": "No such job, or one you may not know of."},
}


class JobErrorRead(BaseModel):
    """Why a job (or its last attempt) failed."""

    code: str = Field(examples=["internal_error"])
    message: str = Field(description="Empty where the policy withholds it.", examples=[""])


class JobRead(BaseModel):
    """A durable job: what it is, where it stands, and (if you may see it) what it works on."""

    id: int = Field(examples=[12])
    kind: str = Field(examples=["ingest.upload"])
    state: str = Field(
        description="queued, running, succeeded, failed or cancelled.", examples=["running"]
    )
    attempts: int = Field(examples=[1])
    max_attempts: int = Field(examples=[3])
    requester: str = Field(examples=["token:5"])
    requester_agency_id: int | None = Field(examples=[3])
    resource: str | None = Field(examples=["ingest:7"])
    payload: dict[str, Any] | None = Field(
        description="Ids the job works on; null where the policy withholds them.",
        examples=[{"ingest_job": 7, "case": 4}],
    )
    result: dict[str, Any] | None = Field(examples=[{"total": 120, "stored": 118}])
    cancel_requested: bool = Field(examples=[False])
    created_at: datetime = Field(examples=["2026-12-05T10:15:00Z"])
    started_at: datetime | None = Field(examples=["2026-12-05T10:15:01Z"])
    finished_at: datetime | None = Field(examples=[None])
    error: JobErrorRead | None = Field(examples=[None])


def _read(view: JobView) -> JobRead:
    job = view.job
    return JobRead(
        id=job.id,
        kind=job.kind,
        state=job.state.value,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        requester=job.requester,
        requester_agency_id=job.requester_agency_id,
        resource=job.resource,
        payload=job.payload if view.payload_shown else None,
        result=job.result if view.payload_shown else None,
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=None
        if job.error is None
        else JobErrorRead(code=job.error.code, message=job.error.message),
    )


@router.get("", operation_id="list_jobs", response_model=Page[JobRead], responses=_ERRORS)
def list_jobs(
    requester: AnyRequester,
    ctx: ContextDep,
    state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    after_id: AfterId = 0,
    limit: Limit = 100,
) -> Page[JobRead]:
    """The jobs you may see, by id."""
    views = jobs.list_jobs(
        ctx,
        requester=requester,
        states=() if state is None else (state,),
        after_id=after_id,
        limit=limit,
    )
    return page([_read(v) for v in views], lambda j: j.id, limit)


@router.get("/{job_id}", operation_id="get_job", response_model=JobRead, responses=_ERRORS)
def get_job(job_id: IdPath, requester: AnyRequester, ctx: ContextDep) -> JobRead:
    """One job, if you may see it."""
    return _read(jobs.get_job(ctx, job_id, requester=requester))
