"""Per-file limits: a file past the time or memory limit fails with a reason, the batch goes on."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sightline.analyzers.base import MediaInput
from sightline.analyzers.frames import FrameSampler
from sightline.analyzers.metadata import MetadataAnalyzer
from sightline.jobs.inline import InlineRunner
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.ingest.run import IngestReport, ingest
from sightline.services.ingest.worker import limit_worker_memory
from sightline.services.jobs.runner import TaskRunner
from tests.support.corpus import TEST_REQUESTER, write_landscape
from tests.support.video import pan_frames, write_video


@pytest.fixture
def limited(sqlite_ctx: AppContext) -> AppContext:
    sqlite_ctx.settings.analyzers.enabled = ["crypto", "pdq", "vpdq", "metadata"]
    add_agency(sqlite_ctx, "AA", "Agency AA", "NL", requester=TEST_REQUESTER)
    return sqlite_ctx


def _ingest(ctx: AppContext, folder: Path, runner: TaskRunner | None = None) -> IngestReport:
    return ingest(
        ctx,
        [folder],
        agency_code="AA",
        case_reference="limits",
        runner=runner or InlineRunner(),
        requester=TEST_REQUESTER,
    )


def _reasons(report: IngestReport) -> dict[str, str | None]:
    return {Path(f.locator).name: f.reason for f in report.failures}


def _batch(folder: Path) -> None:
    """A long video (100 frames), a short one (5 frames) and a still."""
    folder.mkdir()
    write_video(folder / "long.mp4", pan_frames(1, seconds=10, fps=10))
    write_video(folder / "short.mp4", pan_frames(2, seconds=1, fps=5), fps=5)
    write_landscape(folder / "still.jpg", 3)


def _slow_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding a frame takes 50 ms: the long video needs 5 s, the short one 0.25 s."""
    feed = FrameSampler._feed

    def slow(self: FrameSampler, frame: Any) -> bool:
        time.sleep(0.05)
        return feed(self, frame)

    monkeypatch.setattr(FrameSampler, "_feed", slow)


def test_a_video_past_the_time_limit_fails_and_the_batch_goes_on(
    limited: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _batch(tmp_path / "in")
    _slow_frames(monkeypatch)
    limited.settings.ingest.file_time_limit_seconds = 1.5
    started = time.monotonic()
    report = _ingest(limited, tmp_path / "in")
    assert time.monotonic() - started < 4.5  # the long video was stopped, not finished
    assert _reasons(report) == {"long.mp4": "time_limit"}
    assert report.summary.stored == 2


def test_the_timer_interrupts_code_that_never_checks_the_deadline(
    limited: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _batch(tmp_path / "in")
    analyze = MetadataAnalyzer.analyze

    def stuck(self: MetadataAnalyzer, media: MediaInput) -> Mapping[str, Any]:
        if media.path.stat().st_size > 100_000:  # only the long video is that large
            time.sleep(30)
        return analyze(self, media)

    monkeypatch.setattr(MetadataAnalyzer, "analyze", stuck)
    limited.settings.ingest.file_time_limit_seconds = 1.0
    started = time.monotonic()
    report = _ingest(limited, tmp_path / "in")
    assert time.monotonic() - started < 10
    assert _reasons(report) == {"long.mp4": "time_limit"}
    assert report.summary.stored == 2


def test_the_deadline_holds_in_a_thread_without_signals(
    limited: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _batch(tmp_path / "in")
    _slow_frames(monkeypatch)
    limited.settings.ingest.file_time_limit_seconds = 1.5
    reports: list[IngestReport] = []
    thread = threading.Thread(target=lambda: reports.append(_ingest(limited, tmp_path / "in")))
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and len(reports) == 1
    assert _reasons(reports[0]) == {"long.mp4": "time_limit"}


def test_a_file_past_the_memory_limit_fails_in_its_worker_and_the_batch_goes_on(
    limited: AppContext, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    write_landscape(folder / "a.jpg", 4)
    # 81 million pixels: under the decompression-bomb limit, 81 MB of luma to decode.
    Image.fromarray(np.full((9000, 9000), 128, np.uint8)).save(folder / "huge.png")
    write_landscape(folder / "b.jpg", 5)
    limited.settings.ingest.worker_memory_bytes = 48 * 1024**2
    report = _ingest(limited, folder, ProcessPoolRunner(workers=1, chunksize=1))
    assert _reasons(report) == {"huge.png": "memory_limit"}
    assert report.summary.stored == 2


def test_the_memory_cap_is_for_pool_workers_only() -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)
    assert limit_worker_memory(1024**3) is False  # this process runs ingest inline
    assert resource.getrlimit(resource.RLIMIT_AS) == before
