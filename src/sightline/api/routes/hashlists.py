"""Hash lists over the API: import, configure, vote, report.

An import or a change that can widen matching enqueues a durable ``hashlist.retro_hunt`` job
(``services/jobs/handlers.py``), run by a worker, not a background task that dies with the
process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, UploadFile
from pydantic import BaseModel, Field

from sightline.api.auth import HashlistsReader, HashlistsWriter
from sightline.api.deps import ContextDep, WakeWorkerDep
from sightline.api.errors import ERROR_RESPONSES, ErrorEnvelope
from sightline.api.pagination import AfterId, Limit, Page, page_of
from sightline.api.params import JSON_INTEGER, IdField, IdPath
from sightline.api.uploads import uploaded_file
from sightline.domain.audit import Requester
from sightline.domain.models import HashList, ListKind
from sightline.services.context import AppContext
from sightline.services.exchange import hashlists
from sightline.services.jobs import queue as jobs

router = APIRouter(prefix="/api/v1/hashlists", tags=["hashlists"])

RESPONSES: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    404: {"model": ErrorEnvelope, "description": "No such list, entry or agency."},
}


class HashListRead(BaseModel):
    """A hash list."""

    id: int
    name: str
    kind: str = Field(description="positive (known material) or negative (suppresses).")
    pdq_threshold: int
    enabled: bool
    entries: int


class ParseErrorRead(BaseModel):
    """A row that was not imported."""

    line: int
    message: str


class ImportRead(BaseModel):
    """Outcome of an import; the retro-hunt runs afterwards, as a durable job."""

    hash_list: HashListRead
    imported: int
    rejected: int
    errors: list[ParseErrorRead] = Field(description="The first 100 rejected rows.")
    retro_hunt: str = Field(description="'scheduled' or 'skipped'.")
    retro_hunt_job: int | None = Field(
        default=None, description="The durable job of the retro-hunt (GET /api/v1/jobs/{id})."
    )


class ListUpdate(BaseModel):
    """Fields to change; a change that can widen matching schedules a retro-hunt."""

    enabled: bool | None = Field(default=None, strict=True)
    pdq_threshold: Annotated[int, Field(ge=0, le=31), JSON_INTEGER] | None = None


class VoteCreate(BaseModel):
    """A reviewer's verdict on a match against one entry, in the name of the voter's agency."""

    entry_id: IdField
    media_id: IdField
    agency: str | None = Field(
        default=None,
        description="The voter's own agency code (optional; another agency is refused).",
        examples=["TEST-FR"],
    )
    reviewer: str = Field(examples=["R. One"])
    verdict: Literal["confirm", "reject"] = Field(examples=["confirm"])


class EntryReportRead(BaseModel):
    """Matches and votes of one entry, for the list's owner."""

    entry_id: int
    external_id: str | None
    matches: int
    confirmed: int
    rejected: int
    quarantined: bool


def _read(hash_list: HashList) -> HashListRead:
    return HashListRead(
        id=hash_list.id,
        name=hash_list.name,
        kind=hash_list.kind.value,
        pdq_threshold=hash_list.pdq_threshold,
        enabled=hash_list.enabled,
        entries=hash_list.entry_count,
    )


def _retro_hunt(
    ctx: AppContext, requester: Requester, list_id: int, wake: Callable[[], None]
) -> int:
    """Queue the retro-hunt of a list as a durable job; returns the job's id."""
    job = jobs.enqueue(
        ctx,
        "hashlist.retro_hunt",
        {"list_id": list_id},
        requester=requester,
        resource=f"hashlist:{list_id}",
    )
    wake()
    return job.id


@router.get(
    "", operation_id="list_hashlists", response_model=Page[HashListRead], responses=RESPONSES
)
def list_hashlists(
    requester: HashlistsReader, ctx: ContextDep, after_id: AfterId = 0, limit: Limit = 100
) -> Page[HashListRead]:
    """Every hash list, by id (lists are a directory: any signed-in user or tool may read it)."""
    lists = [_read(h) for h in hashlists.list_lists(ctx)]
    return page_of(lists, lambda h: h.id, after_id, limit)


