from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest
from PIL import Image

from sightline.analyzers.base import WORKING_SIDE, MediaInput
from sightline.errors import DecompressionBomb, TruncatedMedia, UnsupportedMedia
from tests.support.media_files import (
    write_image,
    write_jpeg,
    write_png_bomb_header,
    write_random_bytes,
    write_truncated_jpeg,
)


def test_header_over_the_pixel_limit_is_a_bomb_before_any_decoding(tmp_path: Path) -> None:
    path = write_png_bomb_header(tmp_path / "bomb.png", 100_000, 100_000)
    assert path.stat().st_size < 200  # the claim is in the header; there is no pixel data
    media = MediaInput(path)
    with pytest.raises(DecompressionBomb, match="10000000000 pixels"):
        media.image_header()
    with pytest.raises(DecompressionBomb):
        media.working_image()


def test_low_max_pixels_refuses_an_ordinary_image(tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "a.jpg", seed=1, size=(480, 360))
    with pytest.raises(DecompressionBomb, match="over the limit of 1000"):
        MediaInput(path, max_pixels=1000).image_header()
    with closing(MediaInput(path, max_pixels=480 * 360)) as media:
        assert media.image_header().size == (480, 360)  # the limit is inclusive


def test_limit_above_pillows_own_guard_is_honoured(tmp_path: Path) -> None:
    """Pillow's global guard is replaced by ours, in both directions."""
    path = write_png_bomb_header(tmp_path / "big.png", 20_000, 20_000)
    with closing(MediaInput(path, max_pixels=20_000 * 20_000)) as media:
        assert media.image_header().size == (20_000, 20_000)
    assert Image.MAX_IMAGE_PIXELS is not None  # restored after opening


def test_truncated_jpeg_raises_truncated_media_from_working_image(tmp_path: Path) -> None:
    with closing(MediaInput(write_truncated_jpeg(tmp_path / "cut.jpg"))) as media:
        assert media.image_header().format == "JPEG"  # the header is intact
        with pytest.raises(TruncatedMedia):
            media.working_image()


@pytest.mark.parametrize("size", [0, 5, 4096])
def test_random_bytes_are_unsupported(tmp_path: Path, size: int) -> None:
    media = MediaInput(write_random_bytes(tmp_path / "noise.jpg", size=size))
    with pytest.raises(UnsupportedMedia):
        media.image_header()
    with pytest.raises(UnsupportedMedia):
        media.working_image()


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1600, 1200), (512, 384)), ((300, 1200), (128, 512)), ((400, 300), (400, 300))],
)
def test_working_image_longest_side_is_at_most_working_side(
    tmp_path: Path, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    for fmt in ("JPEG", "PNG"):
        path = write_image(tmp_path / f"a.{fmt.lower()}", seed=2, fmt=fmt, size=size)
        with closing(MediaInput(path)) as media:
            working = media.working_image()
            assert max(working.size) <= WORKING_SIDE
            assert working.size == expected
            assert working.mode == "RGB"
            assert media.working_image() is working  # decoded once


def test_header_keeps_true_size_after_decoding(tmp_path: Path) -> None:
    """JPEG DCT scaling must not leak into the header other analyzers read."""
    path = write_jpeg(tmp_path / "big.jpg", seed=3, size=(2048, 1536))
    with closing(MediaInput(path)) as media:
        media.working_image()
        assert media.image_header().size == (2048, 1536)


def test_close_releases_the_image_and_reopens_on_demand(tmp_path: Path) -> None:
    media = MediaInput(write_jpeg(tmp_path / "a.jpg", seed=4))
    first = media.working_image()
    media.close()
    with closing(media):
        again = media.working_image()
        assert again is not first
        assert again.tobytes() == first.tobytes()
