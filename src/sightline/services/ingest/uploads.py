"""Ingest over the API: uploads become a durable ``ingest.upload`` job the uploader can follow.

The route streams each uploaded file into an encrypted *staging blob* (``ingest/staged.py``), so
an upload is never plaintext on disk, and hands them to :meth:`UploadJobs.submit`. In one
transaction that records the ingest job under the id the uploader polls, one ingest item per
file (locator ``staged:<blob id>``, ``original_path`` the name the client gave), and the
durable job, audited as ``job.enqueue``. A worker (``sightline worker``, or the one embedded in
``sightline serve``) runs :class:`UploadIngestHandler`: it expands uploaded zips into their
entries, then processes the pending items with :func:`~sightline.services.ingest.run.process_job`
(per-file work on the configured job runner, results matched at once). A worker killed half
way loses nothing: the next one leases the job again once the lease expires and processes the
items still pending. The staging blobs are deleted when the job ends, whatever its end.

Progress is read from the database (``GET /api/v1/ingest/{job_id}``), so any server process
answers for any job. The names the client gave its files are shown to the uploader only and
never enter the audit trail; sightings record them as the file's path.
"""

from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sightline.domain.access import Action
from sightline.domain.audit import Requester
from sightline.domain.jobs import Job, JobState
from sightline.domain.models import Case, IngestJob
from sightline.domain.models import JobStatus as StoredStatus
from sightline.errors import NotFoundError
from sightline.services.access.audit import authorize, record
from sightline.services.context import AppContext
from sightline.services.ingest.run import IngestProgress, process_job
from sightline.services.ingest.scratch import is_owned, scratch_root
from sightline.services.ingest.sources import SourceLimits, staged_locator
from sightline.services.ingest.staged import discard, expand_uploads, stage, staged_blob_ids
from sightline.services.jobs.queue import JobHandler, JobRun, enqueue_in
from sightline.storage.blobs.base import ByteSource
from sightline.storage.repositories.ingest import NewItem
from sightline.storage.unit_of_work import UnitOfWork

KIND = "ingest.upload"

INTERRUPTED = (
    "interrupted: the server stopped before this upload was ingested, and uploaded files are "
    "not kept across a restart; upload the files that are not in the case again"
)
"""Why an upload of an older version (kept as plaintext in scratch) that a restart found
running has failed; uploads are staged encrypted now and resumed instead."""

CANCELLED = "cancelled: the ingest was stopped on request; files not yet taken were dropped"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class JobStatus(enum.StrEnum):
    """Where an upload job stands, as the uploader sees it."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One staged upload: the name the client gave it, its staging blob and its size."""

    name: str
    blob_id: str
    size: int


@dataclass(frozen=True, slots=True)
class FileFailure:
    """A file (or archive entry) that was not taken; ``name`` only for its uploader."""

    name: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class JobView:
    """A job's progress as one requester may see it."""

    job_id: str
    case_id: int
    status: JobStatus
    files_total: int
    done: int
    failed: int
    media_new: int
    failures: list[FileFailure] = field(default_factory=list)
    reason: str | None = None  # why a failed job failed


class UploadJobs:
    """API uploads: stage, record and queue them; report their progress from the database.

    Args:
        ctx: The open store.
        on_enqueue: Called after a job is queued (wakes the embedded worker at once).
    """

    def __init__(self, ctx: AppContext, on_enqueue: Callable[[], None] | None = None) -> None:
        self._ctx = ctx
        self._on_enqueue = on_enqueue or (lambda: None)

    def authorize(self, requester: Requester, case_id: int) -> Case:
        """The case, if the requester may add material to it (audited refusal otherwise).

        Raises:
            NotFoundError: no such case, or the requester may not know it.
            AccessDenied: the requester knows the case but may not edit it.
        """
        with self._ctx.uow() as uow:
            case = uow.cases.get_by_id(case_id)
        authorize(self._ctx, requester, Action.EDIT_CASE, case.scope, audit_action="ingest.upload")
        return case

    def stage(self, name: str, source: ByteSource, limit: int) -> UploadedFile:
        """Encrypt one upload into a staging blob as it streams in.

        Raises:
            PayloadTooLargeError: more than ``limit`` bytes (nothing is left behind).
        """
        blob_id, size = stage(self._ctx.blobs, source, limit)
        return UploadedFile(_label(name), blob_id, size)

    def discard(self, files: Sequence[UploadedFile]) -> None:
        """Delete the staging blobs of uploads that will not be submitted."""
        discard(self._ctx.blobs, {f.blob_id for f in files})

    def submit(self, requester: Requester, case: Case, files: Sequence[UploadedFile]) -> JobView:
        """Record the ingest of ``files`` into ``case`` and queue it; one transaction.

        If recording fails, the staging blobs are deleted.
        """
        token = secrets.token_urlsafe(12)
        try:
            with self._ctx.uow() as uow:
                source = json.dumps({"upload": token}, sort_keys=True)
                job = uow.ingest.create_job(
                    case.id, source, None, upload_token=token, uploader=requester.actor
                )
                uow.ingest.add_items(job.id, [_item(f) for f in files])
                payload = {"ingest_job": job.id, "case": case.id}
                resource = f"ingest:{job.id}"
                enqueue_in(uow, self._ctx, KIND, payload, requester=requester, resource=resource)
                uow.commit()
        except BaseException:
            self.discard(files)
            raise
        self._on_enqueue()
        return JobView(token, case.id, JobStatus.QUEUED, len(files), 0, 0, 0)

    def status(self, requester: Requester, job_id: str) -> JobView:
        """A job's progress, for a requester who may edit its case.

        Raises:
            NotFoundError: no such job, or its case is hidden from the requester.
            AccessDenied: the requester knows the case but may not edit it.
        """
        with self._ctx.uow() as uow:
            stored = uow.ingest.find_upload(job_id) if len(job_id) <= 32 else None
            if stored is None:
                raise NotFoundError("no such ingest job")
            summary = uow.ingest.summary(stored.id)
            failures = uow.ingest.failures(stored.id)
            durable = uow.jobs.find_by_resource(f"ingest:{stored.id}", KIND)
        self.authorize(requester, stored.case_id)
        mine = requester.actor == stored.uploader
        return JobView(
            job_id,
            stored.case_id,
            _status(stored, durable),
            summary.total,
            summary.stored + summary.duplicates,
            summary.failed,
            summary.stored,
            [FileFailure(i.locator if mine else None, i.reason or "failed") for i in failures],
            stored.failure_reason,
        )

    def recover_interrupted(self) -> int:
        """Fail the uploads of an older version that a stopped server left running.

        Those kept their files as plaintext in a scratch folder, which died with the server
        (the sweep removes it), so they can never finish. Uploads staged in the blob store
        are durable jobs and are resumed instead. Returns how many were failed.
        """
        failed = 0
        with self._ctx.uow() as uow:
            for job in uow.ingest.running_uploads():
                folders = [Path(p) for p in json.loads(job.source).get("paths", [])]
                if not folders or any(is_owned(folder.parent) for folder in folders):
                    continue  # a staged upload, or one another live process is ingesting
                uow.ingest.fail_job(job.id, INTERRUPTED, "interrupted")
                _audit_interrupted(uow, job.id, job.case_id)
                failed += 1
            uow.commit()
        return failed

    def close(self) -> None:
        """Nothing to release: jobs live in the database, files in the blob store."""