@router.post(
    "",
    operation_id="import_hashlist",
    status_code=201,
    response_model=ImportRead,
    responses=RESPONSES,
)
def import_hashlist(
    request: Request,
    requester: HashlistsWriter,
    ctx: ContextDep,
    wake: WakeWorkerDep,
    file: UploadFile,
    owner: Annotated[str, Form(min_length=1, max_length=32, description="Owning agency code")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    kind: Annotated[ListKind, Form()] = ListKind.POSITIVE,
    pdq_threshold: Annotated[int, Form(ge=0, le=31)] = 31,
    format: Annotated[str | None, Form(description="csv or icse; detected if absent")] = None,
) -> ImportRead:
    """Import a CSV or ICSE list; a retro-hunt job then re-matches everything already stored.

    Administering the owning agency: a signed-in agency or system administrator (a token,
    without a second factor, is refused).
    """
    with uploaded_file(ctx, request, file) as path, path.open("rb") as stream:
        report = hashlists.import_list(
            ctx,
            stream,
            requester=requester,
            owner=owner,
            name=name,
            kind=kind,
            threshold=pdq_threshold,
            fmt=format,
        )
    job_id = _retro_hunt(ctx, requester, report.hash_list.id, wake)
    return ImportRead(
        hash_list=_read(report.hash_list),
        imported=report.imported,
        rejected=report.rejected,
        errors=[ParseErrorRead(line=e.line, message=e.message) for e in report.errors],
        retro_hunt="scheduled",
        retro_hunt_job=job_id,
    )


@router.patch(
    "/{list_id}",
    operation_id="update_hashlist",
    response_model=HashListRead,
    responses=RESPONSES,
)
def update_hashlist(
    list_id: IdPath,
    body: ListUpdate,
    requester: HashlistsWriter,
    ctx: ContextDep,
    wake: WakeWorkerDep,
) -> HashListRead:
    """Enable, disable or re-threshold a list (a retro-hunt job follows).

    Administering the list's owning agency, like an import.
    """
    updated = hashlists.configure(
        ctx,
        list_id,
        requester=requester,
        enabled=body.enabled,
        threshold=body.pdq_threshold,
    )
    if updated.enabled and (body.enabled or body.pdq_threshold is not None):
        _retro_hunt(ctx, requester, list_id, wake)
    return _read(updated)


@router.delete("/{list_id}", operation_id="delete_hashlist", status_code=204, responses=RESPONSES)
def delete_hashlist(list_id: IdPath, requester: HashlistsWriter, ctx: ContextDep) -> None:
    """Delete a list with its entries and what was recorded against them (administering)."""
    hashlists.delete_list(ctx, list_id, requester=requester)


@router.post("/{list_id}/votes", operation_id="vote_on_entry", status_code=204, responses=RESPONSES)
def vote(list_id: IdPath, body: VoteCreate, requester: HashlistsWriter, ctx: ContextDep) -> None:
    """Record a reviewer's verdict, for the voter's agency, on a match against an entry."""
    hashlists.vote(
        ctx,
        requester=requester,
        entry_id=body.entry_id,
        media_id=body.media_id,
        agency=body.agency,
        reviewer=body.reviewer,
        verdict=body.verdict,
        list_id=list_id,
    )


@router.get(
    "/{list_id}/report",
    operation_id="hashlist_report",
    response_model=Page[EntryReportRead],
    responses=RESPONSES,
)
def report(
    list_id: IdPath,
    requester: HashlistsReader,
    ctx: ContextDep,
    after_id: AfterId = 0,
    limit: Limit = 100,
) -> Page[EntryReportRead]:
    """Per entry, by entry id: matches, confirm and reject votes, quarantine.

    For members of the owning agency who may see its cases, or its administrators.
    """
    rows = [_entry(r) for r in hashlists.owner_report(ctx, list_id, requester=requester)]
    return page_of(rows, lambda r: r.entry_id, after_id, limit)


def _entry(r: hashlists.EntryReport) -> EntryReportRead:
    return EntryReportRead(
        entry_id=r.entry_id,
        external_id=r.external_id,
        matches=r.matches,
        confirmed=r.confirmed,
        rejected=r.rejected,
        quarantined=r.quarantined,
    )
