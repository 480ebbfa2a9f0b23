"""SIGKILL a ``sightline worker`` mid-upload, start another: nothing lost, doubled or left.

The upload is queued as the API queues it (staged blobs, ingest items, an ``ingest.upload``
job); the first worker kills itself at a named fault point after some batches committed. Once
its lease expires the second worker takes the job over and finishes it.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from sightline.config import Settings
from sightline.domain.audit import Requester
from sightline.domain.jobs import Job, JobState
from sightline.services import synthetic
from sightline.services.catalog import add_agency, add_case
from sightline.services.context import AppContext, initialise, open_context
from sightline.services.ingest.faults import ENV as FAULT_ENV
from sightline.services.ingest.uploads import UploadJobs
from tests.cli.test_cli import _env
from tests.support.corpus import SMALL, TEST_REQUESTER
from tests.support.indexes import item_blob_ids

FILES = 10
UPLOADER = Requester("token:3", "10.0.0.3", None)
SECRET_NAME = "holiday of the family X.jpg"
FAST = {
    "SIGHTLINE_WORKER__LEASE_SECONDS": "3",
    "SIGHTLINE_WORKER__HEARTBEAT_SECONDS": "0.5",
    "SIGHTLINE_WORKER__POLL_SECONDS": "0.2",
    "SIGHTLINE_INGEST__COMMIT_EVERY": "1",
    "SIGHTLINE_INGEST__WORKERS": "2",
}


def _images() -> dict[str, bytes]:
    files = {
        f"{n} {SECRET_NAME}": synthetic.encode(synthetic.landscape(n, SMALL)) for n in range(FILES)
    }
    files["copy.jpg"] = files[f"0 {SECRET_NAME}"]  # a duplicate must stay one
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner/40.jpg", synthetic.encode(synthetic.landscape(40, SMALL)))
        zf.writestr("inner/41.jpg", synthetic.encode(synthetic.landscape(41, SMALL)))
    files["bundle.zip"] = archive.getvalue()
    return files


def _queue_upload(settings: Settings, files: dict[str, bytes]) -> str:
    initialise(settings)
    ctx = open_context(settings)
    try:
        add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
        case = add_case(ctx, "TEST-GB", "UP-1", requester=TEST_REQUESTER)
        uploads = UploadJobs(ctx)
        staged = [uploads.stage(n, io.BytesIO(d), 10**8) for n, d in files.items()]
        return uploads.submit(UPLOADER, case, staged).job_id
    finally:
        ctx.close()


def _worker(settings: Settings, log: Path, fault: str | None = None) -> subprocess.Popen[bytes]:
    env = {**_env(settings.data_dir), **FAST, "SIGHTLINE_ENVIRONMENT": "development"}
    if settings.database_url is not None:
        env["SIGHTLINE_DATABASE_URL"] = settings.database_url.get_secret_value()
    if fault:
        env[FAULT_ENV] = fault
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "sightline", "worker"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _job(ctx: AppContext) -> Job:
    with ctx.uow() as uow:
        [job] = uow.jobs.list()
    return job


def _wait_ended(ctx: AppContext, worker: subprocess.Popen[bytes], log: Path) -> Job:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = _job(ctx)
        if job.state.ended:
            return job
        assert worker.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"the job did not end: {log.read_text()}")


def test_a_killed_workers_upload_is_finished_by_the_next_worker(
    settings: Settings, tmp_path: Path
) -> None:
    var, log = settings.data_dir, tmp_path / "worker.log"
    files = _images()
    token = _queue_upload(settings, files)
    first = _worker(settings, log, fault="ingest.batch.start@4")  # dies after three batches
    try:
        assert first.wait(timeout=180) == -signal.SIGKILL, log.read_text()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    time.sleep(0.5)  # the orphaned pool's processes notice their parent is gone

    ctx = open_context(settings)
    try:
        killed = _job(ctx)
        assert (killed.state, killed.attempts) == (JobState.RUNNING, 1)
        uploads = UploadJobs(ctx)
        assert 0 < uploads.status(UPLOADER, token).done < len(files) + 1
        second = _worker(settings, log)
        try:
            finished = _wait_ended(ctx, second, log)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0, log.read_text()
        view = uploads.status(UPLOADER, token)
        with ctx.uow() as uow:
            media, sightings = uow.media.count(), uow.sightings.count()
            events = [e for e in uow.audit.page(limit=1000) if e.action.startswith("job.")]
        owned = item_blob_ids(ctx)
        staged_left = [b for b in ctx.blobs.iter_blob_ids() if b not in owned]
    finally:
        ctx.close()

    total = len(files) - 1 + 2  # the zip is replaced by its two entries
    assert (finished.state, finished.attempts) == (JobState.SUCCEEDED, 2)
    assert (view.status.value, view.files_total, view.done, view.failed) == (
        "done",
        total,
        total,
        0,
    )
    assert view.media_new == media == total - 1  # the copy is a duplicate
    assert sightings == total
    assert staged_left == []  # the staging blobs went with the job
    assert [e.action for e in events] == ["job.enqueue", "job.succeed"]
    assert events[1].actor == "token:3" and events[1].source.startswith("worker:")
    assert "worker stopped" in log.read_text()
    _assert_no_plaintext(var, files)


def _assert_no_plaintext(var: Path, files: dict[str, bytes]) -> None:
    """No file under the data directory holds an upload's bytes or is named after one."""
    scratch = [p for p in (var / "scratch").rglob("*") if p.is_file() and p.name != ".owner"]
    assert scratch == []
    every = [p for p in var.rglob("*") if p.is_file()]
    assert not any("holiday" in str(p) for p in every)
    samples = [data[100:164] for name, data in files.items() if name.endswith(".jpg")]
    for path in every:
        if path.suffix in {".db", ".db-wal", ".db-shm"} or path.name.startswith("sightline.db"):
            continue  # the database holds hashes and paths, never file content
        content = path.read_bytes()
        assert not any(sample in content for sample in samples), path
