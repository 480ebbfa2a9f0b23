"""Durable jobs and their leases (``domain/jobs.py``).

Leasing must hand a job to exactly one worker, among threads of one process and among
processes and machines. It is one ``UPDATE`` whose ``WHERE`` picks the oldest due job through
a subquery and re-checks that it is still due:

- on PostgreSQL the subquery is ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent workers
  each lock a different row instead of queueing on the same one; the outer re-check makes a
  worker that lost a race update nothing rather than steal a lease;
- on SQLite the statement holds the database's single write lock from start to commit, and
  the threads of one process queue on the write gate before it (``storage/db.py``, ADR 0009),
  so no two leases interleave.

Every change a worker makes to a leased job (heartbeat, completion, failure, release) names
the lease owner in its ``WHERE``: a worker whose lease expired and was taken by another finds
that it changed nothing, and stops. Times are passed in (``now``) so tests can move the clock.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, or_, select, true, update
from sqlalchemy.orm import Session

from sightline.domain.access import JobFilter
from sightline.domain.jobs import Heartbeat, Job, JobError, JobState, NewJob
from sightline.errors import NotFoundError
from sightline.storage.orm import JobRow, UTCDateTime, utcnow

_RUNNING = JobState.RUNNING.value
_QUEUED = JobState.QUEUED.value


def _job(row: JobRow) -> Job:
    error = None if row.error_code is None else JobError(row.error_code, row.error_message or "")
    return Job(
        id=row.id,
        kind=row.kind,
        payload=dict(row.payload),
        resource=row.resource,
        state=JobState(row.state),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        requester=row.requester,
        requester_agency_id=row.requester_agency_id,
        source=row.source,
        created_at=row.created_at,
        run_after=row.run_after,
        started_at=row.started_at,
        finished_at=row.finished_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        heartbeat_at=row.heartbeat_at,
        cancel_requested=row.cancel_requested,
        result=dict(row.result),
        error=error,
    )


def _changed(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _visible(scope: JobFilter | None) -> ColumnElement[bool]:
    if scope is None or scope.everything:
        return true()
    mine = JobRow.requester == scope.actor if scope.actor is not None else false()
    if scope.agency_id is None:
        return mine
    return or_(mine, JobRow.requester_agency_id == scope.agency_id)


class JobRepository:
    """Jobs: enqueue, lease, heartbeat, finish, cancel, read."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # -- asking for work ------------------------------------------------------------------

    def enqueue(self, new: NewJob, *, run_after: datetime | None = None) -> Job:
        """Record a queued job; it may be leased once committed (and ``run_after`` passed)."""
        row = JobRow(
            kind=new.kind,
            payload=new.payload,
            resource=new.resource,
            state=_QUEUED,
            attempts=0,
            max_attempts=new.max_attempts,
            run_after=run_after,
            cancel_requested=False,
            requester=new.requester,
            requester_agency_id=new.requester_agency_id,
            source=new.source,
            result={},
        )
        self._session.add(row)
        self._session.flush()
        return _job(row)

    def request_cancel(self, job_id: int, *, now: datetime | None = None) -> Job:
        """Cancel a queued job at once; ask a running one's worker to stop at its next unit.

        A job that already ended is returned unchanged.

        Raises:
            NotFoundError: no such job.
        """
        now = now or utcnow()
        self._session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == _QUEUED)
            .values(state=JobState.CANCELLED.value, finished_at=now, cancel_requested=True)
        )
        self._session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == _RUNNING)
            .values(cancel_requested=True)
        )
        return self.get(job_id)

    # -- working --------------------------------------------------------------------------

    def lease(
        self,
        owner: str,
        lease_s: float,
        *,
        kinds: Collection[str] | None = None,
        job_id: int | None = None,
        now: datetime | None = None,
    ) -> Job | None:
        """Take the oldest due job (of ``kinds``, or job ``job_id``) for ``owner``, or None.

        Due means queued and past its ``run_after``, or running under a lease that expired
        (its worker died) with attempts left and no cancellation asked. Each lease counts an
        attempt. The caller commits.
        """
        now = now or utcnow()
        due = self._due(now)
        pick = select(JobRow.id).where(due)
        if kinds is not None:
            pick = pick.where(JobRow.kind.in_(list(kinds)))
        if job_id is not None:
            pick = pick.where(JobRow.id == job_id)
        pick = pick.order_by(JobRow.id).limit(1)
        # A plain read first: an idle worker polls, and on SQLite an UPDATE takes the write
        # lock even when it matches nothing.
        if self._session.scalar(pick) is None:
            return None
        chosen = pick.with_for_update(skip_locked=True)
        result = self._session.execute(
            update(JobRow)
            .where(JobRow.id == chosen.scalar_subquery(), due)
            .values(
                state=_RUNNING,
                attempts=JobRow.attempts + 1,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_s),
                heartbeat_at=now,
                started_at=func.coalesce(JobRow.started_at, literal(now, UTCDateTime())),
                run_after=None,
            )
            .returning(JobRow.id)
            .execution_options(synchronize_session=False)
        )
        leased = result.scalar_one_or_none()
        return None if leased is None else self._fresh(leased)

    def heartbeat(
        self, job_id: int, owner: str, lease_s: float, *, now: datetime | None = None
    ) -> Heartbeat:
        """Extend ``owner``'s lease; says whether it still holds it and if cancel was asked."""
        now = now or utcnow()
        result = self._session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == owner, JobRow.state == _RUNNING)
            .values(lease_expires_at=now + timedelta(seconds=lease_s), heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
        if _changed(result) == 0:
            return Heartbeat(held=False)
        cancel = self._session.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id))
        return Heartbeat(held=True, cancel_requested=bool(cancel))

    def complete(
        self, job_id: int, owner: str, result: dict[str, Any], *, now: datetime | None = None
    ) -> bool:
        """Record success; False if ``owner`` no longer holds the lease (nothing changed)."""
        return self._end(job_id, owner, JobState.SUCCEEDED, now, result=result)

    def finish_cancelled(self, job_id: int, owner: str, *, now: datetime | None = None) -> bool:
        """Record that ``owner`` stopped the job as asked; False if the lease was lost."""
        return self._end(job_id, owner, JobState.CANCELLED, now)

    def fail(
        self,
        job_id: int,
        owner: str,
        error: JobError,
        *,
        retry_at: datetime | None,
        now: datetime | None = None,
    ) -> JobState | None:
        """Record a failed attempt: queued again at ``retry_at`` while attempts remain.

        ``retry_at=None`` makes the failure final whatever the attempts. Returns the job's new
        state, or None if ``owner`` no longer holds the lease (nothing changed).
        """
        row = self._session.get(JobRow, job_id, populate_existing=True, with_for_update=True)
        if row is None or row.lease_owner != owner or row.state != _RUNNING:
            return None
        row.error_code, row.error_message = error.code, error.message
        if retry_at is not None and row.attempts < row.max_attempts:
            row.state, row.run_after = _QUEUED, retry_at
            row.lease_owner = row.lease_expires_at = None
        else:
            row.state, row.finished_at = JobState.FAILED.value, now or utcnow()
            row.lease_expires_at = None
        self._session.flush()
        return JobState(row.state)

    def release(self, job_id: int, owner: str) -> bool:
        """Give a job back unfinished (its worker is stopping): queued, the attempt not counted."""
        result = self._session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == owner, JobRow.state == _RUNNING)
            .values(
                state=_QUEUED,
                attempts=JobRow.attempts - 1,
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        return _changed(result) == 1

    def abandon_expired(
        self, *, kinds: Collection[str] | None = None, now: datetime | None = None
    ) -> list[Job]:
        """End running jobs whose lease expired and that must not run again.

        A job whose every attempt was leased and lost (its worker died each time) fails with
        ``lease_expired``: something kills its workers, and retrying forever would hide it. A
        job whose cancellation was asked is cancelled. Only jobs of ``kinds``, if given (the
        caller must be able to clean up after them). Returns the jobs ended.
        """
        now = now or utcnow()
        expired = and_(JobRow.state == _RUNNING, JobRow.lease_expires_at < now)
        query = select(JobRow).where(
            expired, or_(JobRow.cancel_requested, JobRow.attempts >= JobRow.max_attempts)
        )
        if kinds is not None:
            query = query.where(JobRow.kind.in_(list(kinds)))
        rows = self._session.scalars(query.with_for_update(skip_locked=True)).all()
        for row in rows:
            row.finished_at, row.lease_expires_at = now, None
            if row.cancel_requested:
                row.state = JobState.CANCELLED.value
            else:
                row.state = JobState.FAILED.value
                row.error_code = "lease_expired"
                row.error_message = (
                    f"its worker stopped answering on each of {row.attempts} attempts"
                )
        self._session.flush()
        return [_job(row) for row in rows]

    # -- reading --------------------------------------------------------------------------

    def get(self, job_id: int, scope: JobFilter | None = None) -> Job:
        """The job ``job_id``, if ``scope`` lets its reader see it.

        Raises:
            NotFoundError: no such job, or one hidden from the reader.
        """
        row = self._session.scalar(
            select(JobRow)
            .where(JobRow.id == job_id, _visible(scope))
            .execution_options(populate_existing=True)
        )
        if row is None:
            raise NotFoundError(f"no job {job_id}")
        return _job(row)

    def find_by_resource(self, resource: str, kind: str | None = None) -> Job | None:
        """The newest job working on ``resource`` (of ``kind``), if any."""
        query = select(JobRow).where(JobRow.resource == resource)
        if kind is not None:
            query = query.where(JobRow.kind == kind)
        row = self._session.scalar(query.order_by(JobRow.id.desc()).limit(1))
        return None if row is None else _job(row)

    def list(
        self,
        scope: JobFilter | None = None,
        *,
        states: Sequence[JobState] = (),
        kind: str | None = None,
        after_id: int = 0,
        before_id: int | None = None,
        newest_first: bool = False,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs the reader may see with an id in (``after_id``, ``before_id``), by id."""
        query = select(JobRow).where(_visible(scope), JobRow.id > after_id)
        if states:
            query = query.where(JobRow.state.in_([s.value for s in states]))
        if kind is not None:
            query = query.where(JobRow.kind == kind)
        if before_id is not None:
            query = query.where(JobRow.id < before_id)
        order = JobRow.id.desc() if newest_first else JobRow.id
        rows = self._session.scalars(query.order_by(order).limit(limit))
        return [_job(row) for row in rows]

    def unfinished(self) -> int:
        """How many jobs are queued or running."""
        count = self._session.scalar(
            select(func.count(JobRow.id)).where(JobRow.state.in_([_QUEUED, _RUNNING]))
        )
        return int(count or 0)

    # -- internals --------------------------------------------------------------------------

    def _due(self, now: datetime) -> ColumnElement[bool]:
        queued = and_(
            JobRow.state == _QUEUED, or_(JobRow.run_after.is_(None), JobRow.run_after <= now)
        )
        expired = and_(
            JobRow.state == _RUNNING,
            JobRow.lease_expires_at < now,
            JobRow.attempts < JobRow.max_attempts,
            JobRow.cancel_requested == false(),
        )
        return or_(queued, expired)

    def _end(
        self,
        job_id: int,
        owner: str,
        state: JobState,
        now: datetime | None,
        *,
        result: dict[str, Any] | None = None,
    ) -> bool:
        values: dict[str, Any] = {
            "state": state.value,
            "finished_at": now or utcnow(),
            "lease_expires_at": None,
        }
        if result is not None:
            values["result"] = result
        changed = self._session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == owner, JobRow.state == _RUNNING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return _changed(changed) == 1

    def _fresh(self, job_id: int) -> Job:
        row = self._session.get(JobRow, job_id, populate_existing=True)
        if row is None:  # pragma: no cover - leased in this very transaction
            raise NotFoundError(f"no job {job_id}")
        return _job(row)
