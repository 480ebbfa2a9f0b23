from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from sightline.analyzers.base import (
    WORKING_SIDE,
    MediaInput,
    _working_size,
    shrink_to_working,
    working_luma_of,
)
from sightline.errors import (
    DecompressionBomb,
    OversizedMetadata,
    TruncatedMedia,
    UnsupportedMedia,
)
from sightline.services import synthetic
from tests.support.media_files import (
    write_image,
    write_jpeg,
    write_png_bomb_header,
    write_random_bytes,
    write_truncated_jpeg,
)


def _sixteen_bit(image: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)


# One file of every kind ingest meets: (Pillow format, how the landscape is turned into the
# stored picture). Colour JPEGs are the only ones decoded luma-only; the rest are decoded as
# they are and converted.
KINDS: dict[str, tuple[str, Callable[[Image.Image], Image.Image]]] = {
    "jpeg": ("JPEG", lambda image: image),
    "grey-jpeg": ("JPEG", lambda image: image.convert("L")),
    "cmyk-jpeg": ("JPEG", lambda image: image.convert("CMYK")),
    "png": ("PNG", lambda image: image),
    "grey-png": ("PNG", lambda image: image.convert("L")),
    "palette-png": ("PNG", lambda image: image.convert("P", palette=Image.Palette.ADAPTIVE)),
    "rgba-png": ("PNG", lambda image: image.convert("RGBA")),
    "la-png": ("PNG", lambda image: image.convert("LA")),
    "bilevel-png": ("PNG", lambda image: image.convert("1")),
    "16bit-png": ("PNG", _sixteen_bit),
    "gif": ("GIF", lambda image: image),
    "webp": ("WEBP", lambda image: image),
    "bmp": ("BMP", lambda image: image),
    "tiff": ("TIFF", lambda image: image),
    "heic": ("HEIF", lambda image: image),
}
# Kinds whose luma is not the rounded luma of their RGB decode: a colour JPEG's luma is its
# own Y plane (the same ITU-R 601 weights, rounded once in the decoder instead of twice).
Y_PLANE_KINDS = frozenset({"jpeg"})


def write_kind(path: Path, kind: str, seed: int = 7, size: tuple[int, int] = (400, 300)) -> Path:
    """Write a landscape as one of ``KINDS`` and return the path."""
    pillow_heif.register_heif_opener()
    fmt, make = KINDS[kind]
    path.write_bytes(synthetic.encode(make(synthetic.landscape(seed, size)), fmt))
    return path


def test_header_over_the_pixel_limit_is_a_bomb_before_any_decoding(tmp_path: Path) -> None:
    path = write_png_bomb_header(tmp_path / "bomb.png", 100_000, 100_000)
    assert path.stat().st_size < 200  # the claim is in the header; there is no pixel data
    media = MediaInput(path)
    with pytest.raises(DecompressionBomb, match="10000000000 pixels"):
        media.image_header()
    with pytest.raises(DecompressionBomb):
        media.working_image()
    with pytest.raises(DecompressionBomb):
        media.working_luma()


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
        with pytest.raises(TruncatedMedia):
            media.working_luma()


@pytest.mark.parametrize("size", [0, 5, 4096])
def test_random_bytes_are_unsupported(tmp_path: Path, size: int) -> None:
    media = MediaInput(write_random_bytes(tmp_path / "noise.jpg", size=size))
    with pytest.raises(UnsupportedMedia):
        media.image_header()
    with pytest.raises(UnsupportedMedia):
        media.working_image()
    with pytest.raises(UnsupportedMedia):
        media.working_luma()


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
            luma = media.working_luma()
            assert luma.size == expected
            assert luma.mode == "L"
            assert media.working_luma() is luma  # decoded once


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_working_luma_is_the_luma_of_the_working_image(tmp_path: Path, kind: str) -> None:
    """Every format is read, and its luma is Pillow's luma of the RGB picture.

    Below the working size nothing is resampled, so it is exact; a colour JPEG's Y plane is
    the same weighted sum, rounded once in the decoder instead of after RGB.
    """
    path = write_kind(tmp_path / f"a.{kind}", kind)
    with closing(MediaInput(path)) as media:
        luma = media.working_luma()
        rgb = media.working_image()
        assert luma.mode == "L"
        assert luma.size == rgb.size == (400, 300)
        expected = np.asarray(rgb.convert("L"), dtype=np.int16)
        difference = np.abs(np.asarray(luma, dtype=np.int16) - expected)
        if kind in Y_PLANE_KINDS:
            assert difference.mean() < 0.5  # a few pixels differ by more, where the
            assert difference.max() <= 8  # decoder clamped an out-of-gamut RGB value
        else:
            assert difference.max() == 0


