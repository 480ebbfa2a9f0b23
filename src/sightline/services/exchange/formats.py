"""Streaming parsers for imported hash lists: plain CSV and the ICSE-style export.

A list can be tens of megabytes, so it is read one physical line at a time with a bounded
``readline``: memory stays flat whatever the file size, and a line longer than
``MAX_LINE_BYTES`` is reported and skipped rather than buffered. Each line is decoded on its
own (UTF-8, optional BOM on the first line) and split with the ``csv`` module, so one bad line
(invalid UTF-8, a stray quote, a bad digest) becomes a ``ParseError`` carrying its line number
while the rows around it still import. The trade-off of splitting line by line is that a
quoted field cannot span lines; hash lists do not use them, and such a line is reported.

Problems with the file as a whole (empty, binary, wrong or missing header, unknown format)
raise ``InvalidInputError`` when ``parse`` is called, before any row is produced.

Error messages never repeat a digest from the file (a hash of case material is itself
sensitive) and quote at most ``_PREVIEW_CHARS`` characters of any other value.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from sightline.domain.models import HashListEntryData
from sightline.errors import InvalidInputError
from sightline.features.hashes import DIGEST_LENGTHS, PdqHash, normalize_digest

FORMATS: tuple[str, ...] = ("csv", "icse")
# Longest accepted line, terminator included. Real rows are a few hundred bytes; the cap keeps
# a newline-free or hostile file from being buffered whole.
MAX_LINE_BYTES = 64 * 1024
# PhotoDNA is proprietary and kept opaque: 144 bytes, exchanged as 192 base64 characters.
PHOTODNA_BYTES = 144
ICSE_COLUMNS: tuple[str, ...] = (
    "MD5",
    "SHA1",
    "PhotoDNA",
    "Image ID",
    "Is distributed",
    "Victim identified",
    "Offender identified",
    "Series name",
    "Number of submissions",
    "File Available",
    "Media Type",
    "Baseline",
)
ICSE_HEADER = ";".join(ICSE_COLUMNS)
# The HashListEntryData field each ICSE column fills; None: read and ignored.
_ICSE_FIELDS: tuple[str | None, ...] = (
    "md5",
    "sha1",
    "photodna",
    "external_id",
    "is_distributed",
    "victim_identified",
    "offender_identified",
    "series",
    "submissions",
    None,
    "media_type",
    "baseline",
)
_HASH_FIELDS = ("md5", "sha1", "sha256", "pdq", "photodna")
_BOOL_FIELDS = ("victim_identified", "offender_identified", "is_distributed", "baseline")
# CSV column name (lower case, spaces and hyphens as underscores) -> field.
_CSV_ALIASES: dict[str, str] = {
    **{name: name for name in _HASH_FIELDS + _BOOL_FIELDS},
    "pdq_quality": "pdq_quality",
    "quality": "pdq_quality",
    "id": "external_id",
    "image_id": "external_id",
    "external_id": "external_id",
    "series": "series",
    "series_name": "series",
    "media_type": "media_type",
    "submissions": "submissions",
    "number_of_submissions": "submissions",
}
_DELIMITERS = (",", ";", "\t")
# Column widths of the hash_list_entries table: longer text is refused here, not by the database.
_TEXT_LIMITS = {"external_id": 200, "series": 300, "media_type": 50}
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})
_MAX_SUBMISSIONS = 2**31 - 1  # a 32-bit INTEGER column
_PREVIEW_CHARS = 40
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True, slots=True)
class ParseError:
    """A row that could not be read: its 1-based line number and what is wrong with it."""

    line: int
    message: str


ParsedRow = HashListEntryData | ParseError


class _RowError(Exception):
    """A bad value in one row; ``field`` names the column, if the problem is in one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


_NOT_TEXT = (
    "the hash list is not text; expected a UTF-8 CSV file or an ICSE export "
    f"(header {ICSE_HEADER!r})"
)


