"""Where two raw fingerprints share sound: planted stretches, offsets, and none by chance."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from sightline.features.fingerprint import (
    CHROMAPRINT_TIMING,
    DEFAULT_RULE,
    ItemTiming,
    MatchRule,
    as_fingerprint,
    change_bits,
    from_bytes,
    shared_stretches,
    to_bytes,
)

ITEM_MS = CHROMAPRINT_TIMING.item_ms
U32 = npt.NDArray[np.uint32]


def random_items(rng: np.random.Generator, n: int) -> U32:
    """Independent random items: every other offset agrees in half the bits."""
    return rng.integers(0, 2**32, n, dtype=np.uint32)


def walk_items(rng: np.random.Generator, n: int, flips: int = 5) -> U32:
    """Items that drift like Chromaprint's: each differs from the last in ``flips`` bits.

    Neighbouring offsets of such a sequence agree in most bits, as real fingerprints do.
    """
    out = np.empty(n, dtype=np.uint32)
    value = int(rng.integers(0, 2**32))
    for i in range(n):
        for bit in rng.choice(32, flips, replace=False):
            value ^= 1 << int(bit)
        out[i] = value
    return out


def flipped(items: U32, rate: float, rng: np.random.Generator) -> U32:
    """``items`` with each bit flipped with probability ``rate`` (codec and noise damage)."""
    flips = rng.random((len(items), 32)) < rate
    mask = np.packbits(flips, axis=1, bitorder="little").view(np.uint32).ravel()
    return items ^ mask


def test_a_planted_stretch_is_found_with_its_offset() -> None:
    rng = np.random.default_rng(1)
    a, b = walk_items(rng, 600), walk_items(rng, 400)
    b[150:250] = flipped(a[300:400], 0.05, rng)  # A's items 300-399 are B's 150-249
    (stretch,) = shared_stretches(a, b)
    assert stretch.offset_ms == round(-150 * ITEM_MS)
    assert abs(stretch.items - 100) <= 4
    assert stretch.a_start_ms == pytest.approx(CHROMAPRINT_TIMING.start_ms(300), abs=4 * ITEM_MS)
    assert stretch.b_start_ms - stretch.a_start_ms == pytest.approx(stretch.offset_ms, abs=1)
    assert stretch.b_end_ms - stretch.a_end_ms == pytest.approx(stretch.offset_ms, abs=1)
    assert 0.9 <= stretch.similarity <= 0.97


def test_the_same_sound_twice_is_two_stretches() -> None:
    """A chorus heard twice in B: one A stretch at two distant offsets, both reported."""
    rng = np.random.default_rng(2)
    a, b = random_items(rng, 300), random_items(rng, 700)
    b[50:130] = flipped(a[100:180], 0.04, rng)
    b[500:580] = flipped(a[100:180], 0.04, rng)
    found = shared_stretches(a, b)
    assert sorted(s.offset_ms for s in found) == [round(-50 * ITEM_MS), round(400 * ITEM_MS)]


def test_neighbouring_offsets_of_one_stretch_are_one_stretch() -> None:
    """Drifting items agree at offsets next to the true one too; only the best is kept."""
    rng = np.random.default_rng(3)
    a = walk_items(rng, 500, flips=4)  # a neighbouring offset agrees in 28 of 32 bits
    b = np.concatenate([walk_items(rng, 100), a[200:350], walk_items(rng, 100)])
    neighbour = shared_stretches(a, b, offsets=[-99])
    assert neighbour and neighbour[0].similarity > DEFAULT_RULE.similarity
    assert [s.offset_ms for s in shared_stretches(a, b)] == [round(-100 * ITEM_MS)]


def test_given_offsets_limit_the_search() -> None:
    rng = np.random.default_rng(4)
    a, b = random_items(rng, 300), random_items(rng, 300)
    b[100:200] = a[50:150]
    assert [s.offset_ms for s in shared_stretches(a, b, offsets=[49, 50, 51])] == [
        round(50 * ITEM_MS)
    ]
    assert shared_stretches(a, b, offsets=range(-20, 20)) == []


def test_unrelated_sequences_share_nothing() -> None:
    rng = np.random.default_rng(5)
    for _ in range(5):
        assert shared_stretches(walk_items(rng, 800), walk_items(rng, 800)) == []
        assert shared_stretches(random_items(rng, 800), random_items(rng, 800)) == []


def test_too_short_a_shared_stretch_is_not_a_link() -> None:
    rng = np.random.default_rng(6)
    a, b = random_items(rng, 300), random_items(rng, 300)
    short = DEFAULT_RULE.min_items - 8
    b[100 : 100 + short] = a[100 : 100 + short]
    assert shared_stretches(a, b) == []


def test_silence_and_steady_tones_are_not_evidence() -> None:
    """Identical but unmoving items (digital silence) on both sides do not link."""
    rng = np.random.default_rng(7)
    silence = np.full(200, 627_964_279, dtype=np.uint32)
    a = np.concatenate([random_items(rng, 100), silence])
    b = np.concatenate([silence, random_items(rng, 100)])
    assert shared_stretches(a, b) == []
    assert change_bits(silence)[-1] == 0


def test_heavy_damage_breaks_the_link() -> None:
    """Past the threshold's bit error rate (30 % of bits flipped), nothing is reported."""
    rng = np.random.default_rng(8)
    a = random_items(rng, 400)
    b = flipped(a, 0.30, rng)
    assert shared_stretches(a, b) == []
    assert shared_stretches(a, flipped(a, 0.05, rng))[0].offset_ms == 0


