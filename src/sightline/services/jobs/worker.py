"""The worker role: lease durable jobs, run them under a heartbeat, record what became of them.

A :class:`JobWorker` runs ``concurrency`` threads. Each leases the oldest due job of the kinds
it serves (``storage/repositories/jobs.py``), runs its handler while a heartbeat thread extends
the lease, and records the outcome with the audit event, in the name of the requester who
enqueued the job and with the worker as source:

- success: ``succeeded`` with the handler's result (``job.succeed``);
- :class:`~sightline.services.jobs.queue.JobCancelled`: ``cancelled`` (``job.cancelled``);
- an error: back to the queue after ``retry_seconds`` while attempts remain (``job.retry``),
  else ``failed`` (``job.fail``). Errors that another try cannot mend (not found, invalid
  input, access denied, conflict) fail at once;
- :class:`~sightline.services.jobs.queue.WorkerStopping` (SIGTERM, server shutdown): released
  to the queue at once, the attempt not counted, for the next worker;
- :class:`~sightline.services.jobs.queue.LeaseLost`: nothing; whoever holds the lease now
  records it.

A worker killed outright records nothing; its lease expires and another worker takes the job
over. A job whose every attempt ended that way is failed with ``lease_expired`` when next seen.
Messages recorded for a failure are the error's own stable messages or its type only: an
exception's text may quote a file name of case material.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sightline.config import WorkerSettings
from sightline.domain.audit import Requester
from sightline.domain.jobs import Job, JobError, JobState
from sightline.errors import (
    AccessDenied,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SightlineError,
)
from sightline.services.context import AppContext
from sightline.services.jobs.queue import (
    JobCancelled,
    JobHandler,
    JobResources,
    JobRun,
    LeaseLost,
    WorkerStopping,
    audit_outcome,
)
from sightline.storage.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

FINAL_ERRORS = (NotFoundError, InvalidInputError, AccessDenied, ConflictError)
"""Errors another attempt would meet again: the job fails at once."""


@dataclass
class _Attempt:
    """What the heartbeat learned about one running job, read by :meth:`JobRun.check`."""

    lost: bool = False
    cancelled: bool = False


class JobWorker:
    """Leases and runs durable jobs on ``settings.concurrency`` threads until stopped.

    Args:
        ctx: The open store.
        handlers: Job handlers by kind (``services/jobs/handlers.py``).
        resources: What the handlers share (runner, matching engine).
        settings: Leases, heartbeats, polling, retries, kinds and concurrency.
        kinds: The kinds to take (default: the settings' kinds that have a handler).
    """

    def __init__(
        self,
        ctx: AppContext,
        handlers: Mapping[str, JobHandler],
        resources: JobResources,
        settings: WorkerSettings | None = None,
        *,
        kinds: Collection[str] | None = None,
    ) -> None:
        self._ctx = ctx
        self._handlers = dict(handlers)
        self._resources = resources
        self._settings = settings or ctx.settings.worker
        wanted = kinds if kinds is not None else self._settings.kinds
        self.kinds = sorted(k for k in wanted if k in self._handlers)
        host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:40] or "host"
        self.id = f"{host}:{os.getpid()}:{secrets.token_hex(4)}"
        self.source = f"worker:{self.id}"[:100]
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- running --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads (daemons: a hard exit never waits for them)."""
        for n in range(self._settings.concurrency):
            thread = threading.Thread(target=self._loop, name=f"sightline-job-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Look for due jobs now rather than at the next poll (a job was just enqueued)."""
        self._wake.set()

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask every thread to stop (running jobs go back to the queue) and wait for them."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = [t for t in self._threads if t.is_alive()]

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def run_once(self, job_id: int | None = None) -> Job | None:
        """Lease one due job (``job_id`` only, if given) and run it; None if none was due."""
        job = self._lease(job_id)
        return None if job is None else self._run(job)

    def run_until_idle(self) -> int:
        """Run due jobs in this thread until none is left; returns how many ran."""
        count = 0
        while not self.stopping and self.run_once() is not None:
            count += 1
        return count

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once() is not None
            except Exception as exc:  # the database went away, say: log, wait, try again
                logger.error("job worker: %s while leasing or recording", type(exc).__name__)
                ran = False
            if not ran:
                self._wake.wait(self._settings.poll_seconds)
                self._wake.clear()

    # -- one job --------------------------------------------------------------------------

    def _lease(self, job_id: int | None) -> Job | None:
        if not self.kinds:
            return None
        with self._ctx.uow() as uow:
            abandoned = uow.jobs.abandon_expired(kinds=self.kinds)
            for ended in abandoned:
                failed = ended.state is JobState.FAILED
                self._ended_in(uow, ended, "job.fail" if failed else "job.cancelled")
            job = uow.jobs.lease(
                self.id, self._settings.lease_seconds, kinds=self.kinds, job_id=job_id
            )
            uow.commit()
        for gone in abandoned:
            self._after_end(gone)
        return job

    def _run(self, job: Job) -> Job:
        attempt = _Attempt()
        beat = _Heartbeat(self._ctx, job.id, self.id, self._settings, attempt)
        requester = Requester(job.requester, self.source, job.requester_agency_id)
        run = JobRun(self._ctx, job, requester, self._resources, self._checker(attempt))
        beat.start()
        try:
            result = self._handlers[job.kind].run(run)
        except JobCancelled:
            return self._finish(job, lambda uow: uow.jobs.finish_cancelled(job.id, self.id))
        except LeaseLost:
            logger.warning("job %s: lease lost to another worker; left to it", job.id)
            return job
        except WorkerStopping:
            return self._release(job)
        except Exception as exc:
            return self._fail(job, exc)
        finally:
            beat.stop()
        return self._finish(job, lambda uow: uow.jobs.complete(job.id, self.id, result))

    def _checker(self, attempt: _Attempt) -> Callable[[], None]:
        def check() -> None:
            if attempt.lost:
                raise LeaseLost()
            if attempt.cancelled:
                raise JobCancelled()
            if self._stop.is_set():
                raise WorkerStopping()

        return check

    def _finish(self, job: Job, end: Callable[[UnitOfWork], bool]) -> Job:
        """End ``job`` for good with ``end(uow)``, its handler's hook and its audit event."""
        with self._ctx.uow() as uow:
            if not end(uow):
                return job  # the lease was lost meanwhile: the new holder records the outcome
            ended = uow.jobs.get(job.id)
            action = "job.succeed" if ended.state is JobState.SUCCEEDED else "job.cancelled"
            self._ended_in(uow, ended, action)
            uow.commit()
        self._after_end(ended)
        return ended

    def _fail(self, job: Job, exc: Exception) -> Job:
        error = _error_of(exc)
        if not isinstance(exc, SightlineError):
            logger.error("job %s (%s) failed: %s", job.id, job.kind, type(exc).__name__)
        retry = None if isinstance(exc, FINAL_ERRORS) else datetime.now(UTC) + self._retry_delay()
        with self._ctx.uow() as uow:
            state = uow.jobs.fail(job.id, self.id, error, retry_at=retry)
            if state is None:
                return job
            after = uow.jobs.get(job.id)
            if state is JobState.QUEUED:
                audit_outcome(uow, after, "job.retry", self.source, error=error.code)
            else:
                self._ended_in(uow, after, "job.fail")
            uow.commit()
        if state is JobState.FAILED:
            self._after_end(after)
        return after

    def _release(self, job: Job) -> Job:
        with self._ctx.uow() as uow:
            uow.jobs.release(job.id, self.id)
            after = uow.jobs.get(job.id)
            uow.commit()
        return after

    def _ended_in(self, uow: UnitOfWork, job: Job, action: str) -> None:
        handler = self._handlers.get(job.kind)
        if handler is not None:
            handler.on_end(uow, job)
        detail = {} if job.error is None else {"error": job.error.code}
        audit_outcome(uow, job, action, self.source, state=job.state.value, **detail)

    def _after_end(self, job: Job) -> None:
        handler = self._handlers.get(job.kind)
        if handler is None:
            return
        try:
            handler.after_end(self._ctx, job)
        except Exception as exc:  # clean-up is retried by store check; never fail the worker
            logger.error("job %s: clean-up failed: %s", job.id, type(exc).__name__)

    def _retry_delay(self) -> timedelta:
        return timedelta(seconds=self._settings.retry_seconds)


def _error_of(exc: Exception) -> JobError:
    if isinstance(exc, SightlineError):
        return JobError(exc.code, exc.message[:2000])
    return JobError("internal_error", f"internal error ({type(exc).__name__}); see the log")


class _Heartbeat:
    """Extends a running job's lease every ``heartbeat_seconds`` and reports what it learns."""

    def __init__(
        self,
        ctx: AppContext,
        job_id: int,
        owner: str,
        settings: WorkerSettings,
        attempt: _Attempt,
    ) -> None:
        self._ctx, self._job_id, self._owner = ctx, job_id, owner
        self._settings, self._attempt = settings, attempt
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"sightline-beat-{job_id}")
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self._settings.heartbeat_seconds):
            try:
                with self._ctx.uow() as uow:
                    beat = uow.jobs.heartbeat(
                        self._job_id, self._owner, self._settings.lease_seconds
                    )
                    uow.commit()
            except Exception as exc:  # a passing database error: the next beat tries again
                logger.warning("job %s heartbeat: %s", self._job_id, type(exc).__name__)
                continue
            self._attempt.lost = not beat.held
            self._attempt.cancelled = beat.cancel_requested
            if not beat.held:
                return
