"""The jobs table: leases, heartbeats, expiry, retries and cancellation, on both databases."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from sightline.domain.access import JobFilter
from sightline.domain.jobs import Job, JobError, JobState, NewJob
from sightline.errors import NotFoundError
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from tests.support.corpus import TEST_REQUESTER

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LEASE = 60.0


def _new(kind: str = "index.rebuild", **changes: object) -> NewJob:
    fields: dict[str, object] = {
        "kind": kind,
        "payload": {"n": 1},
        "requester": "user:1",
        "requester_agency_id": None,
        "source": "cli",
        "max_attempts": 2,
    }
    fields.update(changes)
    return NewJob(**fields)  # type: ignore[arg-type]


def _enqueue(ctx: AppContext, new: NewJob | None = None, **at: datetime) -> Job:
    with ctx.uow() as uow:
        job = uow.jobs.enqueue(new or _new(), **at)
        uow.commit()
    return job


def _lease(ctx: AppContext, owner: str, now: datetime = T0, **options: object) -> Job | None:
    with ctx.uow() as uow:
        job = uow.jobs.lease(owner, LEASE, now=now, **options)  # type: ignore[arg-type]
        uow.commit()
    return job


def test_lease_takes_the_oldest_due_job_once(ctx: AppContext) -> None:
    first, second = _enqueue(ctx), _enqueue(ctx)
    leased = _lease(ctx, "w1")
    assert leased is not None and leased.id == first.id
    assert (leased.state, leased.attempts, leased.lease_owner) == (JobState.RUNNING, 1, "w1")
    assert leased.lease_expires_at == T0 + timedelta(seconds=LEASE)
    assert leased.started_at == T0
    again = _lease(ctx, "w2")
    assert again is not None and again.id == second.id
    assert _lease(ctx, "w3") is None


def test_lease_respects_kinds_ids_and_run_after(ctx: AppContext) -> None:
    later = _enqueue(ctx, _new("ingest.upload"), run_after=T0 + timedelta(minutes=5))
    hunt = _enqueue(ctx, _new("hashlist.retro_hunt"))
    assert _lease(ctx, "w", kinds=["index.rebuild"]) is None
    assert _lease(ctx, "w", job_id=later.id) is None  # not due yet
    leased = _lease(ctx, "w", kinds=["hashlist.retro_hunt", "ingest.upload"])
    assert leased is not None and leased.id == hunt.id
    due = _lease(ctx, "w", now=T0 + timedelta(minutes=6))
    assert due is not None and due.id == later.id


def test_heartbeat_extends_only_the_owners_lease(ctx: AppContext) -> None:
    job = _enqueue(ctx)
    _lease(ctx, "w1")
    with ctx.uow() as uow:
        beat = uow.jobs.heartbeat(job.id, "w1", LEASE, now=T0 + timedelta(seconds=50))
        stranger = uow.jobs.heartbeat(job.id, "w2", LEASE, now=T0 + timedelta(seconds=50))
        uow.commit()
        stored = uow.jobs.get(job.id)
    assert beat.held and not beat.cancel_requested
    assert not stranger.held
    assert stored.lease_expires_at == T0 + timedelta(seconds=110)
    assert stored.heartbeat_at == T0 + timedelta(seconds=50)
    # Still leased at T0 + 100 s thanks to the heartbeat: nobody else may take it.
    assert _lease(ctx, "w2", now=T0 + timedelta(seconds=100)) is None


def test_an_expired_lease_is_taken_over_and_the_old_owner_changes_nothing(
    ctx: AppContext,
) -> None:
    job = _enqueue(ctx)
    _lease(ctx, "dead")
    later = T0 + timedelta(seconds=LEASE + 1)
    taken = _lease(ctx, "alive", now=later)
    assert taken is not None and (taken.id, taken.attempts) == (job.id, 2)
    assert taken.started_at == T0  # the first start is kept
    with ctx.uow() as uow:
        assert not uow.jobs.heartbeat(job.id, "dead", LEASE, now=later).held
        assert not uow.jobs.complete(job.id, "dead", {"x": 1})
        assert uow.jobs.fail(job.id, "dead", JobError("e", "m"), retry_at=None) is None
        assert not uow.jobs.release(job.id, "dead")
        assert uow.jobs.complete(job.id, "alive", {"media": 3}, now=later)
        uow.commit()
        done = uow.jobs.get(job.id)
    assert (done.state, done.result, done.lease_owner) == (
        JobState.SUCCEEDED,
        {"media": 3},
        "alive",
    )
    assert done.finished_at == later


def test_every_attempt_lost_fails_with_lease_expired(ctx: AppContext) -> None:
    job = _enqueue(ctx)  # max_attempts 2
    _lease(ctx, "a")
    _lease(ctx, "b", now=T0 + timedelta(seconds=61))
    later = T0 + timedelta(seconds=200)
    assert _lease(ctx, "c", now=later) is None  # no attempts left: not due
    with ctx.uow() as uow:
        [abandoned] = uow.jobs.abandon_expired(now=later)
        uow.commit()
    assert abandoned.id == job.id
    assert abandoned.state is JobState.FAILED
    assert abandoned.error is not None and abandoned.error.code == "lease_expired"


def test_failures_retry_until_attempts_run_out(ctx: AppContext) -> None:
    job = _enqueue(ctx)
    _lease(ctx, "w")
    retry_at = T0 + timedelta(seconds=30)
    with ctx.uow() as uow:
        state = uow.jobs.fail(job.id, "w", JobError("oops", "try again"), retry_at=retry_at)
        uow.commit()
        queued = uow.jobs.get(job.id)
    assert state is JobState.QUEUED
    assert (queued.run_after, queued.lease_owner, queued.error) == (
        retry_at,
        None,
        JobError("oops", "try again"),
    )
    assert _lease(ctx, "w", now=T0 + timedelta(seconds=10)) is None  # backing off
    assert _lease(ctx, "w", now=retry_at) is not None
    with ctx.uow() as uow:
        state = uow.jobs.fail(job.id, "w", JobError("oops", "again"), retry_at=retry_at)
        uow.commit()
        failed = uow.jobs.get(job.id)
    assert state is JobState.FAILED and failed.finished_at is not None
    assert failed.state.ended


def test_a_final_failure_does_not_retry(ctx: AppContext) -> None:
    job = _enqueue(ctx, _new(max_attempts=5))
    _lease(ctx, "w")
    with ctx.uow() as uow:
        assert uow.jobs.fail(job.id, "w", JobError("not_found", "gone"), retry_at=None) is (
            JobState.FAILED
        )
        uow.commit()


def test_release_requeues_without_counting_the_attempt(ctx: AppContext) -> None:
    job = _enqueue(ctx)
    _lease(ctx, "w")
    with ctx.uow() as uow:
        assert uow.jobs.release(job.id, "w")
        uow.commit()
        released = uow.jobs.get(job.id)
    assert (released.state, released.attempts, released.lease_owner) == (JobState.QUEUED, 0, None)


def test_cancel_ends_a_queued_job_and_asks_a_running_one(ctx: AppContext) -> None:
    queued, running = _enqueue(ctx), _enqueue(ctx)
    with ctx.uow() as uow:
        uow.jobs.lease("w", LEASE, job_id=running.id, now=T0)
        cancelled = uow.jobs.request_cancel(queued.id)
        asked = uow.jobs.request_cancel(running.id)
        beat = uow.jobs.heartbeat(running.id, "w", LEASE, now=T0)
        uow.commit()
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    assert asked.state is JobState.RUNNING and asked.cancel_requested
    assert beat.held and beat.cancel_requested
    with ctx.uow() as uow:
        assert uow.jobs.finish_cancelled(running.id, "w")
        uow.commit()
        assert uow.jobs.get(running.id).state is JobState.CANCELLED
        assert uow.jobs.request_cancel(running.id).state is JobState.CANCELLED  # unchanged


def test_a_lost_job_whose_cancel_was_asked_is_cancelled_not_rerun(ctx: AppContext) -> None:
    job = _enqueue(ctx, _new(max_attempts=5))
    _lease(ctx, "dead")
    with ctx.uow() as uow:
        uow.jobs.request_cancel(job.id)
        uow.commit()
    later = T0 + timedelta(seconds=LEASE + 1)
    assert _lease(ctx, "alive", now=later) is None
    with ctx.uow() as uow:
        [ended] = uow.jobs.abandon_expired(now=later)
    assert ended.state is JobState.CANCELLED


def test_reading_is_scoped_by_the_filter(ctx: AppContext) -> None:
    agency = add_agency(ctx, "TEST-A", "unit", "DE", requester=TEST_REQUESTER)
    other = add_agency(ctx, "TEST-B", "unit", "DE", requester=TEST_REQUESTER)
    mine = _enqueue(ctx, _new(requester="user:1", requester_agency_id=agency.id))
    colleague = _enqueue(ctx, _new(requester="user:2", requester_agency_id=agency.id))
    foreign = _enqueue(ctx, _new(requester="user:3", requester_agency_id=other.id))
    own_only = JobFilter(everything=False, actor="user:1", agency_id=None, payloads=True)
    agency_wide = JobFilter(everything=False, actor="user:1", agency_id=agency.id, payloads=True)
    with ctx.uow() as uow:
        assert [j.id for j in uow.jobs.list(own_only)] == [mine.id]
        assert [j.id for j in uow.jobs.list(agency_wide)] == [mine.id, colleague.id]
        assert [j.id for j in uow.jobs.list(newest_first=True)] == [
            foreign.id,
            colleague.id,
            mine.id,
        ]
        assert uow.jobs.get(colleague.id, agency_wide).id == colleague.id
        with pytest.raises(NotFoundError):
            uow.jobs.get(foreign.id, agency_wide)
        assert uow.jobs.unfinished() == 3


def test_two_workers_never_lease_one_job(ctx: AppContext) -> None:
    """Eight threads race for twenty jobs: each job is leased exactly once."""
    jobs = [_enqueue(ctx) for _ in range(20)]
    leased: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(name: str) -> None:
        start.wait()
        while True:
            with ctx.uow() as uow:
                job = uow.jobs.lease(name, LEASE)
                uow.commit()
            if job is None:
                return
            with lock:
                leased.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(leased) == Counter(job.id for job in jobs)
    with ctx.uow() as uow:
        assert {j.attempts for j in uow.jobs.list()} == {1}
