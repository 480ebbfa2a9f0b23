"""Ingest over the API: uploaded files become a background job the uploader can follow.

The route writes the uploads into a private folder under ``DATA_DIR/scratch`` (0700, owned by
this process: ``services/scratch.py``), under opaque names (``0000``, ``0001``...: never the
client's file name), and hands the folder to :meth:`UploadJobs.submit`. That records the
durable ingest job at once, with the job id the uploader polls. A single background thread then
runs :func:`sightline.services.ingest.ingest` on it, with the process's
:class:`~sightline.services.matching.MatchingEngine`, so new items are matched at once and the
API's PDQ index catches up by its checkpoint before the next search. The folder is deleted when
the job ends, whatever happened.

Jobs run one at a time: the ingest worker keeps per-process state, and one thread keeps the API
responsive while SQLite takes one writer at a time. Live progress is kept in memory; the job's
outcome is in the database. If the server dies, its upload folders die with it (the scratch
sweep removes them: they are plaintext case files), and at the next start
:meth:`UploadJobs.recover_interrupted` marks each upload job that was still running as failed,
with a reason the uploader sees when polling: the files must be uploaded again.

The names the client gave its files are reported back to the uploader only, and never enter the
audit trail. The sightings of an upload record the client's name rather than the scratch path.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import secrets
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from sightline.domain.access import Action
from sightline.domain.audit import Requester
from sightline.domain.models import Case, IngestItem
from sightline.domain.models import JobStatus as StoredStatus
from sightline.errors import NotFoundError, SightlineError
from sightline.services.archives import display_path
from sightline.services.audit import authorize, record
from sightline.services.context import AppContext
from sightline.services.ingest import IngestProgress, IngestReport, canonical_source, ingest
from sightline.services.matching import MatchingEngine
from sightline.services.runner import InlineRunner, TaskRunner
from sightline.services.scratch import ScratchDir, is_owned, scratch_root
from sightline.services.sources import parse_locator
from sightline.storage.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_JOBS_KEPT = 1000
"""Finished jobs remembered for polling; the oldest finished ones are forgotten first."""

INTERRUPTED = (
    "interrupted: the server stopped before this upload was ingested, and uploaded files are "
    "not kept across a restart; upload the files that are not in the case again"
)
"""Why an upload job that was running when its server stopped has failed."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class JobStatus(enum.StrEnum):
    """Where an upload job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One uploaded file: the name the client gave it and where it lies in the job folder."""

    name: str
    path: Path


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


@dataclass
class _Job:
    view: JobView
    owner: str
    folder: ScratchDir
    names: dict[str, str]  # display path of each stored upload -> the client's name


