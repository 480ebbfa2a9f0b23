"""Temporal alignment of matching frame pairs into aligned segments.

Two recordings A and B that share footage give *pairs*: a sampled frame of A at ``a_ms`` whose
hash lies within the match threshold of a frame of B at ``b_ms``. :func:`align` turns them into
*segments*: a time range of A, the range of B it appears in, the offset and the speed ratio
(``b = b_start + speed * (a - a_start)`` inside the segment). :func:`share_matched` gives
vPDQ's coarser answer, the share of each side's frames that match at all. Both are generic:
times in milliseconds and a distance per pair (lower is better), so audio fingerprint matches
can be aligned the same way.

Why it is hand-written: no installed library does temporal alignment of hash matches. vPDQ
and TMK only report a share matched or a whole-video score; Chromaprint gives no offsets;
audfprint and Olaf vote on offsets at a fixed speed and are applications, not libraries; and
there is no scipy here (numpy only). The method below combines textbook pieces (a Hough vote,
iteratively re-weighted least squares with Tukey's biweight, gap splitting), all in numpy.

Method:

1. **Clean-up.** Duplicate pairs are merged (best distance kept) and the pairs sorted, so the
   input order never matters; nothing is random, so the output is deterministic.
2. **Runs, and what cannot place a frame.** The matches of each A frame are grouped into
   *runs* of nearby B times (gaps of at most ``2 * tolerance_ms``), and likewise for each B
   frame. A static shot, a frozen frame or a logo matches many frames of the other side: a
   many-to-many block whose pairs fit any offset across it. A pair whose run on either side
   is wider than ``ambiguity_ms`` cannot place its frame in time: it is *ambiguous*, neither
   votes nor counts as support, and may only bridge a gap inside a segment found from other
   pairs. Narrower runs (a slow shot whose frames also match their neighbours) stay usable.
3. **Candidates by a Hough vote** over (speed, offset): for each speed of a geometric grid
   over ``speeds`` (the bounds, and steps of 6 % that include 1.0) every usable pair votes for
   the offset ``b - speed * a`` in bins of half the tolerance, weighted by ``1 / sqrt(run size
   A * run size B)`` (a thick band counts about once per frame, the "burstiness" weighting of
   image retrieval) and by its uniqueness (below). Local maxima of the vote summed over three
   bins are candidate lines: random pairs spread their votes, a shared stretch piles them up.
4. **Robust refinement.** From a candidate, the line is refitted by least squares weighted
   with Tukey's biweight (points farther than ``tolerance_ms`` get no weight) until it stops
   moving. The points are the middles of the runs, (a, mean B time of a's run) and (mean A
   time of b's run, b): a thick band is a thin line there, whereas the pair of a band nearest
   a line leans with that line; where a band is cut off at the end of a copy the two kinds of
   point lean opposite ways. Started on a chunk of a long copy at a grid speed a little off,
   each iteration fits the slope better and reaches farther along it: the speed is
   estimated, never assumed (no offset-only model).
5. **Inliers and parts.** Usable pairs within ``tolerance_ms`` of the line are its inliers, one
   per A frame and one per B frame (the nearest to the line), cut into parts wherever two
   consecutive ones lie more than ``max_gap_ms`` apart on either side (ambiguous pairs on the
   line bridge a frozen stretch). A line is scored by the Tukey weights, at half the
   tolerance, of its inliers: a tight line beats a slanted one that crosses two nearby parts
   (a cut of a few seconds) with as many pairs, but spread across the tolerance.
6. **Lazy greedy extraction.** The best-scoring line's parts become segments and their pairs,
   with every pair sharing a run with them, are taken; a line that lost inliers to it is
   refitted on what is left and requeued. The vote is repeated on the rest until rounds stop
   finding anything. A re-edit (parts of A in another order) or a clip shown twice gives one
   segment per part.
7. **Each segment** is refitted from its own runs and takes in every pair along the refitted
   line (a candidate line may have crossed the copy at a slant), a few rounds until it
   settles; lone inliers at its ends (a chance pair on the line a while before or after the
   copy) are trimmed. Its speed is reported as exactly 1.0 when the data cannot tell it from
   1 (the slope within two standard errors of 1, or speed 1 moving the line by under a third
   of the tolerance over the segment) and the speed-1 line still holds every inlier; a speed
   outside ``speeds`` drops the segment (one within 2 % past a bound is held at the bound).
   Three tests then keep repeats and chance out. *Static blocks*: the middles of the
   inliers' A runs must follow the line (in a block every frame matches every frame, so a
   line at any speed finds an inlier per frame, but the middles stay put). *Uniqueness*: each
   pair counts ``1 / sqrt(places its A frame matches * places its B frame matches)`` and the
   sum must reach half of ``min_pairs`` (a title card repeated through both recordings makes
   a lattice of pairs along many diagonals, each worth little; a clip shown twice still
   counts half). *Chance*: were all the other pairs spread evenly over the box the pairs lie
   in, fewer than 0.01 segments as long and as well supported must be expected from them
   (three pairs in a line mean little among thousands of random pairs, and a lot among a
   handful).

Cost: about ``grid speeds * pairs`` per vote plus a few linear passes per candidate and per
segment: 10,000 pairs align in some tens of milliseconds.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sightline.errors import InvalidInputError

__all__ = [
    "DEFAULT_AMBIGUITY_MS",
    "DEFAULT_MAX_GAP_MS",
    "DEFAULT_MIN_PAIRS",
    "DEFAULT_SPEEDS",
    "DEFAULT_TOLERANCE_MS",
    "Pair",
    "Segment",
    "align",
    "align_arrays",
    "share_matched",
]

# Frames are sampled about once a second: the nearest sampled frame of the other side lies up
# to half a second away, a neighbouring frame a second; 1.5 s keeps both as inliers.
DEFAULT_TOLERANCE_MS = 1_500
# A pause in the matches longer than this (on either side) ends a segment.
DEFAULT_MAX_GAP_MS = 20_000
# Three pairs (three seconds of frames) make a segment; one or two coincidences do not.
DEFAULT_MIN_PAIRS = 3
# A frame whose matches on the other side spread over more than this cannot be placed in time.
DEFAULT_AMBIGUITY_MS = 10_000
DEFAULT_SPEEDS = (0.5, 2.0)

# Grid of the speed vote: consecutive speeds differ by 6 %; the refinement does the rest.
_SPEED_STEP = 1.06
# A fitted speed this close past a bound of ``speeds`` is held at the bound (noise).
_BOUND_SLACK = 1.02
# The slope of the middles of a segment's runs must be within this factor of its speed.
_CENTRE_SLACK = 1.5
# A segment is reported only if fewer than this many as good are expected by chance.
_CHANCE = 0.01
# Voting rounds in a row that may find nothing before the search stops (bounds the time spent
# on pure noise; each such round spends the pairs of its failed vote peaks).
_IDLE_ROUNDS = 2
# Candidate lines taken from one vote (the best-voted first), refined in batches: the lines of
# a batch compete (the best-scoring one is committed first).
_CANDIDATES_PER_ROUND = 32
_BATCH = 8
# Pairs voting at once (bounds the vote's memory: speeds x pairs bin numbers).
_VOTE_CHUNK = 1 << 16
# Bound on the vote's cells (speeds x offset bins); coarser bins beyond (absurd durations).
_MAX_CELLS = 1 << 22
# Rounds of refitting a segment and taking in every pair along the refitted line.
_GROWTH_ROUNDS = 3
# Iterations of the robust line fit, which stops when the line moves less than this share of
# the tolerance over the points it fits.
_FIT_ITERATIONS = 20
_CONVERGED = 0.01
# The floor of the timing noise of one pair, as a share of the tolerance (sampling once a
# second: +-0.5 s uniform, a standard deviation of 0.29 s, a fifth of the default 1.5 s),
# used to judge whether a fitted speed differs from 1.
_JITTER = 0.2

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Pair:
    """One matching frame pair: a frame of A at ``a_ms`` matches a frame of B at ``b_ms``.

    Attributes:
        a_ms: time of the frame in recording A, in milliseconds.
        b_ms: time of the frame in recording B, in milliseconds.
        distance: how far apart the two frames are (PDQ Hamming bits); lower is better.
    """

    a_ms: int
    b_ms: int
    distance: float


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of A that appears in B: both time ranges, the offset and the speed ratio.

    Inside the segment a time ``a`` of A shows in B at ``b_start_ms + speed * (a -
    a_start_ms)``. The ranges run from the first to the last inlier pair (B's ends are the
    fitted line at those A times, so ``b_end - b_start == speed * (a_end - a_start)`` up to
    rounding).

    Attributes:
        a_start_ms: first inlier time in A.
        a_end_ms: last inlier time in A.
        b_start_ms: where ``a_start_ms`` shows in B.
        b_end_ms: where ``a_end_ms`` shows in B.
        speed: ``d(b) / d(a)``: 1.0 is the same speed; 1 / 1.05 (0.952) when B plays A 5 %
            faster.
        offset_ms: ``b_start_ms - a_start_ms``: the shift a viewer needs at the start.
        pairs: inlier pairs supporting the segment (at most one per frame on each side).
        mean_distance: the mean distance of those pairs.
    """

    a_start_ms: int
    a_end_ms: int
    b_start_ms: int
    b_end_ms: int
    speed: float
    offset_ms: int
    pairs: int
    mean_distance: float

    def b_at(self, a_ms: float) -> float:
        """Where a time of A shows in B, by the segment's line (also outside its range)."""
        return self.b_start_ms + self.speed * (a_ms - self.a_start_ms)

    def a_at(self, b_ms: float) -> float:
        """Where a time of B comes from in A, by the segment's line."""
        return self.a_start_ms + (b_ms - self.b_start_ms) / self.speed


