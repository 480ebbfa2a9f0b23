"""Turn the paths an investigator names into a stream of items, without trusting the media.

Ingest works in two steps. ``enumerate_sources`` walks files, folders and zip archives and
yields a ``SourceItem`` per file, or a ``SourceFailure`` with a stable ``reason`` for each thing
it refuses; it never raises for a bad item, so one hostile file cannot stop a seizure's ingest.
``materialize`` later turns an item's locator into a readable path: the file itself, or an
archive entry streamed into a private temporary file that is always deleted.

An archive's directory is untrusted: every entry is checked before anything is extracted
(name, size, ratio, encryption, duplicates, method), checked again at extraction, and the bytes
actually produced are counted against the size its header declared. Symbolic links are refused,
never followed. Nested archives are not expanded: a ``.zip`` inside a zip is an ordinary item.

Locators are stable keys used to resume an ingest: a file's absolute path, or
``<absolute archive path>!<entry name>``. In the filesystem part ``!`` and ``%`` are
percent-encoded (``%21``, ``%25``), as are bytes that are not UTF-8 (``%E9``), so the first
``!`` always ends the archive path and every locator is storable UTF-8. The trade-off: for the
rare path holding those characters the locator is not the literal path; ``original_path`` is.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import stat
import zipfile
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkstemp
from types import TracebackType
from typing import IO, Self

from sightline.config import IngestSettings
from sightline.errors import (
    ArchiveBomb,
    CorruptArchive,
    EncryptedArchiveEntry,
    FileTooLarge,
    InvalidInputError,
    SourceRejected,
    SymlinkRefused,
    UnreadableSource,
    UnsafeArchivePath,
)

# A ratio says nothing about small entries (1 KiB of zeros deflates 100:1); like Apache POI's
# zip-bomb guard, the ratio is only enforced on entries larger than this.
RATIO_GRACE_BYTES = 1024 * 1024
_CHUNK = 1024 * 1024
# zipfile bounds deflate output per read but decompresses each bzip2/LZMA read without an
# output bound, so a header understating the size could exhaust memory before our byte count
# sees it. Only stored and deflated entries (nearly every real zip) are accepted.
_ACCEPTED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_DRIVE = re.compile(r"[A-Za-z]:")
_ESCAPED = re.compile(r"[%!\udc80-\udcff]")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError)


@dataclass(frozen=True, slots=True)
class SourceLimits:
    """Size limits applied while enumerating and again while extracting.

    Attributes:
        max_file_bytes: Largest file or archive entry accepted.
        zip_max_ratio: Largest uncompressed/compressed size ratio of an entry.
        zip_max_total_bytes: Largest total declared uncompressed size of one archive.
        ratio_grace_bytes: Entries at most this large are exempt from the ratio check.
    """

    max_file_bytes: int
    zip_max_ratio: float
    zip_max_total_bytes: int
    ratio_grace_bytes: int = RATIO_GRACE_BYTES

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> SourceLimits:
        """Build the limits from the ingest settings."""
        return cls(settings.max_file_bytes, settings.zip_max_ratio, settings.zip_max_total_bytes)


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One file to ingest: a plain file or an entry of a zip archive.

    Attributes:
        locator: Stable unique key (see the module docstring).
        original_path: The path the investigator sees (archive path + ``/`` + entry name).
        size: Size in bytes (as declared by the archive, for entries).
        modified_at: Modification time in UTC, if known.
    """

    locator: str
    original_path: str
    size: int | None
    modified_at: datetime | None


@dataclass(frozen=True, slots=True)
class SourceFailure:
    """Something refused during enumeration; ``reason`` is the error's stable code."""

    locator: str
    original_path: str
    reason: str
    detail: str

    @classmethod
    def from_error(cls, locator: str, original_path: str, error: SourceRejected) -> Self:
        """Record a rejection as a failure."""
        return cls(locator, original_path, error.reason, error.message)


def file_locator(path: Path) -> str:
    """Locator of a file (or of a whole archive, in archive-level failures)."""
    return _ESCAPED.sub(_escape, str(path))


def entry_locator(archive: Path, name: str) -> str:
    """Locator of the entry ``name`` of the zip archive at ``archive``."""
    return f"{file_locator(archive)}!{name}"


