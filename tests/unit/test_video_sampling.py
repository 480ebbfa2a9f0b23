"""Which frames a video contributes: one a second, scene changes, upright, keyframes."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from sightline.analyzers import frames as frames_module
from sightline.analyzers.base import THUMBNAIL_ARTIFACT, MediaInput
from sightline.analyzers.frames import MAX_KEYFRAMES, FrameHash, FrameSampler
from sightline.analyzers.pdq import hash_image
from sightline.analyzers.video import FRAMES_KEY, VideoPdqAnalyzer
from sightline.errors import DecompressionBomb
from tests.support.video import Pixels, cut_frames, ffmpeg, pan_frames, write_video


def _analyze(path: Path) -> tuple[Mapping[str, Any], list[FrameHash], Mapping[str, bytes]]:
    analyzer = VideoPdqAnalyzer()
    with closing(MediaInput(path)) as media:
        value = analyzer.analyze(media)
        return value, list(media.derived[FRAMES_KEY]), analyzer.artifacts(value, media)


def test_a_cut_between_two_seconds_adds_a_sampled_frame(tmp_path: Path) -> None:
    # Four shots of 2.5 s at 10 fps: cuts at 2.5 s, 5 s and 7.5 s.
    path = write_video(tmp_path / "cuts.mp4", cut_frames([1, 2, 3, 4], seconds_each=2.5))
    value, frames, _ = _analyze(path)
    times = [f.time_ms for f in frames]
    assert value["scene_changes"] == 3
    assert 2500 in times and 7500 in times  # between the whole seconds
    assert [t for t in times if t % 1000 == 0] == list(range(0, 10_000, 1000))
    assert value["frames_sampled"] == 12
    assert [k["time_ms"] for k in value["keyframes"]] == [0, 2500, 5000, 7500]


def test_a_pan_is_one_frame_a_second_and_no_cut(tmp_path: Path) -> None:
    path = write_video(tmp_path / "pan.mp4", pan_frames(7, seconds=6))
    value, frames, artifacts = _analyze(path)
    assert value["scene_changes"] == 0
    assert [f.time_ms for f in frames] == list(range(0, 6000, 1000))
    assert [f.position for f in frames] == list(range(6))
    assert sorted(artifacts) == ["keyframe.0", THUMBNAIL_ARTIFACT]
    assert artifacts["keyframe.0"] == artifacts[THUMBNAIL_ARTIFACT]


def test_probe_frames_lie_between_the_samples_and_are_looked_up_not_stored(
    tmp_path: Path,
) -> None:
    path = write_video(tmp_path / "pan.mp4", pan_frames(7, seconds=6))
    analyzer = VideoPdqAnalyzer()
    with closing(MediaInput(path)) as media:
        value = analyzer.analyze(media)
        signals = analyzer.signals(value, media)
        variants = analyzer.variants(signals, media)
    assert [s.time_ms for s in signals] == list(range(0, 6000, 1000))  # stored: 1 a second
    probes = [v for v in variants if v.probe_only]
    times = sorted({v.signal.time_ms or 0 for v in probes})
    # Two probes a third of a second apart after each sample (10 fps: on 100 ms steps); a
    # frame below the quality floor is not probed (this pan dips under it near 4.5 s).
    grid = [t + d for t in range(0, 6000, 1000) for d in (400, 700)]
    assert set(times) <= set(grid) and len(times) >= 8
    assert value["frames_probed"] == len(times)
    assert {v.transform for v in probes} == {"original", "mirror"}
    assert len(probes) == 2 * len(times)
    stored = [v for v in variants if not v.probe_only]
    assert len(stored) == 8 * len(signals)  # every stored frame's eight variants


def test_a_frozen_picture_gets_no_probe_frames(tmp_path: Path) -> None:
    still = next(pan_frames(9, seconds=1, fps=1))
    path = write_video(tmp_path / "frozen.mp4", (still for _ in range(40)), fps=10)
    value, _, _ = _analyze(path)
    assert value["frames_kept"] == 1
    assert value["frames_probed"] <= 2  # the encoder settles over the first frames


def test_keyframes_are_capped_and_evenly_spread(tmp_path: Path) -> None:
    # Forty still shots of 0.4 s (4 frames at 10 fps): 39 cuts, more keyframes than the cap.
    shots = [next(pan_frames(seed, seconds=0.1, size=(160, 120))) for seed in range(100, 140)]
    frames = (shot for shot in shots for _ in range(4))
    value, _, artifacts = _analyze(write_video(tmp_path / "many.mp4", frames))
    assert 36 <= value["scene_changes"] <= 39  # two similar landscapes may pass for one
    times = [k["time_ms"] for k in value["keyframes"]]
    assert len(times) == MAX_KEYFRAMES
    assert times[0] == 0 and times[-1] >= 13_000  # spread over the whole video
    gaps = np.diff(times)
    assert gaps.min() > 0 and gaps.max() <= 3 * gaps.min()
    assert len([n for n in artifacts if n.startswith("keyframe.")]) == MAX_KEYFRAMES
    for name in ("keyframe.0", f"keyframe.{MAX_KEYFRAMES - 1}"):
        with Image.open(io.BytesIO(artifacts[name])) as jpeg:
            assert (jpeg.format, jpeg.mode) == ("JPEG", "L")
            assert max(jpeg.size) <= 256


def test_a_frozen_frame_is_one_hash(tmp_path: Path) -> None:
    still = next(pan_frames(9, seconds=1, fps=1))
    path = write_video(tmp_path / "frozen.mp4", (still for _ in range(40)), fps=2)
    value, frames, _ = _analyze(path)
    assert value["frames_sampled"] == 20
    # The same picture is not even hashed again (the encoder settles over the first frames).
    assert 17 <= value["frames_unchanged"] <= 19
    assert len(frames) == value["frames_kept"] == 1


def _portrait(seconds: int = 4) -> Iterator[Pixels]:
    """Upright portrait frames: a landscape pan cut to 180 x 320."""
    for pixels in pan_frames(11, seconds=seconds, fps=5, size=(320, 320)):
        yield np.ascontiguousarray(pixels[:, 70:250])


def _stored_sideways(frames: Iterator[Pixels]) -> Iterator[Pixels]:
    """What a phone stores for an upright picture it shows with a 90-degree matrix."""
    for pixels in frames:
        yield np.ascontiguousarray(np.rot90(pixels, k=-1))


@pytest.mark.parametrize("writer", ["pyav", "ffmpeg"])
def test_a_rotated_phone_video_is_hashed_upright(tmp_path: Path, writer: str) -> None:
    upright = write_video(tmp_path / "upright.mp4", _portrait(), fps=5)
    if writer == "pyav":
        phone = write_video(
            tmp_path / "phone.mp4", _stored_sideways(_portrait()), fps=5, rotation=90
        )
    else:  # Debian's ffmpeg 5.1 writes the matrix from the old "rotate" tag
        plain = write_video(tmp_path / "plain.mp4", _stored_sideways(_portrait()), fps=5)
        phone = tmp_path / "phone.mp4"
        ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(phone))
    value, frames, artifacts = _analyze(phone)
    reference, upright_frames, _ = _analyze(upright)
    assert (value["width"], value["height"], value["rotation"]) == (320, 180, 90)
    assert reference["rotation"] == 0
    assert len(frames) == len(upright_frames) == 4
    for turned, straight in zip(frames, upright_frames, strict=True):
        assert turned.pdq.distance(straight.pdq) <= 8
    # A still of the first picture, as a phone user would screenshot it, finds its frame.
    still = hash_image(Image.fromarray(next(_portrait())))
    assert still.distance(frames[0].pdq) <= 8
    with Image.open(io.BytesIO(artifacts[THUMBNAIL_ARTIFACT])) as thumbnail:
        assert thumbnail.size[0] < thumbnail.size[1]  # portrait, as displayed


@pytest.mark.parametrize(
    ("cap", "value", "kept"),
    [("MAX_TIME_MS", 2500, 3), ("MAX_DECODED_FRAMES", 15, 2), ("MAX_SAMPLED_FRAMES", 4, 4)],
)
def test_decoding_stops_at_each_cap_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cap: str, value: int, kept: int
) -> None:
    path = write_video(tmp_path / "pan.mp4", pan_frames(12, seconds=8))
    assert _analyze(path)[0]["truncated"] is False
    monkeypatch.setattr(frames_module, cap, value)
    summary, frames, _ = _analyze(path)
    assert summary["truncated"] is True
    assert len(frames) == kept
    assert summary["frames_decoded"] <= 80


def test_a_frame_larger_than_declared_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_video(tmp_path / "pan.mp4", pan_frames(13, seconds=1))
    with closing(MediaInput(path, max_pixels=50_000)) as media, pytest.raises(DecompressionBomb):
        VideoPdqAnalyzer().analyze(media)  # 320 x 240 declared: refused before decoding
    # Decoded frames are checked too (a stream whose frames outgrow the size it declares).
    sampler = FrameSampler(max_pixels=50_000)
    with av.open(str(path)) as container, pytest.raises(DecompressionBomb):
        sampler.run(container, container.streams.video[0])
