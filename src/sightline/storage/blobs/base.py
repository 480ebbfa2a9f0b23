"""The blob store interface.

Blobs are named by opaque ids that never reveal the content hash (a known hash in a file
name would itself disclose content). Every blob is encrypted at rest and integrity-checked
when read.

Stores are plugins (entry-point group ``sightline.blob_stores``, ``storage/blobs/registry.py``):
the setting ``SIGHTLINE_STORAGE__BLOB_STORE`` names one, and every process (the API, ingest
workers, the job worker) builds it with :meth:`BlobStore.from_settings`, so an object store is
one new class and one entry point.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar, Protocol

if TYPE_CHECKING:
    from sightline.config import Settings
    from sightline.storage.blobs.keys import MasterKey


class ByteSource(Protocol):
    """Anything to read bytes from: a binary file, an upload's stream, a counting wrapper."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (everything left with -1); ``b""`` at the end."""
        ...


class BlobStore(abc.ABC):
    """Encrypted storage of originals and derived media."""

    name: ClassVar[str]
    """The plugin's registered name."""

    @classmethod
    @abc.abstractmethod
    def from_settings(
        cls, settings: Settings, master_key: MasterKey, *, durable: bool = True
    ) -> BlobStore:
        """The store ``settings`` describe, encrypting under ``master_key``.

        ``durable=False`` is for bulk writers (ingest workers) that let one process call
        :meth:`sync` before anything refers to their blobs.
        """

    @abc.abstractmethod
    def new_blob_id(self) -> str:
        """A fresh random id, for a blob that has no content hash to be named by (staging)."""

    @abc.abstractmethod
    def put_stream(self, blob_id: str, source: ByteSource) -> None:
        """Encrypt everything ``source`` yields into the blob ``blob_id``, atomically.

        An exception raised while reading ``source`` (a size limit, say) leaves no blob.
        """

    @abc.abstractmethod
    def blob_id_for(self, sha256: str, role: str) -> str:
        """Deterministic opaque id for the content with this SHA-256 in a role.

        The id is a keyed MAC of the hash, so re-ingesting the same file after an interrupted
        run writes the same blob (no orphans, no duplicates) while the name reveals nothing to
        anyone without the master key. ``role`` separates originals from thumbnails.
        """

    @abc.abstractmethod
    def put_file(self, blob_id: str, path: Path) -> None:
        """Encrypt the file at ``path`` into the blob ``blob_id``, streaming, atomically."""

    @abc.abstractmethod
    def put_bytes(self, blob_id: str, data: bytes) -> None:
        """Encrypt ``data`` into the blob ``blob_id``, atomically."""

    @abc.abstractmethod
    def sync(self) -> None:
        """Make every completed write durable (stores opened for bulk writes defer it)."""

    @abc.abstractmethod
    def exists(self, blob_id: str) -> bool:
        """Whether a blob with this id is stored."""

    @abc.abstractmethod
    def read_bytes(self, blob_id: str) -> bytes:
        """Decrypt and verify a whole blob.

        Raises:
            NotFoundError: no such blob.
            BlobIntegrityError: the blob was altered, truncated or the key is wrong.
        """

    @abc.abstractmethod
    def stream(self, blob_id: str) -> Iterator[bytes]:
        """Decrypt a blob chunk by chunk; each chunk is verified before it is yielded."""

    @abc.abstractmethod
    def copy_to(self, blob_id: str, out: BinaryIO) -> int:
        """Decrypt a blob into a writable binary file; returns bytes written."""

    @abc.abstractmethod
    def delete(self, blob_id: str) -> bool:
        """Delete a blob; returns whether it existed."""

    @abc.abstractmethod
    def iter_blob_ids(self) -> Iterator[str]:
        """Every stored blob id, in sorted order."""

    @abc.abstractmethod
    def modified_at(self, blob_id: str) -> float:
        """When the blob was written (POSIX seconds).

        Raises:
            NotFoundError: no such blob.
        """

    @abc.abstractmethod
    def stale_temp_files(
        self, older_than_s: float = 3600.0, *, remove: bool = False
    ) -> Sequence[Path | str]:
        """Partial writes of killed writers (removed if asked); stores without any say none."""

    def remove_stale_temp_files(self, older_than_s: float = 3600.0) -> int:
        """Delete the partial writes of killed writers; returns how many."""
        return len(self.stale_temp_files(older_than_s, remove=True))