def test_empty_and_short_sequences() -> None:
    empty = np.empty(0, dtype=np.uint32)
    rng = np.random.default_rng(9)
    assert shared_stretches(empty, random_items(rng, 100)) == []
    assert shared_stretches(random_items(rng, 10), random_items(rng, 10)) == []


def test_bytes_round_trip_little_endian() -> None:
    items = np.array([1, 0xFFFFFFFF, 0x01020304], dtype=np.uint32)
    data = to_bytes(items)
    assert data[:4] == b"\x01\x00\x00\x00"
    assert data[8:] == b"\x04\x03\x02\x01"
    assert from_bytes(data).tolist() == items.tolist()
    with pytest.raises(ValueError, match="fours"):
        from_bytes(b"\x00" * 5)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 2), dtype=np.uint32),
        np.array([1.5, 2.0]),
        np.array([-1, 2]),
        np.array([2**32]),
    ],
)
def test_only_unsigned_32_bit_sequences_are_fingerprints(bad: object) -> None:
    with pytest.raises(ValueError, match=r"fingerprint|between"):
        as_fingerprint(bad)


def test_integer_lists_are_accepted() -> None:
    assert as_fingerprint([1, 2, 2**32 - 1]).dtype == np.uint32


@pytest.mark.parametrize(
    "fields",
    [
        {"similarity": 0.4, "window_items": 8, "min_items": 16, "min_change_bits": 0},
        {"similarity": 0.9, "window_items": 32, "min_items": 16, "min_change_bits": 0},
        {"similarity": 0.9, "window_items": 0, "min_items": 16, "min_change_bits": 0},
        {"similarity": 0.9, "window_items": 8, "min_items": 16, "min_change_bits": -1},
    ],
)
def test_a_rule_must_make_sense(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"similarity|window_items|min_change_bits"):
        MatchRule(
            similarity=fields["similarity"],
            window_items=int(fields["window_items"]),
            min_items=int(fields["min_items"]),
            min_change_bits=fields["min_change_bits"],
        )


def test_item_timing() -> None:
    timing = ItemTiming(item_ms=100.0, lead_ms=50.0, tail_ms=2000.0)
    assert (timing.start_ms(10), timing.end_ms(10)) == (1050, 3000)
    assert timing.items(250.0) == 3
    assert CHROMAPRINT_TIMING.item_ms == pytest.approx(123.81, abs=0.01)
