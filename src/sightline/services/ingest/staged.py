"""Uploads staged in the blob store: encrypted from the moment they arrive (ADR 0014).

An API upload must outlive its request (it waits for a worker) and survive a kill of the
server or the worker, yet no plaintext may be left behind. So the route streams each upload
straight into a *staging blob*: a blob with a random id, encrypted like every other blob,
written atomically. The ingest items of the upload name it by a locator of its own,
``staged:<blob id>`` (``staged:<blob id>!<entry>`` for an entry of an uploaded zip), and the
item's ``original_path`` is the name the client gave, so sightings and failures carry that
name with nothing to rewrite afterwards. The blobs are deleted when the job ends.

Reading one back is :func:`~sightline.services.ingest.sources.materialize`'s business, through a
:class:`StagedFiles` it is given: the blob is decrypted into a file with no name in the scratch
folder (``scratch.anonymous_file``), exactly as an archive entry is, so the plaintext vanishes
with the process however it ends. An uploaded zip is decrypted once per worker process and kept
open while its entries are read.

Zip uploads are expanded when the job first runs (:func:`expand_uploads`): the upload's item is
replaced by one item per entry, in one transaction, so a kill half way expands it again.
"""

from __future__ import annotations

import contextlib
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from sightline.domain.models import ItemState
from sightline.errors import (
    BlobIntegrityError,
    FileTooLarge,
    NestedArchive,
    NotFoundError,
    PayloadTooLargeError,
    SourceRejected,
    UnreadableSource,
)
from sightline.services.ingest.archives import Archive, is_archive
from sightline.services.ingest.scratch import anonymous_file
from sightline.services.ingest.sources import (
    SourceFailure,
    SourceItem,
    SourceLimits,
    archive_entries,
    parse_staged,
    staged_locator,
)
from sightline.storage.blobs.base import BlobStore, ByteSource
from sightline.storage.repositories.ingest import NewItem, PendingItem
from sightline.storage.unit_of_work import UnitOfWork

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
SHOWN_AS = Path("upload")
"""How a staged archive is named in a worker's messages (it does not know the client's name)."""


