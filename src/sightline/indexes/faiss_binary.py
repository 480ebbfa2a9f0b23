"""FAISS binary indexes: an exhaustive scan and multi-index hashing.

``FaissFlatBinaryIndex`` wraps ``faiss.IndexBinaryFlat``: the same exhaustive scan as the
brute-force oracle, in SIMD C++ (any radius). ``FaissMultiHashBinaryIndex`` wraps
``faiss.IndexBinaryMultiHash``, which only scans codes sharing a bucket with the query, and
is exact up to radius 31 (see its docstring for the proof).

Ids and removal:
    FAISS labels a code by its insertion position. Both backends keep their own
    ``label -> caller id`` array, so any int64 id works, and mark removed or replaced codes
    dead in a boolean "alive" array (tombstones) rather than deleting them in place:
    ``IndexBinaryMultiHash`` implements neither ``remove_ids`` nor ``reconstruct`` (faiss
    1.15 raises "not implemented"), and shifting labels on every removal would cost O(n)
    anyway. Searches drop dead labels. When the dead exceed a quarter of the stored codes
    (and at least ``_COMPACT_MIN_DEAD``), and before every save, the live codes are copied
    out of the index's flat storage and the FAISS index is rebuilt. Each ``add``/``remove``
    also runs an O(n) vectorised membership test, so batch updates.

Threading:
    FAISS runs searches with OpenMP, by default one thread per core, and also splits a
    single flat-index query over the database. The thread count is process-wide, so it is
    left at FAISS's default here (importing or constructing must not reconfigure the
    process). Measured on a busy 2-core host at 100k codes (``benchmarks.index_probe``):
    one ``faiss-flat`` query took 0.12 ms (p99 0.2 ms) with one thread but 0.25-24 ms
    (p99 28 ms) with two, as threads wait for busy cores; batched throughput was similar.
    ``configure_threads`` sets it explicitly; ``SignalIndexService`` calls it with the
    ``match.index_threads`` setting (default 1).
    Searches may run concurrently; updates must not overlap searches or each other (the
    caller serialises them, as ``SignalIndexService`` does with a lock for backends that do
    not declare ``concurrent_search``).

Persistence:
    ``index.faissbin`` is FAISS's native binary-index format (what ``write_index_binary``
    writes, produced here with ``serialize_index_binary`` so the bytes can be checksummed
    in memory and written atomically), ``ids.npy`` is the label map, and the manifest
    records both checksums. Files are verified before FAISS parses them.
"""

from __future__ import annotations

import abc
import itertools
from pathlib import Path
from typing import Any, ClassVar, Self

import faiss
import numpy as np
import numpy.typing as npt

from sightline.errors import IndexFileError
from sightline.indexes._files import (
    IDS_FILE,
    load_ids,
    npy_bytes,
    read_verified,
    save_files,
    start_load,
)
from sightline.indexes._tombstones import Tombstones
from sightline.indexes._validation import check_codes, check_ids, check_radius, sorted_hits
from sightline.indexes.base import BinaryIndex, Codes, Hit, Ids, IndexCapabilities

INDEX_FILE = "index.faissbin"


def _is_instance(native: Any, kind: type) -> bool:
    """``isinstance`` without narrowing: faiss's stubs omit attributes such as ``nhash``."""
    return isinstance(native, kind)


