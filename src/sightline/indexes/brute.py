"""The exact brute-force index: the oracle every other backend is tested against.

Every query is compared with every stored code: XOR the packed bytes, count the set bits,
keep what is within the radius. That is O(n) work per query with no index structure to get
wrong, so its answers define "correct" for the contract tests. It is also a perfectly good
production backend up to a few hundred thousand codes: the scan is vectorised in numpy over
64-bit words, and the query batch is processed in blocks so the temporary XOR array stays
bounded (``_BLOCK_BYTES``).

Updates copy the arrays (O(n) per ``add``/``remove`` call), so callers should batch them.

This module also holds the validation and persistence helpers the other backends share:
input checks that raise ``ValueError`` with the expected shape, atomic file writes, and a
manifest that records a SHA-256 checksum of every data file. Files are verified before any
parser (numpy's or FAISS's) sees them, so a truncated or garbled index is refused with
``IndexFileError`` instead of reaching native code that was never hardened against hostile
input. The checksums catch corruption and torn saves, not a deliberate forger who can also
rewrite the manifest.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from sightline.errors import BlobIntegrityError
from sightline.indexes.base import BinaryIndex, Codes, Hit, Ids, IndexCapabilities, IndexManifest

IDS_FILE = "ids.npy"
CODES_FILE = "codes.npy"
CHECKSUMS_KEY = "files_sha256"
"""Manifest ``params`` key holding ``{file name: sha256 hex}``; not a build parameter."""

_BLOCK_BYTES = 32 * 2**20
"""Upper bound on the (queries x codes x bytes) XOR temporary of one block of queries."""

_POPCOUNT_LUT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


class IndexFileError(BlobIntegrityError, ValueError):
    """A persisted index is missing a file, fails its checksum, or does not parse.

    It is both a ``BlobIntegrityError`` (stable code ``integrity``) and a ``ValueError``, so
    callers that treat an unusable index as "rebuild from the database" can catch either.
    """


# ---------------------------------------------------------------------------- validation


def check_codes(codes: object, code_bytes: int, what: str = "codes") -> Codes:
    """Return ``codes`` as a C-contiguous ``(n, code_bytes)`` uint8 array.

    Raises:
        ValueError: wrong type, dtype, rank or byte width (no silent casting: a float or
            int64 array of hashes is almost certainly a caller bug).
    """
    if not isinstance(codes, np.ndarray) or codes.dtype != np.uint8 or codes.ndim != 2:
        got = f"{type(codes).__name__} {getattr(codes, 'dtype', '')} {getattr(codes, 'shape', '')}"
        raise ValueError(f"{what} must be a uint8 array of shape (n, {code_bytes}); got {got}")
    if codes.shape[1] != code_bytes:
        raise ValueError(f"{what} must have {code_bytes} bytes per row; got {codes.shape[1]}")
    return np.ascontiguousarray(codes)


def as_ids(ids: object) -> Ids:
    """Return ``ids`` as a 1-D int64 array (an empty list is accepted).

    Raises:
        ValueError: not a 1-D array of integers, or out of int64 range.
    """
    array = np.asarray(ids)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D integer array; got {array.dtype} {array.shape}")
    if array.dtype == np.uint64 and int(array.max()) > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in int64")
    return array.astype(np.int64, copy=False)


def check_ids(ids: object, count: int) -> Ids:
    """Return ``ids`` as a 1-D int64 array of ``count`` distinct values.

    Raises:
        ValueError: not integers, wrong length, out of int64 range, or duplicated.
    """
    out = as_ids(ids)
    if len(out) != count:
        raise ValueError(f"got {len(out)} ids for {count} codes")
    if len(np.unique(out)) != count:
        raise ValueError("ids in one add() call must be distinct")
    return out


def check_radius(radius: object, bits: int, max_radius: int | None) -> int:
    """Validate a Hamming radius against the code width and the backend's limit.

    Raises:
        ValueError: not an integer, negative, wider than the code, or above ``max_radius``.
    """
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer):
        raise ValueError(f"radius must be an integer; got {type(radius).__name__}")
    value = int(radius)
    if not 0 <= value <= bits:
        raise ValueError(f"radius must be between 0 and {bits}; got {value}")
    if max_radius is not None and value > max_radius:
        raise ValueError(f"this backend is exact only up to radius {max_radius}; got {value}")
    return value


def sorted_hits(ids: Ids, distances: npt.NDArray[np.integer[Any]]) -> list[Hit]:
    """Hits ordered nearest first, ties by id, so every backend's output compares equal."""
    order = np.lexsort((ids, distances))
    pairs = zip(ids[order].tolist(), distances[order].tolist(), strict=True)
    return [Hit(int(i), int(d)) for i, d in pairs]


