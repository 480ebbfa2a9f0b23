"""Ingest over the API: uploaded files become a background job the uploader can follow.

The route writes the uploads into a private folder under ``DATA_DIR/scratch`` (0700), one
sub-folder per file so two uploads of the same name never collide, and hands the folder to
:meth:`UploadJobs.submit`. A single background thread then runs
:func:`sightline.services.ingest.ingest` on it, with the process's
:class:`~sightline.services.matching.MatchingEngine`, so new items are matched at once and the
API's PDQ index catches up by its checkpoint before the next search. The folder is deleted when
the job ends, whatever happened.

Jobs run one at a time: the ingest worker keeps per-process state, and one thread keeps the API
responsive while SQLite takes one writer at a time. Progress lives in memory only (a restart
forgets it; the ingest itself is durable and audited as ``ingest.run``).

The names the client gave its files are reported back to the uploader only, and never enter the
audit trail. The sightings of an upload record the client's name rather than the scratch path.
"""

from __future__ import annotations

import enum
import logging
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from sightline.domain.access import Action
from sightline.domain.audit import Requester
from sightline.domain.models import Case, IngestItem
from sightline.errors import NotFoundError
from sightline.services.archives import display_path
from sightline.services.audit import authorize
from sightline.services.context import AppContext
from sightline.services.ingest import IngestProgress, IngestReport, ingest
from sightline.services.matching import MatchingEngine
from sightline.services.runner import InlineRunner, TaskRunner
from sightline.services.sources import parse_locator

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_JOBS_KEPT = 1000
"""Finished jobs remembered for polling; the oldest finished ones are forgotten first."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
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


@dataclass
class _Job:
    view: JobView
    owner: str
    folder: Path
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

    def new_folder(self) -> Path:
        """A private (0700) folder under ``DATA_DIR/scratch`` for one job's uploads."""
        scratch = self._ctx.settings.data_dir / "scratch"
        scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="upload-", dir=scratch)).absolute()

    def slot(self, folder: Path, index: int, client_name: str) -> Path:
        """Where upload number ``index`` goes in ``folder``: a safe name, its extension kept."""
        base = _UNSAFE.sub("_", client_name.replace("\\", "/").rsplit("/", 1)[-1])[-100:]
        directory = folder / str(index)
        directory.mkdir(mode=0o700)
        return directory / (base.strip(".") or "upload")

    def submit(
        self, requester: Requester, case: Case, folder: Path, files: Sequence[UploadedFile]
    ) -> JobView:
        """Queue the ingest of ``files`` (all inside ``folder``) into ``case``.

        The folder is deleted when the job ends, whatever happens.
        """
        job_id = secrets.token_urlsafe(12)
        names = {display_path(f.path): _label(f.name) for f in files}
        view = JobView(job_id, case.id, JobStatus.QUEUED, len(files), 0, 0, 0)
        job = _Job(view, requester.actor, folder, names)
        with self._lock:
            self._forget_old()
            self._jobs[job_id] = job
        try:
            self._executor.submit(self._run, job, requester, case)
        except RuntimeError:  # shutting down
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return view

    def status(self, requester: Requester, job_id: str) -> JobView:
        """A job's progress, for a requester who may edit its case.

        Raises:
            NotFoundError: no such job, or its case is hidden from the requester.
            AccessDenied: the requester knows the case but may not edit it.
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError("no such ingest job")
        self.authorize(requester, job.view.case_id)
        with self._lock:
            view = job.view
        if requester.actor != job.owner:
            view = replace(view, failures=[FileFailure(None, f.reason) for f in view.failures])
        return view

    def close(self) -> None:
        """Wait for the running job and drop queued ones (their folders are removed)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for job in self._jobs.values():
                if job.view.status is JobStatus.QUEUED:
                    shutil.rmtree(job.folder, ignore_errors=True)

    def _run(self, job: _Job, requester: Requester, case: Case) -> None:
        self._update(job, status=JobStatus.RUNNING)
        try:
            with self._ctx.uow() as uow:
                agency = next(a for a in uow.agencies.list() if a.id == case.agency_id)
            report = ingest(
                self._ctx,
                [job.folder],
                agency_code=agency.code,
                case_reference=case.reference,
                runner=self._runner,
                requester=requester,
                on_progress=lambda progress: self._progress(job, progress),
                engine=self._engine,
            )
            self._relabel(job, report)
            self._finish(job, report)
        except Exception:
            logger.exception("upload ingest job failed")
            self._update(job, status=JobStatus.FAILED)
        finally:
            shutil.rmtree(job.folder, ignore_errors=True)

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


def _label(name: str) -> str:
    """The client's name as a label: no control characters, at most 255 characters."""
    return _CONTROL.sub("_", name)[:255] or "upload"
