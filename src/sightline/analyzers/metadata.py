"""Container and EXIF metadata: the camera, the time and the place a picture was taken.

Make, model and body serial number link pictures taken with one camera across cases; the
original date-time and GPS position are leads for locating a victim. Everything is read from
the header (``MediaInput.image_header()``): no pixel is decoded, so the analyzer is cheap and
works on files whose pixel data is truncated.

EXIF is untrusted input written by countless cameras, phones and editors, many of them
buggy. A malformed tag never fails the analysis; the affected field is just ``None``. The
trade-off is silence: a corrupt EXIF block is indistinguishable from an absent one in the
output.

Videos and audio files are read with PyAV from the container header and the streams'
parameters (FFmpeg probes a few packets to fill them in; no frame is decoded). Their
identifying fields carry the names images use, so clues treat a phone's photos and videos
alike:

- Apple (QuickTime ``mdta`` keys): ``com.apple.quicktime.make``, ``.model``, ``.software``,
  ``.creationdate`` (local time with its UTC offset), ``.location.ISO6709``;
- Android (MediaRecorder): ``com.android.manufacturer``, ``com.android.model``, and the
  ``location`` tag (ISO 6709);
- generic tags: ``make``, ``model``, ``software``/``encoder``, ``creation_time`` (UTC),
  ``date``.

Container tags are untrusted too: a malformed value is ``None`` (placeholder dates such as
1904-01-01 and 1970-01-01 included).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, ClassVar

import av
import av.error
from PIL import ExifTags, Image, ImageFile

from sightline.analyzers.base import Analyzer, MediaInput
from sightline.domain.signals import MediaKind
from sightline.errors import TruncatedMedia

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


# Earlier years are container defaults (QuickTime's epoch is 1904, Unix's 1970), not dates.
_FIRST_YEAR = 1971
# ISO 6709 point: latitude, longitude, optional altitude, optional CRS, ending "/".
# Degrees, degrees+minutes or degrees+minutes+seconds, each with an optional fraction.
_ISO6709 = re.compile(
    r"^(?P<lat>[+-]\d{2}(?:\d{2}(?:\d{2})?)?(?:\.\d+)?)"
    r"(?P<lon>[+-]\d{3}(?:\d{2}(?:\d{2})?)?(?:\.\d+)?)"
    r"(?P<alt>[+-]\d+(?:\.\d+)?)?(?:CRS[A-Za-z0-9_:]+)?/?$"
)
# A sane frame rate: anything else is a header's nonsense, reported as unknown.
_MAX_FPS = 10_000

_MAKE = ("com.apple.quicktime.make", "com.android.manufacturer", "make", "manufacturer")
_MODEL = ("com.apple.quicktime.model", "com.android.model", "model")
_SOFTWARE = ("com.apple.quicktime.software", "software", "encoder")
_LOCAL_TIME = ("com.apple.quicktime.creationdate",)
_TIME = ("creation_time", "date_recorded", "date")
_LOCATION = ("com.apple.quicktime.location.iso6709", "location", "location-eng")


def iso6709(text: str | None) -> tuple[float, float] | None:
    """Latitude and longitude (decimal degrees) of an ISO 6709 point, or ``None``.

    Accepts the forms phones write (``+48.8577+002.2950+035.000/``) and the sexagesimal ones
    (``+4851.46+00217.70/``, ``+485127.5+0021742.0/``); out-of-range values are refused.
    """
    match = _ISO6709.match(text.strip()) if text else None
    if match is None:
        return None
    latitude = _sexagesimal(match["lat"], 2)
    longitude = _sexagesimal(match["lon"], 3)
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return round(latitude, GPS_DECIMALS) + 0.0, round(longitude, GPS_DECIMALS) + 0.0


def _sexagesimal(value: str, degree_digits: int) -> float:
    """``+DD[MM[SS]][.f]`` (``degree_digits`` digits of degrees) as signed decimal degrees."""
    sign = -1.0 if value[0] == "-" else 1.0
    whole, _, fraction = value[1:].partition(".")
    parts = [whole[:degree_digits], whole[degree_digits : degree_digits + 2]]
    parts.append(whole[degree_digits + 2 :])
    numbers = [float(p) for p in parts if p]
    if fraction:
        numbers[-1] += float("0." + fraction)
    if any(n >= 60 for n in numbers[1:]):
        return float("inf")  # minutes or seconds out of range: refused by the caller
    return sign * sum(n / 60.0**i for i, n in enumerate(numbers))


def tag_datetime(text: str | None, *, local: bool) -> str | None:
    """An ISO 8601 date-time from a container tag, or ``None`` for placeholders and junk.

    ``local`` tags (Apple's creation date) keep the writer's UTC offset; UTC tags
    (``creation_time``) are written with ``+00:00``.
    """
    if not text:
        return None
    candidate = text.strip().replace(" ", "T", 1)
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if moment.year < _FIRST_YEAR:
        return None
    if moment.tzinfo is None and not local:
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0).isoformat()


def _tags(container: Any) -> dict[str, str]:
    """The container's tags, then its streams' (container first), keys lowercased."""
    found: dict[str, str] = {}
    sources: list[Mapping[str, Any]] = [container.metadata]
    sources += [stream.metadata for stream in container.streams]
    for source in sources:
        for key, value in source.items():
            if isinstance(key, str) and isinstance(value, str):
                found.setdefault(key.lower(), value)
    return found


def _first(tags: Mapping[str, str], keys: Iterable[str]) -> str | None:
    for key in keys:
        text = _clean_text(tags.get(key))
        if text:
            return text
    return None


def _device_fields(tags: Mapping[str, str]) -> dict[str, Any]:
    """Make, model, software, time and place under the names image metadata uses."""
    when = tag_datetime(_first(tags, _LOCAL_TIME), local=True)
    if when is None:
        when = next(
            (w for k in _TIME if (w := tag_datetime(tags.get(k), local=False)) is not None),
            None,
        )
    place = next((p for k in _LOCATION if (p := iso6709(tags.get(k))) is not None), None)
    return {
        "make": _first(tags, _MAKE),
        "model": _first(tags, _MODEL),
        "body_serial_number": None,
        "software": _first(tags, _SOFTWARE),
        "datetime_original": when,
        "gps_latitude": place[0] if place else None,
        "gps_longitude": place[1] if place else None,
    }


def _stream_fields(container: Any) -> dict[str, Any]:
    """Duration, codecs, picture size, frame rate and sound of the first streams.

    The display rotation is not here: PyAV exposes it on decoded frames only (``vpdq``
    reports it).
    """
    video = next(iter(container.streams.video), None)
    audio = next(iter(container.streams.audio), None)
    duration = container.duration
    fields: dict[str, Any] = {
        "duration_ms": duration // 1000 if isinstance(duration, int) and duration > 0 else None,
        "video_codec": None,
        "width": None,
        "height": None,
        "frame_rate": None,
        "audio_codec": None,
        "sample_rate": None,
        "channels": None,
    }
    if video is not None:
        context = video.codec_context
        rate = video.average_rate or video.guessed_rate
        fps = float(Fraction(rate)) if rate else 0.0
        fields.update(
            video_codec=_clean_text(context.name),
            width=int(context.width) or None,
            height=int(context.height) or None,
            frame_rate=round(fps, 3) if 0 < fps <= _MAX_FPS else None,
        )
    if audio is not None:
        context = audio.codec_context
        fields.update(
            audio_codec=_clean_text(context.name),
            sample_rate=int(context.sample_rate) or None,
            channels=int(context.channels) or None,
        )
    return fields


def _recording_metadata(path: str, mime_type: str | None) -> dict[str, Any]:
    """Format, streams and identifying tags of a video or audio file, from its header.

    Raises:
        av.error.FFmpegError: FFmpeg cannot open the container (the caller decides why).
    """
    with av.open(path) as container:
        return {
            "format": _clean_text(container.format.name),
            "mime_type": mime_type,
            **_stream_fields(container),
            **_device_fields(_tags(container)),
        }


class MetadataAnalyzer(Analyzer):
    """Format, dimensions and identifying metadata of an image or a recording, header only.

    Images: JPEG, PNG, GIF, WebP, BMP, TIFF and HEIC (through pillow-heif), with their EXIF
    fields. Videos and audio: whatever FFmpeg opens, with their streams and container tags.
    The output always has the same keys for a media kind; absent fields are ``None``.
    """

    name: ClassVar[str] = "metadata"
    # 2: videos and audio files (container tags, streams) besides images.
    version: ClassVar[str] = "2"
    media_kinds: ClassVar[frozenset[str]] = frozenset(
        {MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO}
    )

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Return format, MIME type, size and the identifying fields.

        Raises:
            UnsupportedMedia: the file is not an image Pillow can read.
            DecompressionBomb: the image declares more pixels than allowed.
            TruncatedMedia: a video or audio container FFmpeg cannot open.
        """
        if media.kind in (MediaKind.VIDEO, MediaKind.AUDIO):
            try:
                return _recording_metadata(str(media.path), media.mime_type)
            except av.error.FFmpegError as exc:
                raise TruncatedMedia("the container is truncated or corrupt") from exc
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