def parse_locator(locator: str) -> tuple[Path, str | None]:
    """Split a locator into its filesystem path and archive entry name (``None`` for a file).

    Raises:
        InvalidInputError: The locator does not start with an absolute path.
    """
    head, bang, entry = locator.partition("!")
    path = Path(re.sub(r"%([0-9A-F]{2})", _unescape, head))
    if not path.is_absolute():
        raise InvalidInputError(f"locator must start with an absolute path: {locator!r}")
    return path, entry if bang else None


def enumerate_sources(
    paths: Sequence[Path], limits: SourceLimits
) -> Iterator[SourceItem | SourceFailure]:
    """Yield every file under ``paths``, expanding zip archives into their entries.

    Folders are walked depth first in sorted name order, so two runs over the same media yield
    the same sequence; a path inside another given path is walked once. Files named ``*.zip``,
    or starting with a zip signature and holding a zip directory (renamed archives, office
    documents), are expanded. A file with an archive after other data (an image with a zip
    appended, a self-extractor) is ingested as what it starts as.
    """
    for root in _distinct_roots(paths):
        pending = [root]
        while pending:  # a stack, not recursion: seized trees can be arbitrarily deep
            path = pending.pop()
            try:
                status = os.lstat(path)
                if stat.S_ISDIR(status.st_mode):
                    pending.extend(path / name for name in sorted(os.listdir(path), reverse=True))
                    continue
            except OSError as exc:
                yield _failure(path, _os_error(path, exc))
                continue
            yield from _visit_file(path, status, limits)


@contextlib.contextmanager
def materialize(
    locator: str, limits: SourceLimits, scratch_dir: Path, *, archives: ArchiveCache | None = None
) -> Iterator[Path]:
    """Give a readable path for ``locator``, re-checked against ``limits``.

    A plain file is yielded in place, not copied: it is checked (present, not a link, not too
    large) but could still change before it is read. An archive entry is re-validated and
    streamed into a temporary file (mode 0600) in ``scratch_dir``, deleted on exit whatever
    happens. Pass ``archives`` to keep archives open between calls: reopening parses the whole
    zip directory, which dominates for archives of many small entries.

    Raises:
        SourceRejected: One of its subclasses, whose ``reason`` says why.
    """
    path, name = parse_locator(locator)
    if name is None:
        yield _checked_file(path, limits)
        return
    with contextlib.ExitStack() as stack:
        if archives is None:
            archives = stack.enter_context(ArchiveCache(capacity=1))
        archive = archives.get(path)
        info = archive.entry(name, limits)
        handle, temp = mkstemp(prefix="sightline-", suffix=_safe_suffix(name), dir=scratch_dir)
        stack.callback(Path(temp).unlink, missing_ok=True)
        with os.fdopen(handle, "wb") as out:
            _extract(archive, info, out)
        yield Path(temp)


class ArchiveCache:
    """Keeps the most recently used zip archives open between ``materialize`` calls.

    An open archive goes on reading the file it opened even if the path is replaced. Use it as
    a context manager, or call ``close``.
    """

    def __init__(self, capacity: int = 4) -> None:
        self._capacity = max(1, capacity)
        self._open: OrderedDict[Path, _Archive] = OrderedDict()

    def get(self, path: Path) -> _Archive:
        """Return the open archive at ``path``, opening it if needed."""
        archive = self._open.pop(path, None) or _Archive.open(path)
        self._open[path] = archive
        while len(self._open) > self._capacity:
            self._open.popitem(last=False)[1].close()
        return archive

    def close(self) -> None:
        """Close every open archive."""
        while self._open:
            self._open.popitem()[1].close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(slots=True)
