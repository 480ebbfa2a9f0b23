"""Segment alignment of matching frame pairs (sightline.features.alignment).

Pair sets are built the way matching builds them: both recordings sampled once a second (at
different phases), and for every sampled frame of B that shows footage of A, a pair with the
sampled frame of A nearest to that footage. Spurious pairs, thick bands (a frame also matching
its neighbours), frozen blocks and repeated title cards are added on top; the truth is known.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sightline.errors import InvalidInputError
from sightline.features.alignment import (
    DEFAULT_MIN_PAIRS,
    DEFAULT_TOLERANCE_MS,
    Pair,
    Segment,
    align,
    align_arrays,
    share_matched,
)

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Piece:
    """Footage of A from ``a_start_ms`` to ``a_end_ms`` shown in B from ``b_start_ms``."""

    a_start_ms: int
    a_end_ms: int
    b_start_ms: int
    speed: float = 1.0  # d(b)/d(a)

    @property
    def b_end_ms(self) -> float:
        return self.b_start_ms + self.speed * (self.a_end_ms - self.a_start_ms)

    def b_at(self, a_ms: float) -> float:
        return self.b_start_ms + self.speed * (a_ms - self.a_start_ms)


def sampled(duration_ms: float, phase_ms: int = 0) -> np.ndarray:
    """Frame times of a recording sampled once a second."""
    return np.arange(phase_ms, duration_ms, 1000, dtype=np.int64)


def copy_pairs(
    pieces: Sequence[Piece],
    a_frames: np.ndarray,
    b_frames: np.ndarray,
    *,
    band: int = 0,
    seed: int = 0,
) -> list[Pair]:
    """The pairs a matcher finds between A and a B made of ``pieces`` of A.

    Each frame of B within a piece pairs with the frame of A nearest its footage (and, with
    ``band``, with that many neighbours either side, farther in distance: a slow shot).
    """
    rng = np.random.default_rng(seed)
    pairs: list[Pair] = []
    for tb in b_frames.tolist():
        for piece in pieces:
            if not piece.b_start_ms <= tb <= piece.b_end_ms:
                continue
            ta = piece.a_start_ms + (tb - piece.b_start_ms) / piece.speed
            i = int(np.argmin(np.abs(a_frames - ta)))
            if abs(a_frames[i] - ta) > 600:
                continue
            base = float(rng.integers(0, 16))
            for k in range(-band, band + 1):
                if 0 <= i + k < a_frames.size:
                    pairs.append(Pair(int(a_frames[i + k]), tb, base + 6 * abs(k)))
    return pairs


def spurious(n: int, a_span_ms: int, b_span_ms: int, seed: int) -> list[Pair]:
    """Random pairs anywhere in the A x B box."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, a_span_ms, n)
    b = rng.integers(0, b_span_ms, n)
    d = rng.integers(0, 32, n)
    return [Pair(int(x), int(y), float(z)) for x, y, z in zip(a, b, d, strict=True)]


def block(a_times: Sequence[int], b_times: Sequence[int], distance: float = 2.0) -> list[Pair]:
    """Every frame of one set matching every frame of the other (a frozen or static shot)."""
    return [Pair(a, b, distance) for a in a_times for b in b_times]


def assert_matches(segment: Segment, piece: Piece, *, within_ms: float = 1000) -> None:
    """The segment places the piece right: its line within ``within_ms`` at both ends."""
    for a in (max(segment.a_start_ms, piece.a_start_ms), min(segment.a_end_ms, piece.a_end_ms)):
        assert abs(segment.b_at(a) - piece.b_at(a)) <= within_ms, (segment, piece)


def covers(segment: Segment, piece: Piece, *, slack_ms: float = 1600) -> bool:
    """The segment's A range spans the piece's, give or take a frame or so."""
    return (
        abs(segment.a_start_ms - piece.a_start_ms) <= slack_ms
        and abs(segment.a_end_ms - piece.a_end_ms) <= slack_ms
    )