# ---------------------------------------------------------------------------- hamming


def _popcount(words: npt.NDArray[np.unsignedinteger[Any]]) -> npt.NDArray[np.uint8]:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0: hardware popcount
        return np.asarray(np.bitwise_count(words), dtype=np.uint8)
    per_byte = _POPCOUNT_LUT[words.view(np.uint8)].reshape(*words.shape, -1)
    return np.asarray(per_byte.sum(axis=-1, dtype=np.uint8), dtype=np.uint8)


def _as_words(codes: Codes) -> npt.NDArray[np.unsignedinteger[Any]]:
    """View packed bytes as 64-bit words when the width allows: 8x fewer popcounts."""
    if codes.shape[1] % 8 == 0:
        return np.ascontiguousarray(codes).view(np.uint64)
    return codes


def hamming_blocks(queries: Codes, codes: Codes) -> Iterator[npt.NDArray[np.int32]]:
    """Hamming distances, one ``(block, len(codes))`` matrix per block of queries.

    Blocks keep memory bounded: a full (queries x codes) matrix for 1,000 queries against
    1 M codes would be 4 GB, and its XOR temporary eight times more.
    """
    q_words, c_words = _as_words(queries), _as_words(codes)
    block = max(1, _BLOCK_BYTES // max(1, codes.nbytes))
    for start in range(0, len(queries), block):
        xor = q_words[start : start + block, None, :] ^ c_words[None, :, :]
        yield _popcount(xor).sum(axis=-1, dtype=np.int32)


# ---------------------------------------------------------------------------- persistence


def write_atomic(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` via a synced temporary file and ``os.replace``.

    Returns:
        The SHA-256 hex digest of ``data``, for the manifest.
    """
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def npy_bytes(array: npt.NDArray[Any]) -> bytes:
    """Serialise an array in ``.npy`` format (no pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_load(data: bytes, name: str) -> npt.NDArray[Any]:
    """Parse ``.npy`` bytes with pickle disabled.

    Raises:
        IndexFileError: the bytes are not a valid ``.npy`` file.
    """
    try:
        return np.asarray(np.load(io.BytesIO(data), allow_pickle=False))
    except (ValueError, OSError, EOFError) as exc:
        raise IndexFileError(f"index file {name} is not a valid .npy array: {exc}") from exc


def write_manifest(
    index: BinaryIndex, directory: Path, count: int, checksums: Mapping[str, str]
) -> None:
    """Write the manifest last, so it only ever names files that are already complete."""
    params = {**index.params(), CHECKSUMS_KEY: dict(checksums)}
    manifest = IndexManifest(index.name, index.bits, count, index.checkpoint, params)
    manifest.write(directory)


def read_manifest(cls: type[BinaryIndex], directory: Path) -> IndexManifest:
    """Read the manifest and check it was written by ``cls``.

    Raises:
        FileNotFoundError: there is no manifest (no index was saved here).
        IndexFileError: the manifest is unreadable or belongs to another backend.
    """
    try:
        manifest = IndexManifest.read(directory)
    except FileNotFoundError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise IndexFileError(f"index manifest in {directory} is unreadable: {exc!r}") from exc
    if manifest.backend != cls.name:
        raise IndexFileError(
            f"index in {directory} was built by {manifest.backend!r}, not {cls.name!r}"
        )
    if manifest.bits <= 0 or manifest.bits % 8 or manifest.count < 0:
        raise IndexFileError(f"index manifest in {directory} has invalid bits or count")
    return manifest


def build_params(manifest: IndexManifest) -> dict[str, Any]:
    """The manifest's build parameters, without the file checksums."""
    return {k: v for k, v in manifest.params.items() if k != CHECKSUMS_KEY}


def read_verified(directory: Path, manifest: IndexManifest, name: str) -> bytes:
    """Read one data file and check it against the manifest's checksum.

    Raises:
        IndexFileError: the file is missing, not listed, or its checksum differs.
    """
    checksums = manifest.params.get(CHECKSUMS_KEY)
    expected = checksums.get(name) if isinstance(checksums, dict) else None
    if not isinstance(expected, str):
        raise IndexFileError(f"index manifest in {directory} has no checksum for {name}")
    try:
        data = (directory / name).read_bytes()
    except OSError as exc:
        raise IndexFileError(f"index file {directory / name} is unreadable: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != expected:
        raise IndexFileError(f"index file {directory / name} is corrupt (checksum mismatch)")
    return data


# ---------------------------------------------------------------------------- the index


class BruteForceBinaryIndex(BinaryIndex):
    """Exact Hamming range search by scanning every stored code.

    Codes live in one ``(n, bits/8)`` uint8 array beside an int64 id array. Persisted as
    ``ids.npy`` and ``codes.npy`` (pickle disabled) plus the JSON manifest.
    """

    name: ClassVar[str] = "brute"
    capabilities: ClassVar[IndexCapabilities] = IndexCapabilities(exact=True, max_radius=None)

    def __init__(self, bits: int = 256) -> None:
        super().__init__(bits)
        self._ids: Ids = np.empty(0, dtype=np.int64)
        self._codes: Codes = np.empty((0, self.code_bytes), dtype=np.uint8)

    def add(self, ids: Ids, codes: Codes) -> None:
        """Add codes under ``ids``; a stored id is replaced (its old code is dropped)."""
        codes = check_codes(codes, self.code_bytes)
        ids = check_ids(ids, len(codes))
        keep = ~np.isin(self._ids, ids)
        self._ids = np.concatenate([self._ids[keep], ids])
        self._codes = np.concatenate([self._codes[keep], codes])

    def remove(self, ids: Ids) -> int:
        """Remove ``ids``; unknown ids are ignored. Returns how many were stored."""
        drop = np.isin(self._ids, as_ids(ids))
        removed = int(drop.sum())
        if removed:
            self._ids, self._codes = self._ids[~drop], self._codes[~drop]
        return removed

    def range_search(self, queries: Codes, radius: int) -> list[list[Hit]]:
        """Every stored code within ``radius`` bits of each query, by (distance, id)."""
        queries = check_codes(queries, self.code_bytes, "queries")
        radius = check_radius(radius, self.bits, self.capabilities.max_radius)
        if not len(self._ids):
            return [[] for _ in range(len(queries))]
        results: list[list[Hit]] = []
        for distances in hamming_blocks(queries, self._codes):
            for row in distances:
                (within,) = np.nonzero(row <= radius)
                results.append(sorted_hits(self._ids[within], row[within]))
        return results

    def __len__(self) -> int:
        return len(self._ids)

    def save(self, directory: Path) -> None:
        """Write ``ids.npy`` and ``codes.npy`` atomically, then the manifest."""
        directory.mkdir(parents=True, exist_ok=True)
        checksums = {
            IDS_FILE: write_atomic(directory / IDS_FILE, npy_bytes(self._ids)),
            CODES_FILE: write_atomic(directory / CODES_FILE, npy_bytes(self._codes)),
        }
        write_manifest(self, directory, len(self), checksums)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load and verify an index written by ``save``.

        Raises:
            FileNotFoundError: no manifest in ``directory``.
            IndexFileError: a file is missing, corrupt, or inconsistent with the manifest.
        """
        manifest = read_manifest(cls, directory)
        index = cls(manifest.bits)
        ids = npy_load(read_verified(directory, manifest, IDS_FILE), IDS_FILE)
        codes = npy_load(read_verified(directory, manifest, CODES_FILE), CODES_FILE)
        if ids.dtype != np.int64 or ids.shape != (manifest.count,):
            raise IndexFileError(f"{IDS_FILE} in {directory} does not match the manifest")
        if codes.dtype != np.uint8 or codes.shape != (manifest.count, index.code_bytes):
            raise IndexFileError(f"{CODES_FILE} in {directory} does not match the manifest")
        if len(np.unique(ids)) != len(ids):
            raise IndexFileError(f"{IDS_FILE} in {directory} holds duplicate ids")
        if build_params(manifest) != index.params():
            raise IndexFileError(f"index in {directory} was built with other parameters")
        index._ids, index._codes = ids, np.ascontiguousarray(codes)
        index.checkpoint = manifest.checkpoint
        return index
