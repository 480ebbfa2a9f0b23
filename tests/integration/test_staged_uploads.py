"""API uploads staged in the blob store: encrypted at once, resumed, deleted when the job ends."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sightline.config import WorkerSettings
from sightline.domain.audit import Requester
from sightline.domain.jobs import JobState
from sightline.domain.models import Case
from sightline.errors import PayloadTooLargeError, UnreadableSource
from sightline.services import synthetic
from sightline.services.catalog import add_agency, add_case
from sightline.services.context import AppContext
from sightline.services.ingest.sources import SourceLimits, materialize, parse_staged
from sightline.services.ingest.staged import StagedFiles
from sightline.services.ingest.uploads import (
    JobStatus,
    UploadedFile,
    UploadIngestHandler,
    UploadJobs,
)
from sightline.services.jobs import queue as jobs
from sightline.services.jobs.handlers import default_handlers
from sightline.services.jobs.queue import JobResources, JobRun
from sightline.services.jobs.worker import JobWorker
from sightline.services.store_check import check_store
from tests.support.corpus import SMALL, TEST_REQUESTER

FAST = WorkerSettings(lease_seconds=5, heartbeat_seconds=0.05, poll_seconds=0.05, retry_seconds=0)
UPLOADER = Requester("token:1", "10.0.0.1", None)


def _jpeg(seed: int) -> bytes:
    return synthetic.encode(synthetic.landscape(seed, SMALL))


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _case(ctx: AppContext) -> Case:
    add_agency(ctx, "TEST-A", "unit", "DE", requester=TEST_REQUESTER)
    return add_case(ctx, "TEST-A", "UP-1", requester=TEST_REQUESTER)


def _stage(uploads: UploadJobs, files: dict[str, bytes]) -> list[UploadedFile]:
    return [uploads.stage(name, io.BytesIO(data), 10**8) for name, data in files.items()]


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_uploads_are_encrypted_ingested_and_then_deleted(ctx: AppContext) -> None:
    case = _case(ctx)
    uploads = UploadJobs(ctx)
    good = _jpeg(1)
    files = {
        "holiday 1.jpg": good,
        "broken.jpg": _jpeg(2)[:700],
        "bundle.zip": _zip({"inner/3.jpg": _jpeg(3), "inner/dup.jpg": good, "../x.jpg": b"x"}),
    }
    staged = _stage(uploads, files)
    assert all(ctx.blobs.exists(f.blob_id) for f in staged)
    assert good not in _all_bytes(ctx.settings.data_dir)  # encrypted from the first byte
    view = uploads.submit(UPLOADER, case, staged)
    assert (view.status, view.files_total) == (JobStatus.QUEUED, 3)
    assert uploads.status(TEST_REQUESTER, view.job_id).status is JobStatus.QUEUED

    worker = JobWorker(ctx, default_handlers(), JobResources(), FAST)
    assert worker.run_until_idle() == 1
    done = uploads.status(UPLOADER, view.job_id)
    assert (done.status, done.files_total, done.done, done.failed, done.media_new) == (
        JobStatus.DONE,
        5,
        3,
        2,
        2,
    )
    assert sorted((f.name, f.reason) for f in done.failures) == [
        ("broken.jpg", "truncated"),
        ("bundle.zip/../x.jpg", "unsafe_archive_path"),
    ]
    others = uploads.status(TEST_REQUESTER, view.job_id).failures
    assert {f.name for f in others} == {None}  # names are the uploader's only
    assert not any(ctx.blobs.exists(f.blob_id) for f in staged)  # staging blobs deleted
    with ctx.engine.connect() as connection:
        paths = sorted(connection.execute(text("SELECT original_path FROM sightings")).scalars())
    assert paths == ["bundle.zip/inner/3.jpg", "bundle.zip/inner/dup.jpg", "holiday 1.jpg"]


def test_a_half_done_upload_resumes_without_duplicates(ctx: AppContext) -> None:
    case = _case(ctx)
    uploads = UploadJobs(ctx)
    ctx.settings.ingest.commit_every = 1  # one batch per file
    files = {f"{n}.jpg": _jpeg(n) for n in range(4)}
    view = uploads.submit(UPLOADER, case, _stage(uploads, files))
    handler = UploadIngestHandler()
    checks = 0

    def dies_after_two_batches(run: JobRun) -> dict[str, Any]:
        def check() -> None:
            nonlocal checks
            checks += 1
            if checks == 3:  # the check after expansion, then one per committed batch
                raise RuntimeError("the worker fell over")

        return UploadIngestHandler().run(replace(run, check=check))

    handler.run = dies_after_two_batches  # type: ignore[method-assign]
    first = JobWorker(ctx, {handler.kind: handler}, JobResources(), FAST).run_once()
    assert first is not None and first.state is JobState.QUEUED  # to be retried
    partial = uploads.status(UPLOADER, view.job_id)
    assert (partial.status, partial.done) == (JobStatus.RUNNING, 2)

    second = JobWorker(ctx, default_handlers(), JobResources(), FAST).run_once()
    assert second is not None and (second.state, second.attempts) == (JobState.SUCCEEDED, 2)
    done = uploads.status(UPLOADER, view.job_id)
    assert (done.status, done.files_total, done.done, done.media_new) == (JobStatus.DONE, 4, 4, 4)
    with ctx.uow() as uow:
        assert (uow.media.count(), uow.sightings.count()) == (4, 4)


def test_cancelling_a_queued_upload_fails_it_and_deletes_its_files(ctx: AppContext) -> None:
    case = _case(ctx)
    uploads = UploadJobs(ctx)
    staged = _stage(uploads, {"a.jpg": _jpeg(1)})
    view = uploads.submit(UPLOADER, case, staged)
    with ctx.uow() as uow:
        [job] = uow.jobs.list()
    jobs.cancel(ctx, job.id, requester=TEST_REQUESTER, handlers=default_handlers())
    cancelled = uploads.status(UPLOADER, view.job_id)
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.reason is not None and cancelled.reason.startswith("cancelled")
    assert not ctx.blobs.exists(staged[0].blob_id)


def test_staging_refuses_oversized_uploads_and_leaves_nothing(ctx: AppContext) -> None:
    uploads = UploadJobs(ctx)
    with pytest.raises(PayloadTooLargeError):
        uploads.stage("big.jpg", io.BytesIO(b"x" * 5000), 1000)
    assert list(ctx.blobs.iter_blob_ids()) == []
    assert not [p for p in ctx.settings.media_dir.rglob("*") if p.is_file()]


def test_materialize_reads_staged_files_and_entries_without_names(ctx: AppContext) -> None:
    uploads = UploadJobs(ctx)
    image = _jpeg(5)
    [plain, bundle] = _stage(uploads, {"p.jpg": image, "b.zip": _zip({"d/e.jpg": image})})
    limits = SourceLimits(10**8, 200, 10**9)
    scratch = ctx.settings.data_dir / "scratch"
    staged = StagedFiles(ctx.blobs, scratch)
    try:
        for locator in (f"staged:{plain.blob_id}", f"staged:{bundle.blob_id}!d/e.jpg"):
            with materialize(locator, limits, scratch, staged=staged) as path:
                assert path.read_bytes() == image
                assert not [p for p in scratch.rglob("*") if p.is_file()]  # nameless
        gone = materialize(f"staged:{'0' * 32}", limits, scratch, staged=staged)
        with pytest.raises(UnreadableSource), gone:
            pass
        no_store = materialize(f"staged:{plain.blob_id}", limits, scratch)
        with pytest.raises(UnreadableSource), no_store:
            pass
    finally:
        staged.close()
    assert parse_staged(f"staged:{bundle.blob_id}!d/e.jpg") == (bundle.blob_id, "d/e.jpg")
    assert parse_staged("/evidence/a.jpg") is None


def test_store_check_keeps_the_staging_blobs_of_queued_uploads(ctx: AppContext) -> None:
    case = _case(ctx)
    uploads = UploadJobs(ctx)
    staged = _stage(uploads, {"a.jpg": _jpeg(1)})
    uploads.submit(UPLOADER, case, staged)
    report = check_store(ctx, requester=TEST_REQUESTER, repair=True, min_age_s=0)
    assert report.orphan_blobs == []
    assert ctx.blobs.exists(staged[0].blob_id)
