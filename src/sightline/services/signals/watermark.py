"""The catch-up of an index over a table with increasing ids, through a watermark (ADR 0010).

Catching up by "ids above the newest one seen" is wrong with concurrent writers: on
PostgreSQL a sequence value is taken at insert and becomes visible at commit, so id 10 can
appear after id 11 was indexed. The watermark therefore only passes an id once every
transaction that could still commit a lower one has ended; the ids seen above it are
remembered, and each catch-up re-reads that window.

One :class:`Watermark` belongs to one index object: a rebuild builds a new index with a new
watermark and swaps both in together.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from sightline.services.signals.sources import SignalSource
from sightline.storage.unit_of_work import UnitOfWork

_MAX_PENDING = 256  # catch-ups remembered while writers are open; older ones are merged
_T = TypeVar("_T")


@dataclass(slots=True)
class Window:
    """One log's ids (rows or removals): final up to ``low``, ``seen`` above it.

    An id above ``low`` that is not in ``seen`` may still appear (its transaction has not
    committed), so every catch-up reads from ``low`` and skips what it has seen.
    """

    low: int = 0
    seen: set[int] = field(default_factory=set)

    @property
    def high(self) -> int:
        """The newest id read."""
        return max(self.seen, default=self.low)

    def unseen(self, rows: list[tuple[int, _T]]) -> list[tuple[int, _T]]:
        """The rows not read before, now marked as read."""
        fresh = [(i, v) for i, v in rows if i > self.low and i not in self.seen]
        self.seen.update(i for i, _ in fresh)
        return fresh

    def settle(self, upto: int) -> None:
        """Every id up to ``upto`` is final and has been read: stop re-reading them."""
        if upto > self.low:
            self.low = upto
            self.seen = {i for i in self.seen if i > upto}


@dataclass(frozen=True, slots=True)
class _Pending:
    """A catch-up's read: ids up to ``rows`` and ``removals`` are final once ``writers`` end."""

    writers: frozenset[str]
    rows: int
    removals: int


class Watermark:
    """The rows and removal-log windows of one index, and the reads waiting to become final.

    The removal log is applied from its start after each load or rebuild: idempotent.
    """

    def __init__(self, checkpoint: int = 0) -> None:
        self.rows = Window(low=checkpoint)
        self.removals = Window()
        self._pending: list[_Pending] = []

    def settled(self, writers: frozenset[str] | None) -> tuple[int, int] | None:
        """Watermarks of earlier catch-ups whose writers have all ended by now."""
        if writers is None:
            return None
        done = [p for p in self._pending if not p.writers & writers]
        if not done:
            return None
        self._pending = [p for p in self._pending if p.writers & writers]
        return max(p.rows for p in done), max(p.removals for p in done)

    def settle(self, settled: tuple[int, int] | None, writers: frozenset[str] | None) -> None:
        """Move the watermarks after a read; remember what this one read until it is final.

        Args:
            settled: What :meth:`settled` returned before the read.
            writers: The transactions still open after the read; None when ids commit in
                order (SQLite), which makes everything read so far final at once.
        """
        if writers is None:
            self.rows.settle(self.rows.high)
            self.removals.settle(self.removals.high)
            return
        if settled is not None:
            self.rows.settle(settled[0])
            self.removals.settle(settled[1])
        entry = _Pending(writers, self.rows.high, self.removals.high)
        if self._pending and self._pending[-1].writers == writers:
            self._pending[-1] = entry  # the same writers: the newer read supersedes
        else:
            self._pending.append(entry)
        if len(self._pending) > _MAX_PENDING:  # a long transaction: merge the oldest two
            first, second = self._pending[0], self._pending[1]
            merged = _Pending(first.writers | second.writers, second.rows, second.removals)
            self._pending[:2] = [merged]


Exclusive = Callable[[], AbstractContextManager[object]]
"""Gives the context held around each index update (a lock, or nothing for ``mih``)."""


class Updatable(Protocol):
    """What a catch-up needs of an index, binary or vector."""

    checkpoint: int

    def add(self, ids: npt.NDArray[np.int64], values: Any) -> None:
        """Add values under ids (an existing id is replaced)."""

    def remove(self, ids: npt.NDArray[np.int64]) -> int:
        """Remove ids; returns how many were present."""


Decode = Callable[[bytes, int], npt.NDArray[Any]]
"""Turns the joined stored bytes of ``n`` rows into the ``(n, ...)`` array an index adds."""


def packed_codes(data: bytes, n: int) -> npt.NDArray[np.uint8]:
    """Packed binary codes: ``n`` rows of bytes."""
    return np.frombuffer(data, dtype=np.uint8).reshape(n, -1)


def catch_up(
    uow: UnitOfWork,
    source: SignalSource,
    index: Updatable,
    mark: Watermark,
    exclusive: Exclusive,
    decode: Decode = packed_codes,
) -> int:
    """Read what ``source`` holds above ``mark`` into ``index``; returns codes added.

    Reads every id above the watermark, adds those not seen yet, applies logged removals,
    then moves the watermark up to what earlier catch-ups read once the transactions writing
    then have all ended. Each update runs inside ``exclusive()``.
    """
    settled = mark.settled(source.writers(uow))
    added = 0
    for batch in source.batches_after(uow, mark.rows.low):
        added += _add(index, mark.rows.unseen(batch), exclusive, decode)
    # Removals after additions: a removal read late only removes more, and the rows of
    # reused ids are read back below.
    added += _apply_removals(uow, source, index, mark, exclusive, decode)
    mark.settle(settled, source.writers(uow))
    index.checkpoint = mark.rows.low
    return added


def _add(
    index: Updatable, rows: list[tuple[int, bytes]], exclusive: Exclusive, decode: Decode
) -> int:
    if not rows:
        return 0
    ids = np.fromiter((i for i, _ in rows), dtype=np.int64, count=len(rows))
    values = decode(b"".join(c for _, c in rows), len(rows))
    with exclusive():
        index.add(ids, values)
    return len(rows)


def _apply_removals(
    uow: UnitOfWork,
    source: SignalSource,
    index: Updatable,
    mark: Watermark,
    exclusive: Exclusive,
    decode: Decode,
) -> int:
    logged = uow.signals.removals_after(source.name, mark.removals.low)
    items = sorted({item for _, item in mark.removals.unseen(logged)})
    if not items:
        return 0
    with exclusive():
        index.remove(np.array(items, dtype=np.int64))
    # SQLite gives a new row the highest id plus one, so after the newest rows are deleted
    # a new row can take a removed id, at or below the watermark: read those.
    return _add(index, source.codes(uow, items), exclusive, decode)
