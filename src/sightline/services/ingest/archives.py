"""Zip archives from seized media: opened without trust, every entry checked twice.

An archive's directory is untrusted: every entry is checked before anything is extracted
(name, size, ratio, encryption, duplicates, method), checked again at extraction, and the bytes
actually produced are counted against the size its header declared. Archives are opened with
``O_NOFOLLOW``, so a symbolic link is refused, never followed.

This module is the lower half of ``sources``: it knows nothing of items, failures or locators,
and ``sources`` re-exports the parts callers use (``SourceLimits``, ``ArchiveCache``).
"""

from __future__ import annotations

import copy
import os
import re
import stat
import zipfile
import zlib
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from sightline.config import IngestSettings
from sightline.errors import (
    ArchiveBomb,
    CorruptArchive,
    EncryptedArchiveEntry,
    FileTooLarge,
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
# zipfile signals an unsupported compression method or an encrypted entry with RuntimeError
# (or its subclass for unimplemented methods): a corrupt or unreadable archive to us.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, ValueError)


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


class ArchiveCache:
    """Keeps the most recently used zip archives open between ``materialize`` calls.

    An open archive goes on reading the file it opened even if the path is replaced. Use it as
    a context manager, or call ``close``.
    """

    def __init__(self, capacity: int = 4) -> None:
        self._capacity = max(1, capacity)
        self._open: OrderedDict[Path, Archive] = OrderedDict()

    def get(self, path: Path) -> Archive:
        """Return the open archive at ``path``, opening it if needed."""
        archive = self._open.pop(path, None) or Archive.open(path)
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
class Archive:
    """An open zip with the archive-wide facts that entry checks need."""

    path: Path
    stream: IO[bytes]  # zipfile leaves a stream it was given open
    zf: zipfile.ZipFile
    total: int
    duplicates: frozenset[str]

    @classmethod
    def open(cls, path: Path) -> Archive:
        """Open the zip at ``path`` and read its directory.

        Raises:
            SourceRejected: ``SymlinkRefused``, ``UnreadableSource`` or ``CorruptArchive``.
        """
        # O_NOFOLLOW closes the gap between checking for a link and opening the file.
        try:
            stream = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
        except OSError as exc:
            raise os_rejection(path, exc) from exc
        return cls.from_stream(path, stream)

    @classmethod
    def from_stream(cls, path: Path, stream: IO[bytes]) -> Archive:
        """Read the zip directory of an open ``stream``; ``path`` is how entries are shown.

        For archives that are not files of their own (a staged upload decrypted into a file
        with no name). The archive takes ``stream`` over: it is closed on failure, and by
        :meth:`close`.

        Raises:
            CorruptArchive: not a readable zip archive.
        """
        try:
            zf = zipfile.ZipFile(stream)
        except (*_ARCHIVE_ERRORS, OSError) as exc:
            stream.close()
            shown = display_path(path)
            raise CorruptArchive(f"{shown}: not a readable zip archive ({exc})") from exc
        files = [info for info in zf.infolist() if not info.is_dir()]
        counts = Counter(info.filename for info in files)
        total = sum(info.file_size for info in files)
        return cls(path, stream, zf, total, frozenset(n for n, c in counts.items() if c > 1))

    def close(self) -> None:
        """Close the zip and the file under it."""
        self.zf.close()
        self.stream.close()

    def shown(self, name: str) -> str:
        """How the entry ``name`` is shown to people: archive path + ``/`` + name."""
        return f"{display_path(self.path)}/{name}"

    def check_total(self, limits: SourceLimits) -> None:
        """Refuse the archive if its entries declare more than the total limit."""
        if self.total > limits.zip_max_total_bytes:
            raise ArchiveBomb(
                f"{display_path(self.path)}: declares {self.total} bytes uncompressed, "
                f"more than the limit of {limits.zip_max_total_bytes}"
            )

    def entry(self, name: str, limits: SourceLimits) -> zipfile.ZipInfo:
        """The checked entry ``name``, re-validated against ``limits``."""
        self.check_total(limits)
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise UnreadableSource(f"{self.shown(name)}: no such entry") from None
        self.check_entry(info, limits)
        return info

    def check_entry(self, info: zipfile.ZipInfo, limits: SourceLimits) -> None:
        """Refuse an unsafe name, a duplicate, encryption, a method or a size out of limits."""
        shown, size, packed = self.shown(info.filename), info.file_size, info.compress_size
        _check_name(info.filename, shown)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise SymlinkRefused(f"{shown}: a symbolic link stored in the archive, not followed")
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

    def extract(self, info: zipfile.ZipInfo, out: IO[bytes]) -> None:
        """Stream a checked entry into ``out``, producing exactly the bytes it declares."""
        shown, declared = self.shown(info.filename), info.file_size
        # zipfile cuts output at the declared size and then fails the CRC, so an understated
        # size reads as mere corruption. Letting it run one chunk past lets our count see the
        # overflow first (at most one extra chunk in memory). The ratio and size limits were
        # checked against ``declared``, so bounding output by it enforces them too.
        probe = copy.copy(info)
        probe.file_size = declared + _CHUNK + 1
        written = 0
        try:
            source = self.zf.open(probe)
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


def is_archive(path: Path) -> bool:
    """Whether to expand ``path``: named ``*.zip``, or a zip signature and a zip directory."""
    if path.suffix.lower() == ".zip":
        return True
    with path.open("rb") as stream:
        return stream.read(4) in _ZIP_MAGIC and zipfile.is_zipfile(stream)


def display_path(path: Path) -> str:
    r"""``path`` for reports: undecodable bytes show as ``\xNN``, never as surrogates."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def os_rejection(path: Path, exc: OSError) -> SourceRejected:
    """The rejection for an ``OSError`` met while opening or reading ``path``."""
    if os.path.islink(path):  # O_NOFOLLOW refused it
        return SymlinkRefused(f"{display_path(path)}: symbolic link, not followed")
    return UnreadableSource(f"{display_path(path)}: {exc.strerror or exc}")


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
