"""A float index chosen by size: an exact flat scan while small, an HNSW graph beyond.

As ``mih`` lays out its tables by the number of codes it holds, ``auto-vector`` picks its
structure by the number of vectors, so a deployment need not know how large a collection
will grow:

* up to ``switch_at`` vectors it is a ``faiss-flat-vector`` index: an exact scan, so every
  answer is the brute-force oracle's;
* the ``add`` that takes it past ``switch_at`` rebuilds it as a ``faiss-hnsw-vector`` index
  from the stored vectors (read back from the flat storage, already normalised for cosine),
  and it answers from the graph from then on.

Why ``DEFAULT_SWITCH_AT`` = 40,000: measured with ``python -m benchmarks.vector_switch``
(256-d clustered vectors, 200 single queries, k = 10, one FAISS thread) on the 2-core build
host while other jobs kept it loaded (load average 4-8), so CPU time per query is the
steadier figure; wall time was 1.5-4x it:

=========  ============  ===========  ==============  ===========  ==============
vectors    flat p50 CPU  flat p50     HNSW p50        recall@10    HNSW build CPU
=========  ============  ===========  ==============  ===========  ==============
10,000     0.73 ms       0.74 ms      0.38 ms         0.918 [1]_   1.7 s
25,000     1.9 ms        2.5 ms       0.29 ms         1.000        4.3 s
40,000     3.6 ms        7.0 ms       0.18 ms         1.000        5.8 s
50,000     6.0 ms        13 ms        0.20 ms         1.000        7.8 s
100,000    12.8 ms       55 ms        0.68 ms         0.995        31 s
300,000    30 ms         79 ms        0.47 ms         0.973        95 s
=========  ============  ===========  ==============  ===========  ==============

.. [1] a 10,000-vector prefix of the 300,000 set: 3 vectors a cluster, nearly unclustered.

The flat scan's CPU time passes 5 ms at about 42,000-44,000 vectors (two runs); 40,000 is
the round number below it (cosine there: flat 4.1 ms CPU, HNSW recall@10 1.000). HNSW
answers in a fifth of a millisecond from there on, at recall@10 >= 0.97 up to 300,000.

It does not move back: a collection that shrinks below the line by removal stays HNSW (whose
removal tombstones and compacts), so a collection hovering at the line is not rebuilt twice
per round trip; a rebuild from the database (``sightline index rebuild``) starts flat again.

The switch costs one HNSW build of ``switch_at`` vectors inside that ``add`` (about 6 s of
CPU at 40,000 256-d vectors, which FAISS spreads over the cores), during which the caller's
update lock holds searches back (``VectorIndexService`` serialises them), and both copies of
the vectors for its duration. If the build fails (out
of memory) the index stays flat and complete, only slower.

Capabilities are declared for the weaker state, whatever the current one: approximate with
HNSW's ``min_recall`` (0.95) and ``max_k`` (1,024), so a caller's ``k`` does not start being
refused, nor its results change contract, the day the collection grows past the line.

Persistence: the inner backend's own files (``index.faiss``; ``labels.npy`` and
``alive.npy`` too when HNSW) beside one manifest of backend ``auto-vector`` whose ``params``
record the ``state`` (``"flat"`` or ``"hnsw"``), ``switch_at`` and the HNSW build
parameters. On load the state picks the inner backend, which verifies and parses the files
with all of its own checks; HNSW parameters other than this release's are refused (the
service then rebuilds from the database). ``switch_at`` is reported, not enforced: it is a
policy, not a property of the files, so a loaded index follows the current setting (a flat
index already past a lowered line moves at its next ``add``).

Threads and concurrency are the inner backend's: FAISS's process-wide OpenMP setting, set by
``configure_threads``; searches may run together, updates must not overlap them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

from sightline.errors import IndexFileError
from sightline.indexes._files import start_vector_load
from sightline.indexes._vector_validation import check_k
from sightline.indexes.base import Ids
from sightline.indexes.faiss_hnsw import FaissHnswVectorIndex
from sightline.indexes.faiss_vector import FaissFlatVectorIndex, FaissVectorIndex
from sightline.indexes.vector import VectorCapabilities, VectorHit, VectorIndex, Vectors

__all__ = ["DEFAULT_SWITCH_AT", "FLAT", "HNSW", "AutoVectorIndex"]

DEFAULT_SWITCH_AT = 40_000
"""Vectors held flat; the add that passes it moves to HNSW. Measured: a flat search of one
256-d query costs about 5 ms of CPU at 42,000-44,000 vectors on the build host (module
docstring)."""

FLAT = "flat"
HNSW = "hnsw"
_INNER: dict[str, type[FaissVectorIndex]] = {
    FLAT: FaissFlatVectorIndex,
    HNSW: FaissHnswVectorIndex,
}
_PARAM_KEYS = frozenset({"state", "switch_at", "hnsw"})


def _check_switch_at(value: object) -> int:
    """A positive integer number of vectors.

    Raises:
        ValueError: anything else (booleans included).
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"switch_at must be a positive integer; got {value!r}")
    return value