class _Archive:
    """An open zip with the archive-wide facts that entry checks need."""

    path: Path
    stream: IO[bytes]  # zipfile leaves a stream it was given open
    zf: zipfile.ZipFile
    total: int
    duplicates: frozenset[str]

    @classmethod
    def open(cls, path: Path) -> _Archive:
        # O_NOFOLLOW closes the gap between checking for a link and opening the file.
        try:
            stream = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
        except OSError as exc:
            raise _os_error(path, exc) from exc
        try:
            zf = zipfile.ZipFile(stream)
        except (*_ARCHIVE_ERRORS, OSError) as exc:
            stream.close()
            raise CorruptArchive(f"{_display(path)}: not a readable zip archive ({exc})") from exc
        files = [info for info in zf.infolist() if not info.is_dir()]
        counts = Counter(info.filename for info in files)
        total = sum(info.file_size for info in files)
        return cls(path, stream, zf, total, frozenset(n for n, c in counts.items() if c > 1))

    def close(self) -> None:
        self.zf.close()
        self.stream.close()

    def shown(self, name: str) -> str:
        return f"{_display(self.path)}/{name}"

    def check_total(self, limits: SourceLimits) -> None:
        if self.total > limits.zip_max_total_bytes:
            raise ArchiveBomb(
                f"{_display(self.path)}: declares {self.total} bytes uncompressed, "
                f"more than the limit of {limits.zip_max_total_bytes}"
            )

    def entry(self, name: str, limits: SourceLimits) -> zipfile.ZipInfo:
        self.check_total(limits)
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise UnreadableSource(f"{self.shown(name)}: no such entry") from None
        self.check_entry(info, limits)
        return info

    def check_entry(self, info: zipfile.ZipInfo, limits: SourceLimits) -> None:
        shown, size, packed = self.shown(info.filename), info.file_size, info.compress_size
        _check_name(info.filename, shown)
        if info.filename in self.duplicates:
            # Tools disagree on which copy such a name means, a known way to hide content.
            raise CorruptArchive(f"{shown}: the archive holds several entries with this name")
        if info.flag_bits & 0x1:
            raise EncryptedArchiveEntry(f"{shown}: entry is encrypted")
        if info.compress_type not in _ACCEPTED_METHODS:
            raise CorruptArchive(
                f"{shown}: compression method {info.compress_type} is not accepted "
                f"(accepted: {', '.join(_ACCEPTED_METHODS.values())})"
            )
        if size > limits.max_file_bytes:
            raise FileTooLarge(f"{shown}: {size} bytes, limit is {limits.max_file_bytes}")
        if size > limits.ratio_grace_bytes and size > limits.zip_max_ratio * packed:
            raise ArchiveBomb(
                f"{shown}: expands {size} bytes from {packed}, "
                f"more than the ratio limit of {limits.zip_max_ratio:g}"
            )


def _visit_file(
    path: Path, status: os.stat_result, limits: SourceLimits
) -> Iterator[SourceItem | SourceFailure]:
    try:
        _check_file(path, status, None)
        if _is_archive(path):
            results = _expand(path, limits)
        else:
            _check_file(path, status, limits)
            mtime = datetime.fromtimestamp(status.st_mtime, tz=UTC)
            results = [SourceItem(file_locator(path), _display(path), status.st_size, mtime)]
    except SourceRejected as exc:
        results = [_failure(path, exc)]
    except OSError as exc:  # the file changed under us
        results = [_failure(path, _os_error(path, exc))]
    yield from results


def _expand(path: Path, limits: SourceLimits) -> list[SourceItem | SourceFailure]:
    # Entries are listed and the archive closed before anything is yielded, so a consumer that
    # stops early never leaves a file open.
    results: list[SourceItem | SourceFailure] = []
    reported: set[str] = set()
    with contextlib.closing(_Archive.open(path)) as archive:
        archive.check_total(limits)
        for info in archive.zf.infolist():
            if info.is_dir() or info.filename in reported:
                continue  # one result per name keeps locators unique
            reported.add(info.filename)
            locator, shown = entry_locator(path, info.filename), archive.shown(info.filename)
            try:
                archive.check_entry(info, limits)
            except SourceRejected as exc:
                results.append(SourceFailure.from_error(locator, shown, exc))
                continue
            results.append(SourceItem(locator, shown, info.file_size, _entry_mtime(info)))
    return results


def _extract(archive: _Archive, info: zipfile.ZipInfo, out: IO[bytes]) -> None:
    shown, declared = archive.shown(info.filename), info.file_size
    # zipfile cuts output at the declared size and then fails the CRC, so an understated size
    # reads as mere corruption. Letting it run one chunk past lets our count see the overflow
    # first (at most one extra chunk in memory). The ratio and size limits were checked
    # against ``declared``, so bounding output by it enforces them too.
    probe = copy.copy(info)
    probe.file_size = declared + _CHUNK + 1
    written = 0
    try:
        source = archive.zf.open(probe)
    except (*_ARCHIVE_ERRORS, RuntimeError, OSError) as exc:
        raise _read_error(shown, exc) from exc
    with source:
        while chunk := _read(source, shown):
            written += len(chunk)
            if written > declared:
                raise ArchiveBomb(f"{shown}: holds more than the {declared} bytes it declares")
            out.write(chunk)  # outside _read: a full scratch disk is not the source's fault
    if written != declared:
        raise CorruptArchive(f"{shown}: holds {written} bytes, its header declares {declared}")


