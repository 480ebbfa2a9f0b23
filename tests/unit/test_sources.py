"""Source enumeration and materialisation: folders, zips, hostile archives, cleanup."""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sightline.config import IngestSettings
from sightline.errors import (
    ArchiveBomb,
    CorruptArchive,
    FileTooLarge,
    InvalidInputError,
    NestedArchive,
    SymlinkRefused,
    UnreadableSource,
    UnsafeArchivePath,
)
from sightline.services.ingest.sources import (
    ArchiveCache,
    SourceFailure,
    SourceItem,
    SourceLimits,
    entry_locator,
    enumerate_sources,
    file_locator,
    materialize,
    parse_locator,
)

LIMITS = SourceLimits(max_file_bytes=1 << 20, zip_max_ratio=200, zip_max_total_bytes=8 << 20)
CENTRAL = b"PK\x01\x02"
LOCAL = b"PK\x03\x04"


def _zip_bytes(
    entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are written on purpose
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _run(*paths: Path, limits: SourceLimits = LIMITS) -> list[SourceItem | SourceFailure]:
    return list(enumerate_sources(list(paths), limits))


def _items(results: list[SourceItem | SourceFailure]) -> list[SourceItem]:
    return [result for result in results if isinstance(result, SourceItem)]


def _failures(results: list[SourceItem | SourceFailure]) -> dict[str, str]:
    return {r.locator: r.reason for r in results if isinstance(r, SourceFailure)}


def _tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def _patch_u32(data: bytearray, signature: bytes, field_offset: int, value: int) -> None:
    start = data.index(signature)
    struct.pack_into("<I", data, start + field_offset, value)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


def test_limits_from_settings() -> None:
    settings = IngestSettings(max_file_bytes=10, zip_max_ratio=5, zip_max_total_bytes=20)
    assert SourceLimits.from_settings(settings) == SourceLimits(10, 5.0, 20)


def test_folder_is_walked_recursively_in_sorted_order(tmp_path: Path) -> None:
    for name in ["c.txt", "a/z.txt", "b.txt", "a/b/c.txt", "a/b/a.txt"]:
        _write(tmp_path / "in" / name, name.encode())
    results = _run(tmp_path / "in")
    expected = ["a/b/a.txt", "a/b/c.txt", "a/z.txt", "b.txt", "c.txt"]
    assert [r.locator for r in results] == [str(tmp_path / "in" / n) for n in expected]
    first = _items(results)[0]
    assert first.original_path == first.locator
    assert first.size == len(b"a/b/a.txt")
    assert first.modified_at is not None
    assert first.modified_at.tzinfo == UTC


def test_zip_is_expanded_directories_skipped_nested_zip_kept(tmp_path: Path, scratch: Path) -> None:
    inner = _zip_bytes([("deep.txt", b"deep")])
    archive = _write(
        tmp_path / "seized.ZIP",
        _zip_bytes([("dir/", b""), ("dir/x.jpg", b"jpeg"), ("in.zip", inner)]),
    )
    items = _items(_run(archive))
    assert [i.locator for i in items] == [f"{archive}!dir/x.jpg", f"{archive}!in.zip"]
    assert [i.original_path for i in items] == [f"{archive}/dir/x.jpg", f"{archive}/in.zip"]
    assert [i.size for i in items] == [4, len(inner)]
    with materialize(items[0].locator, LIMITS, scratch) as path:
        # Extracted to a file with no name: nothing in scratch, even while it is read.
        assert list(scratch.iterdir()) == []
        assert path.read_bytes() == b"jpeg"
    with (
        pytest.raises(NestedArchive, match="not expanded"),
        materialize(items[1].locator, LIMITS, scratch),
    ):
        pass
    assert list(scratch.iterdir()) == []


def test_symlink_entries_empty_archives_and_nested_ones_say_what_they_are(
    tmp_path: Path, scratch: Path
) -> None:
    link = zipfile.ZipInfo("DCIM/link.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(link, "/etc/passwd")
        zf.writestr("DCIM/renamed.dat", _zip_bytes([("x.jpg", b"x")]))
    archive = _write(tmp_path / "phone.zip", buffer.getvalue())
    empty = _write(tmp_path / "empty.zip", _zip_bytes([("only-a-folder/", b"")]))
    results = _run(archive, empty)
    failures = {r.original_path: r.reason for r in results if isinstance(r, SourceFailure)}
    assert failures == {f"{archive}/DCIM/link.jpg": "symlink", str(empty): "empty_archive"}
    [nested] = _items(results)
    with pytest.raises(NestedArchive), materialize(nested.locator, LIMITS, scratch):
        pass  # a zip by content, whatever its name says


def test_zip_detection_by_content(tmp_path: Path) -> None:
    data = _zip_bytes([("x.txt", b"x")])
    renamed = _write(tmp_path / "renamed.dat", data)
    # An image with an archive appended stays an image: zipfile.is_zipfile alone says "zip".
    polyglot = _write(tmp_path / "photo.jpg", b"\xff\xd8\xff\xe0 not really a jpeg" + data)
    assert zipfile.is_zipfile(polyglot)
    results = _run(tmp_path)
    assert [r.locator for r in results] == [str(polyglot), f"{renamed}!x.txt"]


@pytest.mark.parametrize("name", ["../evil", "/abs", "C:\\x", "a/../../b", "..\\evil", "c:x"])
def test_unsafe_entry_names_are_refused(tmp_path: Path, scratch: Path, name: str) -> None:
    archive = _write(tmp_path / "a.zip", _zip_bytes([(name, b"evil"), ("ok.txt", b"ok")]))
    before = _tree(tmp_path)
    results = _run(archive)
    assert _failures(results) == {entry_locator(archive, name): "unsafe_archive_path"}
    assert [i.locator for i in _items(results)] == [entry_locator(archive, "ok.txt")]
    with pytest.raises(UnsafeArchivePath), materialize(results[0].locator, LIMITS, scratch):
        pass
    assert _tree(tmp_path) == before
    assert not (tmp_path.parent / "evil").exists()


def test_zip_bomb_by_ratio(tmp_path: Path, scratch: Path) -> None:
    zeros = b"\0" * (4 << 20)
    archive = _write(tmp_path / "bomb.zip", _zip_bytes([("zeros.bin", zeros)]))
    assert archive.stat().st_size < 64 * 1024
    limits = SourceLimits(max_file_bytes=8 << 20, zip_max_ratio=200, zip_max_total_bytes=8 << 20)
    results = _run(archive, limits=limits)
    assert _failures(results) == {f"{archive}!zeros.bin": "archive_bomb"}
    with pytest.raises(ArchiveBomb), materialize(results[0].locator, limits, scratch):
        pass
    assert list(scratch.iterdir()) == []


def test_small_compressible_entries_are_exempt_from_the_ratio(tmp_path: Path) -> None:
    archive = _write(tmp_path / "a.zip", _zip_bytes([("zeros.bin", b"\0" * 100_000)]))
    assert len(_items(_run(archive))) == 1
    strict = SourceLimits(1 << 20, 200, 8 << 20, ratio_grace_bytes=0)
    assert _failures(_run(archive, limits=strict)) == {f"{archive}!zeros.bin": "archive_bomb"}


def test_total_declared_size_limit_refuses_the_archive(tmp_path: Path, scratch: Path) -> None:
    entries = [(f"{n}.bin", os.urandom(1000)) for n in range(3)]
    archive = _write(tmp_path / "big.zip", _zip_bytes(entries, zipfile.ZIP_STORED))
    limits = SourceLimits(max_file_bytes=1 << 20, zip_max_ratio=200, zip_max_total_bytes=2500)
    [failure] = _run(archive, limits=limits)
    assert isinstance(failure, SourceFailure)
    assert (failure.locator, failure.reason) == (str(archive), "archive_bomb")
    assert "3000 bytes" in failure.detail
    with pytest.raises(ArchiveBomb), materialize(f"{archive}!0.bin", limits, scratch):
        pass


@pytest.mark.parametrize(
    ("method", "real_size"),
    [
        (zipfile.ZIP_DEFLATED, 100_000),
        (zipfile.ZIP_STORED, 100_000),
        (zipfile.ZIP_DEFLATED, 3 << 20),  # caught mid-stream, after the first chunk
    ],
)
def test_header_understating_the_size_is_a_bomb(
    tmp_path: Path, scratch: Path, method: int, real_size: int
) -> None:
    data = bytearray(_zip_bytes([("a.bin", b"A" * real_size)], method))
    # The central directory (what zipfile trusts) and the local header both claim 100 bytes.
    _patch_u32(data, CENTRAL, 24, 100)
    _patch_u32(data, LOCAL, 22, 100)
    archive = _write(tmp_path / "liar.zip", bytes(data))
    [item] = _items(_run(archive))
    assert item.size == 100
    with (
        pytest.raises(ArchiveBomb, match="more than the 100 bytes"),
        materialize(item.locator, LIMITS, scratch) as path,
    ):
        pytest.fail(f"extracted to {path}")
    assert list(scratch.iterdir()) == []


def test_corrupt_entry_data_is_reported(tmp_path: Path, scratch: Path) -> None:
    data = bytearray(_zip_bytes([("a.bin", os.urandom(5000))], zipfile.ZIP_STORED))
    payload = data.index(b"a.bin") + len("a.bin")  # first byte of the stored data
    data[payload + 10] ^= 0xFF
    archive = _write(tmp_path / "a.zip", bytes(data))
    with (
        pytest.raises(CorruptArchive, match="CRC"),
        materialize(f"{archive}!a.bin", LIMITS, scratch),
    ):
        pass
    assert list(scratch.iterdir()) == []


def test_corrupt_zip_is_one_failure_and_the_rest_goes_on(tmp_path: Path) -> None:
    _write(tmp_path / "a.txt", b"a")
    bad = _write(tmp_path / "b.zip", _zip_bytes([("x.txt", b"x" * 100)])[:40])
    _write(tmp_path / "c.txt", b"c")
    results = _run(tmp_path)
    assert [r.locator for r in results] == [str(tmp_path / n) for n in ["a.txt", "b.zip", "c.txt"]]
    assert _failures(results) == {str(bad): "corrupt_archive"}


def test_encrypted_duplicate_and_unsupported_entries(tmp_path: Path) -> None:
    encrypted = bytearray(_zip_bytes([("secret.jpg", b"s")]))
    struct.pack_into("<H", encrypted, encrypted.index(CENTRAL) + 8, 0x1)
    struct.pack_into("<H", encrypted, encrypted.index(LOCAL) + 6, 0x1)
    first = _write(tmp_path / "1.zip", bytes(encrypted))
    second = _write(tmp_path / "2.zip", _zip_bytes([("a.jpg", b"1"), ("a.jpg", b"2")]))
    third = _write(tmp_path / "3.zip", _zip_bytes([("b.jpg", b"b")], zipfile.ZIP_BZIP2))
    assert _failures(_run(tmp_path)) == {
        f"{first}!secret.jpg": "encrypted",
        f"{second}!a.jpg": "corrupt_archive",
        f"{third}!b.jpg": "corrupt_archive",
    }


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlinks_are_refused_not_followed(tmp_path: Path, scratch: Path) -> None:
    outside = _write(tmp_path / "outside" / "secret.txt", b"not evidence")
    _write(tmp_path / "outside" / "other.zip", _zip_bytes([("x.txt", b"x")]))
    seized = tmp_path / "seized"
    _write(seized / "real.txt", b"real")
    (seized / "file-link.txt").symlink_to(outside)
    (seized / "dir-link").symlink_to(outside.parent, target_is_directory=True)
    (seized / "zip-link.zip").symlink_to(tmp_path / "outside" / "other.zip")
    (tmp_path / "root-link").symlink_to(outside.parent, target_is_directory=True)
    results = _run(seized, tmp_path / "root-link")
    assert [i.locator for i in _items(results)] == [str(seized / "real.txt")]
    assert _failures(results) == {
        str(seized / "dir-link"): "symlink",
        str(seized / "file-link.txt"): "symlink",
        str(seized / "zip-link.zip"): "symlink",
        str(tmp_path / "root-link"): "symlink",
    }
    for name in ["file-link.txt", "zip-link.zip!x.txt"]:
        with pytest.raises(SymlinkRefused), materialize(f"{seized}/{name}", LIMITS, scratch):
            pass


def test_missing_path_is_a_failure_and_others_still_come(tmp_path: Path, scratch: Path) -> None:
    present = _write(tmp_path / "here.txt", b"x")
    results = _run(tmp_path / "gone", present)
    assert _failures(results) == {str(tmp_path / "gone"): "unreadable"}
    assert [i.locator for i in _items(results)] == [str(present)]
    with pytest.raises(UnreadableSource), materialize(str(tmp_path / "gone"), LIMITS, scratch):
        pass
    with pytest.raises(UnreadableSource), materialize(f"{tmp_path}/gone.zip!x", LIMITS, scratch):
        pass


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert _failures(_run(tmp_path)) == {str(tmp_path / "pipe"): "unreadable"}


def test_file_too_large(tmp_path: Path, scratch: Path) -> None:
    limits = SourceLimits(max_file_bytes=10, zip_max_ratio=200, zip_max_total_bytes=1 << 20)
    big = _write(tmp_path / "big.bin", b"x" * 11)
    _write(tmp_path / "ok.bin", b"x" * 10)
    archive = _write(tmp_path / "a.zip", _zip_bytes([("big.bin", os.urandom(11))]))
    assert _failures(_run(tmp_path, limits=limits)) == {
        f"{archive}!big.bin": "file_too_large",
        str(big): "file_too_large",
    }
    with pytest.raises(FileTooLarge), materialize(str(big), limits, scratch):
        pass


def test_plain_file_is_materialized_in_place(tmp_path: Path, scratch: Path) -> None:
    path = _write(tmp_path / "a.txt", b"a")
    with materialize(file_locator(path), LIMITS, scratch) as given:
        assert given == path
    assert path.exists()


def test_temp_file_is_deleted_when_the_consumer_raises(tmp_path: Path, scratch: Path) -> None:
    archive = _write(tmp_path / "a.zip", _zip_bytes([("a.txt", b"a")]))
    seen: list[Path] = []

    def analyze() -> None:
        with materialize(f"{archive}!a.txt", LIMITS, scratch) as path:
            seen.append(path)
            assert path.exists()
            raise RuntimeError("analyzer crashed")

    with pytest.raises(RuntimeError, match="analyzer crashed"):
        analyze()
    assert seen
    assert not seen[0].exists()
    assert list(scratch.iterdir()) == []


def test_locators_stay_unambiguous_with_bang_and_percent(tmp_path: Path, scratch: Path) -> None:
    folder = tmp_path / "case!1"
    plain = _write(folder / "x.zip!c!d.txt", b"plain")
    archive = _write(folder / "x.zip", _zip_bytes([("c!d.txt", b"entry"), ("100%.txt", b"p")]))
    _write(folder / "50%25.txt", b"percent")
    results = _items(_run(folder))
    assert [r.original_path for r in results] == [
        f"{folder}/50%25.txt",
        f"{archive}/c!d.txt",
        f"{archive}/100%.txt",
        f"{folder}/x.zip!c!d.txt",
    ]
    assert len({r.locator for r in results}) == 4
    assert parse_locator(file_locator(plain)) == (plain, None)
    assert parse_locator(entry_locator(archive, "c!d.txt")) == (archive, "c!d.txt")
    contents = []
    for item in results:
        with materialize(item.locator, LIMITS, scratch) as given:
            contents.append(given.read_bytes())
    assert contents == [b"percent", b"entry", b"p", b"plain"]


def test_undecodable_file_names_round_trip(tmp_path: Path, scratch: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    with open(raw, "wb") as stream:  # Linux filesystems take any bytes but / and NUL
        stream.write(b"latin-1 name")
    [item] = _items(_run(tmp_path))
    item.locator.encode("utf-8")  # storable as text
    assert item.original_path.endswith("caf\\xe9.txt")
    with materialize(item.locator, LIMITS, scratch) as given:
        assert given.read_bytes() == b"latin-1 name"


def test_nested_given_paths_are_walked_once(tmp_path: Path) -> None:
    inner = _write(tmp_path / "sub" / "a.txt", b"a")
    results = _run(inner, tmp_path, tmp_path / "sub", tmp_path)
    assert [r.locator for r in results] == [str(inner)]


def test_entry_times_come_from_the_zip_directory(tmp_path: Path) -> None:
    dos = zipfile.ZipInfo("dos.txt", date_time=(2020, 1, 2, 3, 4, 6))
    bogus = zipfile.ZipInfo("bogus.txt", date_time=(2020, 1, 2, 3, 4, 6))
    data = bytearray(_zip_bytes([(dos, b"d"), (bogus, b"b")]))
    second = data.index(CENTRAL, data.index(CENTRAL) + 1)
    struct.pack_into("<H", data, second + 14, 0)  # DOS date with month 0 and day 0
    archive = _write(tmp_path / "t.zip", bytes(data))
    times = [i.modified_at for i in _items(_run(archive))]
    assert times == [datetime(2020, 1, 2, 3, 4, 6, tzinfo=UTC), None]


def test_archive_cache_keeps_archives_open(tmp_path: Path, scratch: Path) -> None:
    first = _write(tmp_path / "a.zip", _zip_bytes([("a.txt", b"one")]))
    second = _write(tmp_path / "b.zip", _zip_bytes([("b.txt", b"two")]))
    with ArchiveCache(capacity=1) as cache:
        for locator in [f"{first}!a.txt", f"{first}!a.txt", f"{second}!b.txt", f"{first}!a.txt"]:
            with materialize(locator, LIMITS, scratch, archives=cache) as path:
                assert path.read_bytes() in {b"one", b"two"}
        opened = cache.get(first)
        assert cache.get(first) is opened
        missing = f"{first}!missing.txt"
        with (
            pytest.raises(UnreadableSource, match="no such entry"),
            materialize(missing, LIMITS, scratch, archives=cache),
        ):
            pass


def test_locators_must_be_absolute(scratch: Path) -> None:
    with pytest.raises(InvalidInputError), materialize("relative/a.zip!x", LIMITS, scratch):
        pass
