"""Cryptographic digests: the exact-copy signal.

MD5, SHA-1 and SHA-256 are computed together in one streamed pass, so a multi-gigabyte video
costs one read of the file and a fixed amount of memory. All three are kept because the hash
lists investigators exchange (VICS, national databases) still key on MD5 or SHA-1, while
SHA-256 is the one Sightline trusts for identity: MD5 and SHA-1 collisions can be forged, so
they are used for lookup against legacy lists, never as proof that two files are the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from sightline.analyzers.base import Analyzer, MediaInput
from sightline.domain.signals import ANY_MEDIA, Signal, SignalKind, ValueType
from sightline.errors import AnalysisFailed
from sightline.features.hashes import DIGEST_LENGTHS

# Large enough that per-call overhead is negligible next to hashing (~1 GB/s for three
# digests), small enough to keep memory flat however big the file is.
CHUNK_SIZE = 1024 * 1024
# The digests computed, in the order reported; the names match ``features.hashes``.
ALGORITHMS: tuple[str, ...] = tuple(DIGEST_LENGTHS)
DIGEST_SIGNALS: tuple[SignalKind, ...] = tuple(
    SignalKind(name, ValueType.DIGEST, bits=length * 4) for name, length in DIGEST_LENGTHS.items()
)
"""One exact-lookup signal kind per digest (``md5``, ``sha1``, ``sha256``)."""


def stream_digests(stream: BinaryIO) -> dict[str, str]:
    """Digest everything left in a binary stream, reading ``CHUNK_SIZE`` bytes at a time.

    Useful where the bytes never touch disk as a file (an upload being received). The stream
    is read to its end and not closed.

    Returns:
        ``{"md5": ..., "sha1": ..., "sha256": ...}`` as lower-case hex.
    """
    # usedforsecurity=False: these digests identify files; they are not a security control,
    # and without the flag FIPS-mode OpenSSL builds refuse MD5.
    hashers = [hashlib.new(name, usedforsecurity=False) for name in ALGORITHMS]
    while chunk := stream.read(CHUNK_SIZE):
        for hasher in hashers:
            hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in zip(ALGORITHMS, hashers, strict=True)}


def file_digests(path: Path | str) -> dict[str, str]:
    """MD5, SHA-1 and SHA-256 of a file in one pass, without reading it whole into memory.

    Raises:
        OSError: the file cannot be opened or read (callers choose how to report it; the
            analyzer turns it into ``AnalysisFailed``).
    """
    with open(path, "rb", buffering=0) as stream:
        return stream_digests(stream)


class CryptoHashAnalyzer(Analyzer):
    """Exact-copy digests of any file, whatever its kind.

    The analyzer never parses the content, so corrupt or unknown files still get digests
    (they are still evidence and may sit on a hash list). The only failure is an unreadable
    file, reported as plain ``AnalysisFailed``: there is no more specific ``AnalysisFailed``
    subclass for I/O errors, and ``UnreadableSource`` belongs to the ``SourceRejected``
    family that ingest raises before analysis starts.
    """

    name: ClassVar[str] = "crypto"
    version: ClassVar[str] = "1"
    media_kinds: ClassVar[frozenset[str]] = frozenset(ANY_MEDIA)
    emits: ClassVar[tuple[SignalKind, ...]] = DIGEST_SIGNALS

    def params(self) -> Mapping[str, Any]:
        """The algorithms computed (the chunk size does not change the result)."""
        return {"algorithms": list(ALGORITHMS)}

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Return ``{"md5", "sha1", "sha256"}`` as lower-case hex.

        Raises:
            AnalysisFailed: the file cannot be read.
        """
        try:
            return file_digests(media.path)
        except OSError as exc:
            raise AnalysisFailed(f"cannot read the file: {exc.strerror or exc}") from exc

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """Each digest as raw bytes under its own kind."""
        del media
        return tuple(Signal(name, bytes.fromhex(str(value[name]))) for name in ALGORITHMS)