def detect_format(head: bytes) -> str:
    """Name the format of a hash list from its first bytes (a few KiB are plenty).

    Returns:
        ``"icse"`` when the first line is the ICSE header, otherwise ``"csv"`` (whose header
        ``parse`` checks).

    Raises:
        InvalidInputError: if the input is empty, UTF-16, or binary rather than text.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InvalidInputError("the hash list is UTF-16 text; save it as UTF-8")
    head = head.removeprefix(_BOM)
    if not head.strip():
        raise InvalidInputError("the hash list is empty")
    first, newline, _ = head.lstrip().partition(b"\n")
    try:
        # Without a newline the head may end inside a multi-byte character: decode leniently.
        text = codecs.getincrementaldecoder("utf-8")().decode(first, final=bool(newline))
    except UnicodeDecodeError:
        raise InvalidInputError(_NOT_TEXT) from None
    text = text.rstrip("\r")
    if any(ord(char) < 32 and char != "\t" for char in text):
        raise InvalidInputError(_NOT_TEXT)
    return "icse" if _is_icse_header(text) else "csv"


def parse(stream: BinaryIO, fmt: str) -> Iterator[ParsedRow]:
    """Read the header of ``stream`` now and return an iterator over its rows.

    Every data row yields either a ``HashListEntryData`` or a ``ParseError`` with its line
    number; blank lines are skipped. The stream is read lazily, one line at a time.

    Raises:
        InvalidInputError: if ``fmt`` is not in ``FORMATS``, or the file is empty, binary or
            its header is missing or wrong.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown hash-list format {fmt!r}; valid: {', '.join(FORMATS)}")
    lines = _lines(stream)
    header = next(lines, None)
    if header is None:
        raise InvalidInputError("the hash list is empty")
    text = header[1]
    if isinstance(text, ParseError):
        raise InvalidInputError(f"the header line cannot be read: {text.message}")
    if fmt == "icse":
        return _rows(lines, ";", *_icse_columns(text))
    delimiter = max(_DELIMITERS, key=text.count)
    return _rows(lines, delimiter, *_csv_columns(text, delimiter))


def _lines(stream: BinaryIO) -> Iterator[tuple[int, str | ParseError]]:
    """Non-blank physical lines, decoded, with their 1-based numbers."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            if not raw.endswith(b"\n"):
                _skip_rest_of_line(stream)
            limit = MAX_LINE_BYTES // 1024
            yield number, ParseError(number, f"line is longer than {limit} KiB; skipped")
            continue
        if number == 1:
            raw = raw.removeprefix(_BOM)
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield number, ParseError(number, f"line is not valid UTF-8 (byte {exc.start + 1})")
            continue
        if "\x00" in text:
            yield number, ParseError(number, "line contains a NUL character")
        elif text.strip():
            yield number, text


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while (chunk := stream.readline(MAX_LINE_BYTES)) and not chunk.endswith(b"\n"):
        pass


def _split(text: str, delimiter: str) -> list[str]:
    """Fields of one line; raises ``csv.Error`` on a quote left open or misplaced."""
    return next(csv.reader((text,), delimiter=delimiter, strict=True))


def _is_icse_header(text: str) -> bool:
    try:
        names = _split(text, ";")
    except csv.Error:
        return False
    return [name.strip().lower() for name in names] == [c.lower() for c in ICSE_COLUMNS]


def _icse_columns(header: str) -> tuple[list[str | None], dict[str, str]]:
    if not _is_icse_header(header):
        raise InvalidInputError(
            f"not an ICSE export: the header must be exactly {ICSE_HEADER!r} "
            f"(found {_preview(header)})"
        )
    labels = {f: c for f, c in zip(_ICSE_FIELDS, ICSE_COLUMNS, strict=True) if f is not None}
    return list(_ICSE_FIELDS), labels


def _csv_columns(header: str, delimiter: str) -> tuple[list[str | None], dict[str, str]]:
    """The field each column fills (None: ignored) and each field's label in the file."""
    try:
        names = [name.strip() for name in _split(header, delimiter)]
    except csv.Error as exc:
        raise InvalidInputError(f"the CSV header cannot be read: {exc}") from None
    columns: list[str | None] = []
    labels: dict[str, str] = {}
    for name in names:
        field = _CSV_ALIASES.get(name.lower().replace(" ", "_").replace("-", "_"))
        if field is not None and field in labels:
            raise InvalidInputError(
                f"columns {labels[field]!r} and {_preview(name)} both give {field}; keep one"
            )
        if field is not None:
            labels[field] = name[:_PREVIEW_CHARS]
        columns.append(field)
    if not any(field in labels for field in _HASH_FIELDS):
        raise InvalidInputError(
            "the first line must be a header naming at least one hash column "
            f"({', '.join(_HASH_FIELDS)}); accepted columns: {', '.join(_CSV_ALIASES)} "
            f"(found {_preview(header)})"
        )
    return columns, labels