def _read(source: IO[bytes], shown: str) -> bytes:
    try:
        return source.read(_CHUNK)
    except (*_ARCHIVE_ERRORS, OSError) as exc:
        raise _read_error(shown, exc) from exc


def _read_error(shown: str, exc: Exception) -> SourceRejected:
    # Decoders raise OSError without errno for bad data; a real errno is an I/O failure.
    if isinstance(exc, OSError) and exc.errno is not None:
        return UnreadableSource(f"{shown}: {exc.strerror}")
    return CorruptArchive(f"{shown}: {exc}")


def _check_name(name: str, shown: str) -> None:
    # We never extract by name, but names end up in reports, exports and other tools, so any
    # that would escape a folder is refused. Backslashes count: Windows tools honour them.
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
        raise UnsafeArchivePath(f"{shown}: unsafe entry name {name!r}")


def _checked_file(path: Path, limits: SourceLimits) -> Path:
    try:
        _check_file(path, os.lstat(path), limits)
    except OSError as exc:
        raise _os_error(path, exc) from exc
    return path


def _check_file(path: Path, status: os.stat_result, limits: SourceLimits | None) -> None:
    if stat.S_ISLNK(status.st_mode):
        target = os.readlink(path)
        raise SymlinkRefused(f"{_display(path)}: symbolic link to {target!r}, not followed")
    if not stat.S_ISREG(status.st_mode):
        # Reading a FIFO would block forever; devices and sockets are not evidence files.
        raise UnreadableSource(f"{_display(path)}: not a regular file")
    if limits is not None and status.st_size > limits.max_file_bytes:
        shown, size = _display(path), status.st_size
        raise FileTooLarge(f"{shown}: {size} bytes, limit is {limits.max_file_bytes}")


def _is_archive(path: Path) -> bool:
    if path.suffix.lower() == ".zip":
        return True
    with path.open("rb") as stream:
        return stream.read(4) in _ZIP_MAGIC and zipfile.is_zipfile(stream)


def _distinct_roots(paths: Sequence[Path]) -> list[Path]:
    roots = [Path(os.path.abspath(path)) for path in paths]
    return [
        root
        for index, root in enumerate(roots)
        if root not in roots[:index] and not any(other in root.parents for other in roots)
    ]


def _os_error(path: Path, exc: OSError) -> SourceRejected:
    if os.path.islink(path):  # O_NOFOLLOW refused it
        return SymlinkRefused(f"{_display(path)}: symbolic link, not followed")
    return UnreadableSource(f"{_display(path)}: {exc.strerror or exc}")


def _failure(path: Path, error: SourceRejected) -> SourceFailure:
    return SourceFailure.from_error(file_locator(path), _display(path), error)


def _display(path: Path) -> str:
    # Undecodable bytes in seized file names show as \xNN instead of unstorable surrogates.
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())  # a surrogate stands for the undecodable byte code - 0xDC00
    return f"%{code - 0xDC00 if code > 0xFF else code:02X}"


def _unescape(match: re.Match[str]) -> str:
    return bytes.fromhex(match.group(1)).decode("utf-8", "surrogateescape")


def _safe_suffix(name: str) -> str:
    # Keep a plain extension for the temporary file: some decoders pick a format by it.
    suffix = Path(name.replace("\\", "/")).suffix
    return suffix if _SAFE_SUFFIX.fullmatch(suffix) else ""


def _entry_mtime(info: zipfile.ZipInfo) -> datetime | None:
    # A zip's DOS time is local to the machine that wrote the archive and its zone is not
    # recorded, so it is labelled UTC as written rather than shifted by a guess.
    try:
        return datetime(*info.date_time, tzinfo=UTC)
    except ValueError:
        return None  # fields such as month 0 are common in hand-made archives
