"""Durable jobs as services see them: enqueue, read, cancel (``domain/jobs.py``, ADR 0014).

Whoever asks for work that outlives its request calls :func:`enqueue` and gets the job at
once; a worker (``services/jobs/worker.py``, the ``sightline worker`` role or the one embedded
in ``sightline serve``) runs it. Enqueueing is audited as ``job.enqueue`` by the requester, in
the same transaction as the job, so a job exists exactly when its audit event does; callers
that record something of their own with the job (an upload's ingest items) pass their unit of
work to :func:`enqueue_in`.

Reading follows the access policy (:func:`~sightline.domain.access.job_filter`): the query is
scoped in the repository, and the payload of a job the reader may list but not inspect is
withheld (:class:`JobView`).

A job kind is a :class:`JobHandler`: :meth:`JobHandler.run` does the work, given a
:class:`JobRun` whose :meth:`~JobRun.check` it calls between units of work (it raises when the
job was cancelled, its lease was lost or the worker is stopping), and two hooks clean up once
the job has ended for good. The handlers are registered by kind in one place,
``services/jobs/handlers.py``.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from sightline.config import JOB_KINDS
from sightline.domain.access import JobFilter, job_filter
from sightline.domain.audit import Requester
from sightline.domain.jobs import Job, JobError, JobState, NewJob
from sightline.errors import InvalidInputError, NotFoundError
from sightline.services.access.audit import record, record_request
from sightline.services.context import AppContext
from sightline.services.jobs.runner import InlineRunner, TaskRunner
from sightline.services.matching.engine import MatchingEngine
from sightline.services.signals.indexes import IndexSet
from sightline.storage.unit_of_work import UnitOfWork


class JobStopped(Exception):  # noqa: N818 - control flow, never shown to anyone
    """Raised by :meth:`JobRun.check`: stop working on this job now."""


class JobCancelled(JobStopped):
    """Someone cancelled the job: it ends as ``cancelled``."""


class LeaseLost(JobStopped):
    """Another worker holds the job now (ours expired): leave it, record nothing."""


class WorkerStopping(JobStopped):
    """The worker is shutting down: the job goes back to the queue, the attempt uncounted."""


@dataclass
class JobResources:
    """What a worker process's handlers share: the task runner and one matching engine.

    ``engine`` is the API's own when the worker is embedded in ``sightline serve`` (its PDQ
    indexes then see new media at once); a stand-alone worker builds one on first use.
    """

    runner: TaskRunner = field(default_factory=InlineRunner)
    engine: MatchingEngine | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def matching_engine(self, ctx: AppContext) -> MatchingEngine:
        """The shared engine, built (indexes loaded) on first use."""
        with self._lock:
            if self.engine is None:
                engine = MatchingEngine(ctx, IndexSet(ctx))
                engine.indexes.open()
                self.engine = engine
            return self.engine


@dataclass
class JobRun:
    """One attempt at a job, as its handler sees it."""

    ctx: AppContext
    job: Job
    requester: Requester  # who asked, with the worker as source: for the handler's own audit
    resources: JobResources
    check: Callable[[], None] = lambda: None  # raises a JobStopped to stop between units


class JobHandler(abc.ABC):
    """One job kind. Running it again after a kill must resume without loss or duplicates."""

    kind: ClassVar[str]

    @abc.abstractmethod
    def run(self, run: JobRun) -> dict[str, Any]:
        """Do the work; returns the job's result (a small JSON object of counts and ids)."""

    def on_end(self, uow: UnitOfWork, job: Job) -> None:  # noqa: B027 - optional hook
        """Inside the transaction that ends the job for good (any final state)."""

    def after_end(self, ctx: AppContext, job: Job) -> None:  # noqa: B027 - optional hook
        """After that transaction committed: release what the job held outside the database."""


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as one reader may see it.

    Where the policy withholds the payload, everything naming what the job worked on goes
    with it: payload, result, resource and the error's message (its code stays).
    """

    job: Job
    payload_shown: bool

    @classmethod
    def of(cls, job: Job, scope: JobFilter) -> JobView:
        """``job`` with what ``scope`` withholds removed."""
        if scope.shows_payload(job.requester):
            return cls(job, True)
        error = None if job.error is None else JobError(job.error.code, "")
        return cls(replace(job, payload={}, result={}, resource=None, error=error), False)


def scope_of(requester: Requester) -> JobFilter:
    """Which jobs ``requester`` may see (``domain/access.py`` decides)."""
    return job_filter(requester.access, requester.actor, now=datetime.now(UTC))


def enqueue(
    ctx: AppContext,
    kind: str,
    payload: dict[str, Any],
    *,
    requester: Requester,
    resource: str | None = None,
) -> Job:
    """Queue a job of ``kind`` for ``requester``; audited as ``job.enqueue``."""
    with ctx.uow() as uow:
        job = enqueue_in(uow, ctx, kind, payload, requester=requester, resource=resource)
        uow.commit()
    return job


def enqueue_in(
    uow: UnitOfWork,
    ctx: AppContext,
    kind: str,
    payload: dict[str, Any],
    *,
    requester: Requester,
    resource: str | None = None,
) -> Job:
    """:func:`enqueue` inside the caller's transaction (the caller commits).

    Raises:
        InvalidInputError: ``kind`` is not a job kind of this version.
    """
    if kind not in JOB_KINDS:
        raise InvalidInputError(f"unknown job kind {kind!r}; valid: {', '.join(JOB_KINDS)}")
    new = NewJob(
        kind=kind,
        payload=payload,
        requester=requester.actor,
        requester_agency_id=requester.agency_id,
        source=requester.source,
        resource=resource,
        max_attempts=ctx.settings.worker.max_attempts,
    )
    job = uow.jobs.enqueue(new)
    record_request(uow, requester, "job.enqueue", f"job:{job.id}", detail={"kind": kind})
    return job


def get_job(ctx: AppContext, job_id: int, *, requester: Requester) -> JobView:
    """A job the requester may see.

    Raises:
        NotFoundError: no such job, or one hidden from the requester.
    """
    scope = scope_of(requester)
    with ctx.uow() as uow:
        return JobView.of(uow.jobs.get(job_id, scope), scope)


def list_jobs(
    ctx: AppContext,
    *,
    requester: Requester,
    states: Sequence[JobState] = (),
    kind: str | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    newest_first: bool = False,
    limit: int = 100,
) -> list[JobView]:
    """The jobs the requester may see, by id (oldest first unless ``newest_first``)."""
    scope = scope_of(requester)
    with ctx.uow() as uow:
        jobs = uow.jobs.list(
            scope,
            states=states,
            kind=kind,
            after_id=after_id,
            before_id=before_id,
            newest_first=newest_first,
            limit=limit,
        )
    return [JobView.of(job, scope) for job in jobs]


def cancel(
    ctx: AppContext,
    job_id: int,
    *,
    requester: Requester,
    handlers: Mapping[str, JobHandler] | None = None,
) -> Job:
    """Cancel a job: a queued one at once, a running one at its worker's next unit of work.

    Only the local operator (the command line) and the job's own requester may cancel; the
    request is audited as ``job.cancel``. A queued job this call ends gets its handler's
    clean-up here (``handlers``: by kind), since no worker will ever see it.

    Raises:
        NotFoundError: no such job, or one the requester may not cancel.
    """
    with ctx.uow() as uow:
        before = uow.jobs.get(job_id, scope_of(requester))
        if requester.access is not None and before.requester != requester.actor:
            raise NotFoundError(f"no job {job_id} of yours")
        job = uow.jobs.request_cancel(job_id)
        ended = not before.state.ended and job.state.ended
        handler = (handlers or {}).get(job.kind) if ended else None
        if handler is not None:
            handler.on_end(uow, job)
        detail = {"kind": job.kind, "was": before.state.value, "now": job.state.value}
        record_request(uow, requester, "job.cancel", f"job:{job_id}", detail=detail)
        uow.commit()
    if handler is not None:
        handler.after_end(ctx, job)
    return job


def wait_for(ctx: AppContext, job_id: int, *, timeout_s: float, poll_s: float = 0.2) -> Job:
    """Poll until job ``job_id`` has ended or ``timeout_s`` passed; returns it as it stands."""
    deadline = time.monotonic() + timeout_s
    while True:
        with ctx.uow() as uow:
            job = uow.jobs.get(job_id)
        if job.state.ended or time.monotonic() >= deadline:
            return job
        time.sleep(poll_s)


def audit_outcome(uow: UnitOfWork, job: Job, action: str, source: str, **detail: Any) -> None:
    """Record what became of ``job`` in the name of its requester, from the worker ``source``."""
    record(
        uow,
        actor=job.requester,
        action=action,
        resource=f"job:{job.id}",
        outcome="error" if action in {"job.fail", "job.retry"} else "allowed",
        source=source,
        agency_id=job.requester_agency_id,
        detail={"kind": job.kind, "attempt": job.attempts, **detail},
    )