# -- clip localisation ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clip_of_40s_at_95s_in_an_hour_with_30_percent_spurious_pairs(seed: int) -> None:
    piece = Piece(95_000, 135_000, 0)
    a_frames, b_frames = sampled(HOUR_MS, 0), sampled(40_000, 370)
    true_pairs = copy_pairs([piece], a_frames, b_frames, seed=seed)
    noise = spurious(len(true_pairs) * 3 // 7, HOUR_MS, 40_000, seed)  # 30 % of all pairs
    pairs = true_pairs + noise
    random.Random(seed).shuffle(pairs)

    segments = align(pairs)

    assert len(segments) == 1
    (segment,) = segments
    assert_matches(segment, piece)
    assert abs(segment.offset_ms - (-95_000)) <= 1000
    assert segment.speed == 1.0
    assert covers(segment, piece)
    assert abs(segment.b_start_ms) <= 1000 and abs(segment.b_end_ms - 39_000) <= 1600
    assert segment.pairs >= len(true_pairs) - 2  # nearly every true pair, no spurious ones
    assert segment.pairs <= len(true_pairs) + 1


def test_offsets_can_be_negative_or_positive_and_b_shorter_or_longer() -> None:
    # A is the short clip this time: it appears 30 minutes into B.
    piece = Piece(0, 40_000, 1_800_000)
    pairs = copy_pairs([piece], sampled(40_000, 0), sampled(HOUR_MS, 250))
    (segment,) = align(pairs)
    assert abs(segment.offset_ms - 1_800_000) <= 1000
    assert_matches(segment, piece)


@pytest.mark.parametrize("speed", [1 / 1.05, 1.05])
def test_a_speed_change_of_5_percent_is_estimated(speed: float) -> None:
    # speed 1/1.05: B plays A 5 % faster; 1.05: B is slowed down.
    piece = Piece(200_000, 260_000, 10_000, speed)
    pairs = copy_pairs([piece], sampled(HOUR_MS, 0), sampled(100_000, 450), band=1)

    (segment,) = align(pairs)

    assert abs(segment.speed - speed) / speed < 0.01
    assert segment.speed != 1.0  # no offset-only model
    assert_matches(segment, piece)
    assert covers(segment, piece)


def test_a_frame_rate_change_does_not_change_the_speed() -> None:
    # A at 29.97 fps, B a re-encode at 25 fps trimmed by 12.3 s: presentation times keep the
    # footage's pace, only the sampled instants differ.
    a_frames = np.unique(np.ceil(np.arange(0, 120_000, 1000) / (1001 / 30)) * (1001 / 30))
    a_frames = np.round(a_frames).astype(np.int64)
    b_frames = np.arange(0, 100_000, 1000, dtype=np.int64)  # 25 fps: whole seconds exist
    piece = Piece(12_300, 112_300, 0)
    (segment,) = align(copy_pairs([piece], a_frames, b_frames))
    assert segment.speed == 1.0
    assert abs(segment.offset_ms - (-12_300)) <= 1000
    assert_matches(segment, piece)


def test_a_long_copy_at_an_off_grid_speed_is_one_segment() -> None:
    # 2 % faster over a whole hour: the drift (72 s) is far beyond any offset bin.
    piece = Piece(0, HOUR_MS - 1000, 7000, 1.02)
    pairs = copy_pairs([piece], sampled(HOUR_MS), sampled(HOUR_MS * 1.03, 500), band=1)
    (segment,) = align(pairs)
    assert abs(segment.speed - 1.02) < 0.001
    assert covers(segment, piece)
    assert_matches(segment, piece)


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speeds_at_the_bounds_of_the_range_are_found(speed: float) -> None:
    piece = Piece(60_000, 660_000, 3000, speed)
    pairs = copy_pairs([piece], sampled(700_000), sampled(1_300_000, 200))
    (segment,) = align(pairs)
    assert segment.speed == pytest.approx(speed, rel=0.01)
    assert_matches(segment, piece)


def test_no_segment_outside_the_speed_range() -> None:
    piece = Piece(60_000, 260_000, 3000, 0.8)
    pairs = copy_pairs([piece], sampled(300_000), sampled(300_000, 200))
    assert align(pairs, speeds=(0.9, 1.1)) == []
    (segment,) = align(pairs)
    assert segment.speed == pytest.approx(0.8, rel=0.01)


def test_other_time_scales_align_with_their_own_tolerance() -> None:
    # Audio fingerprint frames every 124 ms, 60 % of them matching, over 20 s shared.
    a_frames = np.arange(0, 600_000, 124, dtype=np.int64)
    b_frames = np.arange(37, 300_000, 124, dtype=np.int64)
    piece = Piece(200_000, 220_000, 7300)
    keep = np.random.default_rng(0).random(b_frames.size) < 0.6
    pairs = copy_pairs([piece], a_frames, b_frames[keep])
    pairs += spurious(300, 600_000, 300_000, 1)

    (segment,) = align(pairs, tolerance_ms=250, max_gap_ms=3000, ambiguity_ms=2000)

    assert_matches(segment, piece, within_ms=100)
    assert covers(segment, piece, slack_ms=500)
    assert segment.speed == 1.0


# -- several segments -------------------------------------------------------------------------


def test_a_re_edit_of_two_parts_in_another_order_gives_two_segments() -> None:
    first = Piece(600_000, 660_000, 0)  # B opens with minute 10 of A ...
    second = Piece(100_000, 130_000, 61_000)  # ... then shows 30 s from minute 1:40
    pairs = copy_pairs([first, second], sampled(HOUR_MS), sampled(95_000, 600))

    segments = align(pairs)

    assert len(segments) == 2
    assert segments[0].pairs > segments[1].pairs  # sorted by support
    assert_matches(segments[0], first)
    assert_matches(segments[1], second)
    assert abs(segments[0].offset_ms - (-600_000)) <= 1000
    assert abs(segments[1].offset_ms - (-39_000)) <= 1000
    assert covers(segments[0], first) and covers(segments[1], second)


def test_a_clip_shown_twice_in_a_compilation_gives_two_segments() -> None:
    early, late = Piece(0, 40_000, 100_000), Piece(0, 40_000, 400_000)
    pairs = copy_pairs([early, late], sampled(40_000), sampled(600_000, 800))

    segments = sorted(align(pairs), key=lambda s: s.b_start_ms)

    assert len(segments) == 2
    assert_matches(segments[0], early)
    assert_matches(segments[1], late)
    assert all(covers(s, early) for s in segments)


def test_a_cut_of_a_few_seconds_splits_the_copy_rather_than_tilting_it() -> None:
    # B drops 3 s of A at 140 s: two parts whose offsets differ by 3 s. A single slanted
    # line through both would hold most pairs within tolerance; it must not win.
    before, after = Piece(100_000, 140_000, 0), Piece(143_000, 200_000, 40_000)
    pairs = copy_pairs([before, after], sampled(300_000), sampled(100_000, 500))

    segments = align(pairs)

    assert len(segments) == 2
    assert all(s.speed == 1.0 for s in segments)
    by_start = sorted(segments, key=lambda s: s.a_start_ms)
    assert_matches(by_start[0], before)
    assert_matches(by_start[1], after)


def test_a_compilation_of_many_clips_gives_one_segment_per_clip() -> None:
    # 20 one-minute clips of an hour-long A, shuffled into B, among 1,000 spurious pairs.
    # Lines through two clips at a slant collect many pairs; each clip must still come out
    # whole, once, at its own offset.
    order = np.random.default_rng(11).permutation(60)[:20]
    pieces = [
        Piece(int(s) * 60_000, int(s) * 60_000 + 59_000, k * 70_000) for k, s in enumerate(order)
    ]
    pairs = copy_pairs(pieces, sampled(HOUR_MS), sampled(1_400_000, 500), band=1)
    pairs += spurious(1000, HOUR_MS, 1_400_000, 12)

    segments = align(pairs)

    assert len(segments) == len(pieces)
    for piece in pieces:
        (segment,) = [s for s in segments if abs(s.a_start_ms - piece.a_start_ms) < 30_000]
        assert_matches(segment, piece)
        assert covers(segment, piece)


def test_a_chance_pair_on_the_line_does_not_stretch_the_segment() -> None:
    piece = Piece(100_000, 140_000, 600_000)
    pairs = copy_pairs([piece], sampled(HOUR_MS), sampled(HOUR_MS, 250))
    stray = Pair(85_000, 585_200, 20.0)  # on the line, 15 s before the copy begins
    (segment,) = align([*pairs, stray])
    assert covers(segment, piece)
    assert segment.a_start_ms == 100_000


def test_a_long_gap_between_inliers_splits_a_segment() -> None:
    # The same line twice, 60 s apart (the middle of B was replaced by other footage).
    parts = [Piece(0, 30_000, 5000), Piece(90_000, 120_000, 95_000)]
    pairs = copy_pairs(parts, sampled(130_000), sampled(130_000, 300))
    segments = sorted(align(pairs), key=lambda s: s.a_start_ms)
    assert len(segments) == 2
    for segment, part in zip(segments, parts, strict=True):
        assert_matches(segment, part)
        assert covers(segment, part)
    (merged,) = align(pairs, max_gap_ms=90_000)
    assert merged.a_start_ms == segments[0].a_start_ms
    assert merged.a_end_ms == segments[1].a_end_ms


# -- repeated content -------------------------------------------------------------------------


def test_a_frozen_stretch_and_its_repeats_do_not_shift_or_add_segments() -> None:
    # B copies A from 1000 s to 1060 s; A (so B) shows a frozen frame from 1020 s to 1040 s,
    # and the same frozen frame again at 2500-2530 s of A. Every frozen frame of A matches
    # every frozen frame of B: two many-to-many blocks, one on the true line, one far off.
    piece = Piece(1_000_000, 1_060_000, 0)
    a_frames, b_frames = sampled(HOUR_MS), sampled(60_000, 0)
    moving = [p for p in copy_pairs([piece], a_frames, b_frames) if not 20_000 <= p.b_ms <= 40_000]
    frozen_b = list(range(20_000, 40_001, 1000))
    pairs = (
        moving
        + block(range(1_020_000, 1_040_001, 1000), frozen_b)
        + block(range(2_500_000, 2_530_001, 1000), frozen_b)
    )

    segments = align(pairs)

    assert len(segments) == 1
    (segment,) = segments
    assert abs(segment.offset_ms - (-1_000_000)) <= 1000
    assert segment.speed == 1.0
    assert covers(segment, piece)  # the frozen stretch bridges the gap in the middle
    assert segment.pairs == len(moving)  # frozen pairs place nothing, so support nothing


def test_a_frozen_block_alone_gives_no_segment() -> None:
    assert align(block(range(2_500_000, 2_530_001, 1000), range(20_000, 50_001, 1000))) == []


def test_a_short_static_shot_alone_gives_no_segment() -> None:
    # Six frames each side, all alike: narrow enough to be usable, but nothing in it tells
    # which frame is which, so no line through it has a speed to report.
    assert align(block(range(500_000, 505_001, 1000), range(20_000, 25_001, 1000))) == []


def test_a_title_card_repeated_through_both_recordings_gives_no_segment() -> None:
    # The same card every 15 s in both: a lattice of pairs with a full diagonal every 15 s.
    cards = block(range(0, 600_000, 15_000), range(7000, 607_000, 15_000))
    assert align(cards) == []
    piece = Piece(1_000_000, 1_030_000, 1_500_000)
    real = copy_pairs([piece], sampled(1_100_000), sampled(1_600_000, 400))
    (segment,) = align(cards + real)
    assert_matches(segment, piece)


def test_a_thick_band_counts_each_frame_once() -> None:
    # A slow shot: every frame also matches the frames 1 and 2 s either side.
    piece = Piece(0, 300_000, 0)
    pairs = copy_pairs([piece], sampled(300_000), sampled(300_000), band=2)
    (segment,) = align(pairs)
    assert segment.pairs == 300  # frames 0 to 299 s
    assert segment.offset_ms == 0 and segment.speed == 1.0


def test_identical_recordings_give_one_segment_over_everything() -> None:
    frames = sampled(600_000)
    pairs = copy_pairs([Piece(0, 599_000, 0)], frames, frames, band=1)
    (segment,) = align(pairs)
    assert segment == Segment(
        a_start_ms=0,
        a_end_ms=599_000,
        b_start_ms=0,
        b_end_ms=599_000,
        speed=1.0,
        offset_ms=0,
        pairs=600,
        mean_distance=segment.mean_distance,
    )
    # The inliers are the frame-to-same-frame pairs, not their neighbours.
    same = [p.distance for p in pairs if p.a_ms == p.b_ms]
    assert segment.mean_distance == pytest.approx(sum(same) / len(same))


# -- edge cases -------------------------------------------------------------------------------


def test_no_pairs_and_too_few_pairs_give_no_segment() -> None:
    assert align([]) == []
    assert align([Pair(1000, 2000, 3.0)]) == []
    line = [Pair(1000, 2000, 3.0), Pair(2000, 3000, 4.0)]
    assert align(line) == []  # below the default of three
    (segment,) = align(line, min_pairs=2)
    assert (segment.a_start_ms, segment.a_end_ms, segment.offset_ms) == (1000, 2000, 1000)


def test_all_pairs_at_one_time_of_a_give_no_segment() -> None:
    assert align([Pair(5000, b, 1.0) for b in range(0, 60_000, 1000)]) == []
    assert align([Pair(5000, b, 1.0) for b in (3000, 90_000, 400_000)]) == []


def test_duplicate_pairs_count_once_and_input_order_does_not_matter() -> None:
    piece = Piece(95_000, 135_000, 0)
    pairs = copy_pairs([piece], sampled(HOUR_MS), sampled(40_000, 370)) + spurious(
        12, HOUR_MS, 40_000, 3
    )
    expected = align(pairs)
    shuffled = pairs + pairs[:10]
    random.Random(7).shuffle(shuffled)
    assert align(shuffled) == expected
    arrays = align_arrays(
        np.array([p.a_ms for p in shuffled]),
        np.array([p.b_ms for p in shuffled]),
        np.array([p.distance for p in shuffled]),
    )
    assert arrays == expected


def test_segment_maps_times_both_ways() -> None:
    segment = Segment(10_000, 20_000, 40_000, 45_000, 0.5, 30_000, 11, 4.0)
    assert segment.b_at(10_000) == 40_000
    assert segment.b_at(20_000) == 45_000
    assert segment.a_at(segment.b_at(13_000)) == pytest.approx(13_000)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tolerance_ms": 0},
        {"max_gap_ms": -1},
        {"ambiguity_ms": 0},
        {"min_pairs": 1},
        {"speeds": (2.0, 0.5)},
        {"speeds": (0.0, 2.0)},
        {"speeds": (0.5, float("inf"))},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        align([Pair(0, 0, 0.0)] * 3, **kwargs)  # type: ignore[arg-type]  # deliberately bad


def test_bad_pairs_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        align([Pair(0, 0, float("nan")), Pair(1000, 1000, 1.0), Pair(2000, 2000, 1.0)])
    with pytest.raises(InvalidInputError):
        align_arrays(np.array([0, 1000]), np.array([0]), np.array([1.0, 1.0]))
    with pytest.raises(InvalidInputError):
        align_arrays(np.array([0.5, 1000.0]), np.array([0, 1]), np.array([1.0, 1.0]))


# -- share matched (vPDQ's rule) --------------------------------------------------------------


def test_share_matched_counts_frames_with_a_match_on_the_other_side() -> None:
    a_frames = [0, 1000, 2000, 3000]
    b_frames = [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000]
    pairs = [
        Pair(0, 5000, 10.0),
        Pair(0, 6000, 12.0),  # one frame of A matching two of B counts once for A
        Pair(1000, 7000, 3.0),
        Pair(9000, 0, 1.0),  # not a frame of A (a low-quality one): ignored on both sides
    ]
    assert share_matched(a_frames, b_frames, pairs) == (0.5, 3 / 8)
    assert share_matched(a_frames, b_frames, []) == (0.0, 0.0)
    assert share_matched([], b_frames, pairs) == (0.0, 0.0)
    everything = [Pair(t, t, 0.0) for t in a_frames]
    assert share_matched(a_frames, a_frames, everything) == (1.0, 1.0)


# -- properties -------------------------------------------------------------------------------


def _supported(segment: Segment, pairs: Sequence[Pair], tolerance: float) -> int:
    """Distinct A times of input pairs within tolerance of the segment's line, in its range."""
    return len(
        {
            p.a_ms
            for p in pairs
            if segment.a_start_ms <= p.a_ms <= segment.a_end_ms
            and abs(p.b_ms - segment.b_at(p.a_ms)) <= tolerance + 1
        }
    )


pair_lists = st.lists(
    st.builds(
        Pair,
        st.integers(-600_000, 3_600_000),
        st.integers(-600_000, 3_600_000),
        st.floats(0, 31, allow_nan=False),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pairs=pair_lists,
    min_pairs=st.integers(2, 5),
    low=st.floats(0.3, 1.0),
    width=st.floats(1.0, 3.0),
)
def test_every_segment_is_supported_at_a_possible_speed(
    pairs: list[Pair], min_pairs: int, low: float, width: float
) -> None:
    speeds = (low, low * width)
    segments = align(pairs, min_pairs=min_pairs, speeds=speeds)
    distances = [p.distance for p in pairs]
    for segment in segments:
        assert speeds[0] <= segment.speed <= speeds[1]
        assert segment.pairs >= min_pairs
        assert _supported(segment, pairs, DEFAULT_TOLERANCE_MS) >= segment.pairs
        assert segment.a_start_ms < segment.a_end_ms
        assert segment.b_start_ms <= segment.b_end_ms
        assert segment.offset_ms == segment.b_start_ms - segment.a_start_ms
        assert min(distances) <= segment.mean_distance <= max(distances)
    assert [s.pairs for s in segments] == sorted((s.pairs for s in segments), reverse=True)


@pytest.mark.parametrize("seed", range(8))
def test_random_outliers_alone_give_no_segment(seed: int) -> None:
    # From a few hundred to a few thousand chance pairs over an hour against an hour.
    pairs = spurious(300 * (seed + 1), HOUR_MS, HOUR_MS, seed)
    assert align(pairs) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a_start=st.integers(0, 3_000_000),
    length=st.integers(15_000, 300_000),
    b_start=st.integers(0, 3_000_000),
    speed=st.floats(0.8, 1.25),
    phase=st.integers(0, 999),
    band=st.integers(0, 2),
    outliers=st.integers(0, 120),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_planted_segment_is_recovered_within_a_second(
    a_start: int,
    length: int,
    b_start: int,
    speed: float,
    phase: int,
    band: int,
    outliers: int,
    seed: int,
) -> None:
    # Recordings of an hour or more, the planted copy somewhere inside.
    piece = Piece(a_start, a_start + length, b_start, speed)
    a_frames = sampled(max(a_start + length + 10_000, HOUR_MS))
    b_frames = sampled(max(piece.b_end_ms + 10_000, HOUR_MS), phase)
    pairs = copy_pairs([piece], a_frames, b_frames, band=band, seed=seed % 1000)
    pairs += spurious(outliers, int(a_frames[-1]), int(b_frames[-1]), seed)

    segments = align(pairs)

    found = [s for s in segments if covers(s, piece, slack_ms=0.2 * length)]
    assert found, (piece, segments)
    assert_matches(found[0], piece)
    assert found[0].pairs >= DEFAULT_MIN_PAIRS


@pytest.mark.parametrize("seed", range(4))
def test_the_sparse_and_dense_vote_tables_find_the_same_peaks(seed: int) -> None:
    # The vote counts a short clip against a long recording in a sparse table; both ways
    # must agree on every peak and its strength.
    from sightline.features.alignment import _dense_peaks, _sparse_peaks

    rng = np.random.default_rng(seed)
    rows, nbins = 5, 400
    cols = rng.integers(1, nbins - 3, 300)  # never the spare first and last two bins
    cells = rng.integers(0, rows, 300) * nbins + cols
    weights = rng.choice([0.25, 0.5, 1.0], 300)
    votes = np.bincount(cells, weights, minlength=rows * nbins).astype(np.float64)
    dense, dense_strength = _dense_peaks(votes, 1.5)
    sparse, sparse_strength = _sparse_peaks(cells, weights, 1.5)
    assert dense.size > 10
    assert dense.tolist() == sparse.tolist()
    assert dense_strength == pytest.approx(sparse_strength)
