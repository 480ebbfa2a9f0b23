"""The C multi-index hashing backend beyond the shared contract: merges, layouts, boundaries."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from sightline.indexes.base import Hit
from sightline.indexes.brute import BruteForceBinaryIndex
from sightline.indexes.mih import MihBinaryIndex

BITS = 256
Codes = npt.NDArray[np.uint8]
LAYOUTS = (16, 14, 12)


def _random(rng: np.random.Generator, n: int) -> Codes:
    return rng.integers(0, 256, size=(n, BITS // 8), dtype=np.uint8)


def _chunks(tables: int) -> list[tuple[int, int]]:
    """(start, width) of each chunk as ``_mih.c`` cuts 256 bits into ``tables`` chunks."""
    widths = [BITS // tables + (t < BITS % tables) for t in range(tables)]
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
    return list(zip(starts, widths, strict=True))


def _spread(code: Codes, distance: int, tables: int, rng: np.random.Generator) -> Codes:
    """``code`` with ``distance`` bits flipped, dealt evenly over the layout's chunks.

    Every chunk then differs by ``distance // tables`` or one more bit: the case where only
    the flipped probes of some table can find the code. Bit ``i`` is bit ``i % 8`` of byte
    ``i // 8``, the order in which the extension reads codes.
    """
    bits = np.unpackbits(code, bitorder="little")
    per_chunk = np.full(tables, distance // tables)
    per_chunk[rng.permutation(tables)[: distance % tables]] += 1
    for (start, width), count in zip(_chunks(tables), per_chunk, strict=True):
        bits[start + rng.choice(width, count, replace=False)] ^= 1
    return np.packbits(bits, bitorder="little")


def _oracle(ids: npt.NDArray[np.int64], codes: Codes) -> BruteForceBinaryIndex:
    oracle = BruteForceBinaryIndex(bits=BITS)
    oracle.add(ids, codes)
    return oracle


def _planted(rng: np.random.Generator, tables: int) -> tuple[Codes, Codes]:
    """8 queries, and for each a code at every distance 0..34 spread over ``tables`` chunks."""
    queries = _random(rng, 8)
    near = [_spread(q, d, tables, rng) for q in queries for d in range(35)]
    return queries, np.stack(near)


@pytest.mark.parametrize("tables", LAYOUTS)
def test_every_radius_finds_codes_spread_over_all_chunks(tables: int) -> None:
    """At each radius 0..31, planted codes at exactly that distance (no chunk intact) match."""
    rng = np.random.default_rng(tables)
    queries, near = _planted(rng, tables)
    codes = np.concatenate([_random(rng, 3_000), near])
    ids = np.arange(len(codes), dtype=np.int64) * 3 - 5_000
    index = MihBinaryIndex(merge_threshold=500, tables=tables)
    index.add(ids, codes)
    assert index.stats()["tables"] == tables
    oracle = _oracle(ids, codes)
    for radius in range(32):
        assert index.range_search(queries, radius) == oracle.range_search(queries, radius)


@pytest.mark.parametrize("tables", LAYOUTS)
def test_radius_31_vs_32_boundary(tables: int) -> None:
    """Spread over 16 (and the layout's own) chunks: 31 bits away is found, 32 is not."""
    rng = np.random.default_rng(100 + tables)
    query = _random(rng, 1)
    inside = [_spread(query[0], 31, spread, rng) for spread in (16, tables) for _ in range(4)]
    outside = [_spread(query[0], 32, spread, rng) for spread in (16, tables) for _ in range(4)]
    codes = np.concatenate([np.stack(inside), np.stack(outside), _random(rng, 2_000)])
    ids = np.arange(len(codes), dtype=np.int64)
    index = MihBinaryIndex(merge_threshold=100, tables=tables)
    index.add(ids, codes)
    assert index.stats()["delta"] == 0
    assert index.range_search(query, 31) == [[Hit(i, 31) for i in range(8)]]
    with pytest.raises(ValueError, match="radius"):
        index.range_search(query, 32)


def test_small_batches_cross_the_merge_threshold() -> None:
    """Many small adds (some replacing, some removed) stay exact through repeated merges."""
    rng = np.random.default_rng(3)
    queries, near = _planted(rng, 16)
    codes = np.concatenate([_random(rng, 2_500), near])
    ids = rng.permutation(len(codes)).astype(np.int64) + 10
    index, oracle = MihBinaryIndex(merge_threshold=256), BruteForceBinaryIndex(bits=BITS)
    merges_seen = set()
    for start in range(0, len(codes), 37):
        part = slice(start, start + 37)
        index.add(ids[part], codes[part])
        oracle.add(ids[part], codes[part])
        stats = index.stats()
        assert stats["delta"] < 256 and stats["merged"] + stats["delta"] == stats["positions"]
        merges_seen.add(stats["merged"])
        if start % 370 == 0:
            moved = ids[: start // 10 + 1]  # re-add some stored ids with other codes
            index.add(moved, codes[-len(moved) :])
            oracle.add(moved, codes[-len(moved) :])
            assert index.remove(ids[start : start + 3]) == oracle.remove(ids[start : start + 3])
        if start % 740 == 0:
            for radius in (0, 15, 31):
                assert index.range_search(queries, radius) == oracle.range_search(queries, radius)
    assert len(merges_seen) > 5
    assert len(index) == len(oracle)
    for radius in (0, 7, 16, 24, 31):
        assert index.range_search(queries, radius) == oracle.range_search(queries, radius)


def test_ids_at_the_int64_limits() -> None:
    """Ids up to 2**62 and the int64 extremes round-trip exactly (no float conversion)."""
    rng = np.random.default_rng(4)
    ids = np.array([2**62, 2**62 + 1, 2**63 - 1, -(2**63), -1, 0, 2**53 + 1], dtype=np.int64)
    codes = _random(rng, len(ids))
    index = MihBinaryIndex(merge_threshold=4)
    index.add(ids, codes)
    for i, code in zip(ids.tolist(), codes, strict=True):
        assert index.range_search(code[None, :], 0) == [[Hit(i, 0)]]
    assert index.remove(np.array([2**63 - 1, -(2**63)])) == 2
    assert len(index) == len(ids) - 2


@pytest.mark.parametrize("tables", LAYOUTS)
def test_a_code_in_every_probed_bucket_is_reported_once(tables: int) -> None:
    """The query itself and codes one bit off per chunk sit in many tables' probed buckets."""
    rng = np.random.default_rng(5)
    query = _random(rng, 1)
    twins = np.repeat(query, 3, axis=0)  # three ids, one code
    near = np.stack([_spread(query[0], d, tables, rng) for d in (1, tables // 2, tables)])
    codes = np.concatenate([twins, near, _random(rng, 600)])
    index = MihBinaryIndex(merge_threshold=50, tables=tables)
    index.add(np.arange(len(codes), dtype=np.int64) + 100, codes)
    hits = index.range_search(query, 31)[0]
    expected = [Hit(100, 0), Hit(101, 0), Hit(102, 0), Hit(103, 1)]
    expected += [Hit(104, tables // 2), Hit(105, tables)]
    assert hits == expected


def test_heavy_removal_compacts_and_stays_exact(tmp_path: Path) -> None:
    """Past a quarter dead the arrays are compacted; results and save/load stay exact."""
    rng = np.random.default_rng(6)
    queries, near = _planted(rng, 16)
    codes = np.concatenate([_random(rng, 6_000), near])
    ids = np.arange(len(codes), dtype=np.int64)
    index = MihBinaryIndex(merge_threshold=1_000)
    index.add(ids, codes)
    oracle = _oracle(ids, codes)
    gone = ids[::2]
    assert index.remove(gone) == oracle.remove(gone) == len(gone)
    assert index.stats()["dead"] == 0 and index.stats()["positions"] == len(ids) - len(gone)
    assert index.range_search(queries, 31) == oracle.range_search(queries, 31)
    index.save(tmp_path)
    loaded = MihBinaryIndex.load(tmp_path)
    assert loaded.stats()["merged"] == len(loaded) == len(oracle)
    assert loaded.range_search(queries, 31) == oracle.range_search(queries, 31)


def test_searches_run_while_another_thread_updates(tmp_path: Path) -> None:
    """The GIL is released; the extension's lock keeps concurrent use safe and exact."""
    rng = np.random.default_rng(8)
    base = _random(rng, 4_000)
    index = MihBinaryIndex(merge_threshold=300)
    index.add(np.arange(4_000, dtype=np.int64), base)
    stop, errors = threading.Event(), []

    def search() -> None:
        while not stop.is_set():
            if Hit(7, 0) not in index.range_search(base[7:8], 31)[0]:
                errors.append("stored code 7 not found")
            if index.stats()["live"] < 4_000:
                errors.append("fewer codes than ever stored")

    threads = [threading.Thread(target=search) for _ in range(2)]
    for thread in threads:
        thread.start()
    for start in range(4_000, 8_000, 100):
        index.add(np.arange(start, start + 100, dtype=np.int64), _random(rng, 100))
        index.remove(np.arange(start, start + 50, dtype=np.int64))
        if start % 1_000 == 0:
            index.save(tmp_path)
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(index) == 6_000
    assert len(MihBinaryIndex.load(tmp_path)) == 5_550


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bits": 128}, "256-bit"),
        ({"merge_threshold": 0}, "merge_threshold"),
        ({"tables": 11}, "tables"),
        ({"tables": 17}, "tables"),
    ],
)
def test_bad_construction_raises_value_error(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MihBinaryIndex(**kwargs)


@pytest.mark.slow
def test_layout_widens_with_size() -> None:
    """Past a million codes the tables widen (fewer, longer chunks) and stay exact."""
    rng = np.random.default_rng(9)
    codes = _random(rng, 1_010_000)
    queries = np.stack([_spread(codes[i], 31, 14, rng) for i in range(4)])
    index = MihBinaryIndex()
    index.add(np.arange(990_000, dtype=np.int64), codes[:990_000])
    assert index.stats()["tables"] == 16
    index.add(np.arange(990_000, 1_010_000, dtype=np.int64), codes[990_000:])  # merges
    assert index.stats()["tables"] == 14
    hits = index.range_search(queries, 31)
    assert [h[0] for h in hits] == [Hit(i, 31) for i in range(4)]
    assert all(len(h) == 1 for h in hits)


@pytest.mark.parametrize("merge_threshold", [100_000, 1_000])
def test_a_query_with_fifty_thousand_hits_returns_all_in_oracle_order(
    merge_threshold: int,
) -> None:
    """50,000 hits (identical and near codes, shuffled ids) come back complete, by (distance, id).

    One broad query returns far more hits than the short lists the insertion sort was meant
    for; the native sort must give exactly the oracle's order whether the hits come from the
    unindexed delta (first case) or from the merged tables (second case).
    """
    rng = np.random.default_rng(10)
    query = _random(rng, 1)
    distances = rng.integers(0, 32, size=50_000)
    distances[:10_000] = 0  # a long run of ties on the same distance
    # Row i flips the bits where a random permutation of 0..255 is below distances[i].
    flips = rng.permuted(np.tile(np.arange(BITS), (len(distances), 1)), axis=1)
    bits = np.unpackbits(query[0], bitorder="little") ^ (flips < distances[:, None])
    codes = np.packbits(bits.astype(np.uint8), axis=1, bitorder="little")
    ids = rng.permutation(np.arange(-25_000, 25_000, dtype=np.int64) * 7)
    index = MihBinaryIndex(merge_threshold=merge_threshold)
    index.add(ids, codes)
    hits = index.range_search(query, 31)[0]
    assert len(hits) == 50_000
    assert hits == _oracle(ids, codes).range_search(query, 31)[0]
    assert hits == sorted(hits, key=lambda h: (h.distance, h.id))
    assert {h.id for h in hits} == set(ids.tolist())
