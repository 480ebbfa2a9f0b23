"""Removal by tombstone for FAISS indexes that cannot delete in place.

FAISS's flat binary, multi-hash and HNSW indexes number their rows themselves and cannot
remove one cheaply, so a caller's id is kept per row (``_labels``) with a live flag
(``_alive``); removing or replacing an id clears its flag, searches skip dead rows, and the
backend compacts (rebuilds) once too many are dead. One implementation for every such backend.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from sightline.indexes._validation import as_ids
from sightline.indexes.base import Ids


class Tombstones(abc.ABC):
    """Mixin: the caller's id of every row, which rows are alive, and how many are dead."""

    _labels: Ids
    _alive: npt.NDArray[np.bool_]
    _dead: int
    # Compact once more than this share of the rows is dead, and at least this many.
    _COMPACT_MIN_DEAD: ClassVar[int] = 1024
    _COMPACT_DEAD_FRACTION: ClassVar[float] = 0.25

    def __len__(self) -> int:
        """Live rows."""
        return len(self._labels) - self._dead

    def _append_rows(self, ids: Ids) -> None:
        """Rows just added to the native index, in order, under ``ids`` (the old ones buried)."""
        self._labels = np.concatenate([self._labels, ids])
        self._alive = np.concatenate([self._alive, np.ones(len(ids), dtype=bool)])
        self._rows_changed()

    def _bury_ids(self, ids: Ids) -> int:
        """Tombstone the live rows of ``ids``; returns how many there were."""
        return self._bury(np.isin(self._labels, ids) & self._alive)

    def _bury(self, mask: npt.NDArray[np.bool_]) -> int:
        count = int(mask.sum())
        if count:
            self._alive[mask] = False
            self._dead += count
            self._rows_changed()
        return count

    def remove(self, ids: Ids) -> int:
        """Tombstone ``ids``; unknown ids are ignored. Returns how many were stored."""
        removed = self._bury_ids(as_ids(ids))
        self._maybe_compact()
        return removed

    def _rows_changed(self) -> None:  # noqa: B027  (a hook: most backends cache nothing)
        """Called when rows are added or buried (caches of the live set are stale)."""

    def _maybe_compact(self) -> None:
        """Rebuild without the dead rows once there are too many."""
        limit = max(self._COMPACT_MIN_DEAD, self._COMPACT_DEAD_FRACTION * len(self._labels))
        if self._dead > limit:
            self._compact()

    @abc.abstractmethod
    def _compact(self) -> None:
        """Rebuild the native index from the live rows; labels become 0..len-1 again."""