def align(
    pairs: Sequence[Pair],
    *,
    max_gap_ms: int = DEFAULT_MAX_GAP_MS,
    tolerance_ms: int = DEFAULT_TOLERANCE_MS,
    min_pairs: int = DEFAULT_MIN_PAIRS,
    speeds: tuple[float, float] = DEFAULT_SPEEDS,
    ambiguity_ms: int = DEFAULT_AMBIGUITY_MS,
) -> list[Segment]:
    """Aligned segments of two recordings from their matching frame pairs.

    Args:
        pairs: matching frame pairs, in any order; duplicates are merged.
        max_gap_ms: a pause between consecutive inliers longer than this, on either side,
            splits a segment.
        tolerance_ms: how far (in B's time) a pair may lie from a segment's line and still
            support it.
        min_pairs: the fewest inlier pairs a segment needs (at least 2).
        speeds: the lowest and highest speed ratio ``d(b)/d(a)`` considered; segments
            outside are never returned.
        ambiguity_ms: a frame whose matches on the other side form a run wider than this is
            ambiguous (a static or frozen shot) and does not count as support.

    Returns:
        The segments, best supported first (ties: earlier in A, then in B).

    Raises:
        InvalidInputError: a parameter is out of range or a distance is not finite.
    """
    count = len(pairs)
    a = np.fromiter((p.a_ms for p in pairs), dtype=np.int64, count=count)
    b = np.fromiter((p.b_ms for p in pairs), dtype=np.int64, count=count)
    d = np.fromiter((p.distance for p in pairs), dtype=np.float64, count=count)
    return align_arrays(
        a,
        b,
        d,
        max_gap_ms=max_gap_ms,
        tolerance_ms=tolerance_ms,
        min_pairs=min_pairs,
        speeds=speeds,
        ambiguity_ms=ambiguity_ms,
    )