class UploadJobs:
    """The API process's upload ingests: one background thread, progress kept in memory."""

    def __init__(
        self, ctx: AppContext, engine: MatchingEngine, runner: TaskRunner | None = None
    ) -> None:
        self._ctx = ctx
        self._engine = engine
        self._runner: TaskRunner = runner or InlineRunner()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sightline-ingest")
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

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

    def new_folder(self) -> ScratchDir:
        """A private (0700) folder under ``DATA_DIR/scratch`` for one job's uploads.

        The caller closes it if it does not hand it to :meth:`submit`.
        """
        folder = ScratchDir(scratch_root(self._ctx.settings.data_dir.absolute()), "upload")
        _inputs(folder.path).mkdir(mode=0o700)
        return folder

    def slot(self, folder: ScratchDir, index: int) -> Path:
        """Where upload number ``index`` goes in ``folder``: an opaque name, never the client's.

        Ingest tells images and archives apart by their content, so no extension is needed.
        """
        return _inputs(folder.path) / f"{index:04d}"

    def submit(
        self, requester: Requester, case: Case, folder: ScratchDir, files: Sequence[UploadedFile]
    ) -> JobView:
        """Record the ingest of ``files`` (all inside ``folder``) into ``case`` and queue it.

        The folder is deleted when the job ends, whatever happens.
        """
        job_id = secrets.token_urlsafe(12)
        try:
            with self._ctx.uow() as uow:
                source = canonical_source([_inputs(folder.path)], None)
                uow.ingest.create_job(
                    case.id, source, None, upload_token=job_id, uploader=requester.actor
                )
                uow.commit()
        except BaseException:
            folder.close()
            raise
        names = {display_path(f.path): _label(f.name) for f in files}
        view = JobView(job_id, case.id, JobStatus.QUEUED, len(files), 0, 0, 0)
        job = _Job(view, requester.actor, folder, names)
        with self._lock:
            self._forget_old()
            self._jobs[job_id] = job
        try:
            self._executor.submit(self._run, job, requester, case)
        except RuntimeError:  # shutting down
            self._fail(job, INTERRUPTED)
            raise
        return view

    def recover_interrupted(self) -> int:
        """Fail the upload jobs a stopped server left running; returns how many.

        A job is interrupted when no live process owns its upload folder any more: its files
        are gone (or about to be swept), so it can never finish. The uploader sees the reason
        when polling the job.
        """
        failed = 0
        with self._ctx.uow() as uow:
            for job in uow.ingest.running_uploads():
                folders = [Path(p) for p in json.loads(job.source).get("paths", [])]
                if any(is_owned(folder.parent) for folder in folders):
                    continue  # another live server process is ingesting it
                uow.ingest.fail_job(job.id, INTERRUPTED, "interrupted")
                _audit_interrupted(uow, job.id, job.case_id)
                failed += 1
            uow.commit()
        return failed

    def status(self, requester: Requester, job_id: str) -> JobView:
        """A job's progress, for a requester who may edit its case.

        Raises:
            NotFoundError: no such job, or its case is hidden from the requester.
            AccessDenied: the requester knows the case but may not edit it.
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return self._stored_status(requester, job_id)
        self.authorize(requester, job.view.case_id)
        with self._lock:
            view = job.view
        if requester.actor != job.owner:
            view = replace(view, failures=[FileFailure(None, f.reason) for f in view.failures])
        return view

    def _stored_status(self, requester: Requester, job_id: str) -> JobView:
        """A job this process does not remember (a restart, or forgotten): the database's."""
        with self._ctx.uow() as uow:
            stored = uow.ingest.find_upload(job_id) if len(job_id) <= 32 else None
            if stored is None:
                raise NotFoundError("no such ingest job")
            summary = uow.ingest.summary(stored.id)
            failures = uow.ingest.failures(stored.id)
        self.authorize(requester, stored.case_id)
        status = {
            StoredStatus.FINISHED: JobStatus.DONE,
            StoredStatus.FAILED: JobStatus.FAILED,
        }.get(stored.status, JobStatus.RUNNING)
        return JobView(
            job_id,
            stored.case_id,
            status,
            summary.total,
            summary.stored + summary.duplicates,
            summary.failed,
            summary.stored,
            [FileFailure(None, item.reason or "failed") for item in failures],
            stored.failure_reason,
        )

    def close(self) -> None:
        """Wait for the running job and drop queued ones (their folders are removed)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            queued = [job for job in self._jobs.values() if job.view.status is JobStatus.QUEUED]
        for job in queued:
            self._fail(job, INTERRUPTED)

    def _run(self, job: _Job, requester: Requester, case: Case) -> None:
        self._update(job, status=JobStatus.RUNNING)
        try:
            with self._ctx.uow() as uow:
                agency = next(a for a in uow.agencies.list() if a.id == case.agency_id)
            report = ingest(
                self._ctx,
                [_inputs(job.folder.path)],
                agency_code=agency.code,
                case_reference=case.reference,
                runner=self._runner,
                requester=requester,
                on_progress=lambda progress: self._progress(job, progress),
                engine=self._engine,
            )
            self._relabel(job, report)
            self._finish(job, report)
        except SightlineError as exc:  # a worker could not start (the master key is gone...)
            logger.error("upload ingest job failed: %s", exc.code)
            self._fail(job, exc.message)
        except Exception as exc:
            # Only the type: an exception's message may quote a path or a file's content.
            logger.error("upload ingest job failed: %s", type(exc).__name__)
            self._fail(job, f"internal error ({type(exc).__name__}); see the server log")
        finally:
            job.folder.close()

    def _fail(self, job: _Job, reason: str) -> None:
        """Record that ``job`` failed, durably, and delete its files."""
        job.folder.close()
        with self._ctx.uow() as uow:
            stored = uow.ingest.find_upload(job.view.job_id)
            if stored is not None:
                uow.ingest.fail_job(stored.id, reason, "interrupted")
                uow.commit()
        self._update(job, status=JobStatus.FAILED, reason=reason)

    def _relabel(self, job: _Job, report: IngestReport) -> None:
        with self._ctx.uow() as uow:
            uow.media_access.relabel_job_paths(report.job_id, job.names)
            uow.commit()

    def _progress(self, job: _Job, progress: IngestProgress) -> None:
        self._update(
            job,
            files_total=progress.total,
            done=progress.stored + progress.duplicates,
            failed=progress.failed,
            media_new=progress.stored,
        )

    def _finish(self, job: _Job, report: IngestReport) -> None:
        summary = report.summary
        self._update(
            job,
            status=JobStatus.DONE,
            files_total=summary.total,
            done=summary.stored + summary.duplicates,
            failed=summary.failed,
            media_new=summary.stored,
            failures=[self._failure(job, item) for item in report.failures],
        )

    def _failure(self, job: _Job, item: IngestItem) -> FileFailure:
        path, entry = parse_locator(item.locator)
        name = next(
            (label for shown, label in job.names.items() if display_path(path) == shown), None
        )
        if name is not None and entry is not None:
            name = f"{name}/{entry}"
        return FileFailure(name, item.reason or "failed")

    def _update(self, job: _Job, **changes: Any) -> None:
        with self._lock:
            job.view = replace(job.view, **changes)

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.view.status in _ENDED]
        for key in finished[: max(0, len(self._jobs) - MAX_JOBS_KEPT + 1)]:
            del self._jobs[key]


_ENDED = frozenset({JobStatus.DONE, JobStatus.FAILED})


def _inputs(folder: Path) -> Path:
    """The uploads' own folder inside a job's scratch folder (which also holds its lock)."""
    return folder / "files"


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
