"""Streaming hash-list parsers: CSV and ICSE export, bad rows, bad files, bounded memory."""

from __future__ import annotations

import base64
import hashlib
import io
import tracemalloc
from pathlib import Path

import pytest

from sightline.domain.models import HashListEntryData
from sightline.errors import InvalidInputError
from sightline.services.exchange.formats import (
    FORMATS,
    ICSE_HEADER,
    MAX_LINE_BYTES,
    ParsedRow,
    ParseError,
    detect_format,
    parse,
)

BOM = b"\xef\xbb\xbf"
PDQ = "F0" * 32
PHOTODNA = base64.b64encode(bytes(range(144))).decode()


def _md5(n: int) -> str:
    return hashlib.md5(f"benign-{n}".encode()).hexdigest()


def _sha1(n: int) -> str:
    return hashlib.sha1(f"benign-{n}".encode()).hexdigest()


def _sha256(n: int) -> str:
    return hashlib.sha256(f"benign-{n}".encode()).hexdigest()


def _parse(data: bytes, fmt: str | None = None) -> list[ParsedRow]:
    return list(parse(io.BytesIO(data), fmt or detect_format(data[:4096])))


def _errors(rows: list[ParsedRow]) -> dict[int, str]:
    return {r.line: r.message for r in rows if isinstance(r, ParseError)}


def _entries(rows: list[ParsedRow]) -> list[HashListEntryData]:
    return [r for r in rows if isinstance(r, HashListEntryData)]


def test_csv_with_every_column_bom_crlf_and_upper_case_digests() -> None:
    header = (
        "MD5,SHA1,SHA256,PDQ,Quality,PhotoDNA,Image_ID,Series,Victim_Identified,"
        "Offender_Identified,Is_Distributed,Baseline,Media_Type,Submissions,Comment"
    )
    full = (
        f"{_md5(1).upper()},{_sha1(1).upper()},{_sha256(1).upper()},{PDQ},87,{PHOTODNA},"
        'IMG-1,"Series, one",TRUE,no,Y,0,image,12,ignored'
    )
    sparse = f"{_md5(2)},,,,,,,,,,,,,,"
    data = BOM + "\r\n".join([header, full, sparse]).encode() + b"\r\n"
    assert detect_format(data) == "csv"
    assert _parse(data) == [
        HashListEntryData(
            md5=_md5(1),
            sha1=_sha1(1),
            sha256=_sha256(1),
            pdq=PDQ.lower(),
            pdq_quality=87,
            photodna=PHOTODNA,
            external_id="IMG-1",
            series="Series, one",
            victim_identified=True,
            offender_identified=False,
            is_distributed=True,
            baseline=False,
            media_type="image",
            submissions=12,
        ),
        HashListEntryData(md5=_md5(2)),
    ]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_csv_delimiter_is_detected_from_the_header(delimiter: str) -> None:
    lines = [
        delimiter.join(["id", "md5", "pdq", "pdq_quality"]),
        delimiter.join(["a", _md5(1), "", ""]),
        delimiter.join(["b", "", PDQ, "90"]),
    ]
    rows = _parse("\n".join(lines).encode(), "csv")  # no trailing newline
    assert rows == [
        HashListEntryData(md5=_md5(1), external_id="a"),
        HashListEntryData(pdq=PDQ.lower(), pdq_quality=90, external_id="b"),
    ]


def test_icse_export_with_bom_quoted_series_and_booleans() -> None:
    rows = [
        ICSE_HEADER,
        f'{_md5(1).upper()};{_sha1(1).upper()};{PHOTODNA};17;true;false;;"Beach; summer";3;'
        "true;Image;false",
        "",
        f"{_md5(2).upper()};;;18;;;;;;;;",
    ]
    data = BOM + "\r\n".join(rows).encode() + b"\r\n"
    assert detect_format(data) == "icse"
    assert _parse(data) == [
        HashListEntryData(
            md5=_md5(1),
            sha1=_sha1(1),
            photodna=PHOTODNA,
            external_id="17",
            is_distributed=True,
            victim_identified=False,
            offender_identified=None,
            series="Beach; summer",
            submissions=3,
            media_type="Image",
            baseline=False,
        ),
        HashListEntryData(md5=_md5(2), external_id="18"),
    ]


def test_icse_header_is_matched_case_insensitively_with_spaces() -> None:
    header = ";".join(f" {name.upper()} " for name in ICSE_HEADER.split(";"))
    data = f"{header}\n{_md5(1)};;;;;;;;;;;\n".encode()
    assert detect_format(data) == "icse"
    assert _parse(data) == [HashListEntryData(md5=_md5(1))]


def test_malformed_csv_rows_are_reported_and_the_rest_parses() -> None:
    good = [f"{_md5(n)},,,g{n}" for n in range(6)]
    lines = [
        b"md5,photodna,victim_identified,id",
        good[0].encode(),
        b"ZZ" + _md5(9)[2:].encode() + b",,,x",  # line 3: not hex
        _md5(9)[:31].encode() + b",,,x",  # line 4: too short
        good[1].encode(),
        f"{_md5(9)},,maybe,x".encode(),  # line 6: bad boolean
        f"{_md5(9)},{PHOTODNA[:-4]},,x".encode(),  # line 7: PhotoDNA too short
        f"{_md5(9)},{'!' * 192},,x".encode(),  # line 8: PhotoDNA not base64
        good[2].encode(),
        f"{_md5(9)},,,x,extra".encode(),  # line 10: too many fields
        b"a" * (100 * 1024),  # line 11: 100 KiB
        good[3].encode(),
        f"{_md5(9)},,,caf".encode() + b"\xe9\xff",  # line 13: invalid UTF-8
        b",,true,no-hash",  # line 14: no hash
        f'{_md5(9)},,,"open'.encode(),  # line 15: unterminated quote
        good[4].encode(),
        b"",
        good[5].encode(),
    ]
    rows = _parse(b"\n".join(lines), "csv")
    errors = _errors(rows)
    assert sorted(errors) == [3, 4, 6, 7, 8, 10, 11, 13, 14, 15]
    assert errors[3].startswith("md5: must be 32 hexadecimal characters")
    assert "found 31 characters" in errors[4]
    assert "'maybe'" in errors[6]
    assert errors[7].startswith("photodna: must be base64 of 144 bytes")
    assert "not base64" in errors[8]
    assert "expected 4 fields" in errors[10]
    assert "longer than" in errors[11]
    assert "UTF-8" in errors[13]
    assert "no hash" in errors[14]
    assert [e.external_id for e in _entries(rows)] == [f"g{n}" for n in range(6)]
    # A digest from the file is never repeated in a message.
    assert not any(_md5(9)[2:] in message for message in errors.values())