class _Limited:
    """Reads ``source`` and refuses (413) once more than ``limit`` bytes came through."""

    def __init__(self, source: ByteSource, limit: int) -> None:
        self._source, self._limit, self.count = source, limit, 0

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes of the source (all of it with -1)."""
        chunk = self._source.read(size)
        self.count += len(chunk)
        if self.count > self._limit:
            raise PayloadTooLargeError(f"a file exceeds the limit of {self._limit} bytes")
        return chunk


def stage(blobs: BlobStore, source: ByteSource, limit: int) -> tuple[str, int]:
    """Encrypt ``source`` into a new staging blob; returns its id and plaintext size.

    Raises:
        PayloadTooLargeError: more than ``limit`` bytes (no blob is left).
    """
    blob_id = blobs.new_blob_id()
    reader = _Limited(source, limit)
    blobs.put_stream(blob_id, reader)
    return blob_id, reader.count


def staged_blob_ids(locators: Iterable[str]) -> set[str]:
    """The staging blobs that some of ``locators`` name."""
    return {found[0] for found in map(parse_staged, locators) if found is not None}


def discard(blobs: BlobStore, blob_ids: set[str]) -> int:
    """Delete staging blobs (idempotent); returns how many existed."""
    return sum(1 for blob_id in sorted(blob_ids) if blobs.delete(blob_id))


class StagedFiles:
    """Reads staged uploads for ``materialize`` (a ``sources.StagedSource``).

    A worker process keeps the most recent uploaded archive decrypted and open, so each of its
    entries costs one extraction rather than a decryption of the whole zip.

    Args:
        blobs: The blob store holding the staging blobs.
        scratch_dir: Where the nameless decrypted copies are made.
    """

    def __init__(self, blobs: BlobStore, scratch_dir: Path, capacity: int = 1) -> None:
        self._blobs = blobs
        self._scratch = scratch_dir
        self._capacity = max(1, capacity)
        self._archives: OrderedDict[str, Archive] = OrderedDict()

    @contextlib.contextmanager
    def open(self, blob_id: str, entry: str | None, limits: SourceLimits) -> Iterator[Path]:
        """A path to the decrypted upload, or to one entry of an uploaded zip; nameless.

        Raises:
            SourceRejected: one of its subclasses (the blob is gone or damaged, too large, a
                nested archive...).
        """
        if entry is None:
            with anonymous_file(self._scratch) as (out, path):
                self._decrypt(blob_id, out, limits.max_file_bytes)
                yield path
            return
        archive = self._archive(blob_id, limits)
        info = archive.entry(entry, limits)
        with anonymous_file(self._scratch) as (out, path):
            archive.extract(info, out)
            out.flush()
            if is_archive(path):
                raise NestedArchive(
                    f"{archive.shown(entry)}: an archive inside an archive is not expanded; "
                    "extract it and upload it on its own"
                )
            yield path

    def close(self) -> None:
        """Close the archives kept open (their nameless copies vanish)."""
        while self._archives:
            self._archives.popitem()[1].close()

    def _archive(self, blob_id: str, limits: SourceLimits) -> Archive:
        archive = self._archives.pop(blob_id, None)
        if archive is None:
            archive = open_staged_archive(self._blobs, blob_id, self._scratch, limits)
        if archive is None:  # expanded as a zip, so this cannot happen unless it was replaced
            raise UnreadableSource(f"{SHOWN_AS}: the staged upload is no longer a zip archive")
        self._archives[blob_id] = archive
        while len(self._archives) > self._capacity:
            self._archives.popitem(last=False)[1].close()
        return archive

    def _decrypt(self, blob_id: str, out: IO[bytes], limit: int) -> None:
        decrypt(self._blobs, blob_id, out, limit)


def decrypt(blobs: BlobStore, blob_id: str, out: IO[bytes], limit: int) -> int:
    """Decrypt a staging blob into ``out``, refusing more than ``limit`` bytes.

    Raises:
        UnreadableSource: the blob is gone or fails verification.
        FileTooLarge: it holds more than ``limit`` bytes.
    """
    written = 0
    try:
        for chunk in blobs.stream(blob_id):
            written += len(chunk)
            if written > limit:
                raise FileTooLarge(f"{SHOWN_AS}: more than the limit of {limit} bytes")
            out.write(chunk)
    except NotFoundError:
        raise UnreadableSource(f"{SHOWN_AS}: the staged upload is gone") from None
    except BlobIntegrityError:
        raise UnreadableSource(f"{SHOWN_AS}: the staged upload fails verification") from None
    out.flush()
    return written


def open_staged_archive(
    blobs: BlobStore, blob_id: str, scratch_dir: Path, limits: SourceLimits, shown: Path = SHOWN_AS
) -> Archive | None:
    """Decrypt a staged upload into a file with no name and open it as a zip, if it is one.

    Returns None when the upload holds no zip directory (it is ingested as what it starts
    as, like a file). The archive owns the nameless file: closing it frees the plaintext.

    Raises:
        SourceRejected: the blob cannot be read, or the zip directory is unreadable.
    """
    # Unlinked at once on POSIX; the archive owns it from here, so no context manager.
    handle = tempfile.TemporaryFile(dir=scratch_dir)  # noqa: SIM115
    try:
        decrypt(blobs, blob_id, handle, limits.zip_max_total_bytes + limits.max_file_bytes)
        if not zipfile.is_zipfile(handle):
            handle.close()
            return None
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return Archive.from_stream(shown, handle)


def _looks_like_zip(blobs: BlobStore, blob_id: str) -> bool:
    """Whether the upload starts with a zip signature (decrypts only its first segment)."""
    try:
        first = next(iter(blobs.stream(blob_id)), b"")
    except (NotFoundError, BlobIntegrityError):
        return False  # the item fails when it is processed, with the reason
    return first[:4] in _ZIP_MAGIC


def expand_uploads(
    uow: UnitOfWork, blobs: BlobStore, job_id: int, scratch_dir: Path, limits: SourceLimits
) -> int:
    """Replace each pending uploaded zip of job ``job_id`` by its entries; returns how many.

    Uploads are told apart by content, as files are: a zip signature and a zip directory. Each
    replacement commits on its own, so a kill loses at most the archive being expanded, which
    the next run expands again (its item is still pending).
    """
    expanded = 0
    for item in uow.ingest.pending(job_id):
        found = parse_staged(item.locator)
        if found is None or found[1] is not None or not _looks_like_zip(blobs, found[0]):
            continue
        expanded += _expand_one(uow, blobs, found[0], item, scratch_dir, limits)
        uow.commit()
    return expanded


def _expand_one(
    uow: UnitOfWork,
    blobs: BlobStore,
    blob_id: str,
    item: PendingItem,
    scratch_dir: Path,
    limits: SourceLimits,
) -> int:
    """Replace one uploaded zip's item by its entries (or fail it); 1 if it was a zip."""
    shown = Path(item.original_path)
    try:
        archive = open_staged_archive(blobs, blob_id, scratch_dir, limits, shown)
        if archive is None:
            return 0
        with contextlib.closing(archive):
            entries = archive_entries(archive, limits, lambda name: staged_locator(blob_id, name))
    except SourceRejected as exc:
        uow.ingest.mark_failed_many([(item.id, exc.reason, exc.message)])
        return 1
    uow.ingest.replace_item(item.id, [_new_item(entry) for entry in entries])
    return 1


def _new_item(entry: SourceItem | SourceFailure) -> NewItem:
    if isinstance(entry, SourceFailure):
        return NewItem(
            entry.locator,
            entry.original_path,
            None,
            None,
            ItemState.FAILED,
            entry.reason,
            entry.detail,
        )
    return NewItem(entry.locator, entry.original_path, entry.size, entry.modified_at)