def align_arrays(
    a_ms: npt.ArrayLike,
    b_ms: npt.ArrayLike,
    distance: npt.ArrayLike,
    *,
    max_gap_ms: int = DEFAULT_MAX_GAP_MS,
    tolerance_ms: int = DEFAULT_TOLERANCE_MS,
    min_pairs: int = DEFAULT_MIN_PAIRS,
    speeds: tuple[float, float] = DEFAULT_SPEEDS,
    ambiguity_ms: int = DEFAULT_AMBIGUITY_MS,
) -> list[Segment]:
    """:func:`align` on three parallel arrays (A times, B times, distances) instead of pairs.

    Args:
        a_ms: times in A, milliseconds (integers).
        b_ms: times in B, milliseconds (integers), one per A time.
        distance: one distance per pair, lower is better.
        max_gap_ms: see :func:`align`.
        tolerance_ms: see :func:`align`.
        min_pairs: see :func:`align`.
        speeds: see :func:`align`.
        ambiguity_ms: see :func:`align`.

    Returns:
        The segments, best supported first.

    Raises:
        InvalidInputError: the arrays differ in length or are not one-dimensional, a
            parameter is out of range, or a distance is not finite.
    """
    _check_params(max_gap_ms, tolerance_ms, min_pairs, speeds, ambiguity_ms)
    a = np.asarray(a_ms)
    b = np.asarray(b_ms)
    d = np.asarray(distance, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.shape != d.shape:
        raise InvalidInputError("pair times and distances must be 1-D arrays of one length")
    if a.size and not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)):
        raise InvalidInputError("pair times must be integer milliseconds")
    if not np.isfinite(d).all():
        raise InvalidInputError("pair distances must be finite numbers")
    if a.size < min_pairs:
        return []
    aligner = _Aligner(
        a.astype(np.int64),
        b.astype(np.int64),
        d,
        max_gap=float(max_gap_ms),
        tolerance=float(tolerance_ms),
        min_pairs=min_pairs,
        speeds=(float(speeds[0]), float(speeds[1])),
        ambiguity=float(ambiguity_ms),
    )
    segments = aligner.run()
    segments.sort(key=lambda s: (-s.pairs, s.a_start_ms, s.b_start_ms, s.a_end_ms, s.speed))
    return segments


def share_matched(
    a_ms: Sequence[int], b_ms: Sequence[int], pairs: Sequence[Pair]
) -> tuple[float, float]:
    """The share of A's frames with a match in B, and of B's with one in A (vPDQ's rule).

    A frame counts when a pair joins it to a frame of the other side. Callers pass only the
    frames that qualify (PDQ quality >= 50) and only the pairs within the match distance (31
    bits); a pair whose time on either side is not among that side's frames is ignored.

    Args:
        a_ms: the times of A's frames.
        b_ms: the times of B's frames.
        pairs: the matching pairs.

    Returns:
        ``(share of A matched, share of B matched)``, each in [0, 1]; both 0.0 when a side
        has no frames.
    """
    frames_a = np.asarray(a_ms, dtype=np.int64)
    frames_b = np.asarray(b_ms, dtype=np.int64)
    if frames_a.size == 0 or frames_b.size == 0:
        return (0.0, 0.0)
    matched_a = np.fromiter((p.a_ms for p in pairs), dtype=np.int64, count=len(pairs))
    matched_b = np.fromiter((p.b_ms for p in pairs), dtype=np.int64, count=len(pairs))
    valid = np.isin(matched_a, frames_a) & np.isin(matched_b, frames_b)
    share_a = float(np.isin(frames_a, matched_a[valid]).mean())
    share_b = float(np.isin(frames_b, matched_b[valid]).mean())
    return share_a, share_b


def _check_params(
    max_gap_ms: int,
    tolerance_ms: int,
    min_pairs: int,
    speeds: tuple[float, float],
    ambiguity_ms: int,
) -> None:
    if max_gap_ms <= 0 or tolerance_ms <= 0 or ambiguity_ms <= 0:
        raise InvalidInputError("max_gap_ms, tolerance_ms and ambiguity_ms must be positive")
    if min_pairs < 2:
        raise InvalidInputError("min_pairs must be at least 2 (two pairs make a line)")
    low, high = speeds
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise InvalidInputError("speeds must be a range (low, high) with 0 < low <= high")


@dataclass(frozen=True, slots=True)
class _Line:
    """``b = speed * a + intercept`` (milliseconds)."""

    speed: float
    intercept: float

    def clamped(self, low: float, high: float, a: FloatArray) -> _Line:
        """The line with its speed held in [low, high], turned about the middle of ``a``."""
        speed = min(max(self.speed, low), high)
        if speed == self.speed:
            return self
        pivot = float(a.mean())
        return _Line(speed, self.intercept + (self.speed - speed) * pivot)


@dataclass(frozen=True, slots=True)
class _Proposal:
    """A refined line, the groups of inliers it would make segments of, and their score."""

    line: _Line
    centre: float
    groups: list[IntArray]
    pairs: IntArray  # all the inliers of the groups
    score: float


