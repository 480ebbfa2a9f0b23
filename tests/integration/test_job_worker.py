"""The worker role: it runs durable jobs, audits them, retries, cancels, stops and takes over."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from sightline.config import JOB_KINDS, WorkerSettings
from sightline.domain.access import Actor, Role
from sightline.domain.audit import Requester
from sightline.domain.jobs import Job, JobState
from sightline.errors import NotFoundError
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.jobs import queue as jobs
from sightline.services.jobs.handlers import default_handlers
from sightline.services.jobs.queue import JobHandler, JobResources, JobRun
from sightline.services.jobs.worker import JobWorker
from sightline.storage.unit_of_work import UnitOfWork
from tests.support.corpus import TEST_REQUESTER, ingest_seeds
from tests.support.indexes import scene_windows

FAST = WorkerSettings(
    lease_seconds=5, heartbeat_seconds=0.05, poll_seconds=0.05, retry_seconds=0, max_attempts=2
)
KIND = "index.rebuild"  # test handlers stand in for a real kind


class Recording(JobHandler):
    """A handler that runs ``body`` and remembers its hooks."""

    kind: ClassVar[str] = KIND

    def __init__(self, body: Any) -> None:
        self.body = body
        self.ended: list[tuple[int, JobState]] = []
        self.released: list[int] = []

    def run(self, run: JobRun) -> dict[str, Any]:
        result: dict[str, Any] = self.body(run)
        return result

    def on_end(self, uow: UnitOfWork, job: Job) -> None:
        self.ended.append((job.id, job.state))

    def after_end(self, ctx: AppContext, job: Job) -> None:
        self.released.append(job.id)


def _worker(ctx: AppContext, handler: JobHandler) -> JobWorker:
    return JobWorker(ctx, {handler.kind: handler}, JobResources(), FAST)


def _requester(ctx: AppContext) -> Requester:
    agency = add_agency(ctx, "TEST-A", "unit", "DE", requester=TEST_REQUESTER)
    return Requester("user:7", "10.0.0.9", agency.id)


def _events(ctx: AppContext, prefix: str = "job.") -> list[tuple[str, str, str, str, int | None]]:
    with ctx.uow() as uow:
        return [
            (e.action, e.actor, e.outcome, e.source, e.actor_agency_id)
            for e in uow.audit.page(limit=1000)
            if e.action.startswith(prefix)
        ]


def test_a_job_runs_once_and_is_audited_in_the_requesters_name(ctx: AppContext) -> None:
    requester = _requester(ctx)
    seen: list[Requester] = []

    def body(run: JobRun) -> dict[str, Any]:
        seen.append(run.requester)
        return {"done": 1}

    handler = Recording(body)
    job = jobs.enqueue(ctx, KIND, {"x": 1}, requester=requester, resource="index")
    worker = _worker(ctx, handler)
    ended = worker.run_once()
    assert ended is not None and ended.id == job.id
    assert (ended.state, ended.result, ended.attempts) == (JobState.SUCCEEDED, {"done": 1}, 1)
    assert worker.run_once() is None
    assert [r.actor for r in seen] == ["user:7"] and seen[0].source == worker.source
    assert handler.ended == [(job.id, JobState.SUCCEEDED)] and handler.released == [job.id]
    agency = requester.agency_id
    assert _events(ctx) == [
        ("job.enqueue", "user:7", "allowed", "10.0.0.9", agency),
        ("job.succeed", "user:7", "allowed", worker.source, agency),
    ]


def test_errors_retry_then_fail_and_record_only_the_type(ctx: AppContext) -> None:
    def broken(run: JobRun) -> dict[str, Any]:
        raise RuntimeError("/evidence/holiday of the family X.jpg")

    handler = Recording(broken)
    job = jobs.enqueue(ctx, KIND, {}, requester=TEST_REQUESTER)
    worker = _worker(ctx, handler)
    assert job.max_attempts == ctx.settings.worker.max_attempts == 3
    for attempt in (1, 2):
        retried = worker.run_once()
        assert retried is not None and retried.state is JobState.QUEUED
        assert retried.attempts == attempt
    assert handler.ended == []
    last = worker.run_once()
    assert last is not None and last.state is JobState.FAILED
    assert last.error is not None and last.error.code == "internal_error"
    assert "holiday" not in last.error.message and "RuntimeError" in last.error.message
    assert handler.ended == [(job.id, JobState.FAILED)]
    assert [e[0] for e in _events(ctx)] == ["job.enqueue", "job.retry", "job.retry", "job.fail"]
    assert "holiday" not in str(_events(ctx, ""))


def test_an_error_another_try_cannot_mend_fails_at_once(ctx: AppContext) -> None:
    def gone(run: JobRun) -> dict[str, Any]:
        raise NotFoundError("no hash list 4")

    jobs.enqueue(ctx, KIND, {}, requester=TEST_REQUESTER)
    ended = _worker(ctx, Recording(gone)).run_once()
    assert ended is not None and ended.state is JobState.FAILED and ended.attempts == 1
    assert ended.error is not None and (ended.error.code, ended.error.message) == (
        "not_found",
        "no hash list 4",
    )


def _until_stopped(started: threading.Event) -> Any:
    def body(run: JobRun) -> dict[str, Any]:
        started.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run.check()  # a unit of work
            time.sleep(0.01)
        raise AssertionError("the job was never told to stop")

    return body


def test_a_running_job_stops_at_its_next_unit_when_cancelled(ctx: AppContext) -> None:
    started = threading.Event()
    handler = Recording(_until_stopped(started))
    job = jobs.enqueue(ctx, KIND, {}, requester=TEST_REQUESTER)
    worker = _worker(ctx, handler)
    outcome: list[Job | None] = []
    thread = threading.Thread(target=lambda: outcome.append(worker.run_once()))
    thread.start()
    assert started.wait(10)
    asked = jobs.cancel(ctx, job.id, requester=TEST_REQUESTER)
    assert asked.state is JobState.RUNNING and asked.cancel_requested
    thread.join(30)
    assert outcome[0] is not None and outcome[0].state is JobState.CANCELLED
    assert handler.ended == [(job.id, JobState.CANCELLED)]
    actions = [e[0] for e in _events(ctx)]
    assert actions == ["job.enqueue", "job.cancel", "job.cancelled"]


def test_cancelling_a_queued_job_runs_its_clean_up(ctx: AppContext) -> None:
    handler = Recording(lambda run: {})
    job = jobs.enqueue(ctx, KIND, {}, requester=TEST_REQUESTER)
    ended = jobs.cancel(ctx, job.id, requester=TEST_REQUESTER, handlers={KIND: handler})
    assert ended.state is JobState.CANCELLED
    assert (handler.ended, handler.released) == ([(job.id, JobState.CANCELLED)], [job.id])
    assert _worker(ctx, handler).run_once() is None


def _user(user_id: int, agency_id: int | None) -> Requester:
    assert agency_id is not None
    until = datetime.now(UTC) + timedelta(days=30)
    actor = Actor(user_id, agency_id, Role.INVESTIGATOR, until, mfa_verified=False)
    return Requester(f"user:{user_id}", "10.0.0.9", agency_id, actor)


def test_only_the_requester_or_the_operator_cancels(ctx: AppContext) -> None:
    agency_id = _requester(ctx).agency_id
    owner, colleague = _user(7, agency_id), _user(8, agency_id)
    job = jobs.enqueue(ctx, KIND, {}, requester=owner)
    assert jobs.get_job(ctx, job.id, requester=colleague).job.id == job.id  # may see it
    with pytest.raises(NotFoundError):
        jobs.cancel(ctx, job.id, requester=colleague)
    assert jobs.cancel(ctx, job.id, requester=owner).state is JobState.CANCELLED
    other = jobs.enqueue(ctx, KIND, {}, requester=owner)
    assert jobs.cancel(ctx, other.id, requester=TEST_REQUESTER).state is JobState.CANCELLED


def test_a_stopping_worker_hands_its_job_back(ctx: AppContext) -> None:
    started = threading.Event()
    job = jobs.enqueue(ctx, KIND, {}, requester=TEST_REQUESTER)
    worker = _worker(ctx, Recording(_until_stopped(started)))
    worker.start()
    assert started.wait(10)
    worker.stop(timeout_s=30)
    with ctx.uow() as uow:
        back = uow.jobs.get(job.id)
    assert (back.state, back.attempts, back.lease_owner) == (JobState.QUEUED, 0, None)
    again = _worker(ctx, Recording(lambda run: {"resumed": True})).run_once()
    assert again is not None and again.result == {"resumed": True}


def test_a_dead_workers_job_is_taken_over_after_its_lease(ctx: AppContext) -> None:
    job = jobs.enqueue(ctx, KIND, {}, requester=TEST_REQUESTER)
    past = datetime.now(UTC) - timedelta(minutes=5)
    with ctx.uow() as uow:
        uow.jobs.lease("a-dead-worker", 60, now=past)
        uow.commit()
    handler = Recording(lambda run: {"attempt": run.job.attempts})
    ended = _worker(ctx, handler).run_once()
    assert ended is not None and (ended.id, ended.state) == (job.id, JobState.SUCCEEDED)
    assert ended.result == {"attempt": 2}


def test_a_job_whose_workers_all_died_fails(ctx: AppContext) -> None:
    job = jobs.enqueue(ctx, KIND, {}, requester=TEST_REQUESTER)  # max_attempts from settings: 3
    past = datetime.now(UTC) - timedelta(hours=1)
    with ctx.uow() as uow:
        for n in range(3):
            assert uow.jobs.lease(f"dead-{n}", 60, now=past + timedelta(minutes=2 * n))
        uow.commit()
    handler = Recording(lambda run: {})
    assert _worker(ctx, handler).run_once() is None
    assert handler.ended == [(job.id, JobState.FAILED)]
    with ctx.uow() as uow:
        failed = uow.jobs.get(job.id)
    assert failed.error is not None and failed.error.code == "lease_expired"
    assert [e[0] for e in _events(ctx)] == ["job.enqueue", "job.fail"]


def test_every_job_kind_has_one_handler() -> None:
    handlers = default_handlers()
    assert sorted(handlers) == sorted(JOB_KINDS)
    assert all(kind == handler.kind for kind, handler in handlers.items())


def test_index_rebuild_and_retro_hunt_run_as_jobs(ctx: AppContext, tmp_path: Any) -> None:
    from sightline.domain.models import ListKind
    from sightline.services.exchange import hashlists

    add_agency(ctx, "TEST-FR", "unit", "FR", requester=TEST_REQUESTER)
    ingest_seeds(ctx, tmp_path / "in", range(1, 4), agency="TEST-FR", case="PV-1")
    md5 = __import__("hashlib").md5((tmp_path / "in/2.jpg").read_bytes()).hexdigest()
    with (tmp_path / "list.csv").open("wb+") as stream:
        stream.write(f"md5,id\n{md5},A-1\n".encode())
        stream.seek(0)
        imported = hashlists.import_list(
            ctx,
            stream,
            requester=TEST_REQUESTER,
            owner="TEST-FR",
            name="national",
            kind=ListKind.POSITIVE,
            threshold=31,
            fmt=None,
        )
    list_id = imported.hash_list.id
    hunt = jobs.enqueue(ctx, "hashlist.retro_hunt", {"list_id": list_id}, requester=TEST_REQUESTER)
    rebuild = jobs.enqueue(ctx, "index.rebuild", {}, requester=TEST_REQUESTER)
    worker = JobWorker(ctx, default_handlers(), JobResources(), FAST)
    assert worker.run_until_idle() == 2
    with ctx.uow() as uow:
        hunted, rebuilt = uow.jobs.get(hunt.id), uow.jobs.get(rebuild.id)
    assert hunted.result == {"list_id": list_id, "items": 1, "new_matches": 1, "triage_changed": 1}
    # Per signal kind and source: stills' PDQ, video frames, scenes and soundtracks.
    assert rebuilt.result == {
        "pdq": {"media": 3, "lists": 0},
        "vpdq": {"media": 0},
        "scene": {"media": scene_windows(ctx)},  # each still's window descriptors
        "chromaprint": {"media": 0},
    }
    again = jobs.enqueue(ctx, "hashlist.retro_hunt", {"list_id": list_id}, requester=TEST_REQUESTER)
    worker.run_until_idle()
    with ctx.uow() as uow:
        assert uow.jobs.get(again.id).result["new_matches"] == 0  # idempotent
