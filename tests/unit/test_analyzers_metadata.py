from __future__ import annotations

import random
import struct
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from sightline.analyzers.base import MediaInput
from sightline.analyzers.metadata import MAX_TEXT_LENGTH, MetadataAnalyzer
from sightline.services import synthetic
from tests.support.media_files import (
    CAMERA_FIELDS,
    camera_exif,
    write_image,
    write_jpeg,
    write_truncated_jpeg,
)

EXIF_FIELDS = tuple(CAMERA_FIELDS)
NO_EXIF = dict.fromkeys(EXIF_FIELDS)
SIZE = (320, 240)


def _analyze(path: Path) -> Mapping[str, Any]:
    with closing(MediaInput(path)) as media:
        return MetadataAnalyzer().analyze(media)


def _jpeg_with_exif(path: Path, exif: Image.Exif | bytes) -> Path:
    synthetic.landscape(1, SIZE).save(path, format="JPEG", exif=exif)
    return path


def test_jpeg_exif_is_read_back(tmp_path: Path) -> None:
    output = _analyze(write_jpeg(tmp_path / "camera.jpg", seed=1, size=SIZE, exif=camera_exif()))
    assert output == {
        "format": "JPEG",
        "mime_type": "image/jpeg",
        "width": 320,
        "height": 240,
        **CAMERA_FIELDS,
    }


@pytest.mark.parametrize(
    ("fmt", "suffix", "mime"),
    [
        ("JPEG", "jpg", "image/jpeg"),
        ("PNG", "png", "image/png"),
        ("WEBP", "webp", "image/webp"),
        ("TIFF", "tif", "image/tiff"),
        ("HEIF", "heic", "image/heic"),
    ],
)
def test_formats_carrying_exif(tmp_path: Path, fmt: str, suffix: str, mime: str) -> None:
    path = write_image(
        tmp_path / f"camera.{suffix}", seed=2, fmt=fmt, size=SIZE, exif=camera_exif()
    )
    output = _analyze(path)
    assert (output["format"], output["mime_type"]) == (fmt, mime)
    assert (output["width"], output["height"]) == SIZE
    assert {key: output[key] for key in EXIF_FIELDS} == CAMERA_FIELDS


@pytest.mark.parametrize(
    ("fmt", "suffix", "mime"),
    [
        ("PNG", "png", "image/png"),
        ("GIF", "gif", "image/gif"),
        ("BMP", "bmp", "image/bmp"),
        ("HEIF", "heic", "image/heic"),
    ],
)
def test_files_without_exif_give_none_fields(
    tmp_path: Path, fmt: str, suffix: str, mime: str
) -> None:
    output = _analyze(write_image(tmp_path / f"plain.{suffix}", seed=3, fmt=fmt, size=SIZE))
    assert output == {"format": fmt, "mime_type": mime, "width": 320, "height": 240, **NO_EXIF}


def test_header_only_so_truncated_pixels_do_not_matter(tmp_path: Path) -> None:
    data = write_jpeg(tmp_path / "full.jpg", seed=4, size=SIZE, exif=camera_exif()).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    assert _analyze(cut)["make"] == "Acme Optics"
    assert _analyze(write_truncated_jpeg(tmp_path / "plain-cut.jpg"))["width"] == 480


def test_true_size_is_reported_after_the_working_copy_was_decoded(tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "big.jpg", seed=5, size=(2048, 1536))
    with closing(MediaInput(path)) as media:
        media.working_image()  # JPEG DCT scaling must not shrink what metadata reports
        output = MetadataAnalyzer().analyze(media)
    assert (output["width"], output["height"]) == (2048, 1536)


def _raw_exif(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """A little-endian EXIF block with one IFD of (tag, type, count, 4-byte value) entries."""
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(
        struct.pack("<HHI", tag, kind, count) + value for tag, kind, count, value in entries
    )
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


MALFORMED_EXIF: dict[str, bytes] = {
    "random": b"Exif\x00\x00" + random.Random(1).randbytes(300),
    "ifd_past_end": b"Exif\x00\x00II*\x00\xff\xff\x00\x00",
    "value_past_end": _raw_exif([(0x010F, 2, 255, struct.pack("<I", 0xFFF0))]),
    "sub_ifds_past_end": _raw_exif(
        [
            (0x010F, 2, 3, b"AB\x00\x00"),
            (ExifTags.IFD.Exif, 4, 1, struct.pack("<I", 5000)),
            (ExifTags.IFD.GPSInfo, 4, 1, struct.pack("<I", 6000)),
        ]
    ),
    "wrong_types": _raw_exif(
        [(0x010F, 3, 1, b"\x07\x00\x00\x00"), (ExifTags.IFD.GPSInfo, 2, 4, b"abc\x00")]
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_EXIF))
def test_malformed_exif_never_crashes(tmp_path: Path, name: str) -> None:
    output = _analyze(_jpeg_with_exif(tmp_path / "bad.jpg", MALFORMED_EXIF[name]))
    assert (output["format"], output["width"], output["height"]) == ("JPEG", 320, 240)
    expected = {**NO_EXIF, "make": "AB"} if name == "sub_ifds_past_end" else NO_EXIF
    assert {key: output[key] for key in EXIF_FIELDS} == expected


def test_implausible_values_are_dropped(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "M" * 30_000 + "\x00\x00"
    exif[ExifTags.Base.Model] = " \x00 "
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "0000:00:00 00:00:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (IFDRational(1, 0), IFDRational(0, 0), IFDRational(5, 0))
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (181.0, 0.0, 0.0)
    output = _analyze(_jpeg_with_exif(tmp_path / "odd.jpg", exif))
    assert output["make"] == "M" * MAX_TEXT_LENGTH
    assert output["model"] is None
    assert output["datetime_original"] is None
    assert (output["gps_latitude"], output["gps_longitude"]) == (None, None)


def test_northern_western_hemispheres_and_no_offset(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2020:02:29 23:59:59"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (40.0, 26.0, 46.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (79.0, 58.0, 56.0)
    output = _analyze(_jpeg_with_exif(tmp_path / "pittsburgh.jpg", exif))
    assert output["datetime_original"] == "2020-02-29T23:59:59"
    assert output["gps_latitude"] == pytest.approx(40.4461111, abs=1e-7)
    assert output["gps_longitude"] == pytest.approx(-79.9822222, abs=1e-7)


def test_parser_exceptions_are_contained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's EXIF parser raises on some inputs; one bad directory costs only its fields."""
    path = write_jpeg(tmp_path / "camera.jpg", seed=6, size=SIZE, exif=camera_exif())

    def broken(*args: object) -> dict[int, Any]:
        raise struct.error("unpack requires a buffer of 12 bytes")

    monkeypatch.setattr(Image.Exif, "get_ifd", broken)
    output = _analyze(path)
    assert (output["make"], output["model"]) == ("Acme Optics", "Field Camera 7")
    assert output["body_serial_number"] is output["gps_latitude"] is None

    monkeypatch.setattr(Image.Image, "getexif", broken)
    assert {key: _analyze(path)[key] for key in EXIF_FIELDS} == NO_EXIF
