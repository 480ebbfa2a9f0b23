"""Turn the paths an investigator names into a stream of items, without trusting the media.

Ingest works in two steps. ``enumerate_sources`` walks files, folders and zip archives and
yields a ``SourceItem`` per file, or a ``SourceFailure`` with a stable ``reason`` for each thing
it refuses; it never raises for a bad item, so one hostile file cannot stop a seizure's ingest.
``materialize`` later turns an item's locator into a readable path: the file itself, or an
archive entry streamed into a private temporary file that is always deleted.

An archive's directory is untrusted: every entry is checked before anything is extracted and
again at extraction (``archives`` holds those checks and ``ArchiveCache``). Symbolic links are
refused, never followed (a link stored as a zip entry too: ``symlink``). Nested archives are
not expanded: a zip inside a zip is recorded as failed with the reason ``nested_archive`` (so
the investigator sees it and can ingest it on its own), and an archive with no files is
recorded as ``empty_archive``.

Locators are stable keys used to resume an ingest: a file's absolute path, or
``<absolute archive path>!<entry name>``. In the filesystem part ``!`` and ``%`` are
percent-encoded (``%21``, ``%25``), as are bytes that are not UTF-8 (``%E9``), so the first
``!`` always ends the archive path and every locator is storable UTF-8. The trade-off: for the
rare path holding those characters the locator is not the literal path; ``original_path`` is.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, Self

from sightline.errors import (
    EmptyArchive,
    FileTooLarge,
    InvalidInputError,
    NestedArchive,
    SourceRejected,
    SymlinkRefused,
    UnreadableSource,
)
from sightline.services.ingest.archives import (
    RATIO_GRACE_BYTES,
    Archive,
    ArchiveCache,
    SourceLimits,
    display_path,
    is_archive,
    os_rejection,
)
from sightline.services.ingest.scratch import anonymous_file

__all__ = [
    "RATIO_GRACE_BYTES",
    "ArchiveCache",
    "SourceFailure",
    "SourceItem",
    "SourceLimits",
    "StagedSource",
    "archive_entries",
    "entry_locator",
    "enumerate_sources",
    "file_locator",
    "materialize",
    "parse_locator",
    "staged_locator",
]

STAGED = "staged:"
"""Prefix of the locators of uploads staged in the blob store (``services/ingest/staged.py``)."""

_ESCAPED = re.compile(r"[%!\udc80-\udcff]")


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


class StagedSource(Protocol):
    """Reads uploads staged in the blob store (``ingest/staged.py``) for :func:`materialize`."""

    def open(
        self, blob_id: str, entry: str | None, limits: SourceLimits
    ) -> AbstractContextManager[Path]:
        """A readable path for the staged upload ``blob_id`` (or its archive entry ``entry``)."""
        ...


def staged_locator(blob_id: str, entry: str | None = None) -> str:
    """Locator of a staged upload (``staged:<blob id>``), or of one of its archive entries."""
    return f"{STAGED}{blob_id}" if entry is None else f"{STAGED}{blob_id}!{entry}"


def parse_staged(locator: str) -> tuple[str, str | None] | None:
    """The blob id and entry name of a staged locator; ``None`` for any other locator."""
    if not locator.startswith(STAGED):
        return None
    blob_id, bang, entry = locator[len(STAGED) :].partition("!")
    return blob_id, entry if bang else None


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
                yield _failure(path, os_rejection(path, exc))
                continue
            yield from _visit_file(path, status, limits)


@contextlib.contextmanager
def materialize(
    locator: str,
    limits: SourceLimits,
    scratch_dir: Path,
    *,
    archives: ArchiveCache | None = None,
    staged: StagedSource | None = None,
) -> Iterator[Path]:
    """Give a readable path for ``locator``, re-checked against ``limits``.

    A plain file is yielded in place, not copied: it is checked (present, not a link, not too
    large) but could still change before it is read. An archive entry is re-validated and
    streamed into a file with no name in ``scratch_dir`` (``scratch.anonymous_file``): it
    is gone on exit, and with the process if it is killed. Pass ``archives`` to keep
    archives open between calls: reopening parses the whole zip directory, which dominates
    for archives of many small entries. A staged upload (``staged:<blob id>``) is decrypted
    by ``staged`` the same way, into a file with no name.

    Raises:
        SourceRejected: One of its subclasses, whose ``reason`` says why.
    """
    found = parse_staged(locator)
    if found is not None:
        if staged is None:
            raise UnreadableSource("a staged upload needs the blob store to be read")
        with staged.open(*found, limits) as path:
            yield path
        return
    path, name = parse_locator(locator)
    if name is None:
        yield _checked_file(path, limits)
        return
    with contextlib.ExitStack() as stack:
        if archives is None:
            archives = stack.enter_context(ArchiveCache(capacity=1))
        archive = archives.get(path)
        info = archive.entry(name, limits)
        out, temp = stack.enter_context(anonymous_file(scratch_dir))
        archive.extract(info, out)
        out.flush()
        if is_archive(temp):  # by content: the nameless file has no suffix to go by
            raise NestedArchive(
                f"{archive.shown(name)}: an archive inside an archive is not expanded; "
                "extract it and ingest it on its own"
            )
        yield temp


def _visit_file(
    path: Path, status: os.stat_result, limits: SourceLimits
) -> Iterator[SourceItem | SourceFailure]:
    try:
        _check_file(path, status, None)
        if is_archive(path):
            results = _expand(path, limits)
        else:
            _check_file(path, status, limits)
            mtime = datetime.fromtimestamp(status.st_mtime, tz=UTC)
            results = [SourceItem(file_locator(path), display_path(path), status.st_size, mtime)]
    except SourceRejected as exc:
        results = [_failure(path, exc)]
    except OSError as exc:  # the file changed under us
        results = [_failure(path, os_rejection(path, exc))]
    yield from results


def _expand(path: Path, limits: SourceLimits) -> list[SourceItem | SourceFailure]:
    # Entries are listed and the archive closed before anything is yielded, so a consumer that
    # stops early never leaves a file open.
    with contextlib.closing(Archive.open(path)) as archive:
        return archive_entries(archive, limits, lambda name: entry_locator(path, name))


def archive_entries(
    archive: Archive, limits: SourceLimits, locate: Callable[[str], str]
) -> list[SourceItem | SourceFailure]:
    """One result per file entry of an open ``archive``; ``locate`` gives an entry's locator.

    Raises:
        SourceRejected: the whole archive is refused (too large in total, or empty).
    """
    results: list[SourceItem | SourceFailure] = []
    reported: set[str] = set()
    archive.check_total(limits)
    if not any(not info.is_dir() for info in archive.zf.infolist()):
        raise EmptyArchive(f"{display_path(archive.path)}: the archive holds no files")
    for info in archive.zf.infolist():
        if info.is_dir() or info.filename in reported:
            continue  # one result per name keeps locators unique
        reported.add(info.filename)
        locator, shown = locate(info.filename), archive.shown(info.filename)
        try:
            archive.check_entry(info, limits)
        except SourceRejected as exc:
            results.append(SourceFailure.from_error(locator, shown, exc))
            continue
        results.append(SourceItem(locator, shown, info.file_size, _entry_mtime(info)))
    return results


def _checked_file(path: Path, limits: SourceLimits) -> Path:
    try:
        _check_file(path, os.lstat(path), limits)
    except OSError as exc:
        raise os_rejection(path, exc) from exc
    return path


def _check_file(path: Path, status: os.stat_result, limits: SourceLimits | None) -> None:
    if stat.S_ISLNK(status.st_mode):
        target = os.readlink(path)
        raise SymlinkRefused(f"{display_path(path)}: symbolic link to {target!r}, not followed")
    if not stat.S_ISREG(status.st_mode):
        # Reading a FIFO would block forever; devices and sockets are not evidence files.
        raise UnreadableSource(f"{display_path(path)}: not a regular file")
    if limits is not None and status.st_size > limits.max_file_bytes:
        shown, size = display_path(path), status.st_size
        raise FileTooLarge(f"{shown}: {size} bytes, limit is {limits.max_file_bytes}")


def _distinct_roots(paths: Sequence[Path]) -> list[Path]:
    roots = [Path(os.path.abspath(path)) for path in paths]
    return [
        root
        for index, root in enumerate(roots)
        if root not in roots[:index] and not any(other in root.parents for other in roots)
    ]


def _failure(path: Path, error: SourceRejected) -> SourceFailure:
    return SourceFailure.from_error(file_locator(path), display_path(path), error)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())  # a surrogate stands for the undecodable byte code - 0xDC00
    return f"%{code - 0xDC00 if code > 0xFF else code:02X}"


def _unescape(match: re.Match[str]) -> str:
    return bytes.fromhex(match.group(1)).decode("utf-8", "surrogateescape")


def _entry_mtime(info: zipfile.ZipInfo) -> datetime | None:
    # A zip's DOS time is local to the machine that wrote the archive and its zone is not
    # recorded, so it is labelled UTC as written rather than shifted by a guess.
    try:
        return datetime(*info.date_time, tzinfo=UTC)
    except ValueError:
        return None  # fields such as month 0 are common in hand-made archives
