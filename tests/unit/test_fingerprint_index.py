"""The inverted fingerprint index's own machinery: table merges, long queries, stop list."""

from __future__ import annotations

import numpy as np
import pytest

from sightline.features.fingerprint import CHROMAPRINT_TIMING
from sightline.indexes import fingerprint_inverted as inverted
from sightline.indexes.fingerprint import FingerprintHit, ranked
from sightline.indexes.fingerprint_brute import BruteForceFingerprintIndex
from sightline.indexes.fingerprint_inverted import InvertedFingerprintIndex
from sightline.indexes.fingerprint_testing import drifting_items, flipped, random_items


def both(
    sequences: dict[int, np.ndarray],
) -> tuple[InvertedFingerprintIndex, BruteForceFingerprintIndex]:
    """The inverted index and the oracle, holding ``sequences``."""
    index, oracle = InvertedFingerprintIndex(), BruteForceFingerprintIndex()
    for key, values in sequences.items():
        index.add(key, values)
        oracle.add(key, values)
    return index, oracle


def test_updates_go_to_a_delta_table_then_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small adds build a delta; past a quarter of the main table everything is rebuilt."""
    monkeypatch.setattr(inverted, "MERGE_MIN_ITEMS", 100)
    rng = np.random.default_rng(1)
    stored = {k: random_items(rng, 400) for k in range(10)}
    index, oracle = both(stored)
    query = flipped(stored[3][100:200], 0.03, rng)
    assert [h.key for h in index.search(query)] == [3]
    assert index._main is not None and index._delta is None
    index.add(50, stored[3].copy())  # 400 items: under a quarter of 4,000
    oracle.add(50, stored[3].copy())
    assert [h.key for h in index.search(query)] == [3, 50]
    assert index._delta is not None and 50 in index._delta.slots
    for key in range(60, 64):  # 1,600 more: the delta outgrows a quarter
        values = random_items(rng, 400)
        index.add(key, values)
        oracle.add(key, values)
    assert index.search(query) == oracle.search(query)
    assert index._delta is None and 63 in index._main.slots


def test_removing_a_quarter_rebuilds_the_main_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inverted, "MERGE_MIN_ITEMS", 100)
    rng = np.random.default_rng(2)
    stored = {k: random_items(rng, 300) for k in range(8)}
    index, oracle = both(stored)
    index.search(stored[0][:100])
    built = index._main
    assert index.remove([0, 1]) == oracle.remove([0, 1]) == 2  # 600 of 2,400 items dead
    assert built is not None and built.dead_items == 600
    for key in (2, 7):
        query = stored[key][50:150]
        assert index.search(query) == oracle.search(query)
    assert index._main is not built and index._main is not None
    assert index._main.dead_items == 0 and 0 not in index._main.slots


def test_a_long_query_is_voted_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunked voting finds stretches in every chunk, also one across a chunk border."""
    monkeypatch.setattr(inverted, "QUERY_CHUNK", 128)
    rng = np.random.default_rng(3)
    stored = {k: drifting_items(rng, 600) for k in range(6)}
    index, oracle = both(stored)
    query = np.concatenate(
        [
            drifting_items(rng, 100),
            flipped(stored[1][0:90], 0.03, rng),  # items 100-189: across the border at 128
            drifting_items(rng, 200),
            flipped(stored[4][300:400], 0.03, rng),
            drifting_items(rng, 50),
        ]
    )
    hits = index.search(query)
    assert hits == oracle.search(query)
    assert sorted(h.key for h in hits) == [1, 4]


def test_keys_with_huge_posting_lists_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value stored everywhere (silence) is not looked up; real sound still is."""
    monkeypatch.setattr(inverted, "STOP_MIN", 50)
    monkeypatch.setattr(inverted, "STOP_FACTOR", 1)
    rng = np.random.default_rng(4)
    silence = np.full(300, 627_964_279, dtype=np.uint32)
    stored = {k: np.concatenate([silence, random_items(rng, 200)]) for k in range(5)}
    index = InvertedFingerprintIndex()
    for key, values in stored.items():
        index.add(key, values)
    table = index._refresh()[0]
    query = np.concatenate([silence[:100], stored[2][300:400]])
    assert inverted._votes(table, query, 0).counts.sum() < 500  # not 2 x 100 x 1,500
    assert [h.key for h in index.search(query)] == [2]
    monkeypatch.setattr(inverted, "STOP_MIN", 10_000)
    assert inverted._votes(table, query, 0).counts.sum() > 100_000


def test_offsets_are_exact_in_items() -> None:
    rng = np.random.default_rng(5)
    stored = {9: random_items(rng, 1_000)}
    index, _ = both(stored)
    for start in (0, 1, 333, 900):
        (hit,) = index.search(stored[9][start : start + 80])
        assert hit.stretches[0].offset_ms == round(start * CHROMAPRINT_TIMING.item_ms)


def test_ranking_puts_more_shared_sound_first() -> None:
    rng = np.random.default_rng(6)
    a, b = random_items(rng, 600), random_items(rng, 600)
    query = np.concatenate([a[:100], random_items(rng, 50), b[:300]])
    index, _ = both({1: a, 2: b})
    assert [h.key for h in index.search(query)] == [2, 1]
    assert ranked([FingerprintHit(3, ())], 5) == []