class AutoVectorIndex(VectorIndex):
    """Flat (exact) up to ``switch_at`` vectors, HNSW (approximate) once past it.

    Args:
        dims: the vector width.
        metric: ``l2``, ``ip`` or ``cosine``.
        switch_at: vectors held flat; None takes the class's ``SWITCH_AT``
            (``DEFAULT_SWITCH_AT``; tests lower it to exercise both states).
    """

    name: ClassVar[str] = "auto-vector"
    capabilities: ClassVar[VectorCapabilities] = VectorCapabilities(
        exact=False,
        min_recall=FaissHnswVectorIndex.capabilities.min_recall,
        max_k=FaissHnswVectorIndex.capabilities.max_k,
    )
    SWITCH_AT: ClassVar[int] = DEFAULT_SWITCH_AT

    def __init__(self, dims: int, metric: str, *, switch_at: int | None = None) -> None:
        super().__init__(dims, metric)
        self.switch_at = _check_switch_at(self.SWITCH_AT if switch_at is None else switch_at)
        self._inner: FaissVectorIndex = FaissFlatVectorIndex(self.dims, metric)

    @property
    def state(self) -> str:
        """``"flat"`` (exact scan) or ``"hnsw"`` (graph), the structure answering now."""
        return HNSW if isinstance(self._inner, FaissHnswVectorIndex) else FLAT

    def params(self) -> dict[str, Any]:
        """The state, the line and the HNSW build parameters (recorded in the manifest)."""
        return {
            "state": self.state,
            "switch_at": self.switch_at,
            "hnsw": FaissHnswVectorIndex.build_params(),
        }

    @classmethod
    def configure_threads(cls, threads: int) -> None:
        """Set FAISS's process-wide OpenMP thread count (0 leaves FAISS's default)."""
        FaissVectorIndex.configure_threads(threads)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add vectors under ``ids`` (a stored id is replaced); past the line, move to HNSW."""
        self._inner.add(ids, vectors)
        if isinstance(self._inner, FaissFlatVectorIndex) and len(self._inner) > self.switch_at:
            self._inner = _as_hnsw(self._inner)

    def remove(self, ids: Ids) -> int:
        """Remove ``ids``; unknown ids are ignored. Returns how many were stored."""
        return self._inner.remove(ids)

    def search(self, queries: Vectors, k: int) -> list[list[VectorHit]]:
        """The ``k`` best stored vectors for each query (exact while flat), best first."""
        check_k(k, self.capabilities.max_k)  # the HNSW limit in both states
        return self._inner.search(queries, k)

    def __len__(self) -> int:
        return len(self._inner)

    def save(self, directory: Path) -> None:
        """Write the inner backend's files atomically, then this index's manifest."""
        self._inner._save_as(directory, self)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load an index written by ``save``, in the state it was saved in.

        Raises:
            FileNotFoundError: no manifest in ``directory``.
            IndexFileError: the manifest records another backend, family, width or
                parameters, or a file is missing, corrupt or inconsistent with it.
        """
        index, manifest = start_vector_load(cls, directory, check_params=False)
        inner = _inner_class(manifest.params, directory)(index.dims, index.metric)
        inner._read_files(directory, manifest)
        index._inner = inner
        return index


def _as_hnsw(flat: FaissFlatVectorIndex) -> FaissHnswVectorIndex:
    """An HNSW index holding every vector of ``flat`` under the same ids."""
    ids, vectors = flat.stored()
    hnsw = FaissHnswVectorIndex(flat.dims, flat.metric)
    hnsw.add(ids, vectors)
    return hnsw


def _inner_class(params: dict[str, Any], directory: Path) -> type[FaissVectorIndex]:
    """The backend a saved state names, once the saved parameters are checked.

    Raises:
        IndexFileError: other keys, an unknown state, a malformed ``switch_at``, or HNSW
            parameters other than this release's.
    """
    ok = (
        set(params) == _PARAM_KEYS
        and params["state"] in _INNER
        and params["hnsw"] == FaissHnswVectorIndex.build_params()
    )
    try:
        _check_switch_at(params.get("switch_at"))
    except ValueError:
        ok = False
    if not ok:
        raise IndexFileError(f"index in {directory} was built with other parameters")
    return _INNER[params["state"]]