class _FaissBinaryIndex(Tombstones, BinaryIndex):
    """Label map, tombstones, compaction and persistence shared by the FAISS backends."""

    def __init__(self, bits: int = 256) -> None:
        super().__init__(bits)
        self._index: Any = self._new_faiss_index()  # untyped FAISS object
        self._labels: Ids = np.empty(0, dtype=np.int64)  # caller id of each FAISS label
        self._alive: npt.NDArray[np.bool_] = np.empty(0, dtype=bool)
        self._dead = 0

    @classmethod
    def configure_threads(cls, threads: int) -> None:
        """Set FAISS's process-wide OpenMP thread count (0 leaves FAISS's default)."""
        if threads > 0:
            faiss.omp_set_num_threads(threads)

    @abc.abstractmethod
    def _new_faiss_index(self) -> Any:
        """A new, empty FAISS index configured for ``self.bits``."""

    @abc.abstractmethod
    def _storage(self) -> Any:
        """The ``IndexBinaryFlat`` inside the index that holds the raw codes."""

    @abc.abstractmethod
    def _adopt(self, native: Any, directory: Path) -> None:
        """Check a deserialised FAISS index is the expected kind and configure it.

        Raises:
            IndexFileError: it is another kind of index or was built with other parameters.
        """

    def add(self, ids: Ids, codes: Codes) -> None:
        """Add codes under ``ids``; a stored id's old code is tombstoned first."""
        codes = check_codes(codes, self.code_bytes)
        ids = check_ids(ids, len(codes))
        if not len(ids):
            return
        self._bury_ids(ids)
        self._index.add(codes)
        self._append_rows(ids)
        self._maybe_compact()

    def range_search(self, queries: Codes, radius: int) -> list[list[Hit]]:
        """Every live code within ``radius`` bits of each query, by (distance, id)."""
        queries = check_codes(queries, self.code_bytes, "queries")
        radius = check_radius(radius, self.bits, self.capabilities.max_radius)
        if not len(self) or not len(queries):
            return [[] for _ in range(len(queries))]
        # FAISS binary range search keeps distances strictly below its radius argument.
        raw_lims, raw_dist, raw_labels = self._index.range_search(queries, radius + 1)
        lims = np.asarray(raw_lims, dtype=np.int64)
        dist = np.asarray(raw_dist, dtype=np.int32)
        labels = np.asarray(raw_labels, dtype=np.int64)
        if self._dead:
            keep = self._alive[labels]
            lims = np.concatenate([[0], np.cumsum(keep)])[lims]
            dist, labels = dist[keep], labels[keep]
        ids = self._labels[labels]
        bounds = lims.tolist()
        return [sorted_hits(ids[a:b], dist[a:b]) for a, b in itertools.pairwise(bounds)]

    def _compact(self) -> None:
        """Rebuild the FAISS index from the live codes; labels become 0..len-1 again."""
        storage = self._storage()
        total = int(storage.ntotal)
        stored = np.asarray(storage.reconstruct_n(0, total), dtype=np.uint8)
        live = np.ascontiguousarray(stored.reshape(total, self.code_bytes)[self._alive])
        index = self._new_faiss_index()
        if len(live):
            index.add(live)
        self._index, self._labels = index, self._labels[self._alive]
        self._alive = np.ones(len(self._labels), dtype=bool)
        self._dead = 0

    def save(self, directory: Path) -> None:
        """Compact, then write the FAISS file and the id map atomically, then the manifest."""
        if self._dead:
            self._compact()
        blob = np.asarray(faiss.serialize_index_binary(self._index), dtype=np.uint8).tobytes()
        save_files(self, directory, {INDEX_FILE: blob, IDS_FILE: npy_bytes(self._labels)})

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load an index written by ``save``; files are verified before FAISS parses them.

        Raises:
            FileNotFoundError: no manifest in ``directory``.
            IndexFileError: a file is missing, corrupt, or inconsistent with the manifest, or
                holds another kind of FAISS index.
        """
        index, manifest = start_load(cls, directory)
        labels = load_ids(directory, manifest)
        blob = read_verified(directory, manifest, INDEX_FILE)
        try:
            native = faiss.deserialize_index_binary(np.frombuffer(blob, dtype=np.uint8))
        except RuntimeError as exc:
            raise IndexFileError(f"{INDEX_FILE} in {directory} does not parse: {exc}") from exc
        index._adopt(native, directory)
        if int(native.d) != index.bits or int(native.ntotal) != manifest.count:
            raise IndexFileError(f"{INDEX_FILE} in {directory} does not match the manifest")
        index._index, index._labels = native, labels
        index._alive = np.ones(len(labels), dtype=bool)
        return index


class FaissFlatBinaryIndex(_FaissBinaryIndex):
    """Exhaustive Hamming scan in FAISS (``IndexBinaryFlat``); exact at any radius.

    The same O(n) work per query as the brute-force oracle, but in SIMD C++ with batches
    spread over cores. Small and simple: the right choice while a scan is fast enough
    (about 18 ms a query at 1 M codes), and when radii above 31 are needed.
    """

    name: ClassVar[str] = "faiss-flat"
    capabilities: ClassVar[IndexCapabilities] = IndexCapabilities(exact=True, max_radius=None)

    def _new_faiss_index(self) -> Any:
        return faiss.IndexBinaryFlat(self.bits)

    def _storage(self) -> Any:
        return self._index

    def _adopt(self, native: Any, directory: Path) -> None:
        if not _is_instance(native, faiss.IndexBinaryFlat):
            kind = type(native).__name__
            raise IndexFileError(f"{INDEX_FILE} in {directory} holds a {kind}, not a flat index")


class FaissMultiHashBinaryIndex(_FaissBinaryIndex):
    """Multi-index hashing (``IndexBinaryMultiHash``), exact up to radius 31.

    The code is cut into ``NHASH`` = 16 disjoint chunks of ``bits / 16`` bits (16 bits for
    PDQ), and each chunk value keys its own hash table. A query looks up, in each table,
    its own chunk value and every value within ``NFLIP`` = 1 bit flip of it, and computes
    the true distance only for the codes found there.

    Why this is exact for radius <= 31 (pigeonhole): if two codes differ in at most 31
    bits, those bits fall into 16 chunks, so at least one chunk holds at most
    ``floor(31 / 16) = 1`` differing bit; probing every value within one flip of each query
    chunk therefore finds every such code. In general the bound is
    ``NHASH * (NFLIP + 1) - 1``; above it a code can differ by 2+ bits in every chunk and be
    missed, so larger radii raise ``ValueError`` instead of silently losing recall (use
    ``faiss-flat`` or ``brute`` for them). The same bound holds when the chunks do not
    cover every bit, since distance on a subset of bits is at most the full distance.

    Trade-offs: each query probes 16 x 17 buckets and scans the candidates found there,
    far fewer than n for realistic PDQ data, but families of near-identical images fill
    the same buckets, so clustered data costs more than uniform data. Memory is the codes
    plus 16 hash tables (about 3 GB resident at 10 M codes). FAISS's constructor defaults to
    ``nflip = 0`` (exact only to radius 15), so it is set explicitly; the file format stores
    it, and ``load`` refuses a file whose ``nhash``, ``b`` or ``nflip`` differ.
    """

    name: ClassVar[str] = "faiss-multihash"
    NHASH: ClassVar[int] = 16
    NFLIP: ClassVar[int] = 1
    capabilities: ClassVar[IndexCapabilities] = IndexCapabilities(
        exact=True, max_radius=NHASH * (NFLIP + 1) - 1
    )

    def __init__(self, bits: int = 256) -> None:
        if bits % self.NHASH or not 1 <= bits // self.NHASH <= 64:
            raise ValueError(f"faiss-multihash needs bits a multiple of 16 up to 1024; got {bits}")
        super().__init__(bits)

    def params(self) -> dict[str, Any]:
        """Chunk count, chunk width and flips probed; together they fix the exact radius."""
        return {"nhash": self.NHASH, "b": self.bits // self.NHASH, "nflip": self.NFLIP}

    def _new_faiss_index(self) -> Any:
        index = faiss.IndexBinaryMultiHash(self.bits, self.NHASH, self.bits // self.NHASH)
        index.nflip = self.NFLIP
        return index

    def _storage(self) -> Any:
        return faiss.downcast_IndexBinary(self._index.storage)

    def _adopt(self, native: Any, directory: Path) -> None:
        if not _is_instance(native, faiss.IndexBinaryMultiHash):
            kind = type(native).__name__
            raise IndexFileError(f"{INDEX_FILE} in {directory} holds a {kind}, not multi-hash")
        found = (int(native.nhash), int(native.b), int(native.nflip))
        if found != (self.NHASH, self.bits // self.NHASH, self.NFLIP):
            raise IndexFileError(f"{INDEX_FILE} in {directory} has (nhash, b, nflip) {found}")
