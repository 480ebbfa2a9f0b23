"""Videos in every container at hand, and bad ones: each a result or a recorded reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sightline.analyzers.base import DEFAULT_MAX_PIXELS
from sightline.domain.models import FeatureStatus
from sightline.features.hashes import hamming
from sightline.services import synthetic
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.ingest.run import IngestReport
from tests.support.corpus import TEST_REQUESTER, ingest_seeds, write_landscape
from tests.support.video import (
    ffmpeg,
    pan_frames,
    write_frozen,
    write_pan,
    write_timed,
    write_video,
)

# (file name, PyAV container, codec, frame size): every writer PyAV has here. Ogg/Theora is
# written by Debian's ffmpeg (PyAV's FFmpeg has no Theora encoder).
CONTAINERS = [
    ("clip.mp4", "mp4", "libx264", (320, 240)),
    ("clip.mov", "mov", "libx264", (320, 240)),
    ("clip.mkv", "matroska", "libx264", (320, 240)),
    ("clip.avi", "avi", "mpeg4", (320, 240)),
    ("clip.webm", "webm", "libvpx", (320, 240)),
    ("clip.3gp", "3gp", "h263", (352, 288)),  # H.263 takes CIF sizes only
    ("clip.ts", "mpegts", "mpeg2video", (320, 240)),
    ("clip.flv", "flv", "flv", (320, 240)),
    ("clip.wmv", "asf", "wmv2", (320, 240)),
    ("clip.vob", "vob", "mpeg2video", (320, 240)),
]
_FAST = {"libvpx": {"deadline": "realtime", "cpu-used": "8"}}


@pytest.fixture
def videos(sqlite_ctx: AppContext) -> AppContext:
    sqlite_ctx.settings.analyzers.enabled = ["crypto", "pdq", "vpdq", "metadata"]
    add_agency(sqlite_ctx, "AA", "Agency AA", "NL", requester=TEST_REQUESTER)
    return sqlite_ctx


def _outcomes(
    ctx: AppContext, report: IngestReport
) -> tuple[dict[str, str | None], dict[str, dict[str, Any]]]:
    """Failure reasons by file name, and per stored file its features and vpdq frames."""
    failed = {Path(f.locator).name: f.reason for f in report.failures}
    stored: dict[str, dict[str, Any]] = {}
    with ctx.uow() as uow:
        for name, media_id in _media_by_name(ctx).items():
            features = {f.analyzer: f for f in uow.features.for_media(media_id)}
            frames = [s for s in uow.signals.of_media(media_id) if s.kind == "vpdq"]
            stored[name] = {"features": features, "frames": frames, "id": media_id}
    return failed, stored


def _media_by_name(ctx: AppContext) -> dict[str, int]:
    with ctx.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT original_path, media_id FROM sightings")).all()
    return {Path(str(p)).name: int(m) for p, m in rows}


def test_every_container_is_ingested_and_hashed_alike(videos: AppContext, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name, container, codec, size in CONTAINERS:
        frames = pan_frames(8, seconds=3, size=size)
        write_video(
            folder / name, frames, codec=codec, container=container, options=_FAST.get(codec)
        )
    ffmpeg("-i", str(folder / "clip.mp4"), "-c:v", "libtheora", str(folder / "clip.ogv"))
    report = ingest_seeds(videos, folder, [], agency="AA", case="formats")
    failed, stored = _outcomes(videos, report)
    assert failed == {}
    assert sorted(stored) == sorted([name for name, *_ in CONTAINERS] + ["clip.ogv"])
    reference = stored["clip.mp4"]["frames"]
    for name, found in stored.items():
        vpdq = found["features"]["vpdq"]
        assert vpdq.status is FeatureStatus.OK, name
        assert [s.time_ms for s in found["frames"]] == [0, 1000, 2000], name
        for mine, theirs in zip(found["frames"], reference, strict=True):
            # The same pictures through another codec: well inside the match threshold.
            assert hamming(mine.value, theirs.value) <= 16, name
        assert found["features"]["metadata"].value["duration_ms"] in range(2900, 3200), name


def test_bad_videos_get_a_result_or_a_reason_and_the_batch_completes(
    videos: AppContext, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_landscape(folder / "still.jpg", 1)
    whole = write_pan(folder / "whole.mp4", 2, seconds=6, codec="libx264")
    data = whole.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) * 6 // 10])  # index at the end
    ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(tmp_path / "fs.mp4"))
    fast_start = (tmp_path / "fs.mp4").read_bytes()
    (folder / "cut_faststart.mp4").write_bytes(fast_start[: len(fast_start) * 6 // 10])
    mkv = write_video(tmp_path / "c.mkv", pan_frames(3, seconds=6), container="matroska")
    corrupt = bytearray(mkv.read_bytes())
    middle = len(corrupt) // 2
    corrupt[middle : middle + 4000] = bytes(range(256)) * 15 + bytes(160)
    (folder / "corrupt.mkv").write_bytes(bytes(corrupt))
    (tmp_path / "subs.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    ffmpeg("-i", str(tmp_path / "subs.srt"), str(folder / "no_streams.mkv"))
    write_video(folder / "fast.avi", pan_frames(4, seconds=0.5, fps=100), fps=10_000)
    write_frozen(folder / "frozen.mp4", 5, hours=10, every_s=10)
    times = [0, 30, 70, 400, 950, 1010, 1020, 2500, 2600, 2700, 3900, 3950]
    write_timed(folder / "vfr.mp4", zip(times, pan_frames(6, seconds=1.2), strict=True))
    ffmpeg(
        "-i", str(whole), "-f", "lavfi", "-i", "sine=frequency=300:duration=6",
        "-c:v", "copy", "-c:a", "aac", "-shortest", str(folder / "with_sound.mp4"),
    )  # fmt: skip
    (folder / "noise.mp4").write_bytes(bytes(range(256)) * 64)
    (folder / "empty.mov").write_bytes(b"")

    report = ingest_seeds(videos, folder, [], agency="AA", case="bad")
    failed, stored = _outcomes(videos, report)
    assert failed == {
        "truncated.mp4": "truncated",
        "no_streams.mkv": "not_media",
        "noise.mp4": "not_media",
        "empty.mov": "not_media",
    }
    assert report.summary.pending == 0
    expected = {"still.jpg", "whole.mp4", "cut_faststart.mp4", "corrupt.mkv", "fast.avi"}
    assert set(stored) == expected | {"frozen.mp4", "vfr.mp4", "with_sound.mp4"}

    def vpdq(name: str) -> dict[str, Any]:
        return dict(stored[name]["features"]["vpdq"].value)

    cut = vpdq("cut_faststart.mp4")
    assert 1 <= cut["frames_kept"] < vpdq("whole.mp4")["frames_kept"]  # what was there
    assert vpdq("corrupt.mkv")["frames_kept"] >= 3
    assert vpdq("fast.avi")["fps"] == 10_000.0 and vpdq("fast.avi")["frames_kept"] == 1
    frozen = vpdq("frozen.mp4")
    assert frozen["duration_ms"] == 36_000_000
    assert (frozen["frames_sampled"], frozen["frames_kept"]) == (3600, 1)
    assert len(stored["frozen.mp4"]["frames"]) == 1
    vfr_times = [s.time_ms for s in stored["vfr.mp4"]["frames"]]
    assert {0, 1010, 2500, 3900} <= set(vfr_times)  # the first frame at or after each second
    sound = stored["with_sound.mp4"]["features"]["metadata"].value
    assert (sound["video_codec"], sound["audio_codec"]) == ("h264", "aac")
    assert stored["whole.mp4"]["features"]["metadata"].value["audio_codec"] is None


def test_a_video_declaring_too_many_pixels_is_refused(videos: AppContext, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    small = synthetic.landscape(1, (480, 360)).resize((200, 150))
    (folder / "still.jpg").write_bytes(synthetic.encode(small))
    write_pan(folder / "large.mp4", 2, seconds=2, size=(320, 240))
    videos.settings.ingest.max_pixels = 50_000  # 320 x 240 is 76,800: "absurd" here
    assert videos.settings.ingest.max_pixels < DEFAULT_MAX_PIXELS
    report = ingest_seeds(videos, folder, [], agency="AA", case="bomb")
    failed, stored = _outcomes(videos, report)
    assert failed == {"large.mp4": "decompression_bomb"}
    assert set(stored) == {"still.jpg"}