@dataclass(frozen=True, slots=True)
class _Found:
    """A segment found, with the A time its inliers span and the pairs around it."""

    segment: Segment
    length: float
    background: int  # usable pairs outside it (and outside the runs of its pairs)


class _Aligner:
    """The state of one alignment: the pairs, their runs and weights, what is taken."""

    def __init__(
        self,
        a: IntArray,
        b: IntArray,
        d: FloatArray,
        *,
        max_gap: float,
        tolerance: float,
        min_pairs: int,
        speeds: tuple[float, float],
        ambiguity: float,
    ) -> None:
        # Sort (which makes the result independent of input order), then merge duplicates.
        order = np.lexsort((d, b, a))
        a, b, d = a[order], b[order], d[order]
        keep = np.ones(a.size, dtype=bool)
        keep[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        self.a_int, self.b_int = a[keep], b[keep]
        self.a = self.a_int.astype(np.float64)
        self.b = self.b_int.astype(np.float64)
        self.d = d[keep]
        self.max_gap = max_gap
        self.tol = tolerance
        self.min_pairs = min_pairs
        self.speeds = speeds
        link = 2.0 * tolerance  # matches this close on the other side form one run
        runs_a = _runs(self.a_int, self.b, self.d, link)
        runs_b = _runs(self.b_int, self.a, self.d, link)
        self.run_a, self.run_b = runs_a.id, runs_b.id
        self.centre_a, self.centre_b = runs_b.centre, runs_a.centre
        # A frame that matches at many separate places of the other side (a title card
        # repeated through both recordings) is weak evidence for any one of them: a lattice
        # of such pairs lines up along many diagonals. A clip shown twice halves its weight.
        self.unique: FloatArray = 1.0 / np.sqrt(runs_a.places * runs_b.places)
        self.size_a, self.size_b = runs_a.size, runs_b.size
        self.usable: BoolArray = (runs_a.width <= ambiguity) & (runs_b.width <= ambiguity)
        self.weight: FloatArray = np.where(
            self.usable, self.unique / np.sqrt(runs_a.size * runs_b.size), 0.0
        )
        # The box the pairs lie in, for the chance of a segment among unrelated pairs.
        self.box = float(
            (np.ptp(self.a) + tolerance) * (np.ptp(self.b) + tolerance) if self.a.size else 1.0
        )
        self.taken: BoolArray = np.zeros(self.a.size, dtype=bool)
        self.spent: BoolArray = np.zeros(self.a.size, dtype=bool)  # no longer votes
        self.grid = _speed_grid(*speeds)

    def run(self) -> list[Segment]:
        """Vote, refine the candidates, commit the best-scoring ones; repeat until none."""
        found_all: list[_Found] = []
        idle = 0  # rounds in a row that found nothing significant
        # Every round takes or spends pairs, so this always ends; the bound is a safeguard.
        for _ in range(self.a.size + 1):
            voters = np.flatnonzero(self.usable & ~self.taken & ~self.spent)
            if self.weight[voters].sum() < self._vote_floor():
                break
            candidates = self._candidates(voters)
            found = False  # a segment that stands out from the other pairs
            # In batches, best-voted first; a candidate whose pairs an earlier batch took
            # fails its seed check at once, so one vote serves many segments.
            for first in range(0, len(candidates), _BATCH):
                for new in self._extract(candidates[first : first + _BATCH]):
                    found_all.append(new)
                    found = found or self._by_chance(new) <= _CHANCE
            idle = 0 if found else idle + 1
            if idle == _IDLE_ROUNDS:
                break
        return [f.segment for f in found_all if self._by_chance(f) <= _CHANCE]

    def _extract(self, candidates: list[tuple[_Line, float]]) -> list[_Found]:
        """Refine candidates and commit their segments, the best-scoring first.

        Lazy greedy: a proposal that lost some of its inliers to an earlier commit is refitted
        on what is left and goes back in the queue if it fell behind.
        """
        queue: list[tuple[float, int, _Proposal]] = []
        for rank, (line, window) in enumerate(candidates):
            proposal = self._propose(line, window)
            if proposal is not None:
                heapq.heappush(queue, (-proposal.score, rank, proposal))
        found: list[_Found] = []
        while queue:
            _, rank, proposal = heapq.heappop(queue)
            if self.taken[proposal.pairs].any():
                renewed = self._propose(proposal.line, 0.0, proposal.centre)
                if renewed is None:
                    continue
                if queue and renewed.score < -queue[0][0]:
                    heapq.heappush(queue, (-renewed.score, rank, renewed))
                    continue
                proposal = renewed
            found.extend(self._commit(proposal))
        return found

    def _vote_floor(self) -> float:
        # A segment of ``min_pairs`` frames, each in a band of a few matches, still reaches
        # about ``min_pairs`` weighted votes; half of it lets weak bands through to the check.
        return 0.5 * self.min_pairs

    def _candidates(self, voters: IntArray) -> list[tuple[_Line, float]]:
        """The best-voted lines (speed, intercept) with the half-width of their vote window."""
        a, b, w = self.a[voters], self.b[voters], self.weight[voters]
        grid = self.grid
        # Offsets b - speed * a, every speed of the grid (one row each); the extremes of a
        # row come from the extremes of b and a, as the speeds are positive.
        low = b.min() - grid * a.max()
        span = float((b.max() - grid * a.min() - low).max())
        width = max(0.5 * self.tol, span * grid.size / _MAX_CELLS)
        nbins = int(span // width) + 4  # spare bins each side for the 3-bin sum
        # Bin of every (speed, pair) within its row (single precision is plenty for a bin
        # number), then the row's base added (its bin 0 is a spare one), so that one
        # bincount builds the whole table; pairs in chunks, to bound the memory.
        slopes = (-grid / width).astype(np.float32)
        shifts = (low / width).astype(np.float32)[:, None]
        bases = (np.arange(grid.size) * nbins + 1)[:, None]
        size = grid.size * nbins

        def cells(part: slice) -> IntArray:
            rows = np.multiply.outer(slopes, a[part].astype(np.float32))
            rows += (b[part] / width).astype(np.float32)
            rows -= shifts
            flat = rows.astype(np.intp)
            flat += bases
            found: IntArray = flat.ravel()
            return found

        floor = self._vote_floor()
        if a.size * grid.size * 32 >= size:  # the votes fill the table: count densely
            votes = np.zeros(size)
            for first in range(0, a.size, _VOTE_CHUNK):
                part = slice(first, first + _VOTE_CHUNK)
                votes += np.bincount(cells(part), np.tile(w[part], grid.size), minlength=size)
            found, strength = _dense_peaks(votes, floor)
        else:  # a few votes over a wide table (a short clip against a long recording)
            everything = slice(0, a.size)
            found, strength = _sparse_peaks(cells(everything), np.tile(w, grid.size), floor)
        rows, cols = found // nbins, found % nbins
        if rows.size > _CANDIDATES_PER_ROUND:
            top = np.argpartition(-strength, _CANDIDATES_PER_ROUND - 1)[:_CANDIDATES_PER_ROUND]
            threshold = strength[top].min()
            keep = strength >= threshold  # every tie of the last kept, for determinism
            rows, cols, strength = rows[keep], cols[keep], strength[keep]
        if rows.size == 0:
            return []
        # Best vote first; ties: the speed nearest 1, then the lower offset (deterministic).
        closeness = np.abs(np.log(grid[rows]))
        order = np.lexsort((cols, closeness, -strength))[:_CANDIDATES_PER_ROUND]
        return [
            (
                _Line(float(grid[r]), float(low[r] + (c - 0.5) * width)),
                1.5 * width,
            )
            for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True)
        ]

    def _propose(
        self, start: _Line, window: float, centre: float | None = None
    ) -> _Proposal | None:
        """Refine a line and score the segments it would give; None if it gives none.

        Args:
            start: a candidate line of the vote, or a proposal's line to refit.
            window: the half-width of the vote window (0 for a refit: no seed check).
            centre: the A time the line was found about (None: the seed's middle).
        """
        pool = np.flatnonzero(~self.taken)
        a, b = self.a[pool], self.b[pool]
        usable = self.usable[pool]
        residual = b - start.speed * a - start.intercept
        line = start
        seed = usable & (np.abs(residual) <= window)
        if centre is None:
            # Distinct A times among the seed pairs (the pairs are sorted by A time).
            if np.count_nonzero(np.diff(a[seed]) > 0) + 1 < self.min_pairs:
                self.spent[pool[seed]] = True
                return None
            line = _Line(start.speed, _median(b[seed] - start.speed * a[seed]))
            centre = _median(a[seed])
        # A vote peak that leads nowhere does not vote again (the pairs stay available).
        self.spent[pool[seed]] = True
        # Only pairs in a cone around the start line can end up on the refined one: the grid
        # speed is within half a step of the true one, and the cone allows a whole step.
        cone = np.abs(residual) <= 2 * window + 4 * self.tol + (_SPEED_STEP - 1) * np.abs(
            a - centre
        )
        pool, a, b, usable = pool[cone], a[cone], b[cone], usable[cone]
        refined = self._refine(line, pool[usable])
        if refined is None:
            return None
        residual = b - refined.speed * a - refined.intercept
        near = np.abs(residual) <= self.tol
        inliers = _one_to_one(pool[near & usable], np.abs(residual[near & usable]), self)
        groups = self._groups(inliers, pool[near & ~usable])
        if not groups:
            return None
        # Score: Tukey weights (at half the tolerance) of the inliers' residuals, so a tight
        # line beats a slanted one that crosses two nearby parts (as many pairs within
        # tolerance, but spread across it).
        points = np.concatenate(groups)
        residual = self.b[points] - refined.speed * self.a[points] - refined.intercept
        u = residual / (0.5 * self.tol)
        score = float(np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0).sum())
        return _Proposal(refined, centre, groups, points, score)

    def _commit(self, proposal: _Proposal) -> list[_Found]:
        """The segments of a proposal's groups; their pairs are taken.

        The pairs of a group that makes no segment are kept from voting again.
        """
        found: list[_Found] = []
        for group in proposal.groups:
            group = group[~self.taken[group]]  # an earlier group may have taken some
            made = self._segment(group, proposal.line) if group.size >= self.min_pairs else None
            if made is None:
                self.spent[group] = True
                continue
            segment, group, line = made
            background = int(np.count_nonzero(self.usable & ~self._companions(group)))
            found.append(_Found(segment, float(np.ptp(self.a[group])), background))
            self._take(group, line)
        return found

    def _refine(self, line: _Line, idx: IntArray) -> _Line | None:
        """Tukey-biweighted least squares from ``line`` over the usable pairs ``idx``.

        Points are the run centres; pairs farther than the tolerance get no weight. Started
        on a chunk of a long segment at a grid speed a little off, each iteration fits the
        chunk's slope and so reaches farther along the segment. A wider reach would let a
        neighbouring part at another offset tilt the line (a cut of a few seconds).
        """
        # Each pair stands for its A run, (a, middle of the run's B times), and for its B run,
        # (middle of the run's A times, b), with half a run's weight each: a thick band is
        # then a thin line, and where a band is cut off at an end of a segment the two
        # kinds of point lean opposite ways.
        a = np.concatenate([self.a[idx], self.centre_a[idx]])
        b = np.concatenate([self.centre_b[idx], self.b[idx]])
        w = np.concatenate([0.5 / self.size_a[idx], 0.5 / self.size_b[idx]])
        low, high = self.speeds
        for _ in range(_FIT_ITERATIONS):
            residual = b - line.speed * a - line.intercept
            close = np.abs(residual) < self.tol
            u = residual[close] / self.tol
            weight = w[close] * (1.0 - u * u) ** 2
            # Too little support to fit: fewer than half of ``min_pairs`` frames' worth.
            if float(weight.sum()) < 0.5 * self.min_pairs:
                return None
            near = a[close]
            fitted = _weighted_line(near, b[close], weight, line.speed)
            if fitted is None:
                return None
            # Keep the fit inside a little more than the speed range while it converges.
            new = fitted.clamped(low / _SPEED_STEP, high * _SPEED_STEP, near)
            ends = np.array([near.min(), near.max()])
            moved = np.abs(new.speed * ends + new.intercept - line.speed * ends - line.intercept)
            line = new
            if float(moved.max()) < _CONVERGED * self.tol:
                break
        return line

    def _around(self, group: IntArray) -> IntArray:
        """The usable pairs left that share a run with ``group``, within its A span.

        A line is refitted from these, not from the inliers alone: the pair of a thick band
        nearest a line leans with that line.
        """
        around = np.flatnonzero(self._companions(group) & self.usable & ~self.taken)
        span = self.a[group]
        inside = (self.a[around] >= span.min() - self.tol) & (
            self.a[around] <= span.max() + self.tol
        )
        found: IntArray = around[inside]
        return found

    def _part_along(self, line: _Line, group: IntArray) -> IntArray | None:
        """The inliers of ``line`` among the pairs left, cut at gaps: the part sharing most.

        The part that shares the most A times with ``group``; None if none does.
        """
        pool = np.flatnonzero(~self.taken)
        residual = np.abs(self.b[pool] - line.speed * self.a[pool] - line.intercept)
        near = residual <= self.tol
        usable = self.usable[pool]
        inliers = _one_to_one(pool[near & usable], residual[near & usable], self)
        parts = self._groups(inliers, pool[near & ~usable])
        if not parts:
            return None
        label = np.repeat(np.arange(len(parts)), [p.size for p in parts])
        common = np.isin(self.a_int[np.concatenate(parts)], self.a_int[group])
        shared = np.bincount(label[common], minlength=len(parts))
        best = int(np.argmax(shared))
        return parts[best] if shared[best] > 0 else None

    def _trimmed(self, group: IntArray) -> IntArray:
        """``group`` without lone inliers at its ends (a chance pair on the line).

        An end pair farther from the next one than four times the usual spacing (and than
        twice the tolerance) goes, as long as ``min_pairs`` remain.
        """
        group = group[np.argsort(self.a[group], kind="stable")]
        gaps = np.diff(self.a[group])
        if gaps.size < 2:
            return group
        limit = max(4.0 * float(np.median(gaps)), 2.0 * self.tol)
        first, last = 0, group.size - 1
        while last - first + 1 > self.min_pairs and gaps[first] > limit:
            first += 1
        while last - first + 1 > self.min_pairs and gaps[last - 1] > limit:
            last -= 1
        return np.sort(group[first : last + 1])

    def _inliers(self, line: _Line, idx: IntArray) -> IntArray:
        """The usable pairs of ``idx`` within tolerance of ``line``, one per frame each side."""
        idx = idx[self.usable[idx]]
        residual = np.abs(self.b[idx] - line.speed * self.a[idx] - line.intercept)
        near = residual <= self.tol
        return _one_to_one(idx[near], residual[near], self)

    def _groups(self, inliers: IntArray, bridges: IntArray) -> list[IntArray]:
        """Inliers cut where consecutive points (inliers or bridges) lie too far apart."""
        if inliers.size == 0:
            return []
        points = np.concatenate([inliers, bridges])
        is_inlier = np.concatenate([np.ones(inliers.size, bool), np.zeros(bridges.size, bool)])
        order = np.lexsort((self.b[points], self.a[points]))
        points, is_inlier = points[order], is_inlier[order]
        gap = np.maximum(np.diff(self.a[points]), np.abs(np.diff(self.b[points])))
        cuts = np.flatnonzero(gap > self.max_gap) + 1
        groups = []
        for part, flags in zip(np.split(points, cuts), np.split(is_inlier, cuts), strict=True):
            group = part[flags]
            if group.size >= self.min_pairs:
                groups.append(group)
        return groups

    def _segment(self, group: IntArray, start: _Line) -> tuple[Segment, IntArray, _Line] | None:
        """The segment of one group of inliers, refitted on them alone; its inliers and line.

        None if it fails: too few pairs, a speed out of range, or repeated content.
        """
        low, high = self.speeds
        line = start
        for _ in range(_GROWTH_ROUNDS):
            fitted = self._refine(line, self._around(group))
            if fitted is None:
                return None
            # Every pair on the refitted line, not only those the proposal's line held (it
            # may have crossed this copy at a slant): the part that overlaps the group.
            grown = self._part_along(fitted, group)
            if grown is None:
                return None
            settled = np.array_equal(grown, group)
            group, line = grown, fitted
            if settled:
                break
        snapped = self._snap(line, self.a[group], self.b[group])
        if not low <= snapped.speed <= high:
            # A speed just past a bound (noise on a segment at that speed) is held at the
            # bound; farther out, the segment is not one we may report.
            if not low / _BOUND_SLACK <= snapped.speed <= high * _BOUND_SLACK:
                return None
            snapped = snapped.clamped(low, high, self.a[group])
        if snapped != line:
            line = snapped
            group = self._inliers(line, self._around(group))
        group = self._trimmed(group)
        if group.size < self.min_pairs:
            return None
        # Support counted by uniqueness: repeated content (a title card throughout both
        # recordings) lines up along many diagonals, each with little weight.
        if float(self.unique[group].sum()) < 0.5 * self.min_pairs:
            return None
        # The middles of the inliers' runs must follow the line too. In a static block every
        # frame matches every frame, so a line at any speed finds an inlier per frame, but the
        # runs' middles stay put (a flat line). A thick band's middles follow the line (a
        # little flatter where the band is cut off at the ends).
        a = self.a[group]
        drift = _weighted_line(a, self.centre_b[group], np.ones(a.size), line.speed)
        if drift is None or not 1 / _CENTRE_SLACK <= drift.speed / line.speed <= _CENTRE_SLACK:
            return None
        a_start, a_end = int(self.a_int[group].min()), int(self.a_int[group].max())
        b_start = round(line.speed * a_start + line.intercept)
        b_end = round(line.speed * a_end + line.intercept)
        segment = Segment(
            a_start_ms=a_start,
            a_end_ms=a_end,
            b_start_ms=b_start,
            b_end_ms=b_end,
            speed=line.speed,
            offset_ms=b_start - a_start,
            pairs=int(group.size),
            mean_distance=float(self.d[group].mean()),
        )
        return segment, group, line

    def _by_chance(self, found: _Found) -> float:
        """How many segments as good as ``found`` chance would give among the other pairs.

        Every usable pair outside the segment is taken as background, spread evenly over the
        box all pairs lie in: even the pairs of other segments, since greedy extraction also
        "explains" dense noise as segments. A chance segment is a first pair, a second one
        within the wedge of allowed speeds over the segment's length, and the rest within the
        tolerance band of their line: a few pairs in a line mean little among thousands of
        random ones, and a lot among a handful. (A very short clip looped through a B barely
        longer than the loops is crowded by its own copies and goes unreported.)
        """
        background = found.background
        if background == 0:
            return 0.0
        density = background / self.box
        low, high = self.speeds
        length = found.length
        wedge = 0.5 * (high - low) * length * length + 2.0 * self.tol * length
        band = density * 2.0 * self.tol * length
        return background * density * wedge * _poisson_tail(band, found.segment.pairs - 2)

    def _companions(self, group: IntArray) -> BoolArray:
        """The pairs that share a run (on either side) with a pair of ``group``."""
        runs_a = np.zeros(int(self.run_a.max()) + 1, dtype=bool)
        runs_b = np.zeros(int(self.run_b.max()) + 1, dtype=bool)
        runs_a[self.run_a[group]] = True
        runs_b[self.run_b[group]] = True
        return runs_a[self.run_a] | runs_b[self.run_b]

    def _snap(self, line: _Line, a: FloatArray, b: FloatArray) -> _Line:
        """Speed 1.0 when the data cannot tell the fitted speed from it.

        That is when the fitted slope is within two standard errors of 1, or when speed 1
        moves the line by less than a third of the tolerance over the segment; and the
        speed-1 line must still hold every inlier.
        """
        low, high = self.speeds
        if line.speed == 1.0 or not low <= 1.0 <= high:
            return line
        spread = float(((a - a.mean()) ** 2).sum())
        if spread <= 0.0:
            return line
        residual = b - line.speed * a - line.intercept
        sigma = max(math.sqrt(float((residual**2).sum()) / max(a.size - 2, 1)), _JITTER * self.tol)
        unclear = abs(line.speed - 1.0) <= 2.0 * sigma / math.sqrt(spread)
        slight = abs(line.speed - 1.0) * float(np.ptp(a)) <= self.tol / 3
        if not (unclear or slight):
            return line
        shift = float((b - a).mean())
        if np.abs(b - a - shift).max() > self.tol:
            return line
        return _Line(1.0, shift)

    def _take(self, group: IntArray, line: _Line) -> None:
        """Remove a segment's pairs and every pair that shares a run with one of them."""
        taken = self._companions(group)
        # Ambiguous pairs on the line inside the segment (a frozen stretch) go with it.
        a0, a1 = self.a[group].min(), self.a[group].max()
        inside = (self.a >= a0) & (self.a <= a1) & ~self.usable
        on_line = np.abs(self.b - line.speed * self.a - line.intercept) <= self.tol
        taken |= inside & on_line
        taken[group] = True
        self.taken |= taken


