"""Input checks and the result order shared by every binary index backend.

Every backend validates the same way, so a caller gets the same ``ValueError`` (naming the
expected shape) whichever backend is configured, and every backend orders hits the same way,
so results compare equal with the brute-force oracle's in the contract tests. The id checks
are shared with the vector backends (``_vector_validation`` has the rest).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sightline.indexes.base import Codes, Hit, Ids


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


def check_ids(ids: object, count: int, items: str = "codes") -> Ids:
    """Return ``ids`` as a 1-D int64 array of ``count`` distinct values.

    Args:
        ids: the caller's ids.
        count: how many ``items`` (codes or vectors) they label.
        items: what they label, for the error message.

    Raises:
        ValueError: not integers, wrong length, out of int64 range, or duplicated.
    """
    out = as_ids(ids)
    if len(out) != count:
        raise ValueError(f"got {len(out)} ids for {count} {items}")
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
