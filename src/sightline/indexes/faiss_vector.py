"""FAISS vector indexes: what every FAISS backend shares, and the exact flat backend.

``FaissFlatVectorIndex`` wraps ``faiss.IndexFlat`` in an ``IndexIDMap2``: the same
exhaustive scan as the brute-force oracle, but in float32 SIMD/BLAS C++ with batches spread
over cores, so it is exact (to float32 rounding) and several times faster. It is the right
choice while a scan is fast enough, about 6 ms a query at 100k vectors of 256 dims on one
core of the 2-core build host; above that, ``faiss-hnsw-vector`` (``faiss_hnsw``) answers in
a fraction of a millisecond at a declared recall.

Metrics: FAISS knows squared L2 (``METRIC_L2``, which is already the squared distance this
family reports) and inner product. Cosine is inner product on L2-normalised vectors: stored
vectors and queries are normalised on the way in, so scores are cosine similarities.

Ids and removal: ``IndexIDMap2`` keeps the caller's int64 ids beside the flat storage and
supports ``remove_ids`` (an O(n) compaction of the flat array per call, so batch removals)
and replacement (remove, then add). Searches ask FAISS for at most ``len(self)`` neighbours,
so FAISS never pads a result with its ``-1`` "no neighbour" label, which is a valid caller
id here.

Threading: FAISS runs searches with OpenMP, one thread per core by default, process-wide.
As in ``faiss_binary``, importing or constructing never changes it; ``configure_threads``
sets it when the caller asks (0 keeps FAISS's default). Searches may run concurrently;
updates must not overlap searches or each other (the caller serialises them).

Persistence: ``index.faiss`` is written by FAISS's own writer (``faiss.write_index`` to a
temporary file, then an atomic rename; never pickle), and the manifest records its checksum,
family, dims and metric. On load the file's bytes are verified before FAISS parses exactly
those bytes, and the parsed index is checked to be the expected kind, width and metric.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar, Self

import faiss
import numpy as np

from sightline.errors import IndexFileError
from sightline.indexes._files import (
    read_verified,
    save_files,
    start_vector_load,
    write_atomic_with,
)
from sightline.indexes._validation import as_ids, check_ids
from sightline.indexes._vector_validation import (
    check_k,
    check_vectors,
    prepare,
    sorted_vector_hits,
)
from sightline.indexes.base import Ids
from sightline.indexes.manifest import IndexManifest
from sightline.indexes.vector import VectorCapabilities, VectorHit, VectorIndex, Vectors

INDEX_FILE = "index.faiss"

faiss_api: Any = faiss
"""FAISS with its types erased: its bundled stubs omit classes this family uses (for
example ``SearchParametersHNSW``) and attributes such as ``metric_type`` on parsed indexes."""


def is_instance(native: Any, kind: type) -> bool:
    """``isinstance`` without narrowing ``native`` (FAISS's stubs would lose its attributes)."""
    return isinstance(native, kind)


def faiss_metric(metric: str) -> int:
    """The FAISS metric constant a metric of this family is computed with."""
    return int(faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)


def read_native(directory: Path, manifest: IndexManifest) -> Any:
    """Verify ``index.faiss`` against the manifest, then let FAISS parse those bytes.

    Raises:
        IndexFileError: the file is missing, fails its checksum, or does not parse.
    """
    blob = read_verified(directory, manifest, INDEX_FILE)
    try:
        return faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))
    except (RuntimeError, MemoryError) as exc:
        raise IndexFileError(f"{INDEX_FILE} in {directory} does not parse: {exc}") from exc


