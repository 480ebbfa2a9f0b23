"""The blob store interface.

Blobs are named by opaque ids that never reveal the content hash (a known hash in a file
name would itself disclose content). Every blob is encrypted at rest and integrity-checked
when read.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class BlobStore(abc.ABC):
    """Encrypted storage of originals and derived media."""

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
