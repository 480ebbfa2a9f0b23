"""The exact brute-force vector index: the oracle every vector backend is tested against.

Every query is scored against every stored vector in float64 (the stored float32 vectors
are widened once per search), so its answers are the reference for the contract tests:
exact backends must return the same neighbours, approximate ones a declared share of them.
Squared L2 distances use the expansion ``|q|^2 + |x|^2 - 2 q.x``, which in float64 loses
nothing that matters at float32 input precision and is a matrix product instead of an
``(queries x vectors x dims)`` temporary; cosine divides by both norms in float64. Queries
are processed in blocks so the score matrix stays bounded (``_BLOCK_SCORES``).

It is also a usable production backend up to some hundred thousand vectors: a search is
O(n x dims) work in BLAS. Updates copy the arrays (O(n) per ``add``/``remove`` call), so
callers should batch them. Persisted as ``ids.npy`` and ``vectors.npy`` (raw float32, pickle
disabled) plus the JSON manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from sightline.errors import IndexFileError
from sightline.indexes._files import (
    IDS_FILE,
    load_ids,
    load_npy,
    npy_bytes,
    save_files,
    start_vector_load,
)
from sightline.indexes._validation import as_ids, check_ids
from sightline.indexes._vector_validation import (
    check_k,
    check_vectors,
    prepare,
    sorted_vector_hits,
)
from sightline.indexes.base import Ids
from sightline.indexes.vector import (
    VectorCapabilities,
    VectorHit,
    VectorIndex,
    Vectors,
    lower_is_better,
)

VECTORS_FILE = "vectors.npy"

_BLOCK_SCORES = 4 * 2**20
"""Upper bound on the (queries x vectors) float64 score matrix of one block (32 MiB)."""

Scores = npt.NDArray[np.float64]


def exact_scores(queries: Vectors, vectors: Vectors, metric: str) -> Scores:
    """The ``(len(queries), len(vectors))`` matrix of scores in ``metric``, in float64.

    Raises:
        ValueError: the cosine metric and a zero vector.
    """
    q, x = queries.astype(np.float64), vectors.astype(np.float64)
    if metric == "cosine":
        q, x = prepare_f64(q, "queries"), prepare_f64(x, "vectors")
    products: Scores = q @ x.T
    if metric != "l2":
        return products
    squared = (q * q).sum(axis=1)[:, None] + (x * x).sum(axis=1)[None, :] - 2.0 * products
    clamped: Scores = np.maximum(squared, 0.0)  # rounding can dip below zero for a duplicate
    return clamped


def prepare_f64(vectors: Scores, what: str) -> Scores:
    """Rows divided by their L2 norms, in float64.

    Raises:
        ValueError: a zero row (no direction to compare).
    """
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not norms.all():
        raise ValueError(f"{what} must be non-zero for the cosine metric")
    unit: Scores = vectors / norms
    return unit


def top_k(ids: Ids, scores: Scores, metric: str, k: int) -> list[VectorHit]:
    """The best ``k`` of one query's scores, best first, ties by id.

    A partial partition finds the k-th best key; every score at least that good is kept
    before sorting, so ties at the boundary are broken by id, not by partition order.
    """
    key = scores if lower_is_better(metric) else -scores
    if k < len(key):
        kth = np.partition(key, k - 1)[k - 1]
        (within,) = np.nonzero(key <= kth)
        return sorted_vector_hits(ids[within], scores[within], metric, k)
    return sorted_vector_hits(ids, scores, metric, k)


class BruteForceVectorIndex(VectorIndex):
    """Exact k-nearest search by scoring every stored vector; supports every metric.

    Vectors are stored as given (float32, not normalised), so cosine scores are computed
    from the original values in float64 rather than from rounded unit vectors.
    """

    name: ClassVar[str] = "brute-vector"
    capabilities: ClassVar[VectorCapabilities] = VectorCapabilities(exact=True, max_k=None)

    def __init__(self, dims: int, metric: str) -> None:
        super().__init__(dims, metric)
        self._ids: Ids = np.empty(0, dtype=np.int64)
        self._vectors: Vectors = np.empty((0, self.dims), dtype=np.float32)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add vectors under ``ids``; a stored id is replaced (its old vector is dropped)."""
        vectors = check_vectors(vectors, self.dims)
        prepare(vectors, self.metric)  # refuses zero vectors for cosine; stored as given
        ids = check_ids(ids, len(vectors), "vectors")
        keep = ~np.isin(self._ids, ids)
        self._ids = np.concatenate([self._ids[keep], ids])
        self._vectors = np.concatenate([self._vectors[keep], vectors])

    def remove(self, ids: Ids) -> int:
        """Remove ``ids``; unknown ids are ignored. Returns how many were stored."""
        drop = np.isin(self._ids, as_ids(ids))
        removed = int(drop.sum())
        if removed:
            self._ids, self._vectors = self._ids[~drop], self._vectors[~drop]
        return removed

    def search(self, queries: Vectors, k: int) -> list[list[VectorHit]]:
        """The ``k`` best stored vectors for each query, exactly, best first, ties by id."""
        queries = check_vectors(queries, self.dims, "queries")
        prepare(queries, self.metric, "queries")
        k = check_k(k, self.capabilities.max_k)
        if not len(self._ids):
            return [[] for _ in range(len(queries))]
        block = max(1, _BLOCK_SCORES // len(self._ids))
        results: list[list[VectorHit]] = []
        for start in range(0, len(queries), block):
            scores = exact_scores(queries[start : start + block], self._vectors, self.metric)
            results.extend(top_k(self._ids, row, self.metric, k) for row in scores)
        return results

    def __len__(self) -> int:
        return len(self._ids)

    def stored(self) -> tuple[Ids, Vectors]:
        """Copies of the stored ids and vectors, in storage order (the contract's ground truth)."""
        return self._ids.copy(), self._vectors.copy()

    def save(self, directory: Path) -> None:
        """Write ``ids.npy`` and ``vectors.npy`` atomically, then the manifest."""
        files = {IDS_FILE: npy_bytes(self._ids), VECTORS_FILE: npy_bytes(self._vectors)}
        save_files(self, directory, files)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load ``ids.npy`` and ``vectors.npy`` written by ``save``, verified by checksum.

        Raises:
            FileNotFoundError: no manifest in ``directory``.
            IndexFileError: a file is missing or corrupt, or does not match the manifest
                (including vectors of another width than the manifest's ``dims``).
        """
        index, manifest = start_vector_load(cls, directory)
        ids = load_ids(directory, manifest)
        vectors: npt.NDArray[Any] = load_npy(directory, manifest, VECTORS_FILE)
        if vectors.dtype != np.float32 or vectors.shape != (manifest.count, index.dims):
            raise IndexFileError(f"{VECTORS_FILE} in {directory} does not match the manifest")
        try:
            prepare(check_vectors(vectors, index.dims), index.metric)
        except ValueError as exc:  # NaN, infinity, or a zero vector under cosine
            raise IndexFileError(f"{VECTORS_FILE} in {directory} is invalid: {exc}") from exc
        index._ids, index._vectors = ids, np.ascontiguousarray(vectors)
        return index