def _rows(
    lines: Iterator[tuple[int, str | ParseError]],
    delimiter: str,
    columns: Sequence[str | None],
    labels: Mapping[str, str],
) -> Iterator[ParsedRow]:
    feed = _Feed()
    # One reader for the whole file, fed a line at a time: a quote left open ends at the end
    # of its line (csv.Error) instead of swallowing the lines after it.
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    used = [(index, field) for index, field in enumerate(columns) if field is not None]
    for number, text in lines:
        if isinstance(text, ParseError):
            yield text
            continue
        feed.line = text
        try:
            fields = next(reader)
        except csv.Error as exc:
            yield ParseError(number, f"malformed quoting: {exc}")
            continue
        if len(fields) != len(columns):
            yield ParseError(
                number, f"expected {len(columns)} fields as in the header, found {len(fields)}"
            )
            continue
        values: dict[str, str] = {}
        for index, field in used:
            if value := fields[index].strip():
                values[field] = value
        try:
            yield _entry(values)
        except _RowError as exc:
            label = f"{labels.get(exc.field, exc.field)}: " if exc.field else ""
            yield ParseError(number, label + exc.message)


class _Feed:
    """An iterator that hands the csv reader the one line put in it, then stops."""

    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line: str | None = None

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        line, self.line = self.line, None
        if line is None:
            raise StopIteration
        return line


def _entry(values: dict[str, str]) -> HashListEntryData:
    """Validate the non-empty values of one row and build its entry."""
    if values.keys().isdisjoint(_HASH_FIELDS):
        raise _RowError(f"no hash; a row needs at least one of {', '.join(_HASH_FIELDS)}")
    if "pdq" not in values:
        values.pop("pdq_quality", None)  # a quality means nothing without its hash
    # Only the columns present are converted: most rows fill a few of the fourteen fields.
    # Each converter is typed for its field; the keys are HashListEntryData field names.
    fields: dict[str, Any] = {f: _CONVERTERS[f](f, value) for f, value in values.items()}
    return HashListEntryData(**fields)


def _digest(kind: str, value: str) -> str:
    try:
        return normalize_digest(kind, value)
    except InvalidInputError:
        raise _RowError(_hex_problem(DIGEST_LENGTHS[kind], value), kind) from None


def _pdq(field: str, value: str) -> str:
    try:
        return PdqHash(value, 0).hex  # the quality is checked on its own
    except InvalidInputError:
        raise _RowError(_hex_problem(64, value), field) from None


def _hex_problem(expected: int, value: str) -> str:
    """Say what is wrong with a hex digest without repeating it."""
    if len(value) != expected:
        return f"must be {expected} hexadecimal characters, found {len(value)} characters"
    return f"must be {expected} hexadecimal characters (0-9, a-f), found other characters"


def _photodna(field: str, value: str) -> str:
    try:
        size = len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        size = -1
    if size != PHOTODNA_BYTES:
        raise _RowError(
            f"must be base64 of {PHOTODNA_BYTES} bytes ({PHOTODNA_BYTES * 4 // 3} characters), "
            f"found {len(value)} characters" + ("" if size >= 0 else " that are not base64"),
            field,
        )
    return value


def _boolean(field: str, value: str) -> bool:
    folded = value.lower()
    if folded in _TRUE or folded in _FALSE:
        return folded in _TRUE
    raise _RowError(f"expected true/false, yes/no, y/n or 1/0, found {_preview(value)}", field)


def _quality(field: str, value: str) -> int:
    return _integer(field, value, 100)


def _submissions(field: str, value: str) -> int:
    return _integer(field, value, _MAX_SUBMISSIONS)


def _integer(field: str, value: str, maximum: int) -> int:
    # The length check comes first: int() of a huge digit string is slow and then refused.
    short = len(value) <= len(str(maximum))
    if short and value.isascii() and value.isdigit() and int(value) <= maximum:
        return int(value)
    raise _RowError(f"expected a whole number from 0 to {maximum}, found {_preview(value)}", field)


def _text(field: str, value: str) -> str:
    limit = _TEXT_LIMITS[field]
    if len(value) > limit:
        raise _RowError(f"at most {limit} characters, found {len(value)}", field)
    return value


_CONVERTERS: dict[str, Callable[[str, str], object]] = {
    **dict.fromkeys(("md5", "sha1", "sha256"), _digest),
    "pdq": _pdq,
    "pdq_quality": _quality,
    "photodna": _photodna,
    **dict.fromkeys(_BOOL_FIELDS, _boolean),
    **dict.fromkeys(_TEXT_LIMITS, _text),
    "submissions": _submissions,
}


def _preview(value: str) -> str:
    """Quote a value for a message, cut to ``_PREVIEW_CHARS`` characters."""
    if len(value) > _PREVIEW_CHARS:
        return repr(value[:_PREVIEW_CHARS]) + "..."
    return repr(value)