@dataclass(frozen=True, slots=True)
class _Runs:
    """Per pair, about the run of its frame (the nearby matches of that frame)."""

    id: IntArray  # the run's number
    width: FloatArray  # its extent on the other side
    size: FloatArray  # its number of pairs
    centre: FloatArray  # the mean of its times on the other side
    places: FloatArray  # how many runs the frame has (separate places it matches)
    best: FloatArray  # 1 / ties for the run's closest matches (lowest distance), else 0


def _runs(key: IntArray, other: FloatArray, d: FloatArray, link: float) -> _Runs:
    """Group pairs by ``key`` and split each group where ``other`` jumps by more than ``link``."""
    n = key.size
    order = np.lexsort((other, key))
    k, o, dist = key[order], other[order], d[order]
    start = np.ones(n, dtype=bool)
    start[1:] = (k[1:] != k[:-1]) | (np.diff(o) > link)
    run_sorted = np.cumsum(start) - 1
    firsts = np.flatnonzero(start)
    lasts = np.append(firsts[1:], n) - 1
    width = o[lasts] - o[firsts]
    size = (lasts - firsts + 1).astype(np.float64)
    centre = np.add.reduceat(o, firsts) / size
    key_start = np.ones(firsts.size, dtype=bool)
    key_start[1:] = k[firsts[1:]] != k[firsts[:-1]]
    key_of_run = np.cumsum(key_start) - 1
    places = np.bincount(key_of_run).astype(np.float64)[key_of_run]
    is_best = dist == np.minimum.reduceat(dist, firsts)[run_sorted]
    ties = np.bincount(run_sorted, weights=is_best.astype(np.float64))
    best_sorted = np.where(is_best, 1.0 / ties[run_sorted], 0.0)
    run = np.empty(n, dtype=np.int64)
    run[order] = run_sorted
    best = np.empty(n, dtype=np.float64)
    best[order] = best_sorted
    return _Runs(run, width[run], size[run], centre[run], places[run], best)


