"""The exact brute-force index: the oracle every other backend is tested against.

Every query is compared with every stored code: XOR the packed bytes, count the set bits,
keep what is within the radius. That is O(n) work per query with no index structure to get
wrong, so its answers define "correct" for the contract tests. It is also a perfectly good
production backend up to a few hundred thousand codes: the scan is vectorised in numpy over
64-bit words, and the query batch is processed in blocks so the temporary XOR array stays
bounded (``_BLOCK_BYTES``).

Updates copy the arrays (O(n) per ``add``/``remove`` call), so callers should batch them.
Input checks live in ``_validation`` and checksummed persistence in ``_files``, shared with
the other backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from sightline.errors import IndexFileError
from sightline.indexes._files import (
    IDS_FILE,
    load_ids,
    npy_bytes,
    npy_load,
    read_verified,
    save_files,
    start_load,
)
from sightline.indexes._validation import as_ids, check_codes, check_ids, check_radius, sorted_hits
from sightline.indexes.base import BinaryIndex, Codes, Hit, Ids, IndexCapabilities

CODES_FILE = "codes.npy"

_BLOCK_BYTES = 32 * 2**20
"""Upper bound on the (queries x codes x bytes) XOR temporary of one block of queries."""

_POPCOUNT_LUT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


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
        files = {IDS_FILE: npy_bytes(self._ids), CODES_FILE: npy_bytes(self._codes)}
        save_files(self, directory, files)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load ``ids.npy`` and ``codes.npy`` written by ``save``, verified by checksum.

        Raises:
            FileNotFoundError: no manifest in ``directory``.
            IndexFileError: a file is missing or corrupt, or does not match the manifest.
        """
        index, manifest = start_load(cls, directory)
        ids = load_ids(directory, manifest)
        codes = npy_load(read_verified(directory, manifest, CODES_FILE), CODES_FILE)
        if codes.dtype != np.uint8 or codes.shape != (manifest.count, index.code_bytes):
            raise IndexFileError(f"{CODES_FILE} in {directory} does not match the manifest")
        index._ids, index._codes = ids, np.ascontiguousarray(codes)
        return index
