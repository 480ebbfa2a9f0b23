"""Ingest over the API: upload files (or zip archives) into a case, then follow the job.

Uploading needs :attr:`~sightline.domain.access.Action.EDIT_CASE` on the case (its own
agency's investigators, certified). Each file is encrypted into a staging blob as it streams
in (never plaintext on disk) and the upload becomes a durable ``ingest.upload`` job that a
worker runs, resuming it if a worker dies (``services/ingest/uploads.py``);
``GET /api/v1/ingest/{job_id}`` reports progress from the database to whoever may edit the
case, and the names of failed files to the uploader only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from pydantic import BaseModel, Field

from sightline.api.auth import IngestRequester
from sightline.api.deps import ContextDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.params import IdPath
from sightline.errors import InvalidInputError
from sightline.services.ingest.uploads import JobView, UploadedFile, UploadJobs

router = APIRouter(prefix="/api/v1", tags=["ingest"])

MAX_FILES = 500
"""Files per request; more is refused (send them in several requests, or as a zip)."""

_ERRORS: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    404: {"description": "No such case or job, or one you may not know of."},
}


def _jobs(request: Request) -> UploadJobs:
    jobs: UploadJobs = request.app.state.upload_jobs
    return jobs


JobsDep = Annotated[UploadJobs, Depends(_jobs)]


class FailureRead(BaseModel):
    """A file that was not taken, and why (``name`` is shown to its uploader only)."""

    name: str | None = Field(examples=["holiday.zip/broken.jpg"])
    reason: str = Field(examples=["truncated"])


class JobRead(BaseModel):
    """An upload ingest: queued, running, done or failed, with its counts."""

    job_id: str = Field(examples=["Jq1x0dYqS8mB2p7Q"])
    case_id: int = Field(examples=[4])
    status: str = Field(
        description="queued, running, done, failed or cancelled.", examples=["running"]
    )
    files_total: int = Field(description="Files and archive entries.", examples=[120])
    done: int = Field(description="Taken in (new or already stored).", examples=[80])
    failed: int = Field(examples=[1])
    media_new: int = Field(description="Items not stored before.", examples=[75])
    failures: list[FailureRead] = Field(examples=[[{"name": "a.jpg", "reason": "truncated"}]])
    reason: str | None = Field(
        default=None,
        description="Why a failed or cancelled job ended so.",
        examples=[None],
    )


def _read(view: JobView) -> JobRead:
    return JobRead(
        job_id=view.job_id,
        case_id=view.case_id,
        status=view.status.value,
        files_total=view.files_total,
        done=view.done,
        failed=view.failed,
        media_new=view.media_new,
        failures=[FailureRead(name=f.name, reason=f.reason) for f in view.failures],
        reason=view.reason,
    )


@router.post(
    "/cases/{case_id}/ingest",
    operation_id="ingest_upload",
    status_code=202,
    response_model=JobRead,
    responses=_ERRORS,
)
def upload(
    case_id: IdPath,
    requester: IngestRequester,
    ctx: ContextDep,
    jobs: JobsDep,
    files: Annotated[
        list[UploadFile],
        File(min_length=1, max_length=MAX_FILES, description="Images or zip archives."),
    ],
) -> JobRead:
    """Upload files into a case; they are ingested in the background (poll the job)."""
    if not 1 <= len(files) <= MAX_FILES:
        raise InvalidInputError(f"files: 1 to {MAX_FILES} per request")
    case = jobs.authorize(requester, case_id)
    limit = ctx.settings.server.max_upload_bytes
    staged: list[UploadedFile] = []
    try:
        for index, file in enumerate(files):
            file.file.seek(0)
            name = file.filename or f"upload-{index}"
            staged.append(jobs.stage(name, file.file, limit))
    except BaseException:
        jobs.discard(staged)
        raise
    return _read(jobs.submit(requester, case, staged))


@router.get(
    "/ingest/{job_id}", operation_id="ingest_status", response_model=JobRead, responses=_ERRORS
)
def status(job_id: str, requester: IngestRequester, jobs: JobsDep) -> JobRead:
    """Progress of an upload ingest, for whoever may edit its case."""
    return _read(jobs.status(requester, job_id))
