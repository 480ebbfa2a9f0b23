"""Multi-index hashing in C: exact Hamming range search up to radius 31 at 10 M codes.

``MihBinaryIndex`` wraps the ``_mih`` extension (``_mih.c`` documents the structure and the
exactness proof in full). In short: the 256-bit code is cut into T chunks (T = 12..16; the
first ``256 % T`` chunks one bit wider), each keying a bucket table (CSR arrays: 2^width + 1
uint32 offsets into a uint32 array of positions). A radius-``r`` query probes, in each table,
the buckets within 0, 1 or 2 bit flips (``MAX_FLIPS``) of its own chunk, chosen so that the
flips plus one, summed over the tables, exceed ``r``; by the pigeonhole principle every code
within ``r`` bits then shares a probed bucket with the query, so results are exact (checked
against the brute-force oracle). Which tables get flips is chosen per radius, by expected
cost at the current size, whenever the tables are (re)built or merged into. T is chosen by
size: 16 tables of 16 bits below 1 M codes (no flips up to r = 15, then one flip in r - 15
tables: 272 buckets at r = 31), 14 of 18-19 bits from 1 M, 12 of 21-22 bits from 4 M
(two flips in 8 tables and one in 4 at r = 31), because wider chunks mean fewer candidates
to fetch from memory (about 10k instead of 41k a query at 10 M) at the price of 2^width
offsets a table (16 MiB at 22 bits). Radii above 31 raise ``ValueError`` (use
``faiss-flat`` or ``brute`` for them).

Measured with ``python -m benchmarks.index`` on the 2-core build host, clustered codes,
radius 31, one query at a time: about 14,000 lookups/s at 1 M codes and 6,000/s at 10 M
(``faiss-multihash``: 580/s at 1 M, 33/s at 10 M), about 115 bytes resident a stored code.

Trade-offs: everything lives in flat C arrays (the code, its id, an alive flag, one uint32 a
table, an open-addressing id -> position map; no Python object per hash); candidates are
prefetched so memory fetches overlap; duplicates across tables are skipped by a
chunk-distance rule instead of a visited set.

Updates: new codes are appended to an unindexed "delta" segment that every search scans
linearly, so an added code is matchable as soon as ``add`` returns. The ``add`` call that
brings the delta to ``merge_threshold`` codes merges it into the tables before returning (an
in-place O(n) move per table, about 0.1-0.4 s at 10 M; the first merge, and one that crosses
a size step, builds every table from scratch in the new layout). Removal and replacement
only clear the old position's alive flag (a tombstone): dead positions stay in the tables
and are skipped when reported. Once more than a quarter of the positions, and more than
1,024, are dead, that update compacts the arrays, renumbers the positions and rebuilds the
map and the tables (in the layout for the live count, so it may narrow; below
``merge_threshold`` live codes everything stays in the delta). Running out of memory during
a merge or compaction leaves the index exact, only slower.

Locking: this wrapper takes no Python lock. Each ``_mih`` call releases the GIL and holds a
pthread read-write lock inside the extension (writer-preferring on glibc). ``range_search``
(the whole batch of queries), ``save``'s export and ``stats`` hold the read lock, so any
number of threads search at once and a batch sees one consistent state; ``add``, ``remove``
and ``merge`` hold the write lock for the whole call, including any merge or compaction it
triggers, so each call is atomic to searches, but a search waits while one runs, and new
searches queue behind a waiting update. ``len()`` reads the counters without the lock.

Persistence: ``ids.npy`` and ``codes.npy`` hold the live entries (pickle disabled), verified
against the manifest's checksums before parsing; the tables are rebuilt on load (about 2 s of
a 5 s load at 10 M) rather than stored, so no file ever supplies an offset to the C code.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from sightline.errors import IndexFileError
from sightline.indexes import _mih
from sightline.indexes._files import (
    IDS_FILE,
    npy_bytes,
    npy_load,
    read_verified,
    save_files,
    start_load,
)
from sightline.indexes._validation import as_ids, check_codes, check_radius
from sightline.indexes.base import BinaryIndex, Codes, Hit, Ids, IndexCapabilities

CODES_FILE = "codes.npy"

DEFAULT_MERGE_THRESHOLD = 16_384
"""Delta codes before a merge. Each search scans the delta (about 1 ns a code), each merge
moves every table entry once (about 0.1 s at 10 M codes): 16k keeps the scan near 15 us."""


class MihBinaryIndex(BinaryIndex):
    """Exact multi-index hashing over 256-bit codes (12-16 chunk tables, 0-2 flips each).

    Args:
        bits: code width; only 256 (PDQ) is supported.
        merge_threshold: delta size that triggers a merge into the tables (tests use small
            values to exercise merges; not recorded in the manifest).
        tables: force this many tables (12..16) instead of choosing by size (tests and
            benchmarks; not recorded in the manifest).
    """

    name: ClassVar[str] = "mih"
    capabilities: ClassVar[IndexCapabilities] = IndexCapabilities(
        exact=True, max_radius=_mih.MAX_RADIUS, concurrent_search=True
    )

    def __init__(
        self,
        bits: int = 256,
        *,
        merge_threshold: int = DEFAULT_MERGE_THRESHOLD,
        tables: int | None = None,
    ) -> None:
        if bits != _mih.CODE_BYTES * 8:
            raise ValueError(f"mih supports {_mih.CODE_BYTES * 8}-bit codes only; got {bits}")
        super().__init__(bits)
        self._core = _mih.Core(merge_threshold, tables=tables or 0)

    def params(self) -> dict[str, Any]:
        """The table range and flip limit; the exact layout is chosen by size on (re)build."""
        return {"tables": [_mih.MIN_TABLES, _mih.MAX_TABLES], "max_flips": _mih.MAX_FLIPS}

    def stats(self) -> dict[str, int]:
        """Positions, live, merged, delta and dead counts, and bytes allocated in C."""
        return self._core.stats()

    def add(self, ids: Ids, codes: Codes) -> None:
        """Add codes under ``ids``; they are matchable on return. A stored id is replaced."""
        codes = check_codes(codes, self.code_bytes)
        ids = _distinct_ids(ids, len(codes))
        if len(ids):
            self._core.add(ids, codes)

    def remove(self, ids: Ids) -> int:
        """Tombstone ``ids``; unknown ids are ignored. Returns how many were stored."""
        return self._core.remove(np.ascontiguousarray(as_ids(ids)))

    def merge(self) -> None:
        """Merge the delta segment into the tables now (``load`` does; searches need not)."""
        self._core.merge()

    def range_search(self, queries: Codes, radius: int) -> list[list[Hit]]:
        """Every live code within ``radius`` bits of each query, by (distance, id)."""
        queries = check_codes(queries, self.code_bytes, "queries")
        radius = check_radius(radius, self.bits, self.capabilities.max_radius)
        raw_lims, raw_ids, raw_dists = self._core.search(queries, radius)
        bounds = np.frombuffer(raw_lims, dtype=np.int64).tolist()
        ids = np.frombuffer(raw_ids, dtype=np.int64).tolist()
        dists = np.frombuffer(raw_dists, dtype=np.int32).tolist()
        return [
            [Hit(i, d) for i, d in zip(ids[a:b], dists[a:b], strict=True)]
            for a, b in itertools.pairwise(bounds)
        ]

    def __len__(self) -> int:
        return len(self._core)

    def save(self, directory: Path) -> None:
        """Write the live ``ids.npy`` and ``codes.npy`` atomically, then the manifest."""
        raw_ids, raw_codes = self._core.export()
        ids = np.frombuffer(raw_ids, dtype=np.int64)
        codes = np.frombuffer(raw_codes, dtype=np.uint8).reshape(len(ids), self.code_bytes)
        save_files(self, directory, {IDS_FILE: npy_bytes(ids), CODES_FILE: npy_bytes(codes)})

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load ``ids.npy`` and ``codes.npy`` written by ``save`` and rebuild the tables.

        Raises:
            FileNotFoundError: no manifest in ``directory``.
            IndexFileError: a file is missing or corrupt, or does not match the manifest.
        """
        index, manifest = start_load(cls, directory)
        ids = npy_load(read_verified(directory, manifest, IDS_FILE), IDS_FILE)
        if ids.dtype != np.int64 or ids.shape != (manifest.count,):
            raise IndexFileError(f"{IDS_FILE} in {directory} does not match the manifest")
        if _has_duplicates(ids):
            raise IndexFileError(f"{IDS_FILE} in {directory} holds duplicate ids")
        codes = npy_load(read_verified(directory, manifest, CODES_FILE), CODES_FILE)
        if codes.dtype != np.uint8 or codes.shape != (manifest.count, index.code_bytes):
            raise IndexFileError(f"{CODES_FILE} in {directory} does not match the manifest")
        if len(ids):
            index._core.add(ids, np.ascontiguousarray(codes))
        index._core.merge()
        return index


def _has_duplicates(ids: Ids) -> bool:
    """Sort-based: ``np.unique`` takes ~10 s on 10 M ids with numpy 2.4, a sort 0.7 s."""
    ordered = np.sort(ids)
    return bool((ordered[1:] == ordered[:-1]).any())


def _distinct_ids(ids: object, count: int) -> Ids:
    """``check_ids`` with a sort-based duplicate test (same errors, fast at 10 M ids).

    Raises:
        ValueError: not integers, wrong length, out of int64 range, or duplicated.
    """
    out = as_ids(ids)
    if len(out) != count:
        raise ValueError(f"got {len(out)} ids for {count} codes")
    if count > 1 and _has_duplicates(out):
        raise ValueError("ids in one add() call must be distinct")
    return np.ascontiguousarray(out)
