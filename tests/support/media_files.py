"""Benign media files generated at test time: landscapes, EXIF-tagged photos and bad inputs."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import pillow_heif
from PIL import ExifTags, Image, TiffImagePlugin

from sightline.services import synthetic

SMALL = (480, 360)

# What ``camera_exif()`` writes, as the metadata analyzer should report it.
CAMERA_FIELDS: dict[str, object] = {
    "make": "Acme Optics",
    "model": "Field Camera 7",
    "body_serial_number": "SN-0042",
    "software": "Firmware 1.2",
    "datetime_original": "2023-06-14T09:30:05+02:00",
    "gps_latitude": -33.8568,
    "gps_longitude": 151.215,
}


def camera_exif() -> Image.Exif:
    """EXIF naming a camera, a time and a place (Sydney, southern and eastern hemispheres).

    Strings carry NULs and padding, as real cameras write them, to exercise the cleaning.
    """
    base, gps_tags, ifd = ExifTags.Base, ExifTags.GPS, ExifTags.IFD
    exif = Image.Exif()
    exif[base.Make] = "Acme Optics\x00"
    exif[base.Model] = "  Field Camera 7  "
    exif[base.Software] = "Firmware 1.2"
    sub = exif.get_ifd(ifd.Exif)
    sub[base.BodySerialNumber] = "SN-0042"
    sub[base.DateTimeOriginal] = "2023:06:14 09:30:05"
    sub[base.OffsetTimeOriginal] = "+02:00"
    gps = exif.get_ifd(ifd.GPSInfo)
    gps[gps_tags.GPSLatitudeRef] = "S"
    gps[gps_tags.GPSLatitude] = (33.0, 51.0, 24.48)  # 33.8568
    gps[gps_tags.GPSLongitudeRef] = "E"
    gps[gps_tags.GPSLongitude] = (151.0, 12.0, 54.0)  # 151.215
    return exif


def _tiff_directory(exif: Image.Exif) -> TiffImagePlugin.ImageFileDirectory_v2:
    """The EXIF as a TIFF directory: Pillow's TIFF writer drops an Exif object's sub-IFDs."""
    directory = TiffImagePlugin.ImageFileDirectory_v2()
    for tag, value in exif.items():
        if tag not in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            directory[tag] = value
    for tag in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
        if sub := dict(exif.get_ifd(tag)):
            directory[tag] = sub
    return directory


def write_image(
    path: Path,
    seed: int,
    fmt: str = "JPEG",
    size: tuple[int, int] = SMALL,
    exif: Image.Exif | None = None,
) -> Path:
    """Write a landscape in Pillow format ``fmt`` (HEIF through pillow-heif), optionally tagged."""
    pillow_heif.register_heif_opener()
    path.parent.mkdir(parents=True, exist_ok=True)
    image = synthetic.landscape(seed, size)
    if exif is None:
        image.save(path, format=fmt)
    elif fmt == "TIFF":
        image.save(path, format=fmt, tiffinfo=_tiff_directory(exif))
    else:
        image.save(path, format=fmt, exif=exif)
    return path


def write_jpeg(
    path: Path, seed: int, size: tuple[int, int] = SMALL, exif: Image.Exif | None = None
) -> Path:
    """Write a landscape as a quality-90 JPEG."""
    return write_image(path, seed, "JPEG", size, exif)


def write_flat_image(path: Path, colour: tuple[int, int, int] = (90, 140, 200)) -> Path:
    """Write a single-colour PNG: nothing for a perceptual hash to hold on to."""
    Image.new("RGB", SMALL, colour).save(path, format="PNG")
    return path


def write_truncated_jpeg(path: Path, seed: int = 1, keep: float = 0.5) -> Path:
    """Write a JPEG cut off after ``keep`` of its bytes: the header parses, the pixels don't."""
    data = synthetic.encode(synthetic.landscape(seed, SMALL))
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_random_bytes(path: Path, size: int = 4096, seed: int = 0) -> Path:
    """Write reproducible random bytes (no image format's signature)."""
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_bomb_header(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """Write a tiny PNG whose header declares ``width`` x ``height`` RGB pixels.

    The pixel data is a few compressed bytes; only a decoder that trusts the header and
    allocates ``width * height * 3`` bytes gets hurt.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )
    return path
