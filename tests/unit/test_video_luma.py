"""A video frame's luma is the still-image rule's luma, without the RGB conversion."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from sightline.analyzers.pdq import hash_image
from sightline.analyzers.video import frame_luma
from tests.support.video import ffmpeg, pan_frames, write_video

# The Y-plane route may differ from the RGB route by a few bits (measured: at most 4).
MAX_BITS = 6
MAX_QUALITY_GAP = 3


def _rgb(frame: av.VideoFrame) -> Image.Image:
    """The frame as FFmpeg shows it in RGB (what ``VideoFrame.to_image`` returns)."""
    return Image.fromarray(frame.to_ndarray(format="rgb24"))


def _compare(path: Path) -> list[tuple[int, int]]:
    """(Hamming distance, quality gap) between both routes, on every decoded frame."""
    gaps = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            fast, still = hash_image(frame_luma(frame)), hash_image(_rgb(frame))
            gaps.append((fast.distance(still), abs(fast.quality - still.quality)))
    return gaps


@pytest.mark.parametrize(
    ("codec", "container", "pix_fmt"),
    [("libx264", "mp4", "yuv420p"), ("mjpeg", "avi", "yuvj420p"), ("mpeg4", "mp4", "yuv420p")],
)
def test_the_y_plane_hashes_like_the_rgb_picture(
    tmp_path: Path, codec: str, container: str, pix_fmt: str
) -> None:
    path = write_video(
        tmp_path / f"pan.{container}",
        pan_frames(4, seconds=2, fps=5),
        fps=5,
        codec=codec,
        container=container,
        pix_fmt=pix_fmt,
    )
    gaps = _compare(path)
    assert len(gaps) == 10
    assert max(d for d, _ in gaps) <= MAX_BITS
    assert max(q for _, q in gaps) <= MAX_QUALITY_GAP  # limited range is stretched


def test_bt709_video_goes_through_the_scaler(tmp_path: Path) -> None:
    source = write_video(tmp_path / "pan.mp4", pan_frames(5, seconds=2, fps=5), fps=5)
    tagged = tmp_path / "bt709.mp4"
    ffmpeg("-i", str(source), "-c:v", "libx264", "-colorspace", "bt709", str(tagged))
    with av.open(str(tagged)) as container:
        assert next(container.decode(video=0)).colorspace == 1  # tagged BT.709
    gaps = _compare(tagged)
    assert max(d for d, _ in gaps) <= MAX_BITS
    assert max(q for _, q in gaps) <= MAX_QUALITY_GAP


def test_ten_bit_video_is_read_as_eight_bit_luma(tmp_path: Path) -> None:
    path = write_video(
        tmp_path / "deep.mkv",
        pan_frames(6, seconds=1, fps=5),
        fps=5,
        codec="libx264",
        container="matroska",
        pix_fmt="yuv420p10le",
    )
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    assert frame.format.name == "yuv420p10le"
    luma = frame_luma(frame)
    assert (luma.mode, luma.size) == ("L", (320, 240))
    assert hash_image(luma).distance(hash_image(_rgb(frame))) <= MAX_BITS