class UploadIngestHandler(JobHandler):
    """Runs an ``ingest.upload`` job: expand uploaded zips, then process what is pending.

    Resumable by construction: expansion replaces an archive's item by its entries in one
    transaction, and ingest skips items already done or failed.
    """

    kind: ClassVar[str] = KIND

    def run(self, run: JobRun) -> dict[str, Any]:
        """Ingest the upload's pending items; returns the counts."""
        ctx, job_id = run.ctx, int(run.job.payload["ingest_job"])
        limits = SourceLimits.from_settings(ctx.settings.ingest)
        with ctx.uow() as uow:
            expand_uploads(uow, ctx.blobs, job_id, scratch_root(ctx.settings.data_dir), limits)
        run.check()

        def between_batches(_: IngestProgress) -> None:
            run.check()

        report = process_job(
            ctx,
            job_id,
            runner=run.resources.runner,
            requester=run.requester,
            resumed=run.job.attempts > 1,
            on_progress=between_batches,
            engine=run.resources.matching_engine(ctx),
        )
        s = report.summary
        return {"ingest_job": job_id, "total": s.total, "stored": s.stored, "failed": s.failed}

    def on_end(self, uow: UnitOfWork, job: Job) -> None:
        """A job that ended unfinished fails its ingest job, with the reason the uploader sees."""
        ingest_job = uow.ingest.get_job(int(job.payload["ingest_job"]))
        if ingest_job.status is not StoredStatus.RUNNING:
            return
        if job.state is JobState.CANCELLED:
            uow.ingest.fail_job(ingest_job.id, CANCELLED, "cancelled")
        elif job.state is JobState.FAILED:
            reason = job.error.message if job.error else "failed"
            uow.ingest.fail_job(ingest_job.id, f"failed: {reason}", "job_failed")

    def after_end(self, ctx: AppContext, job: Job) -> None:
        """Delete the upload's staging blobs."""
        with ctx.uow() as uow:
            locators = uow.ingest.locators(int(job.payload["ingest_job"]))
        discard(ctx.blobs, staged_blob_ids(locators))


def _status(stored: IngestJob, durable: Job | None) -> JobStatus:
    if stored.status is StoredStatus.FINISHED:
        return JobStatus.DONE
    if durable is not None and durable.state is JobState.CANCELLED:
        return JobStatus.CANCELLED
    if stored.status is StoredStatus.FAILED:
        return JobStatus.FAILED
    if durable is not None and durable.state is JobState.QUEUED and durable.attempts == 0:
        return JobStatus.QUEUED
    return JobStatus.RUNNING


def _item(upload: UploadedFile) -> NewItem:
    return NewItem(staged_locator(upload.blob_id), upload.name, upload.size, None)


def _audit_interrupted(uow: UnitOfWork, job_id: int, case_id: int) -> None:
    record(
        uow,
        actor="system",
        action="ingest.interrupted",
        resource=f"case:{case_id}",
        source="server",
        agency_id=None,
        detail={"job": job_id},
    )


def _label(name: str) -> str:
    """The client's name as a label: no control characters, at most 255 characters."""
    return _CONTROL.sub("_", name)[:255] or "upload"
