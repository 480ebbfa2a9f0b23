"""Seeded random add/remove/merge/search sequences: the C ``mih`` index against the oracle.

The contract tests check one fixed data set; these replay long random histories (clusters of
near-duplicates so radius queries return hundreds of hits, replacements, removals, an id
removed and re-added, explicit merges, save/load rebuilds, heavy removal that compacts) and
compare every search with the brute-force oracle, ids, distances and order. The threaded
test replays a history in one writer thread while readers search, and checks that every
result equals what the oracle gives for one of the states the index passed through while
that search ran.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from sightline.indexes.base import BinaryIndex, Hit
from sightline.indexes.brute import BruteForceBinaryIndex
from sightline.indexes.mih import MihBinaryIndex

CODE_BYTES = 32
RADII = (0, 1, 5, 15, 16, 17, 24, 30, 31)
Codes = npt.NDArray[np.uint8]
Ids = npt.NDArray[np.int64]


def _random(rng: np.random.Generator, n: int) -> Codes:
    return rng.integers(0, 256, size=(n, CODE_BYTES), dtype=np.uint8)


def _near(rng: np.random.Generator, centre: Codes, n: int, most: int) -> Codes:
    """``n`` copies of ``centre`` with 0..``most`` bits flipped, half spread over 16 chunks."""
    out = np.repeat(centre[None, :], n, axis=0)
    for row, count in enumerate(rng.integers(0, most + 1, size=n)):
        if row % 2:  # spread: every 16-bit chunk differs by count // 16 or one more bit
            per_chunk = np.full(16, count // 16)
            per_chunk[rng.permutation(16)[: count % 16]] += 1
            bits = np.concatenate(
                [c * 16 + rng.choice(16, k, replace=False) for c, k in enumerate(per_chunk)]
            )
        else:
            bits = rng.choice(CODE_BYTES * 8, size=count, replace=False)
        flipped = np.unpackbits(out[row], bitorder="little")
        flipped[bits] ^= 1
        out[row] = np.packbits(flipped, bitorder="little")
    return out


@dataclass
class Op:
    """One update: ``add`` (ids, codes), ``remove`` (ids), ``merge`` or ``reload``."""

    kind: str
    ids: Ids = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    codes: Codes = field(default_factory=lambda: np.empty((0, CODE_BYTES), dtype=np.uint8))


class Workload:
    """Generates a random history and tracks the live state (id -> code) it leads to."""

    def __init__(self, rng: np.random.Generator, clusters: int = 6) -> None:
        self.rng = rng
        self.centres = _random(rng, clusters)
        self.live: dict[int, bytes] = {}
        self.next_id = -3_000  # negative ids too

    def _fresh_ids(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n + int(self.rng.integers(0, 3))  # gaps: some ids are never used
        return ids

    def _stored(self, n: int) -> list[int]:
        keys = list(self.live)
        n = min(n, len(keys))
        return [keys[i] for i in self.rng.choice(len(keys), size=n, replace=False)] if n else []

    def _add(self, ids: list[int], codes: Codes) -> Op:
        for i, code in zip(ids, codes, strict=True):
            self.live[i] = code.tobytes()
        return Op("add", np.array(ids, dtype=np.int64), codes)

    def _remove(self, ids: list[int]) -> Op:
        for i in ids:
            self.live.pop(i, None)
        return Op("remove", np.array(ids, dtype=np.int64))

    def step(self, reload: bool = True) -> list[Op]:
        """One or two updates chosen at random (re-adding a removed id takes two)."""
        rng, roll = self.rng, self.rng.random()
        if roll < 0.30:  # a cluster of near-duplicates, some replacing stored ids
            n = int(rng.integers(1, 120))
            centre = self.centres[rng.integers(len(self.centres))]
            replaced = self._stored(int(rng.integers(0, 4)))
            ids = replaced + self._fresh_ids(n - len(replaced)) if n > len(replaced) else replaced
            return [self._add(ids, _near(rng, centre, len(ids), 40))]
        if roll < 0.50:  # unrelated codes
            n = int(rng.integers(1, 200))
            return [self._add(self._fresh_ids(n), _random(rng, n))]
        if roll < 0.70:  # remove stored ids, plus ids never stored
            ids = [*self._stored(int(rng.integers(1, 150))), 10**12 + int(rng.integers(99))]
            return [self._remove(ids)]
        if roll < 0.80:  # remove an id, then add it again (same code or another one)
            ids = self._stored(int(rng.integers(1, 6)))
            if not ids:
                return []
            old = np.frombuffer(b"".join(self.live[i] for i in ids), dtype=np.uint8)
            codes = (
                old.reshape(len(ids), CODE_BYTES) if rng.random() < 0.5 else _random(rng, len(ids))
            )
            return [self._remove(ids), self._add(ids, codes)]
        if roll < 0.85:  # heavy removal: past a quarter dead the C index compacts
            return [self._remove(self._stored(max(1, len(self.live) // 3)))]
        if roll < 0.95:
            return [Op("merge")]
        return [Op("reload")] if reload else []

    def queries(self) -> Codes:
        """Cluster centres (many hits), stored codes (a hit at 0) and unrelated codes."""
        stored = self._stored(4)
        own = [np.frombuffer(self.live[i], dtype=np.uint8) for i in stored]
        parts = [self.centres, _random(self.rng, 2)] + ([np.stack(own)] if own else [])
        return np.concatenate(parts)


def _states(ops: list[Op]) -> list[tuple[Ids, Codes]]:
    """The live (ids, codes) before the first update and after each one."""
    live: dict[int, bytes] = {}
    out = []
    for op in [Op("merge"), *ops]:
        if op.kind == "add":
            live.update(zip(op.ids.tolist(), map(bytes, op.codes), strict=True))
        if op.kind == "remove":
            for i in op.ids.tolist():
                live.pop(i, None)
        raw = np.frombuffer(b"".join(live.values()), dtype=np.uint8)
        out.append((np.array(list(live), dtype=np.int64), raw.reshape(len(live), CODE_BYTES)))
    return out


def _apply(index: BinaryIndex, op: Op) -> int | None:
    """Run one update; removals return their count."""
    if op.kind == "add":
        index.add(op.ids, op.codes)
    elif op.kind == "remove":
        return index.remove(op.ids)
    elif op.kind == "merge" and isinstance(index, MihBinaryIndex):
        index.merge()
    return None


@pytest.mark.parametrize(
    ("seed", "threshold", "tables"),
    [(1, 64, None), (2, 300, None), (3, 17, 14), (4, 128, 12), (5, 1, None)],
)
def test_random_history_matches_the_oracle(
    seed: int, threshold: int, tables: int | None, tmp_path: Path
) -> None:
    """Every few updates, every radius gives the oracle's exact lists."""
    rng = np.random.default_rng(seed)
    work = Workload(rng)
    index = MihBinaryIndex(merge_threshold=threshold, tables=tables)
    oracle = BruteForceBinaryIndex()
    most_hits, positions_seen = 0, [0]
    for step in range(160):
        for op in work.step():
            if op.kind == "reload":
                index.save(tmp_path)
                index = MihBinaryIndex.load(tmp_path)
                continue
            assert _apply(index, op) == _apply(oracle, op), (step, op.kind)
        stats = index.stats()
        positions_seen.append(stats["positions"])
        assert len(index) == len(oracle) == len(work.live) == stats["live"]
        if step % 3 == 0:
            queries = work.queries()
            for radius in RADII:
                expected = oracle.range_search(queries, radius)
                assert index.range_search(queries, radius) == expected, (step, radius)
                most_hits = max(most_hits, *map(len, expected))
    assert most_hits >= 100  # cluster queries really returned many hits
    compactions = sum(b < a for a, b in itertools.pairwise(positions_seen))
    assert compactions >= 1  # the heavy removals really compacted the arrays


