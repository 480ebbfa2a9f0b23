"""Input checks, cosine normalisation and result order shared by the vector backends.

Every backend validates the same way, so a caller gets the same ``ValueError`` (naming the
expected shape) whichever backend is configured, and orders hits the same way (best first in
the metric's direction, ties by id), so exact backends compare equal with the oracle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sightline.indexes.base import Ids
from sightline.indexes.vector import VectorHit, Vectors, lower_is_better

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_vectors(vectors: object, dims: int, what: str = "vectors") -> Vectors:
    """Return ``vectors`` as a C-contiguous ``(n, dims)`` float32 array.

    Float64 (and float16) input is converted: descriptors often come out of numpy as
    float64, and float32 keeps every digit a similarity needs. Integers are refused rather
    than cast, since an integer array of features is almost certainly a caller bug.

    Raises:
        ValueError: not a 2-D floating array, the wrong number of dimensions per row, or
            holding NaN or infinity, or (float64) values beyond float32's range.
    """
    if (
        not isinstance(vectors, np.ndarray)
        or vectors.ndim != 2
        or not np.issubdtype(vectors.dtype, np.floating)
    ):
        got = f"{type(vectors).__name__} {getattr(vectors, 'dtype', '')} "
        got += str(getattr(vectors, "shape", ""))
        raise ValueError(f"{what} must be a float array of shape (n, {dims}); got {got}")
    if vectors.shape[1] != dims:
        raise ValueError(f"{what} must have {dims} dimensions per row; got {vectors.shape[1]}")
    if not np.isfinite(vectors).all() or (
        vectors.size and vectors.dtype.itemsize > 4 and np.abs(vectors).max() > _FLOAT32_MAX
    ):
        raise ValueError(f"{what} must be finite (no NaN or infinity, within float32 range)")
    return np.ascontiguousarray(vectors, dtype=np.float32)


def prepare(vectors: Vectors, metric: str, what: str = "vectors") -> Vectors:
    """Vectors as the metric compares them: L2-normalised for cosine, unchanged otherwise.

    Raises:
        ValueError: the cosine metric and a zero vector (no direction to compare).
    """
    if metric != "cosine" or not len(vectors):
        return vectors
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    if not norms.all():
        raise ValueError(f"{what} must be non-zero for the cosine metric")
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


def check_k(k: object, max_k: int | None) -> int:
    """Validate ``k`` against the backend's limit.

    Raises:
        ValueError: not an integer, below 1, or above ``max_k``.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an integer; got {type(k).__name__}")
    value = int(k)
    if value < 1:
        raise ValueError(f"k must be at least 1; got {value}")
    if max_k is not None and value > max_k:
        raise ValueError(f"this backend answers k up to {max_k}; got {value}")
    return value


def sorted_vector_hits(
    ids: Ids, scores: npt.NDArray[np.floating[Any]], metric: str, k: int | None = None
) -> list[VectorHit]:
    """The best ``k`` hits (all if None), best first in the metric's direction, ties by id."""
    key = scores if lower_is_better(metric) else -scores
    order = np.lexsort((ids, key))[:k]
    pairs = zip(ids[order].tolist(), scores[order].tolist(), strict=True)
    return [VectorHit(int(i), float(s)) for i, s in pairs]