class FaissVectorIndex(VectorIndex):
    """Validation, metric mapping, threads and native persistence shared by FAISS backends."""

    @classmethod
    def configure_threads(cls, threads: int) -> None:
        """Set FAISS's process-wide OpenMP thread count (0 leaves FAISS's default)."""
        if threads > 0:
            faiss.omp_set_num_threads(threads)

    def _vectors(self, vectors: object, what: str = "vectors") -> Vectors:
        """Checked float32 vectors, normalised for cosine."""
        return prepare(check_vectors(vectors, self.dims, what), self.metric, what)

    def _write(
        self, directory: Path, native: Any, files: dict[str, bytes], owner: VectorIndex
    ) -> None:
        """Write the FAISS file atomically with FAISS's writer, the ``files``, then the manifest.

        ``owner`` is the index the manifest describes: this one, or a wrapper that holds
        this one (``auto-vector``) and records its own name, size and parameters.
        """
        directory.mkdir(parents=True, exist_ok=True)
        digest = write_atomic_with(directory / INDEX_FILE, lambda p: faiss.write_index(native, p))
        save_files(owner, directory, files, {INDEX_FILE: digest})

    def save(self, directory: Path) -> None:
        """Write the native files atomically, then the manifest."""
        self._save_as(directory, self)

    @abc.abstractmethod
    def _save_as(self, directory: Path, owner: VectorIndex) -> None:
        """Write the native files, then ``owner``'s manifest (see ``_write``)."""

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load an index written by ``save``; files are verified before anything parses them.

        Raises:
            FileNotFoundError: no manifest in ``directory``.
            IndexFileError: a file is missing or corrupt, of another kind, width, metric or
                build, or inconsistent with the manifest or with itself.
        """
        index, manifest = start_vector_load(cls, directory)
        index._read_files(directory, manifest)
        return index

    @abc.abstractmethod
    def _read_files(self, directory: Path, manifest: IndexManifest) -> None:
        """Fill this empty index from the native files that ``manifest`` lists.

        The manifest has already been checked to describe this width and metric; its
        ``count`` is the number of live vectors.
        """

    def _check_native(self, native: Any, kind: type, directory: Path) -> None:
        """Check a parsed FAISS index is a ``kind`` of this width and metric.

        Raises:
            IndexFileError: another kind of index, another width or another metric.
        """
        if not is_instance(native, kind):
            found = type(native).__name__
            raise IndexFileError(
                f"{INDEX_FILE} in {directory} holds a {found}, not {kind.__name__}"
            )
        if int(native.d) != self.dims or int(native.metric_type) != faiss_metric(self.metric):
            raise IndexFileError(
                f"{INDEX_FILE} in {directory} has dims {native.d} and FAISS metric "
                f"{native.metric_type}; the manifest says {self.dims} and {self.metric!r}"
            )


class FaissFlatVectorIndex(FaissVectorIndex):
    """Exact k-nearest search in FAISS (``IndexFlat`` inside ``IndexIDMap2``); every metric."""

    name: ClassVar[str] = "faiss-flat-vector"
    capabilities: ClassVar[VectorCapabilities] = VectorCapabilities(exact=True, max_k=None)

    def __init__(self, dims: int, metric: str) -> None:
        super().__init__(dims, metric)
        self._index: Any = self._new_native()  # untyped FAISS object

    def _new_native(self) -> Any:
        return faiss.IndexIDMap2(faiss.IndexFlat(self.dims, faiss_metric(self.metric)))

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add vectors under ``ids``; a stored id's old vector is removed first."""
        vectors = self._vectors(vectors)
        ids = check_ids(ids, len(vectors), "vectors")
        if not len(ids):
            return
        self._index.remove_ids(ids)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: Ids) -> int:
        """Remove ``ids``; unknown ids are ignored. Returns how many were stored."""
        ids = as_ids(ids)
        if not len(ids) or not len(self):
            return 0
        return int(self._index.remove_ids(np.unique(ids)))

    def search(self, queries: Vectors, k: int) -> list[list[VectorHit]]:
        """The ``k`` best stored vectors for each query, exactly, best first, ties by id."""
        queries = self._vectors(queries, "queries")
        k = min(check_k(k, self.capabilities.max_k), len(self))
        if not k or not len(queries):
            return [[] for _ in range(len(queries))]
        scores, ids = self._index.search(queries, k)
        return [
            sorted_vector_hits(np.asarray(row_ids, dtype=np.int64), row, self.metric)
            for row_ids, row in zip(ids, scores, strict=True)
        ]

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def stored(self) -> tuple[Ids, Vectors]:
        """Every stored id and its vector (as held: normalised for cosine), in storage order."""
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        if not len(ids):
            return ids, np.empty((0, self.dims), dtype=np.float32)
        flat = faiss.downcast_index(self._index.index)
        vectors = np.asarray(flat.reconstruct_n(0, len(ids)), dtype=np.float32)
        return ids, vectors.reshape(len(ids), self.dims)

    def _save_as(self, directory: Path, owner: VectorIndex) -> None:
        """Write ``index.faiss`` (vectors and ids) atomically, then the manifest."""
        self._write(directory, self._index, {}, owner)

    def _read_files(self, directory: Path, manifest: IndexManifest) -> None:
        """Parse ``index.faiss`` (verified first): an ``IndexIDMap2`` of an ``IndexFlat``.

        Raises:
            IndexFileError: the file is missing, corrupt, of another kind, width or metric,
                or inconsistent with the manifest.
        """
        native = read_native(directory, manifest)
        self._check_native(native, faiss.IndexIDMap2, directory)
        flat = faiss.downcast_index(native.index)
        self._check_native(flat, faiss.IndexFlat, directory)
        ids = faiss.vector_to_array(native.id_map)
        if int(native.ntotal) != manifest.count or len(np.unique(ids)) != len(ids):
            raise IndexFileError(f"{INDEX_FILE} in {directory} does not match the manifest")
        self._index = native