def _one_to_one(idx: IntArray, distance: FloatArray, aligner: _Aligner) -> IntArray:
    """Of pairs near a line, the nearest one per A time, then per B time.

    Ties go to the closer match (lower distance).
    """
    if idx.size == 0:
        return idx
    order = np.lexsort((aligner.d[idx], distance))
    idx = idx[order]
    _, first_a = np.unique(aligner.a_int[idx], return_index=True)
    idx = idx[np.sort(first_a)]
    _, first_b = np.unique(aligner.b_int[idx], return_index=True)
    return np.sort(idx[first_b])


def _poisson_tail(mean: float, k: int) -> float:
    """P(X >= k) for X ~ Poisson(mean)."""
    if k <= 0:
        return 1.0
    if mean <= 0.0:
        return 0.0
    if mean > k:  # the bulk: no small-tail shortcut needed, the complement is exact enough
        term = math.exp(-mean)
        below = 0.0
        for j in range(k):
            below += term
            term *= mean / (j + 1)
        return max(0.0, 1.0 - below)
    log_term = k * math.log(mean) - mean - math.lgamma(k + 1)
    total, j = 0.0, k
    while True:
        term = math.exp(log_term)
        total += term
        if term < 1e-12 * total or j > k + 1000:
            return min(total, 1.0)
        j += 1
        log_term += math.log(mean / j)


