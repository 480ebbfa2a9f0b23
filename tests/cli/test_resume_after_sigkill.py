"""Kill an ingest with SIGKILL half way, run it again: nothing lost, nothing duplicated."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sightline.config import Settings
from sightline.services.context import open_context
from sightline.storage.unit_of_work import UnitOfWork
from tests.cli.test_cli import _env, sightline
from tests.support.corpus import write_landscape
from tests.support.video import cut_frames, write_video

FILES = 120
BLOB = re.compile(r"^[0-9a-f]{32}$")


def _done_items(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            row = connection.execute(
                "SELECT count(*) FROM ingest_items WHERE state='done'"
            ).fetchone()
            return int(row[0])
    except sqlite3.OperationalError:
        return 0


def test_sigkill_half_way_then_resume(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    sightline(var, "agency", "add", "TEST-GB", "--name", "Test unit", "--country", "GB")
    for seed in range(FILES):
        write_landscape(tmp_path / f"in/{seed:03d}.jpg", seed, size=(800, 600))
    # Every tenth file twice: duplicates must stay duplicates across the interruption.
    for seed in range(0, FILES, 10):
        (tmp_path / f"in/copy_{seed:03d}.jpg").write_bytes(
            (tmp_path / f"in/{seed:03d}.jpg").read_bytes()
        )
    args = ["ingest", str(tmp_path / "in"), "--case", "C-1", "--agency", "TEST-GB"]
    process = subprocess.Popen(
        [sys.executable, "-m", "sightline", *args, "--workers", "2", "--json"],
        env={**_env(var), "SIGHTLINE_INGEST__COMMIT_EVERY": "8"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while _done_items(var / "sightline.db") < 20 and time.monotonic() < deadline:
        assert process.poll() is None, "ingest ended before it could be interrupted"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the parent and its worker processes
    process.wait()
    done_before = _done_items(var / "sightline.db")
    assert 20 <= done_before < FILES + FILES // 10

    report = json.loads(sightline(var, *args, "--json").stdout)

    total = FILES + FILES // 10
    assert report["resumed"] is True
    assert report["processed_this_run"] <= total - done_before
    assert (report["total"], report["pending"], report["failed"]) == (total, 0, 0)
    assert (report["stored"], report["duplicates"]) == (FILES, FILES // 10)
    ctx = open_context(Settings(data_dir=var))
    try:
        with ctx.uow() as uow:
            assert uow.media.count() == FILES
            assert uow.sightings.count() == total
        blobs = {p.name for p in ctx.settings.media_dir.rglob("*") if BLOB.match(p.name)}
        # Originals, thumbnails and local features (scene), no orphans or copies.
        assert len(blobs) == 3 * FILES
        sample = write_landscape(tmp_path / "q.jpg", 7, size=(800, 600)).read_bytes()
        blob = ctx.blobs.blob_id_for(hashlib.sha256(sample).hexdigest(), "original")
        assert ctx.blobs.read_bytes(blob) == sample
    finally:
        ctx.close()


VIDEOS = 16
IMAGES = 40


def test_sigkill_mid_video_batch_then_resume(tmp_path: Path) -> None:
    """Videos and stills mixed: keyframes, frame hashes and blobs survive a SIGKILL exactly."""
    var = tmp_path / "var"
    sightline(var, "init")
    sightline(var, "agency", "add", "TEST-GB", "--name", "Test unit", "--country", "GB")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for n in range(VIDEOS):  # two shots each: a keyframe for each shot found
        write_video(inputs / f"{3 * n:03d}.mp4", cut_frames([200 + n, 300 + n], seconds_each=2))
    for n in range(IMAGES):
        write_landscape(inputs / f"{3 * n + 1:03d}.jpg", n, size=(800, 600))
    for n in (0, 5):  # copies: they must stay duplicates across the interruption
        (inputs / f"copy_{n}.mp4").write_bytes((inputs / f"{3 * n:03d}.mp4").read_bytes())
    unique, total = VIDEOS + IMAGES, VIDEOS + IMAGES + 2
    args = ["ingest", str(inputs), "--case", "C-1", "--agency", "TEST-GB"]
    env = {**_env(var), "SIGHTLINE_ANALYZERS__ENABLED": "crypto,pdq,vpdq,metadata"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sightline", *args, "--workers", "2", "--json"],
        env={**env, "SIGHTLINE_INGEST__COMMIT_EVERY": "4"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while _done_items(var / "sightline.db") < 8 and time.monotonic() < deadline:
        assert process.poll() is None, "ingest ended before it could be interrupted"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = _done_items(var / "sightline.db")
    assert 8 <= done_before < total

    resumed = subprocess.run(
        [sys.executable, "-m", "sightline", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(resumed.stdout)
    assert report["resumed"] is True
    assert (report["total"], report["pending"], report["failed"]) == (total, 0, 0)
    assert (report["stored"], report["duplicates"]) == (unique, 2)
    ctx = open_context(Settings(data_dir=var))
    try:
        with ctx.uow() as uow:
            assert uow.media.count() == unique
            assert uow.sightings.count() == total
            videos = [m for m in range(1, unique + 1) if _vpdq(uow, m) is not None]
            assert len(videos) == VIDEOS
            keyframes = 0
            for media_id in videos:
                value = _vpdq(uow, media_id)
                assert value is not None and 1 <= len(value["keyframes"]) <= 2
                keyframes += len(value["keyframes"])
                positions = [s.position for s in uow.signals.of_media(media_id) if s.kind == "vpdq"]
                assert positions == list(range(value["frames_kept"]))  # none lost or doubled
        blobs = {p.name for p in ctx.settings.media_dir.rglob("*") if BLOB.match(p.name)}
        # Originals, thumbnails (a video's is its first keyframe) and keyframes; nothing else.
        assert len(blobs) == 2 * unique + keyframes
    finally:
        ctx.close()


def _vpdq(uow: UnitOfWork, media_id: int) -> dict[str, Any] | None:
    """The video-frame feature value of an item, if it has one."""
    for feature in uow.features.for_media(media_id):
        if feature.analyzer == "vpdq":
            return dict(feature.value)
    return None