def test_value_checks_in_csv_rows() -> None:
    lines = [
        "sha256,pdq,quality,submissions,series",
        f"{_sha256(1)},{PDQ},101,,",  # quality out of range
        f"{_sha256(1)},{PDQ[:-1]},,,",  # PDQ too short
        f"{_sha256(1)},,,-3,",  # negative submissions
        f"{_sha256(1)},,,{'9' * 5000},",  # absurd number, quoted only in part
        f"{_sha256(1)},,,,{'s' * 301}",  # longer than the database column
        f"{_sha256(1)},,50,,",  # quality without PDQ is dropped
    ]
    rows = _parse("\n".join(lines).encode(), "csv")
    errors = _errors(rows)
    assert sorted(errors) == [2, 3, 4, 5, 6]
    assert errors[2].startswith("quality: expected a whole number from 0 to 100")
    assert errors[3].startswith("pdq: must be 64 hexadecimal characters")
    assert errors[4].startswith("submissions:")
    assert len(errors[5]) < 120
    assert errors[6] == "series: at most 300 characters, found 301"
    assert _entries(rows) == [HashListEntryData(sha256=_sha256(1))]


def test_malformed_icse_rows() -> None:
    lines = [
        ICSE_HEADER,
        f"{_md5(1)};;;1;true;;;;;;;",
        f"{_md5(2)};;;2;true;;;;;;",  # 11 fields
        f"{_md5(3)};;;3;true;;;;;;;;",  # 13 fields
        f"{_md5(4)};;;4;perhaps;;;;;;;",
        f"{_md5(5)};;;5;;;;;lots;;;",
    ]
    rows = _parse("\n".join(lines).encode(), "icse")
    errors = _errors(rows)
    assert sorted(errors) == [3, 4, 5, 6]
    assert "expected 12 fields" in errors[3]
    assert "found 13" in errors[4]
    assert errors[5].startswith("Is distributed: expected true/false")
    assert errors[6].startswith("Number of submissions:")
    assert _entries(rows) == [HashListEntryData(md5=_md5(1), external_id="1", is_distributed=True)]


def test_a_long_line_is_skipped_without_losing_the_next() -> None:
    long_line = b"x" * (3 * MAX_LINE_BYTES + 7)
    data = b"md5\n" + long_line + b"\n" + _md5(1).encode() + b"\n" + long_line
    rows = _parse(data, "csv")
    assert rows == [
        ParseError(2, "line is longer than 64 KiB; skipped"),
        HashListEntryData(md5=_md5(1)),
        ParseError(4, "line is longer than 64 KiB; skipped"),
    ]


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        (b"", "csv", "empty"),
        (b"\r\n\n  \n", "csv", "empty"),
        (BOM, "icse", "empty"),
        (f"{_md5(1)},a\n{_md5(2)},b\n".encode(), "csv", "header naming at least one hash"),
        (b"name,comment\nx,y\n", "csv", "accepted columns: md5, sha1"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "csv", "cannot be read"),
        (b"md5;sha1\n", "icse", "header must be exactly 'MD5;SHA1;PhotoDNA"),
        (b"md5,MD5\n", "csv", "both give md5"),
        (b"md5\n", "vics", "valid: csv, icse"),
    ],
)
def test_bad_files_raise_invalid_input(data: bytes, fmt: str, expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        parse(io.BytesIO(data), fmt)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"", "empty"),
        (BOM + b"\n\r\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not text"),
        (b"PK\x03\x04\x14\x00\x00\x00", "not text"),
        (bytes(range(256)), "not text"),
        ("md5\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_detect_format_refuses_empty_and_binary_input(head: bytes, expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        detect_format(head)


def test_detect_format() -> None:
    assert FORMATS == ("csv", "icse")
    assert detect_format(ICSE_HEADER.encode() + b"\r\nrow") == "icse"
    assert detect_format(BOM + ICSE_HEADER.lower().encode()) == "icse"
    assert detect_format(b"\r\n\n" + ICSE_HEADER.encode()) == "icse"
    assert detect_format(b"md5,sha1\n") == "csv"
    assert detect_format(b"MD5;SHA1;PhotoDNA\n") == "csv"
    # A head cut inside a multi-byte character is still text.
    assert detect_format("md5,series\nx,caf\u00e9".encode()[:-1]) == "csv"
    assert detect_format("md5,séries".encode()[:-1]) == "csv"


def test_two_hundred_thousand_rows_parse_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    row = f"{_md5(0).upper()},true\n".encode()
    with path.open("wb") as out:
        out.write(b"md5,victim_identified\n")
        for _ in range(200):
            out.writelines([row] * 1000)
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            count = sum(isinstance(r, HashListEntryData) for r in parse(stream, "csv"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 2 * 1024 * 1024, peak