def _dense_peaks(votes: FloatArray, floor: float) -> tuple[IntArray, FloatArray]:
    """Peaks of the vote: cells whose sum over three neighbouring bins reaches ``floor``.

    A peak is a local maximum of that sum (the last cell of a plateau); its sum comes with
    it. The first and last bins of each row of the table are spare ones no vote reaches, so the
    sums never mix two rows.
    """
    summed = votes.copy()
    summed[1:] += votes[:-1]
    summed[:-1] += votes[1:]
    found = np.flatnonzero(summed >= floor)
    found = found[(found > 0) & (found < votes.size - 1)]
    strength = summed[found]
    peak = (strength >= summed[found - 1]) & (strength > summed[found + 1])
    return found[peak], strength[peak]


def _sparse_peaks(
    cells: IntArray, weights: FloatArray, floor: float
) -> tuple[IntArray, FloatArray]:
    """:func:`_dense_peaks` from the voted cells themselves, for a table mostly empty."""
    occupied, where = np.unique(cells, return_inverse=True)
    totals = np.bincount(where, weights=weights)

    def at(query: IntArray) -> FloatArray:
        spot = np.minimum(np.searchsorted(occupied, query), occupied.size - 1)
        found: FloatArray = np.where(occupied[spot] == query, totals[spot], 0.0)
        return found

    near = np.unique(np.concatenate([occupied - 1, occupied, occupied + 1]))
    votes = [at(near + k) for k in (-2, -1, 0, 1, 2)]
    summed = votes[1] + votes[2] + votes[3]
    left = votes[0] + votes[1] + votes[2]
    right = votes[2] + votes[3] + votes[4]
    peak = (summed >= floor) & (summed >= left) & (summed > right)
    return near[peak], summed[peak]


