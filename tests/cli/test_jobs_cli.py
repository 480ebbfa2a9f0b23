"""``sightline jobs``, ``sightline worker`` and ``sightline index rebuild`` as durable jobs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.test_cli import _env, sightline
from tests.support.corpus import write_landscape


def _store(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    sightline(var, "init")
    sightline(var, "agency", "add", "TEST-GB", "--name", "Test unit", "--country", "GB")
    for seed in range(3):
        write_landscape(tmp_path / f"in/{seed}.jpg", seed)
    sightline(var, "ingest", str(tmp_path / "in"), "--case", "C-1", "--agency", "TEST-GB")
    return var


def _show(var: Path, job_id: int) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        sightline(var, "jobs", "show", str(job_id), "--json").stdout
    )
    return data


def test_index_rebuild_runs_as_a_job_and_the_queue_can_be_read_and_cancelled(
    tmp_path: Path,
) -> None:
    var = _store(tmp_path)
    rebuilt = sightline(var, "index", "rebuild")
    assert "indexes rebuilt: 3 media hashes, 0 hash-list hashes" in rebuilt.stdout
    [job] = json.loads(sightline(var, "jobs", "list", "--json").stdout)
    assert (job["kind"], job["state"], job["attempts"]) == ("index.rebuild", "succeeded", 1)
    result = dict(job["result"])
    assert result.pop("scene")["media"] >= 3  # each still's window descriptors
    assert result == {
        "pdq": {"media": 3, "lists": 0},
        "vpdq": {"media": 0},
        "chromaprint": {"media": 0},
    }
    assert job["requester"].startswith("cli:")

    queued = sightline(var, "index", "rebuild", "--no-wait").stdout
    job_id = int(queued.split()[1])
    assert _show(var, job_id)["state"] == "queued"
    assert "cancelled" in sightline(var, "jobs", "cancel", str(job_id)).stdout
    assert _show(var, job_id)["state"] == "cancelled"
    assert "already ended" in sightline(var, "jobs", "cancel", str(job_id)).stdout
    table = sightline(var, "jobs", "list").stdout
    assert "cancelled" in table and "succeeded" in table
    assert sightline(var, "jobs", "show", "999", check=False).returncode == 6
    events = json.loads(sightline(var, "audit", "show", "--action", "job.cancel", "--json").stdout)
    assert [e["resource"] for e in events] == [f"job:{job_id}"]


def test_a_worker_runs_queued_jobs_and_stops_on_sigterm(tmp_path: Path) -> None:
    var = _store(tmp_path)
    job_id = int(sightline(var, "index", "rebuild", "--no-wait").stdout.split()[1])
    env = {**_env(var), "SIGHTLINE_WORKER__POLL_SECONDS": "0.2"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "sightline", "worker", "--kind", "index.rebuild"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _show(var, job_id)["state"] != "succeeded":
            assert worker.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert "index.rebuild" in output and "worker stopped" in output
    job = _show(var, job_id)
    assert str(job["lease_owner"]).split(":")[1].isdigit()  # host:pid:random


def test_worker_refuses_an_unknown_kind(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    result = sightline(var, "worker", "--kind", "bogus", check=False)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())  # Rich wraps long lines
    assert "valid: ingest.upload, hashlist.retro_hunt, index.rebuild" in message
