"""Encrypted blob store on the local file system.

Envelope encryption
    Every blob gets a fresh random 256-bit data key. The content is encrypted under that
    key; the key itself is wrapped (RFC 3394 AES key wrap) under a subkey derived from the
    master key and stored in the blob header. Rotating the master key therefore means
    re-wrapping 40 bytes per blob rather than re-encrypting terabytes, and no two blobs ever
    share a content key, so GCM nonce reuse across blobs is impossible by construction.

Chunked STREAM construction
    A single AES-GCM call over a 4 GB video would need the whole file in memory and would
    return plaintext only after the final tag check. Instead the content is cut into
    segments (1 MiB by default), each sealed by its own AES-GCM call with the nonce
    ``prefix (7 random bytes) || segment counter (4 bytes) || last-segment flag (1 byte)``
    (Hoang, Reyhanitabar, Rogaway and Vizár's STREAM, as used by Tink and age). The counter
    makes reordering or dropping a middle segment fail; the flag makes truncation fail even
    exactly at a segment boundary, and makes appended data fail because the true final
    segment no longer decrypts as non-final. Each segment is verified before it is returned,
    so a reader never sees unauthenticated plaintext, and memory stays at about two segments.

File format (version 1), all integers big-endian::

    magic "SIGHTBLB" (8) | version (1) | key id (8) | segment size (4)
    | wrapped data key (40) | nonce prefix (7)                       = 68-byte header
    then segments: AES-GCM(segment plaintext) || 16-byte tag, the last one flagged final.

The header bytes plus the blob id are the associated data of every segment, so any header
change, or a blob file renamed to another id, fails verification.

Layout: ``root/ab/cd/<id>``, two levels of fan-out so no directory grows too large. Writes
go to a temporary file in the target directory, are fsynced and atomically renamed into
place; the directory is then fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import io
import os
import re
import secrets
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from sightline.errors import (
    BlobIntegrityError,
    InvalidInputError,
    MasterKeyError,
    NotFoundError,
)
from sightline.storage.blobs.base import BlobStore, ByteSource
from sightline.storage.blobs.keys import MasterKey
from sightline.storage.permissions import private_directory

if TYPE_CHECKING:
    from sightline.config import Settings

MAGIC = b"SIGHTBLB"
FORMAT_VERSION = 1
DEFAULT_SEGMENT_SIZE = 1 << 20
# Bounds a segment size read from an (untrusted) header, so a forged value cannot make the
# reader allocate gigabytes before the first tag check.
MAX_SEGMENT_SIZE = 1 << 26
BLOB_ID_LENGTH = 32

_HEADER = struct.Struct(">8sB8sI40s7s")
HEADER_SIZE = _HEADER.size
_TAG_SIZE = 16
_NONCE_PREFIX_SIZE = 7
_MAX_SEGMENTS = 1 << 32  # the counter field is 4 bytes
_BLOB_ID = re.compile(rf"[0-9a-f]{{{BLOB_ID_LENGTH}}}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_ROLE = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
_FANOUT = re.compile(r"[0-9a-f]{2}")
# ``.<blob id>.<writer pid>-<random>.tmp``; names without the pid come from older versions.
_TEMP_NAME = re.compile(rf"\.([0-9a-f]{{{BLOB_ID_LENGTH}}})\.(?:([0-9]+)-)?[0-9a-f]{{16}}\.tmp")


@dataclass(frozen=True, slots=True)
class _Header:
    raw: bytes
    segment_size: int
    wrapped_key: bytes
    nonce_prefix: bytes


class EncryptedLocalBlobStore(BlobStore):
    """Blob store that keeps AES-256-GCM encrypted, integrity-checked files under ``root``.

    Args:
        root: directory holding the blobs; created (mode 0700) on first write.
        master_key: the loaded master key; subkeys for wrapping and naming derive from it.
        segment_size: plaintext bytes per STREAM segment. Larger segments cost more memory
            per reader; smaller ones add 16 bytes of tag each. Only affects new writes: the
            reader takes the size from each blob's header.
        durable: fsync every blob and its directory as it is written (the default). Bulk
            writers (ingest workers) pass False and have one process call ``sync()`` before
            anything refers to the new blobs: one filesystem sync per batch instead of four
            fsyncs per file, which measured ~2 ms of stalled worker time per image.
    """

    name: ClassVar[str] = "encrypted-local"

    def __init__(
        self,
        root: Path,
        master_key: MasterKey,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        durable: bool = True,
    ) -> None:
        if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
            raise InvalidInputError(f"segment_size must be between 1 and {MAX_SEGMENT_SIZE}")
        self._root = root
        self._key_id = master_key.key_id
        self._key_id_bytes = bytes.fromhex(master_key.key_id)
        self._wrapping_key = master_key.wrapping_key()
        self._mac_key = master_key.blob_id_mac_key()
        self._segment_size = segment_size
        self._durable = durable
        # Fan-out directories this object has made or seen: the store never removes one, so a
        # directory known once needs no more mkdir calls (three a blob, measured ~0.1 ms each).
        self._known_dirs: set[Path] = set()

    @classmethod
    def from_settings(
        cls, settings: Settings, master_key: MasterKey, *, durable: bool = True
    ) -> EncryptedLocalBlobStore:
        """The store in ``DATA_DIR/media``."""
        return cls(settings.media_dir, master_key, durable=durable)

    # -- naming -------------------------------------------------------------------------------

    def new_blob_id(self) -> str:
        """128 random bits in the format of content ids: a staging blob looks like any other."""
        return secrets.token_hex(BLOB_ID_LENGTH // 2)

    def blob_id_for(self, sha256: str, role: str) -> str:
        """Keyed, truncated HMAC-SHA256 of ``role:sha256`` (32 hex characters, 128 bits).

        Raises:
            InvalidInputError: ``sha256`` is not 64 hex characters, or ``role`` is not a short
                lowercase name (letters, digits, ``_.-``).
        """
        if not _SHA256.fullmatch(sha256):
            raise InvalidInputError("sha256 must be 64 hex characters")
        if not _ROLE.fullmatch(role):
            raise InvalidInputError("role must be a lowercase name such as 'original' or 'thumb'")
        message = f"{role}:{sha256.lower()}".encode("ascii")
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest()[:BLOB_ID_LENGTH]

    def _path(self, blob_id: str) -> Path:
        # Validate before any file-system call: only fixed-length lowercase hex can reach
        # os.path, so ids like "../x" or absolute paths never escape the root.
        if not isinstance(blob_id, str) or not _BLOB_ID.fullmatch(blob_id):
            raise InvalidInputError(
                f"invalid blob id: expected {BLOB_ID_LENGTH} lowercase hex characters"
            )
        return self._root / blob_id[:2] / blob_id[2:4] / blob_id

    # -- writing ------------------------------------------------------------------------------

    def put_file(self, blob_id: str, path: Path) -> None:
        """Encrypt the file at ``path`` segment by segment; memory use is about one segment.

        Raises:
            NotFoundError: ``path`` does not exist.
        """
        target = self._path(blob_id)
        try:
            source = path.open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"source file {path} not found") from None
        with source:
            self._write_atomically(blob_id, target, source)

    def put_bytes(self, blob_id: str, data: bytes) -> None:
        """Encrypt ``data`` into the blob ``blob_id``, atomically."""
        self._write_atomically(blob_id, self._path(blob_id), io.BytesIO(data))

    def put_stream(self, blob_id: str, source: ByteSource) -> None:
        """Encrypt ``source`` segment by segment into ``blob_id``; memory is about one segment."""
        self._write_atomically(blob_id, self._path(blob_id), source)

    def _write_atomically(self, blob_id: str, target: Path, source: ByteSource) -> None:
        self._ensure_directories(target.parent)
        temp = target.parent / f".{blob_id}.{os.getpid()}-{secrets.token_hex(8)}.tmp"
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
        fd = os.open(temp, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                self._encrypt(blob_id, source, out)
                out.flush()
                if self._durable:
                    os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            # An ordinary failure (disk full, bad source) cleans up after itself; only a killed
            # process leaves a temp file behind, for remove_stale_temp_files().
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        if self._durable:
            _fsync_directory(target.parent)

    def _encrypt(self, blob_id: str, source: ByteSource, out: BinaryIO) -> None:
        data_key = AESGCM.generate_key(bit_length=256)
        prefix = secrets.token_bytes(_NONCE_PREFIX_SIZE)
        wrapped = aes_key_wrap(self._wrapping_key, data_key)
        header = _HEADER.pack(
            MAGIC, FORMAT_VERSION, self._key_id_bytes, self._segment_size, wrapped, prefix
        )
        out.write(header)
        aead, aad = AESGCM(data_key), header + blob_id.encode("ascii")
        counter, current = 0, _read_full(source, self._segment_size)
        while True:
            # One segment of look-ahead: the final flag must be known before sealing, and a
            # source whose length is an exact multiple of the segment size ends on a full one.
            full = len(current) == self._segment_size
            following = _read_full(source, self._segment_size) if full else b""
            last = not following
            out.write(aead.encrypt(_nonce(prefix, counter, last), current, aad))
            if last:
                return
            counter, current = counter + 1, following

    def _ensure_directories(self, directory: Path) -> None:
        if directory in self._known_dirs:
            return
        private_directory(self._root)  # 0700 whatever the umask, even if it predates us
        for level in (directory.parent, directory):
            try:
                level.mkdir(mode=0o700)
            except FileExistsError:
                continue
            # A new directory entry is only durable once its parent directory is synced.
            if self._durable:
                _fsync_directory(level.parent)
        self._known_dirs.add(directory)

    def sync(self) -> None:
        """Make every completed write on the store's filesystem durable, whoever wrote it."""
        private_directory(self._root)
        _syncfs(self._root)

    # -- reading ------------------------------------------------------------------------------

    def exists(self, blob_id: str) -> bool:
        """Whether a blob with this id is stored."""
        return self._path(blob_id).is_file()

    def read_bytes(self, blob_id: str) -> bytes:
        """Decrypt and verify a whole blob into memory (all or nothing).

        Raises:
            NotFoundError: no such blob.
            MasterKeyError: the blob was written under another master key.
            BlobIntegrityError: the blob was altered, truncated, reordered or extended.
        """
        return b"".join(self.stream(blob_id))

    def stream(self, blob_id: str) -> Iterator[bytes]:
        """Decrypt a blob segment by segment; each segment is verified before it is yielded.

        The id, the blob's presence, its header and the key are checked eagerly, so those
        errors are raised by this call. Damage further in is raised by the iterator when it
        reaches it: a consumer must discard what it received if iteration raises.

        Raises:
            NotFoundError: no such blob.
            MasterKeyError: the blob was written under another master key.
            BlobIntegrityError: the header is damaged (later segments: raised by the iterator).
        """
        path = self._path(blob_id)
        with self._open(path, blob_id) as handle:
            self._unwrap(self._read_header(handle, blob_id), blob_id)
        # The generator reopens the file: holding this handle inside a generator that is
        # never iterated would leak it until garbage collection.
        return self._segments(path, blob_id)

    def copy_to(self, blob_id: str, out: BinaryIO) -> int:
        """Decrypt a blob into ``out`` one verified segment at a time; returns bytes written.

        On an integrity error ``out`` holds a verified prefix of the blob and must be discarded.
        """
        written = 0
        for chunk in self.stream(blob_id):
            out.write(chunk)
            written += len(chunk)
        return written

    def _segments(self, path: Path, blob_id: str) -> Iterator[bytes]:
        with self._open(path, blob_id) as handle:
            header = self._read_header(handle, blob_id)
            aead = AESGCM(self._unwrap(header, blob_id))
            aad = header.raw + blob_id.encode("ascii")
            sealed_size = header.segment_size + _TAG_SIZE
            counter, current = 0, _read_full(handle, sealed_size)
            while True:
                following = _read_full(handle, sealed_size) if len(current) == sealed_size else b""
                last = not following
                nonce = _nonce(header.nonce_prefix, counter, last)
                try:
                    plaintext = aead.decrypt(nonce, current, aad)
                except InvalidTag:
                    raise BlobIntegrityError(
                        f"blob {blob_id} failed verification at segment {counter}: "
                        "it was altered, truncated, reordered or extended"
                    ) from None
                yield plaintext
                if last:
                    return
                counter, current = counter + 1, following

    def _open(self, path: Path, blob_id: str) -> BinaryIO:
        try:
            return path.open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"no blob {blob_id}") from None

    def _read_header(self, handle: BinaryIO, blob_id: str) -> _Header:
        raw = _read_full(handle, HEADER_SIZE)
        if len(raw) < HEADER_SIZE:
            raise BlobIntegrityError(f"blob {blob_id} is truncated inside its header")
        magic, version, key_id, segment_size, wrapped, prefix = _HEADER.unpack(raw)
        if magic != MAGIC:
            raise BlobIntegrityError(f"blob {blob_id} is not a Sightline blob (bad magic)")
        if version != FORMAT_VERSION:
            raise BlobIntegrityError(
                f"blob {blob_id} has format version {version}; this build reads version "
                f"{FORMAT_VERSION} (damaged header or newer Sightline)"
            )
        if key_id != self._key_id_bytes:
            raise MasterKeyError(
                f"blob {blob_id} was encrypted under master key {key_id.hex()}, but the loaded "
                f"master key is {self._key_id}: wrong key file (or a damaged blob header)"
            )
        if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
            raise BlobIntegrityError(f"blob {blob_id} header has an invalid segment size")
        return _Header(raw, segment_size, wrapped, prefix)

    def _unwrap(self, header: _Header, blob_id: str) -> bytes:
        try:
            return aes_key_unwrap(self._wrapping_key, header.wrapped_key)
        except InvalidUnwrap:
            raise BlobIntegrityError(
                f"blob {blob_id}: its data key does not unwrap (damaged header or wrong key)"
            ) from None

    # -- maintenance --------------------------------------------------------------------------

    def delete(self, blob_id: str) -> bool:
        """Delete a blob; returns whether it existed."""
        path = self._path(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_directory(path.parent)
        return True

    def modified_at(self, blob_id: str) -> float:
        """When the blob was written (POSIX seconds).

        Raises:
            NotFoundError: no such blob.
        """
        try:
            return self._path(blob_id).stat().st_mtime
        except FileNotFoundError:
            raise NotFoundError(f"no blob {blob_id}") from None

    def iter_blob_ids(self) -> Iterator[str]:
        """Every stored blob id, in sorted order; temporary and foreign files are skipped."""
        for directory in self._fanout_directories():
            prefix = directory.parent.name + directory.name
            for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                name = entry.name
                if _BLOB_ID.fullmatch(name) and name[:4] == prefix and entry.is_file():
                    yield name

    def remove_stale_temp_files(self, older_than_s: float = 3600.0) -> int:
        """Delete the temp files of killed writers; returns how many.

        Temp files are left only by a process killed mid-write. A temp file names its writer's
        process id: one whose writer is no longer alive on this machine is removed at once.
        Any other (a live writer's, or one from an older version without a process id) is
        removed once untouched for ``older_than_s`` seconds: a write in progress keeps its
        temp file's modification time fresh, so a threshold well above the slowest write
        interval (an hour, say) never removes a live one. The local store's files belong to
        processes of this machine; do not share its directory between machines or PID
        namespaces.

        Raises:
            InvalidInputError: ``older_than_s`` is negative.
        """
        if older_than_s < 0:
            raise InvalidInputError("older_than_s must not be negative")
        return len(self.stale_temp_files(older_than_s, remove=True))

    def stale_temp_files(self, older_than_s: float = 3600.0, *, remove: bool = False) -> list[Path]:
        """The temp files of killed writers (see ``remove_stale_temp_files``), removed if asked."""
        cutoff = time.time() - older_than_s
        stale: list[Path] = []
        for directory in self._fanout_directories():
            for entry in os.scandir(directory):
                match = _TEMP_NAME.fullmatch(entry.name)
                if match is None or not entry.is_file(follow_symlinks=False):
                    continue
                writer = match.group(2)
                if (writer is not None and not _alive(int(writer))) or (
                    entry.stat().st_mtime <= cutoff
                ):
                    stale.append(Path(entry.path))
                    if remove:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)
        return stale

    def _fanout_directories(self) -> Iterator[Path]:
        for first in _subdirectories(self._root):
            yield from _subdirectories(first)


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a reused id counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a pid at all: leave it to the age rule
    return True


def _subdirectories(directory: Path) -> list[Path]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    names = [e.name for e in entries if _FANOUT.fullmatch(e.name) and e.is_dir()]
    return [directory / name for name in sorted(names)]


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= _MAX_SEGMENTS:
        # 2**32 segments of even 1 byte is 4 GiB; of the default 1 MiB, 4 PiB.
        raise InvalidInputError("blob exceeds the 2**32 segments the nonce counter can number")
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


def _read_full(handle: ByteSource, size: int) -> bytes:
    """Read exactly ``size`` bytes unless the end of the stream comes first."""
    parts, remaining = [], size
    while remaining:
        chunk = handle.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _syncfs(directory: Path) -> None:
    """Flush the filesystem holding ``directory`` (Linux ``syncfs``), else everything.

    Python's ``os`` has no ``syncfs``; ctypes reaches libc's. ``os.sync`` is the portable
    fallback: correct, but it flushes every filesystem of the machine.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if os.name == "nt" or not hasattr(libc, "syncfs"):
        os.sync()
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        if libc.syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    # Windows cannot open a directory for fsync; there the rename is as durable as it gets.
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