def _median(values: FloatArray) -> float:
    """The median of a non-empty array (``np.median`` without its NaN checks: a hot path)."""
    ordered = np.sort(values)
    mid = ordered.size // 2
    return float(ordered[mid] if ordered.size % 2 else 0.5 * (ordered[mid - 1] + ordered[mid]))


def _weighted_line(a: FloatArray, b: FloatArray, w: FloatArray, speed: float) -> _Line | None:
    """Weighted least-squares line through (a, b); keeps ``speed`` if the A times coincide."""
    total = float(w.sum())
    if total <= 0.0:
        return None
    a_mean = float((w * a).sum()) / total
    b_mean = float((w * b).sum()) / total
    da = a - a_mean
    spread = float((w * da * da).sum())
    if spread > 1e-9 * max(total, 1.0):
        speed = float((w * da * (b - b_mean)).sum()) / spread
    return _Line(speed, b_mean - speed * a_mean)


def _speed_grid(low: float, high: float) -> FloatArray:
    """The speeds of the vote: the bounds, and ``_SPEED_STEP ** k`` between them.

    1.0 is among them when in range, and no speed of the range is more than half a step from
    the grid.
    """
    step = math.log(_SPEED_STEP)
    first = math.ceil(math.log(low) / step)
    last = math.floor(math.log(high) / step)
    inner = [_SPEED_STEP**k for k in range(first, last + 1)]
    grid = sorted({low, high, *(g for g in inner if low < g < high)})
    return np.array(grid, dtype=np.float64)
