"""Seeded data and oracle comparisons for the vector index contract (``vector_testing``).

Float scores from different backends differ in the last bits (float32 SIMD against the
oracle's float64), so "equal to the oracle" is checked with a tolerance: every reported
score must be the vector's true score, the k best scores must be the oracle's, and an id may
differ from the oracle's only where its true score ties the boundary (the k-th best score).
Approximate backends are held to a recall: the share of their hits that are at least as good
as the oracle's k-th best, so a tie at the boundary is never counted as a miss.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sightline.indexes.vector import VectorHit, lower_is_better

DIMS = 48
SCORE_RTOL = 1e-4
"""Relative tolerance on scores: float32 rounding of a 48-term sum is near 1e-6."""

_CLUSTERS = 40
_BASE = 4_000
ANCHORS = 16
PLANTED_STEPS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8)
"""Distances of the near copies planted around each anchor query (0.0: an identical copy)."""
_DUPLICATES = 16

Scores = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VectorContractData:
    """Seeded vectors, ids and queries shared by every vector contract test.

    Attributes:
        ids: one distinct int64 id per stored vector (including -1 and both int64 limits).
        vectors: the stored float32 vectors.
        queries: float32 query vectors: anchors, fresh samples, copies of stored vectors.
        planted: anchor query row -> ids of its near copies, nearest (identical) first.
        twins: pairs of ids whose vectors are identical (ties in every metric).
    """

    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    queries: npt.NDArray[np.float32]
    planted: dict[int, list[int]]
    twins: list[tuple[int, int]]


def _unit_rows(rng: np.random.Generator, count: int) -> npt.NDArray[np.float64]:
    rows = rng.normal(size=(count, DIMS))
    norms: npt.NDArray[np.float64] = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / norms


@functools.cache
def vector_contract_data(seed: int = 20_261_109) -> VectorContractData:
    """Build the (cached, read-only) contract data set.

    4,000 vectors in 40 overlapping Gaussian clusters (noise as wide as the spread of the
    centres, so neighbourhoods are not trivially separated); 16 anchor queries each with 8
    planted copies at distances ``PLANTED_STEPS``; 16 stored vectors repeated under a second
    id (exact ties); queries: the anchors, 24 fresh cluster samples and 8 copies of stored
    vectors (4 of them duplicated, so their best hits tie). Ids are shuffled over the int64
    range, with -1 (FAISS's "no result" label) and both int64 limits among them.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(_CLUSTERS, DIMS))
    base = centres[rng.integers(0, _CLUSTERS, _BASE)] + rng.normal(size=(_BASE, DIMS))
    anchors = centres[rng.integers(0, _CLUSTERS, ANCHORS)] + rng.normal(size=(ANCHORS, DIMS))
    steps = np.array(PLANTED_STEPS)
    planted = [anchor + steps[:, None] * _unit_rows(rng, len(steps)) for anchor in anchors]
    twin_rows = rng.choice(_BASE, size=_DUPLICATES, replace=False)
    vectors = np.concatenate([base, *planted, base[twin_rows]]).astype(np.float32)
    ids = rng.permutation(len(vectors)).astype(np.int64) * (2**50 + 3) - 2**62
    ids[:3] = [-1, np.iinfo(np.int64).min, np.iinfo(np.int64).max]
    ids = ids[rng.permutation(len(ids))]
    first_planted = _BASE
    owners = {
        row: [int(i) for i in ids[first_planted + row * len(steps) :][: len(steps)]]
        for row in range(ANCHORS)
    }
    twin_ids = ids[_BASE + ANCHORS * len(steps) :]
    twins = [(int(ids[r]), int(t)) for r, t in zip(twin_rows, twin_ids, strict=True)]
    fresh = centres[rng.integers(0, _CLUSTERS, 24)] + rng.normal(size=(24, DIMS))
    copies = base[np.concatenate([twin_rows[:4], rng.choice(_BASE, size=4, replace=False)])]
    queries = np.concatenate([anchors, fresh, copies]).astype(np.float32)
    for array in (ids, vectors, queries):
        array.setflags(write=False)
    return VectorContractData(ids, vectors, queries, owners, twins)


def reference_scores(
    vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32], metric: str
) -> Scores:
    """One query's true score against every vector, straight from the definitions.

    Deliberately not the oracle's formula (no norm expansion): it checks the oracle itself.
    """
    x, q = vectors.astype(np.float64), query.astype(np.float64)
    if metric == "l2":
        return np.asarray(((x - q) ** 2).sum(axis=1), dtype=np.float64)
    products = np.asarray(x @ q, dtype=np.float64)
    if metric == "ip":
        return products
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(q)
    return np.asarray(products / norms, dtype=np.float64)


def _key(score: float, metric: str) -> float:
    """A sort key where lower is better in every metric."""
    return score if lower_is_better(metric) else -score


def _check_hits_are_honest(
    hits: list[VectorHit], truth: dict[int, float], metric: str, tol: float
) -> None:
    """Distinct ids, each with its true score, best first (within ``tol``)."""
    ids = [h.id for h in hits]
    assert len(set(ids)) == len(ids), "an id was returned twice"
    for hit in hits:
        assert abs(hit.score - truth[hit.id]) <= tol, (hit, truth[hit.id])
    keys = [_key(h.score, metric) for h in hits]
    assert all(b >= a - tol for a, b in itertools.pairwise(keys)), "not best first"


def tolerance(expected: list[VectorHit]) -> float:
    """The score tolerance for one query: relative to the largest score magnitude."""
    return SCORE_RTOL * max([1.0, *(abs(h.score) for h in expected)])


def assert_exact(
    got: list[VectorHit], expected: list[VectorHit], truth: dict[int, float], metric: str
) -> None:
    """``got`` equals the oracle's ``expected`` up to score rounding and ties at the boundary."""
    assert len(got) == len(expected)
    if not expected:
        return
    tol = tolerance(expected)
    _check_hits_are_honest(got, truth, metric, tol)
    for mine, theirs in zip(got, expected, strict=True):
        assert abs(mine.score - theirs.score) <= tol, (mine, theirs)
    boundary = _key(expected[-1].score, metric)
    for odd in {h.id for h in got} ^ {h.id for h in expected}:
        assert abs(_key(truth[odd], metric) - boundary) <= tol, f"id {odd} is not a boundary tie"


def recall(
    got: list[VectorHit], expected: list[VectorHit], truth: dict[int, float], metric: str
) -> float:
    """The share of the oracle's k that ``got`` matched with hits as good as its k-th best."""
    if not expected:
        return 1.0
    tol = tolerance(expected)
    _check_hits_are_honest(got, truth, metric, tol)
    boundary = _key(expected[-1].score, metric)
    good = sum(1 for h in got if _key(h.score, metric) <= boundary + tol)
    return min(good, len(expected)) / len(expected)