@dataclass
class Seen:
    """One reader's search: the query, the writer's version before and after, the result."""

    row: int
    radius: int
    before: int
    after: int
    hits: list[Hit]


def test_readers_see_a_state_the_oracle_could_give_while_one_thread_updates(
    tmp_path: Path,
) -> None:
    """Readers search while a writer replays a history; each result matches one state.

    The writer bumps ``version`` after each update returns, so a search that read ``before``
    on entry and ``after`` on exit saw a state in ``before .. after + 1`` (the update after
    ``after`` may have finished in C before its bump). Every result must equal the oracle's
    answer for one of those states: no lost or phantom ids, no wrong distance, no torn order.
    """
    rng = np.random.default_rng(11)
    work = Workload(rng, clusters=4)
    ops: list[Op] = []
    while len(ops) < 400:
        ops += work.step(reload=False)
    states = _states(ops)
    queries = np.concatenate([work.centres, _random(rng, 2)])
    index = MihBinaryIndex(merge_threshold=48)
    version, stop, seen, saved = [0], threading.Event(), [], []
    errors: list[BaseException] = []

    def read(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                row, radius = int(local.integers(len(queries))), int(local.choice(RADII))
                before = version[0]
                hits = index.range_search(queries[row : row + 1], radius)[0]
                seen.append(Seen(row, radius, before, version[0], hits))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    readers = [threading.Thread(target=read, args=(seed,)) for seed in range(3)]
    for reader in readers:
        reader.start()
    try:
        for number, op in enumerate(ops):
            _apply(index, op)
            version[0] += 1
            if number % 100 == 99:
                index.save(tmp_path)  # export under the read lock, beside the searches
                saved.append(version[0])
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert errors == []
    assert len(seen) > 100
    every_id = {int(i) for ids, _ in states for i in ids}
    cache: dict[tuple[int, int, int], list[Hit]] = {}

    def expected(state: int, row: int, radius: int) -> list[Hit]:
        key = (state, row, radius)
        if key not in cache:
            oracle = BruteForceBinaryIndex()
            oracle.add(*states[state])
            cache[key] = oracle.range_search(queries[row : row + 1], radius)[0]
        return cache[key]

    for s in seen:
        assert {h.id for h in s.hits} <= every_id, "an id that was never added"
        window = range(s.before, min(s.after + 1, len(ops)) + 1)
        assert any(s.hits == expected(v, s.row, s.radius) for v in window), (s.before, s.after)
    final = [expected(len(ops), row, 31) for row in range(len(queries))]
    assert index.range_search(queries, 31) == final
    loaded = MihBinaryIndex.load(tmp_path).range_search(queries, 31)
    assert loaded == [expected(saved[-1], row, 31) for row in range(len(queries))]
