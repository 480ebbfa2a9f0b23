"""Several writer threads and several readers on one ``mih`` index, against the oracle.

``test_mih_random`` replays one writer's history; here two writers add and remove at once
(with merges and compactions triggered by a small merge threshold) while three readers
search, as an index service's catch-ups and searches do. Every event takes a number from one
shared sequence before and after its C call, which bounds what each search may return:

- every hit was added before the search ended, not removed before it began, and is
  reported at its true distance, in (distance, id) order, once;
- every code added before the search began and not removed before it ended, within the
  radius, is among the hits.

At the end the index must equal the brute-force oracle built from the live codes.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sightline.indexes.base import Hit
from sightline.indexes.brute import BruteForceBinaryIndex
from sightline.indexes.mih import MihBinaryIndex

Codes = npt.NDArray[np.uint8]
RADII = (0, 8, 16, 24, 31)


def _near(rng: np.random.Generator, centre: Codes, n: int) -> Codes:
    """``n`` copies of ``centre`` with 0..40 random bits flipped (clusters: many hits)."""
    bits = np.unpackbits(np.repeat(centre[None, :], n, axis=0), axis=1)
    for row, count in enumerate(rng.integers(0, 41, size=n)):
        bits[row, rng.choice(256, size=count, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


@dataclass
class Life:
    """When a code's add and removal started and ended, in the shared sequence."""

    code: bytes
    added: tuple[int, int]
    removed: tuple[int, int] | None = None


@dataclass
class Search:
    """One reader's search: the query, the radius, the sequence span, the hits."""

    query: int
    radius: int
    span: tuple[int, int]
    hits: list[Hit]


class History:
    """The shared sequence and the life of every id, written by the writer threads."""

    def __init__(self) -> None:
        self.clock = itertools.count()
        self.lives: dict[int, Life] = {}

    def tick(self) -> int:
        """The next number (``next`` on a count is atomic under the GIL)."""
        return next(self.clock)


def _writer(index: MihBinaryIndex, history: History, seed: int, centres: Codes) -> None:
    rng = np.random.default_rng(seed)
    next_id, live = seed * 1_000_000, list[int]()
    for step in range(150):
        if rng.random() < 0.6 or len(live) < 10:
            n = int(rng.integers(1, 60))
            ids = list(range(next_id, next_id + n))
            next_id += n
            codes = _near(rng, centres[rng.integers(len(centres))], n)
            start = history.tick()
            index.add(np.array(ids, dtype=np.int64), codes)
            end = history.tick()
            for i, code in zip(ids, codes, strict=True):
                history.lives[i] = Life(code.tobytes(), (start, end))
            live += ids
        else:
            gone = [live.pop(int(rng.integers(len(live)))) for _ in range(min(len(live), 25))]
            start = history.tick()
            index.remove(np.array(gone, dtype=np.int64))
            end = history.tick()
            for i in gone:
                history.lives[i].removed = (start, end)
        if step % 40 == 39:
            index.merge()


def _reader(
    index: MihBinaryIndex, history: History, queries: Codes, stop: threading.Event, seed: int
) -> list[Search]:
    rng, out = np.random.default_rng(seed), []
    while not stop.is_set():
        row, radius = int(rng.integers(len(queries))), int(rng.choice(RADII))
        start = history.tick()
        [hits] = index.range_search(queries[row : row + 1], radius)
        out.append(Search(row, radius, (start, history.tick()), hits))
    return out


def _distances(query: Codes, codes: Codes) -> list[int]:
    distances: list[int] = np.unpackbits(codes ^ query[None, :], axis=1).sum(axis=1).tolist()
    return distances


def _check(search: Search, queries: Codes, history: History) -> None:
    begin, end = search.span
    ids = list(history.lives)
    codes = np.frombuffer(b"".join(history.lives[i].code for i in ids), dtype=np.uint8)
    distances = _distances(queries[search.query], codes.reshape(len(ids), 32))
    truth = dict(zip(ids, distances, strict=True))
    got = [(h.distance, h.id) for h in search.hits]
    assert got == sorted(set(got)), "hits out of order or repeated"
    for hit in search.hits:
        life = history.lives[hit.id]
        assert life.added[0] < end, "a code added after the search ended"
        assert life.removed is None or life.removed[1] > begin, "a code removed before it"
        assert hit.distance == truth[hit.id] <= search.radius
    found = {h.id for h in search.hits}
    for i, life in history.lives.items():
        certain = life.added[1] < begin and (life.removed is None or life.removed[0] > end)
        if certain and truth[i] <= search.radius:
            assert i in found, "a code stored throughout the search was not found"


def test_writers_and_readers_at_once_agree_with_the_oracle() -> None:
    rng = np.random.default_rng(5)
    centres = rng.integers(0, 256, size=(4, 32), dtype=np.uint8)
    queries = np.concatenate([centres, rng.integers(0, 256, size=(2, 32), dtype=np.uint8)])
    index, history, stop = MihBinaryIndex(merge_threshold=64), History(), threading.Event()
    results: list[list[Search]] = [[] for _ in range(3)]
    errors: list[BaseException] = []

    def run_reader(slot: int) -> None:
        try:
            results[slot] = _reader(index, history, queries, stop, slot)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    readers = [threading.Thread(target=run_reader, args=(slot,)) for slot in range(3)]
    writers = [
        threading.Thread(target=_writer, args=(index, history, seed, centres)) for seed in (1, 2)
    ]
    for thread in readers + writers:
        thread.start()
    for writer in writers:
        writer.join()
    stop.set()
    for reader in readers:
        reader.join()
    assert errors == []
    searches = [s for per_reader in results for s in per_reader]
    assert len(searches) > 50
    assert max(len(s.hits) for s in searches) >= 50  # cluster queries returned many hits
    for search in searches[:: max(1, len(searches) // 400)]:
        _check(search, queries, history)
    oracle = BruteForceBinaryIndex()
    live = {i: life.code for i, life in history.lives.items() if life.removed is None}
    codes = np.frombuffer(b"".join(live.values()), dtype=np.uint8).reshape(len(live), 32)
    oracle.add(np.array(list(live), dtype=np.int64), codes)
    assert len(index) == len(oracle)
    assert index.range_search(queries, 31) == oracle.range_search(queries, 31)
