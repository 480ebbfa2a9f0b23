"""A killed ingest or server leaves no plaintext case file behind, and no upload is lost.

Before, extracted zip entries survived a killed ingest and its resume, and an API upload
interrupted by a server kill stayed in ``scratch/upload-*/`` under the client's own file name
forever while its job stayed ``running``. Then such an upload was failed at the next start
("upload again"); now uploads are staged encrypted in the blob store and the next server's
worker resumes the job (ADR 0014).
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
from typing import Any

import httpx2 as httpx

from sightline.config import Settings
from sightline.services import synthetic
from sightline.services.catalog import add_agency, add_case
from sightline.services.context import initialise, open_context
from sightline.services.ingest.faults import ENV as FAULT_ENV
from tests.cli.test_cli import _env, sightline
from tests.cli.test_serve_tls import _free_port
from tests.support.api import add_person, bearer, token_for
from tests.support.corpus import SMALL, TEST_REQUESTER
from tests.support.indexes import item_blob_ids

SECRET_NAME = "holiday of the family X.jpg"


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _plaintext(root: Path) -> list[Path]:
    """Files in scratch other than the owner locks."""
    return [p for p in _files(root) if p.name != ".owner"]


def test_killed_zip_ingest_leaves_no_extracted_entry(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    sightline(var, "agency", "add", "TEST-GB", "--name", "Test unit", "--country", "GB")
    with zipfile.ZipFile(tmp_path / "phone.zip", "w") as zf:
        for seed in range(12):
            zf.writestr(f"DCIM/{seed}.jpg", synthetic.encode(synthetic.landscape(seed, SMALL)))
    args = ["ingest", str(tmp_path / "phone.zip"), "--case", "C-1", "--agency", "TEST-GB"]
    env = {**_env(var), "SIGHTLINE_INGEST__COMMIT_EVERY": "2", FAULT_ENV: "ingest.batch.start@3"}
    killed = subprocess.run(
        [sys.executable, "-m", "sightline", *args, "--workers", "2"],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    time.sleep(0.5)  # the orphaned pool's workers notice their parent is gone
    scratch = var / "scratch"
    assert _plaintext(scratch) == []  # entries were never given a name on disk

    sightline(var, *args)
    assert _files(scratch) == []  # the dead run's folder was swept


# A killed server's upload job is taken over once its lease expires: keep that short here.
QUICK_LEASE = {
    "SIGHTLINE_WORKER__LEASE_SECONDS": "2",
    "SIGHTLINE_WORKER__HEARTBEAT_SECONDS": "0.5",
    "SIGHTLINE_WORKER__POLL_SECONDS": "0.2",
}


def _serve(var: Path, port: int, log: Path, fault: str | None = None) -> subprocess.Popen[bytes]:
    env = {**_env(var), **QUICK_LEASE}
    if fault:
        env[FAULT_ENV] = fault
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "sightline", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_live(client: httpx.Client, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            client.get("/health/live")
            return
        except httpx.TransportError:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)


def test_upload_interrupted_by_a_server_kill_is_resumed_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    settings = Settings(data_dir=var)
    initialise(settings)
    ctx = open_context(settings)
    try:
        add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
        case = add_case(ctx, "TEST-GB", "UP-1", requester=TEST_REQUESTER)
        add_person(ctx, "TEST-GB", "inv.a")
        secret = token_for(ctx, "inv.a")
    finally:
        ctx.close()
    port, log = _free_port(), tmp_path / "serve.log"
    files = [
        ("files", (f"{i} {SECRET_NAME}", synthetic.encode(synthetic.landscape(i, SMALL))))
        for i in range(6)
    ]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner/40.jpg", synthetic.encode(synthetic.landscape(40, SMALL)))
    files.append(("files", ("bundle.zip", archive.getvalue())))
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, headers=bearer(secret), timeout=30) as client:
        server = _serve(var, port, log, fault="ingest.batch.start")  # dies on its first batch
        try:
            _wait_live(client, server, log)
            response = client.post(f"/api/v1/cases/{case.id}/ingest", files=files)
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]
            assert server.wait(timeout=120) == -signal.SIGKILL
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        time.sleep(0.5)
        assert _plaintext(var / "scratch") == []  # the uploads wait encrypted, never in scratch
        assert not any(SECRET_NAME in str(p) for p in _files(var))

        server = _serve(var, port, log)
        try:
            _wait_live(client, server, log)
            job = _wait_done(client, job_id)
        finally:
            server.terminate()
            server.wait(timeout=60)
    assert (job["status"], job["reason"]) == ("done", None)
    assert (job["files_total"], job["done"], job["failed"], job["media_new"]) == (7, 7, 0, 7)
    assert {f["name"] for f in job["failures"]} == set()
    assert _plaintext(var / "scratch") == []
    ctx = open_context(settings)
    try:
        with ctx.uow() as uow:
            assert (uow.media.count(), uow.sightings.count()) == (7, 7)  # no duplicates
        assert set(ctx.blobs.iter_blob_ids()) == item_blob_ids(ctx)  # staging blobs deleted
    finally:
        ctx.close()
    samples = [data[100:164] for _, (_, data) in files]
    for path in _files(var / "media"):
        assert not any(sample in path.read_bytes() for sample in samples)


def _wait_done(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/v1/ingest/{job_id}").json()
        if job["status"] in {"done", "failed", "cancelled"}:
            return job
        time.sleep(0.2)
    raise AssertionError("the resumed upload did not finish")