@pytest.mark.parametrize("kind", sorted(k for k in KINDS if KINDS[k][0] != "JPEG"))
def test_large_files_shrink_like_in_memory_images(tmp_path: Path, kind: str) -> None:
    """Luma first, then the shrink, for a decoded file and an in-memory image alike.

    (JPEGs differ: a file is DCT-scaled while it is decoded, an in-memory image cannot be.)
    """
    path = write_kind(tmp_path / f"a.{kind}", kind, size=(1024, 768))
    with closing(MediaInput(path)) as media, Image.open(path) as image:
        luma = media.working_luma()
        assert luma.size == (512, 384)
        assert luma.tobytes() == working_luma_of(image).tobytes()


def test_colour_jpeg_luma_follows_the_rgb_shrink_closely(tmp_path: Path) -> None:
    """DCT-scaled Y plane against the luma of the DCT-scaled RGB decode, both shrunk."""
    path = write_jpeg(tmp_path / "big.jpg", seed=5, size=(1600, 1200))
    with closing(MediaInput(path)) as media:
        luma = np.asarray(media.working_luma(), dtype=np.int16)
        rgb = np.asarray(media.working_image().convert("L"), dtype=np.int16)
        assert luma.shape == rgb.shape == (384, 512)
        assert np.abs(luma - rgb).mean() < 1.0


def test_working_luma_does_not_touch_the_caller_image() -> None:
    image = synthetic.landscape(3, (1024, 768))
    before = image.tobytes()
    grey = image.convert("L")
    assert working_luma_of(image).size == (512, 384)
    assert working_luma_of(grey).size == (512, 384)
    assert image.tobytes() == before
    assert grey.size == (1024, 768)


def test_header_keeps_true_size_after_decoding(tmp_path: Path) -> None:
    """JPEG DCT scaling must not leak into the header other analyzers read."""
    path = write_jpeg(tmp_path / "big.jpg", seed=3, size=(2048, 1536))
    with closing(MediaInput(path)) as media:
        media.working_luma()
        assert media.image_header().size == (2048, 1536)
        media.working_image()
        assert media.image_header().size == (2048, 1536)


def test_close_releases_the_image_and_reopens_on_demand(tmp_path: Path) -> None:
    media = MediaInput(write_jpeg(tmp_path / "a.jpg", seed=4))
    first = media.working_image()
    first_luma = media.working_luma()
    media.close()
    with closing(media):
        again = media.working_image()
        assert again is not first
        assert again.tobytes() == first.tobytes()
        again_luma = media.working_luma()
        assert again_luma is not first_luma
        assert again_luma.tobytes() == first_luma.tobytes()


@pytest.mark.parametrize(
    "size", [(1024, 768), (1152, 864), (513, 100), (100, 513), (2000, 3), (3, 2000), (777, 777)]
)
def test_greyscale_shrink_without_a_copy_matches_shrink_to_working(
    size: tuple[int, int],
) -> None:
    """``working_luma_of`` resamples an ``L`` image straight away: same pixels as a copy
    shrunk by ``shrink_to_working`` (``Image.thumbnail``)."""
    width, height = size
    grey = Image.fromarray(np.random.default_rng(9).integers(0, 256, (height, width), np.uint8))
    expected = grey.copy()
    shrink_to_working(expected)
    shrunk = working_luma_of(grey)
    assert shrunk.size == expected.size
    assert shrunk.tobytes() == expected.tobytes()
    assert grey.size == size  # untouched


def test_working_size_follows_thumbnail_for_every_aspect_ratio() -> None:
    for width in range(1, 1400, 3):
        for height in (1, 2, 3, 383, 384, 385, 511, 512, 513, 767, 768, 1023, 1024, 1365, 4000):
            image = Image.new("1", (width, height))
            shrink_to_working(image)
            assert _working_size(width, height) == image.size, (width, height)


def _png_with_text(path: Path, *, before_pixels: bool) -> Path:
    """A PNG whose compressed text chunk inflates past Pillow's MAX_TEXT_CHUNK (a text bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    bomb = chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * 20_000_000))
    path.write_bytes(synthetic.encode(synthetic.landscape(3, (320, 240)), "PNG"))
    data = path.read_bytes()
    cut = 33 if before_pixels else data.index(b"IEND") - 4  # after IHDR, or before IEND
    path.write_bytes(data[:cut] + bomb + data[cut:])
    return path


@pytest.mark.parametrize("before_pixels", [True, False])
def test_oversized_metadata_is_named_as_such(tmp_path: Path, before_pixels: bool) -> None:
    path = _png_with_text(tmp_path / "text.png", before_pixels=before_pixels)
    with closing(MediaInput(path)) as media, pytest.raises(OversizedMetadata):
        media.working_luma()  # reads the header first
