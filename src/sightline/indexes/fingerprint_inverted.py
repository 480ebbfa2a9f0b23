"""The default fingerprint index: an inverted index over item halves, offset voting, verification.

Landmark style, as audfprint and Olaf search their own fingerprints: every stored item is
posted under sub-fingerprint keys; each query item looks its keys up, and every posting votes
for the (recording, offset) that would line the two items up (counted per diagonal of the
stored sequences end to end, see ``_Votes``). Offsets where shared sound lies collect many
votes along the stretch; chance collisions scatter. The best-voted offsets are
then verified with ``shared_stretches`` over a few neighbouring offsets, and only verified
stretches are answered, so the voting decides what is *examined*, never what is *reported*.

Keys: the two 16-bit halves of an item (Chromaprint filters 0-7 and 8-15), each in its own
table. Noise and codecs flip a few bits of most items, so a whole 32-bit item rarely survives:
measured on the calibration pairs (``benchmarks.soundtrack``) sharing 10 s of sound, the
best single offset collects as few as 2 whole-item votes (median 10) but at least 26
half-item votes (median 50); 11-bit thirds collect more (75) but with 32 times the postings
per lookup. A key whose posting list is far longer than average (digital silence, a steady
tone) is skipped at search time (``STOP_FACTOR``): it says nothing about where sound is shared.

Postings are kept in compressed-sparse-row form (per key, the positions of its items in the
concatenated sequences), built with numpy's radix argsort of the 16-bit keys. Updates are
incremental: keys added since the main table was built live in a smaller delta table,
rebuilt when searched after a change; once it outgrows a quarter of the main table (or once
a quarter of the main table is removed or replaced), everything is rebuilt into one table.
Removed and replaced sequences stay in their table as dead rows until then, never candidates.

Measured (``python -m benchmarks.soundtrack``, one thread of the 2-core machine): 1,000 hours
of random items (29 M) build in 3.4 s and add 270 MB resident (the items, 4 bytes each, plus
two 4-byte postings per item); a 30 s query with 5 % of its bits flipped takes 9.8 ms (102
lookups/s), and 200 of 200 found their recording first at the exact offset. Real
fingerprints' keys are less uniform than random items, so expect longer posting lists.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from sightline.features.fingerprint import (
    CHROMAPRINT_TIMING,
    DEFAULT_RULE,
    Fingerprint,
    ItemTiming,
    MatchRule,
    shared_stretches,
)
from sightline.indexes.fingerprint import (
    FingerprintCapabilities,
    FingerprintHit,
    FingerprintIndex,
)

HALF_BITS = 16
TABLE_SIZE = 1 << HALF_BITS

MIN_VOTES = 6
"""Votes (over three neighbouring offsets) an offset needs to be verified. Shared stretches of
10 s collect 26 or more at their best single offset on the calibration pairs; chance votes
that reach it only cost a verification, which rejects them."""
SPREAD = 3
"""Offsets verified either side of a voted one: votes of items a fraction of an item apart
split between neighbouring offsets."""
MAX_CANDIDATES = 256
"""Voted offsets verified per search at least (more when the search asks for more hits)."""
STOP_FACTOR = 64
"""A key with more than this many times the mean postings (and at least ``STOP_MIN``) is
skipped by queries."""
STOP_MIN = 4_096
QUERY_CHUNK = 4_096
"""Query items voted at once (8.5 minutes of sound), which bounds a search's memory. Across
chunks, a (recording, offset) with a single vote in a chunk is dropped before the chunks'
votes are added up: a shared stretch leaves many votes in the chunk that holds most of it."""
MERGE_FRACTION = 0.25
"""Rebuild one table once the delta, or the dead rows, reach this share of the main table."""
MERGE_MIN_ITEMS = 1 << 20

Positions = npt.NDArray[np.uint32] | npt.NDArray[np.int64]


@dataclass
class _Table:
    """Postings of some sequences: per half, the positions of each key's items, by key."""

    keys: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    offsets: list[npt.NDArray[np.int64]]
    positions: list[Positions]
    alive: npt.NDArray[np.bool_]
    slots: dict[int, int] = field(default_factory=dict)
    dead_items: int = 0

    @property
    def items(self) -> int:
        """Items posted (live and dead)."""
        return int(self.starts[-1])

    def bury(self, key: int) -> None:
        """Mark ``key``'s sequence dead: it no longer votes."""
        slot = self.slots.pop(key)
        self.alive[slot] = False
        self.dead_items += int(self.starts[slot + 1] - self.starts[slot])

    def stop(self) -> int:
        """Posting lists longer than this are skipped by queries."""
        return max(STOP_MIN, STOP_FACTOR * self.items // TABLE_SIZE)


def _build(keys: list[int], sequences: list[Fingerprint]) -> _Table:
    """Post every item of ``sequences`` under both of its halves."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = np.concatenate(sequences) if sequences else np.empty(0, dtype=np.uint32)
    small = len(items) < 2**32  # positions fit in 4 bytes: half the memory of int64
    offsets: list[npt.NDArray[np.int64]] = []
    positions: list[Positions] = []
    for half in range(2):
        values = ((items >> np.uint32(HALF_BITS * half)) & np.uint32(TABLE_SIZE - 1)).astype(
            np.uint16
        )
        # A stable radix sort of 16-bit keys: postings by key, positions ascending.
        order = np.argsort(values, kind="stable")
        positions.append(order.astype(np.uint32) if small else order.astype(np.int64))
        counts = np.bincount(values, minlength=TABLE_SIZE)
        offsets.append(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    alive = np.ones(len(keys), dtype=bool)
    return _Table(
        np.asarray(keys, dtype=np.int64),
        starts,
        offsets,
        positions,
        alive,
        {key: slot for slot, key in enumerate(keys)},
    )


def _ragged(starts: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Indexes ``starts[i] .. starts[i] + counts[i] - 1`` for every ``i``, concatenated."""
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class _Votes:
    """Votes per diagonal, sorted by diagonal.

    A posting at position ``p`` (of the table's sequences end to end) found by query item
    ``j`` votes for the diagonal ``p - j``: within one stored sequence starting at ``s``,
    that is the offset ``p - j - s``. Voting on diagonals needs no per-vote lookup of which
    sequence a position belongs to (the costly step); the few diagonals chosen are mapped
    back through the lowest and highest position that voted for them.
    """

    diagonals: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    lowest: npt.NDArray[np.int64]
    highest: npt.NDArray[np.int64]

    def at_least(self, votes: int) -> _Votes:
        """Only the diagonals with at least ``votes`` votes."""
        keep = self.counts >= votes
        return _Votes(
            self.diagonals[keep], self.counts[keep], self.lowest[keep], self.highest[keep]
        )


def _grouped(
    diagonals: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    lowest: npt.NDArray[np.int64],
    highest: npt.NDArray[np.int64],
) -> _Votes:
    """Votes of equal diagonals added up (counts summed, position range widened)."""
    order = np.argsort(diagonals)  # sums, minima and maxima do not care about ties' order
    diagonals = diagonals[order]
    runs = np.flatnonzero(np.concatenate([[True], diagonals[1:] != diagonals[:-1]]))
    if not len(diagonals):
        return _Votes(diagonals, counts, lowest, highest)
    return _Votes(
        diagonals[runs],
        np.add.reduceat(counts[order], runs),
        np.minimum.reduceat(lowest[order], runs),
        np.maximum.reduceat(highest[order], runs),
    )


def _votes(table: _Table, query: Fingerprint, first: int) -> _Votes:
    """Votes of a chunk of query items (``first`` is its position in the query)."""
    stop = table.stop()
    where: list[npt.NDArray[np.int64]] = []
    at: list[npt.NDArray[np.int64]] = []
    for half in range(2):
        keys = (query >> np.uint32(HALF_BITS * half)) & np.uint32(TABLE_SIZE - 1)
        lo = table.offsets[half][keys]
        counts = table.offsets[half][keys + 1] - lo
        counts[counts > stop] = 0
        where.append(table.positions[half][_ragged(lo, counts)].astype(np.int64))
        at.append(np.repeat(np.arange(first, first + len(query), dtype=np.int64), counts))
    positions = np.concatenate(where)
    ones = np.ones(len(positions), dtype=np.int64)
    return _grouped(positions - np.concatenate(at), ones, positions, positions)


def _summed(parts: list[_Votes]) -> _Votes:
    """Votes of several chunks added up per diagonal; a chunk's single votes are dropped."""
    if len(parts) == 1:
        return parts[0]
    kept = [part.at_least(2) for part in parts]
    return _grouped(
        np.concatenate([k.diagonals for k in kept]),
        np.concatenate([k.counts for k in kept]),
        np.concatenate([k.lowest for k in kept]),
        np.concatenate([k.highest for k in kept]),
    )


def _smoothed(votes: _Votes) -> npt.NDArray[np.int64]:
    """Votes of each diagonal plus those of the diagonals either side."""
    diagonals, counts = votes.diagonals, votes.counts
    total = counts.copy()
    after = np.flatnonzero(diagonals[1:] == diagonals[:-1] + 1)  # i and i + 1 are neighbours
    total[after] += counts[after + 1]
    total[after + 1] += counts[after]
    return total


class InvertedFingerprintIndex(FingerprintIndex):
    """Candidates by offset voting over 16-bit item halves, then verified stretches."""

    name: ClassVar[str] = "inverted-fingerprint"
    capabilities: ClassVar[FingerprintCapabilities] = FingerprintCapabilities(exact=False)

    def __init__(
        self, *, timing: ItemTiming = CHROMAPRINT_TIMING, rule: MatchRule = DEFAULT_RULE
    ) -> None:
        super().__init__(timing=timing, rule=rule)
        self._main: _Table | None = None
        self._delta: _Table | None = None
        self._stale = False
        self._lock = threading.Lock()

    def params(self) -> dict[str, Any]:
        """The timing and rule, and how candidates are voted."""
        return {
            **super().params(),
            "keys": "halves16",
            "min_votes": MIN_VOTES,
            "spread": SPREAD,
            "stop_factor": STOP_FACTOR,
        }

    def _added(self, key: int) -> None:
        self._forget(key)

    def _removed(self, key: int) -> None:
        self._forget(key)

    def _forget(self, key: int) -> None:
        """The tables no longer hold ``key``'s current sequence."""
        for table in (self._main, self._delta):
            if table is not None and key in table.slots:
                table.bury(key)
        self._stale = True

    def _refresh(self) -> list[_Table]:
        """The tables, rebuilt where updates made them stale."""
        with self._lock:
            if self._stale:
                self._rebuild()
                self._stale = False
            return [t for t in (self._main, self._delta) if t is not None]

    def _rebuild(self) -> None:
        main = self._main
        fresh = [k for k in self._sequences if main is None or k not in main.slots]
        fresh_items = sum(len(self._sequences[k]) for k in fresh)
        limit = MERGE_FRACTION * (main.items if main is not None else 0)
        if main is None or max(fresh_items, main.dead_items) >= max(limit, MERGE_MIN_ITEMS):
            keys = list(self._sequences)
            self._main = _build(keys, [self._sequences[k] for k in keys])
            self._delta = None
        else:
            self._delta = _build(fresh, [self._sequences[k] for k in fresh]) if fresh else None

    def _search(self, query: Fingerprint, limit: int) -> Iterator[FingerprintHit]:
        offsets: dict[int, set[int]] = {}
        for table in self._refresh():
            for key, offset in self._candidates(table, query, max(MAX_CANDIDATES, 4 * limit)):
                offsets.setdefault(key, set()).update(range(offset - SPREAD, offset + SPREAD + 1))
        for key in sorted(offsets):
            found = shared_stretches(
                query,
                self._sequences[key],
                offsets=offsets[key],
                timing=self.timing,
                rule=self.rule,
            )
            if found:
                yield FingerprintHit(key, tuple(found))

    def _candidates(self, table: _Table, query: Fingerprint, most: int) -> list[tuple[int, int]]:
        """The best-voted (key, offset) pairs of one table, at most ``most`` diagonals."""
        chunks = range(0, len(query), QUERY_CHUNK)
        votes = _summed([_votes(table, query[s : s + QUERY_CHUNK], s) for s in chunks])
        scores = _smoothed(votes)
        chosen = np.flatnonzero(scores >= MIN_VOTES)
        chosen = chosen[np.lexsort((votes.diagonals[chosen], -scores[chosen]))][:most]
        found: list[tuple[int, int]] = []
        # The sequences a diagonal's votes fell in: those from its lowest to its highest
        # voting position (one, unless the query runs across two sequences stored end to end).
        first = np.searchsorted(table.starts, votes.lowest[chosen], side="right") - 1
        last = np.searchsorted(table.starts, votes.highest[chosen], side="right") - 1
        for diagonal, low, high in zip(
            votes.diagonals[chosen].tolist(), first.tolist(), last.tolist(), strict=True
        ):
            for slot in range(low, high + 1):
                if table.alive[slot]:
                    found.append((int(table.keys[slot]), diagonal - int(table.starts[slot])))
        return found
