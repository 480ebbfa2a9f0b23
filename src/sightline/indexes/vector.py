"""The vector index family: k-nearest-neighbour search over float vectors.

Scene descriptors and embeddings are float vectors, and the question asked of them is "the
k most similar", not "everything within a radius": similarity between learned descriptors
has no universal threshold, so the caller ranks and decides. This family therefore has its
own interface, registry group (``sightline.vector_indexes``) and contract, beside the binary
Hamming-radius family in ``sightline.indexes.base``.

Metric and score direction:
    Every index is built for one declared metric and every ``VectorHit.score`` is in that
    metric's own units, so a score can be compared with a threshold without conversion:

    * ``"l2"``: squared Euclidean distance, **lower is better** (0 for an identical vector).
    * ``"ip"``: inner product, **higher is better** (unbounded; favours long vectors).
    * ``"cosine"``: cosine similarity in [-1, 1], **higher is better**. Vectors are
      L2-normalised on the way in, so a zero vector is refused (its direction is undefined).

    ``lower_is_better(metric)`` says which way a metric sorts. Results are best first, ties
    by id, so exact backends compare with the oracle independent of insertion order.

Exact and approximate:
    Exact backends (``brute-vector``, ``faiss-flat-vector``) must return the oracle's
    neighbours (up to ties within float tolerance). Approximate ones trade a bounded loss of
    recall for speed and declare ``VectorCapabilities.min_recall``: the mean recall@k
    against the oracle that the contract tests hold them to. Removed ids are never returned
    by either kind.

Vectors are given as ``(n, dims)`` floating arrays and held as float32 (float64 input is
converted; integers, NaN and infinities are refused). Ids are caller-chosen ``int64`` values,
the same as in the binary family, and adding a stored id replaces its vector.

Persistence follows the binary family: native files plus a JSON manifest (format 2, family
``"vector"``, with ``dims`` and ``metric``), verified by checksum before any parser runs.
Searches may run concurrently with each other; updates must not overlap searches or each
other (the caller serialises them).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from sightline.indexes.base import Ids

Vectors = npt.NDArray[np.float32]

METRICS = ("l2", "ip", "cosine")
"""Every metric a vector backend may declare (see the module docstring for units)."""

MAX_DIMS = 65_536
"""Widest vector accepted: far above any descriptor in use (SSCD has 512), low enough that a
corrupt manifest cannot ask for an absurd allocation."""


def lower_is_better(metric: str) -> bool:
    """Whether smaller scores are better for ``metric`` (only squared L2 distance)."""
    return metric == "l2"


@dataclass(frozen=True, slots=True)
class VectorHit:
    """One stored vector among a query's k nearest; ``score`` is in the metric's units."""

    id: int
    score: float


@dataclass(frozen=True, slots=True)
class VectorCapabilities:
    """What a vector backend can do, declared so callers and the contract can choose.

    Attributes:
        metrics: the metrics it can be built for (a subset of ``METRICS``).
        exact: whether results equal the brute-force oracle's.
        min_recall: the mean recall@k against the oracle it guarantees on the contract
            data (1.0 for an exact backend).
        removal: whether ``remove`` is supported.
        max_k: the largest ``k`` a search accepts (None: no limit).
    """

    metrics: tuple[str, ...] = METRICS
    exact: bool = True
    min_recall: float = 1.0
    removal: bool = True
    max_k: int | None = None


class VectorIndex(abc.ABC):
    """A set of float vectors of one width, searchable by k-nearest in one metric."""

    name: ClassVar[str]
    capabilities: ClassVar[VectorCapabilities] = VectorCapabilities()

    def __init__(self, dims: int, metric: str) -> None:
        """Create an empty index.

        Args:
            dims: the vector width, 1 to ``MAX_DIMS``.
            metric: one of ``capabilities.metrics``.

        Raises:
            ValueError: ``dims`` is not a positive integer up to ``MAX_DIMS``, or the
                backend does not support ``metric`` (the message lists those it does).
        """
        if isinstance(dims, bool) or not isinstance(dims, int | np.integer):
            raise ValueError(f"dims must be an integer; got {type(dims).__name__}")
        if not 1 <= int(dims) <= MAX_DIMS:
            raise ValueError(f"dims must be between 1 and {MAX_DIMS}; got {dims}")
        if metric not in self.capabilities.metrics:
            valid = ", ".join(self.capabilities.metrics)
            raise ValueError(f"{self.name} does not support metric {metric!r}; valid: {valid}")
        self.dims = int(dims)
        self.metric = metric
        self.checkpoint = 0

    def params(self) -> dict[str, Any]:
        """Build parameters recorded in the manifest (and required to match on load)."""
        return {}

    @classmethod
    def configure_threads(cls, threads: int) -> None:
        """Set how many threads the backend's searches use in this process (0: its default).

        Backends without internal threading ignore it.
        """
        del threads  # nothing to configure in the reference backend

    @abc.abstractmethod
    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add vectors (shape ``(n, dims)``) under the given ids; an existing id is replaced."""

    @abc.abstractmethod
    def remove(self, ids: Ids) -> int:
        """Remove the given ids; returns how many were present."""

    @abc.abstractmethod
    def search(self, queries: Vectors, k: int) -> list[list[VectorHit]]:
        """For each query, its ``k`` nearest stored vectors (fewer if fewer are stored).

        Best first in the metric's direction (``lower_is_better``), ties by id.
        """

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of stored vectors."""

    @abc.abstractmethod
    def save(self, directory: Path) -> None:
        """Persist into ``directory`` (native files plus manifest), atomically per file."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: Path) -> Self:
        """Load an index saved by ``save``."""
