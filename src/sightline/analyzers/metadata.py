"""Container and EXIF metadata: the camera, the time and the place a picture was taken.

Make, model and body serial number link pictures taken with one camera across cases; the
original date-time and GPS position are leads for locating a victim. Everything is read from
the header (``MediaInput.image_header()``): no pixel is decoded, so the analyzer is cheap and
works on files whose pixel data is truncated.

EXIF is untrusted input written by countless cameras, phones and editors, many of them
buggy. A malformed tag never fails the analysis; the affected field is just ``None``. The
trade-off is silence: a corrupt EXIF block is indistinguishable from an absent one in the
output.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from PIL import ExifTags, Image, ImageFile

from sightline.analyzers.base import Analyzer, MediaInput

# Longest text kept from one EXIF string: real make/model/serial/software values are short,
# and a crafted file must not put megabytes into the database through a "model name".
MAX_TEXT_LENGTH = 256
# Decimal places kept for GPS coordinates: 7 places is ~1 cm, finer than any camera GPS,
# and keeps stored values short and stable.
GPS_DECIMALS = 7
# EXIF date-times are "YYYY:MM:DD HH:MM:SS"; some writers use dashes in the date.
_DATE_FORMATS = ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S")
# OffsetTimeOriginal (EXIF 2.31), for example "+02:00".
_UTC_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")

_Base = ExifTags.Base
_GPS = ExifTags.GPS


def _clean_text(value: Any) -> str | None:
    """An EXIF string without NULs or surrounding whitespace; ``None`` if empty or not text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", " ").strip()[:MAX_TEXT_LENGTH].strip()
    return text or None


def _iso_datetime(value: Any, offset: Any) -> str | None:
    """An EXIF date-time as ISO 8601, with the UTC offset when the file records one."""
    text = _clean_text(value)
    if text is None:
        return None
    for fmt in _DATE_FORMATS:
        try:
            moment = datetime.strptime(text, fmt)  # naive: EXIF stores local time
        except ValueError:
            continue
        iso = moment.isoformat()
        zone = _clean_text(offset)
        return iso + zone if zone and _UTC_OFFSET.match(zone) else iso
    return None  # "0000:00:00 00:00:00" and other placeholders


def _gps_coordinate(value: Any, ref: Any, limit: float, negative: str) -> float | None:
    """Degrees/minutes/seconds rationals and a hemisphere letter as signed decimal degrees."""
    if not isinstance(value, tuple) or not 1 <= len(value) <= 3:
        return None
    try:
        parts = [float(part) for part in value]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = sum(part / 60**index for index, part in enumerate(parts))
    if not math.isfinite(degrees) or min(parts) < 0 or degrees > limit:
        return None  # a zero denominator gives NaN; out-of-range values are corrupt
    hemisphere = _clean_text(ref)
    sign = -1.0 if hemisphere and hemisphere.upper().startswith(negative) else 1.0
    return float(round(sign * degrees, GPS_DECIMALS)) + 0.0  # + 0.0 turns -0.0 into 0.0


def _safe_get(ifd: Mapping[int, Any], tag: int) -> Any:
    """One tag's value, or ``None`` when it is absent or cannot be decoded."""
    try:
        return ifd.get(tag)
    except Exception:  # Pillow decodes lazily, and malformed tags raise many kinds of error
        return None


def _text(ifd: Mapping[int, Any], tag: int) -> str | None:
    return _clean_text(_safe_get(ifd, tag))


def _safe_ifd(exif: Image.Exif, tag: int) -> Mapping[int, Any]:
    """A sub-IFD (Exif, GPS), or an empty mapping when it is absent or unreadable."""
    try:
        return exif.get_ifd(tag)
    except Exception:  # a bad offset or a truncated directory; the other fields still count
        return {}


def _read_exif(header: Image.Image) -> Image.Exif:
    """The header's EXIF directory, without decoding pixels.

    ``Image.Image.getexif`` is called on the base class on purpose: the PNG plugin's override
    decodes the whole image to look for an ``eXIf`` chunk placed after the pixel data. Such
    files are rare (writers put it first) and their EXIF is not read; that is the price of
    never decoding pixels here.
    """
    try:
        return Image.Image.getexif(header)
    except Exception:  # malformed EXIF block: report no EXIF rather than fail the file
        return Image.Exif()


def _exif_fields(header: Image.Image) -> dict[str, Any]:
    """The EXIF fields Sightline keeps, each ``None`` when absent or malformed."""
    exif = _read_exif(header)
    sub = _safe_ifd(exif, ExifTags.IFD.Exif)
    gps = _safe_ifd(exif, ExifTags.IFD.GPSInfo)
    return {
        "make": _text(exif, _Base.Make),
        "model": _text(exif, _Base.Model),
        "body_serial_number": _text(sub, _Base.BodySerialNumber),
        "software": _text(exif, _Base.Software),
        "datetime_original": _iso_datetime(
            _safe_get(sub, _Base.DateTimeOriginal), _safe_get(sub, _Base.OffsetTimeOriginal)
        ),
        "gps_latitude": _gps_coordinate(
            _safe_get(gps, _GPS.GPSLatitude), _safe_get(gps, _GPS.GPSLatitudeRef), 90.0, "S"
        ),
        "gps_longitude": _gps_coordinate(
            _safe_get(gps, _GPS.GPSLongitude), _safe_get(gps, _GPS.GPSLongitudeRef), 180.0, "W"
        ),
    }


def _mime_type(header: Image.Image) -> str | None:
    """The MIME type Pillow (or pillow-heif, which tells HEIC from AVIF) gives the format."""
    if isinstance(header, ImageFile.ImageFile):
        return header.get_format_mimetype()
    return None


class MetadataAnalyzer(Analyzer):
    """Format, dimensions and the identifying EXIF fields of an image, from its header only.

    Reads JPEG, PNG, GIF, WebP, BMP, TIFF and HEIC (through pillow-heif). The output always
    has the same keys; fields a file does not carry are ``None``.
    """

    name: ClassVar[str] = "metadata"
    version: ClassVar[str] = "1"

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Return format, MIME type, width, height and the EXIF fields.

        Raises:
            UnsupportedMedia: the file is not an image Pillow can read.
            DecompressionBomb: the image declares more pixels than allowed.
        """
        header = media.image_header()
        width, height = header.size
        with warnings.catch_warnings():
            # Pillow warns on corrupt EXIF ("Possibly corrupt field", ...); those files are
            # expected here and handled by dropping the field.
            warnings.simplefilter("ignore")
            fields = _exif_fields(header)
        return {
            "format": header.format,
            "mime_type": _mime_type(header),
            "width": width,
            "height": height,
            **fields,
        }
