"""Raw audio fingerprints as values, and where two of them share sound.

A raw Chromaprint fingerprint is a sequence of 32-bit items, one every ``item_ms``
milliseconds; each item summarises the chroma of a few seconds of sound (16 filters over
the chromagram, each quantised to two Gray-coded bits). Two recordings that contain the same
sound have, at the offset between them, items that agree in most bits; unrelated sound agrees
in more than the 50 % of coin flips (54 % on average, 57 % for the 95th percentile of the
calibration's unrelated pairs, and up to 80 % over a few seconds), because filters and
neighbouring items are correlated. Chromaprint itself only compares whole tracks, so the
alignment here is ours: for each offset considered, the items that overlap are compared
(popcount of XOR), a window of ``window_items`` slides along the overlap, and a *stretch* is a
run of windows whose similarity (1 - bit error rate) stays at or above the threshold.

Hand-written because no library does it: AcoustID's matcher compares whole tracks, and the
landmark matchers (audfprint, Olaf) work on their own spectral peaks, not on Chromaprint items
(Panako is AGPL and patent-encumbered). numpy's ``bitwise_count`` does the popcounts.

Low-information sound (digital silence, a steady tone) gives the same item over and over, and
two unrelated recordings with a silent or steady stretch would agree on it perfectly. A window
counts only where *both* sides change: the mean number of bits that differ between consecutive
items must reach ``min_change_bits``.

Times: item ``i`` summarises the sound from about ``i * item_ms + lead_ms`` to
``i * item_ms + tail_ms`` (``ItemTiming``), so a stretch of items ``i..j`` reports the sound
from the start of item ``i`` to the end of item ``j``. The offset of a stretch is exact in
items (``offset_ms = (b_item - a_item) * item_ms``): the B time of a sound is its A time plus
``offset_ms``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Fingerprint = npt.NDArray[np.uint32]

ITEM_BITS = 32


@dataclass(frozen=True, slots=True)
class ItemTiming:
    """Where the items of a raw fingerprint sit in time.

    Attributes:
        item_ms: the step between consecutive items.
        lead_ms: from an item's nominal time (``i * item_ms``) to the start of the sound it
            summarises.
        tail_ms: from its nominal time to the end of that sound.
    """

    item_ms: float
    lead_ms: float = 0.0
    tail_ms: float = 0.0

    def start_ms(self, item: int) -> int:
        """Start of the sound item ``item`` summarises, in whole milliseconds."""
        return max(0, round(item * self.item_ms + self.lead_ms))

    def end_ms(self, item: int) -> int:
        """End of the sound item ``item`` summarises, in whole milliseconds."""
        return round(item * self.item_ms + self.tail_ms)

    def items(self, ms: float) -> int:
        """How many item steps ``ms`` milliseconds are (rounded up)."""
        return int(np.ceil(ms / self.item_ms))


# Chromaprint's default algorithm (TEST2) at its 11,025 Hz internal rate: 4,096-sample frames
# every 1,365 samples (a third of a frame), so one item every 1365 / 11025 s = 123.81 ms
# (``chromaprint_get_item_duration``: 1365 samples, libchromaprint 1.5.1). Item ``i`` is
# computed from 20 consecutive frames (a 5-tap chroma filter, then filters up to 16 frames
# wide): the sound from ``i * 123.8 ms`` to 2.72 s later; item 0 starts at 0 s. Measured with
# a 10 ms click at 30 known seconds, the changed items' sound starts 1.29-2.64 s (mean 2.09 s)
# and ends 0.08-0.47 s (mean 0.23 s) before the click: the outer frames weigh little.
# A shared stretch of items therefore overhangs the shared sound a little; lead and tail are
# set so the reported boundaries are unbiased on the calibration pairs (with 0.2 s and
# 2.15 s, the click's means, starts came out 252 ms early and ends 294 ms late on average).
CHROMAPRINT_TIMING = ItemTiming(item_ms=1365 / 11025 * 1000, lead_ms=450.0, tail_ms=1850.0)


@dataclass(frozen=True, slots=True)
class MatchRule:
    """When two fingerprints share a stretch of sound.

    Attributes:
        similarity: a window counts when at least this share of its bits agree.
        window_items: items per sliding window.
        min_items: a stretch must span at least this many items.
        min_change_bits: a window counts only if, on both sides, consecutive items differ in
            at least this many bits on average (silence and steady tones are not evidence).
    """

    similarity: float
    window_items: int
    min_items: int
    min_change_bits: float

    def __post_init__(self) -> None:
        if not 0.5 <= self.similarity <= 1.0:
            raise ValueError(f"similarity must be between 0.5 and 1; got {self.similarity}")
        if not 1 <= self.window_items <= self.min_items:
            raise ValueError("window_items must be between 1 and min_items")
        if self.min_change_bits < 0:
            raise ValueError("min_change_bits must not be negative")


# Calibrated by ``python -m benchmarks.soundtrack`` (seed 7): 64 generated recordings
# (melodies, espeak-ng speech in 6 languages and 10 voices, coloured noise, speech over
# music; 66 min), 144 related pairs sharing 10, 20 or 30 s under MP3 64k, AAC, Opus 32k,
# trimming, 10-20 dB white noise and different pictures (MP4), and all 2,016 unrelated pairs.
# - Best 32-item window similarity: unrelated max 0.812 (99th percentile 0.778; the hardest
#   are one espeak voice saying different texts), related at their offset min 0.914.
# - Unmoving sound: unrelated coloured noises reach 0.885 (Chromaprint cannot tell one noise
#   from another of the same colour); their items change ~1.9 bits a step against 4.7
#   (melodies) and 5.4 (speech), so windows must change >= 3 bits a step (5th percentile of
#   melody windows 4.05, of speech 4.72). Noise alone is therefore never linked.
# - Grid over windows 24/32/40 and stretches of 40-64 items: every stretch up to 56 items
#   keeps recall 1.0 at precision 1.0 (64 items loses 10 s trims); margins 0.08-0.10. The
#   widest (0.10) with the longer window: 32-item windows, 40-item stretches (7.6 s of
#   sound), the threshold midway between the unrelated maximum for that rule (0.803) and
#   the weakest related pair (0.900).
# - With this rule: recall 1.000 per transform and per shared length (144 pairs), precision
#   1.000 (no unrelated pair and no wrong offset linked), mean offset error 33 ms.
# - Held out (``--seed 11``, other recordings and pairs): the same rule keeps recall 1.000 and
#   precision 1.000 (unrelated maximum 0.794 for it, weakest related pair 0.908); the grid
#   there prefers 40-item windows and 56-item stretches, margins again within 0.1-0.14.
DEFAULT_RULE = MatchRule(similarity=0.852, window_items=32, min_items=40, min_change_bits=3.0)


@dataclass(frozen=True, slots=True)
class SharedStretch:
    """A stretch of sound two recordings share.

    Times are milliseconds from the start of each recording; ``b = a + offset_ms``.

    Attributes:
        a_start_ms: where the shared sound starts in A.
        a_end_ms: where it ends in A.
        b_start_ms: where it starts in B.
        b_end_ms: where it ends in B.
        offset_ms: B's time minus A's time for the same sound.
        similarity: the share of agreeing bits over the stretch's items (0.5 is chance).
        items: how many fingerprint items the stretch spans.
    """

    a_start_ms: int
    a_end_ms: int
    b_start_ms: int
    b_end_ms: int
    offset_ms: int
    similarity: float
    items: int


@dataclass(frozen=True, slots=True)
class _Run:
    """A stretch in items: A's first item, B's offset in items, length, agreeing bits."""

    a_item: int
    offset: int
    items: int
    agree: int

    @property
    def evidence(self) -> float:
        """Agreeing bits beyond chance: ranks duplicates found at neighbouring offsets."""
        return self.agree - self.items * ITEM_BITS / 2


def as_fingerprint(values: object) -> Fingerprint:
    """``values`` as a 1-D C-contiguous uint32 array.

    Raises:
        ValueError: not a 1-D array of unsigned 32-bit values (or integers within range).
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"a fingerprint is a 1-D array; got shape {array.shape}")
    if array.dtype == np.uint32:
        return np.ascontiguousarray(array)
    if array.size == 0:
        return np.empty(0, dtype=np.uint32)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"fingerprint items are unsigned 32-bit integers; got {array.dtype}")
    if int(array.min()) < 0 or int(array.max()) > 0xFFFFFFFF:
        raise ValueError("fingerprint items must lie between 0 and 2**32 - 1")
    return array.astype(np.uint32)


def to_bytes(fingerprint: Fingerprint) -> bytes:
    """The items as little-endian uint32 bytes (how signals store them)."""
    return as_fingerprint(fingerprint).astype("<u4", copy=False).tobytes()


def from_bytes(data: bytes) -> Fingerprint:
    """Items from little-endian uint32 bytes.

    Raises:
        ValueError: the length is not a multiple of four bytes.
    """
    if len(data) % 4:
        raise ValueError(f"fingerprint bytes come in fours; got {len(data)}")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def change_bits(fingerprint: Fingerprint) -> npt.NDArray[np.int64]:
    """Cumulative bits changed between consecutive items (``[0]`` is 0; length ``n``).

    ``c[j] - c[i]`` is how many bits change from item ``i`` to item ``j``; the comparison
    uses it to tell sound that moves from silence or a steady tone.
    """
    changes = np.bitwise_count(fingerprint[1:] ^ fingerprint[:-1]).astype(np.int64)
    return np.concatenate([np.zeros(min(1, len(fingerprint)), dtype=np.int64), np.cumsum(changes)])


def shared_stretches(
    a: Fingerprint,
    b: Fingerprint,
    *,
    offsets: Iterable[int] | None = None,
    timing: ItemTiming = CHROMAPRINT_TIMING,
    rule: MatchRule = DEFAULT_RULE,
) -> list[SharedStretch]:
    """Every stretch of sound ``a`` and ``b`` share, best evidence first.

    Args:
        a: the raw fingerprint of recording A.
        b: that of recording B, with the same ``timing``.
        offsets: the offsets to examine, in items (item ``i`` of A against item ``i + d`` of
            B); None examines every offset with an overlap of ``rule.min_items``.
        timing: where items sit in time.
        rule: the decision rule.

    Returns:
        The stretches, ordered by evidence (agreeing bits beyond chance), then A's time.
        Of two stretches at offsets within ``rule.window_items`` of each other whose A
        ranges overlap, only the stronger is kept (the same sound seen at a neighbouring
        offset); the same A sound at distant offsets (a repeated chorus) is kept every time.

    Raises:
        ValueError: a fingerprint is not a 1-D uint32 array.
    """
    return [_stretch(run, timing) for run in _strongest(_shared_runs(a, b, offsets, rule), rule)]


def _shared_runs(
    a: Fingerprint, b: Fingerprint, offsets: Iterable[int] | None, rule: MatchRule
) -> list[_Run]:
    """Every qualifying run at the given offsets (all with enough overlap if None)."""
    a, b = as_fingerprint(a), as_fingerprint(b)
    if offsets is None:
        wanted = np.arange(rule.min_items - len(a), len(b) - rule.min_items + 1, dtype=np.int64)
    else:
        wanted = np.unique(np.fromiter(offsets, dtype=np.int64))
    # Only offsets whose overlap can hold a stretch.
    overlap = np.minimum(len(a), len(b) - wanted) - np.maximum(0, -wanted)
    wanted = wanted[overlap >= rule.min_items]
    if not len(wanted):
        return []
    ca, cb = change_bits(a), change_bits(b)
    block = max(1, _BLOCK_CELLS // len(a))
    runs: list[_Run] = []
    for start in range(0, len(wanted), block):
        runs.extend(_runs_in_block(a, b, ca, cb, wanted[start : start + block], rule))
    return runs


_BLOCK_CELLS = 2**21
"""Items x offsets compared at once (a few 8 MiB temporaries): bounded memory for long
recordings, few enough numpy calls for short ones."""


def _runs_in_block(
    a: Fingerprint,
    b: Fingerprint,
    ca: npt.NDArray[np.int64],
    cb: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    rule: MatchRule,
) -> list[_Run]:
    """The qualifying runs at a block of offsets (B item = A item + offset).

    Column ``k`` of every matrix is offset ``offsets[k]``, row ``i`` is A's item ``i``.
    """
    width = rule.window_items
    rows, index, valid, sums = agreement(a, b, offsets)
    starts = rows[: len(a) - width + 1]
    ok = sums[width:] - sums[:-width] >= rule.similarity * ITEM_BITS * width
    # Whole windows inside the overlap, and sound that moves on both sides.
    ok &= valid[: len(a) - width + 1] & valid[width - 1 :]
    moving = rule.min_change_bits * (width - 1)
    ok &= (ca[starts + width - 1] - ca[starts]) >= moving
    first, last = index[: len(a) - width + 1], index[width - 1 :]
    ok &= (cb[last] - cb[first]) >= moving
    runs: list[_Run] = []
    for column in np.nonzero(ok.any(axis=0))[0]:
        for begin, end in _covered(ok[:, column], width):
            begin, end = _trimmed(sums[:, column], begin, end, rule.similarity)
            if end - begin >= rule.min_items:
                agreed = int(sums[end, column] - sums[begin, column])
                runs.append(_Run(begin, int(offsets[column]), end - begin, agreed))
    return runs


def agreement(
    a: Fingerprint, b: Fingerprint, offsets: npt.NDArray[np.int64]
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int32]
]:
    """Agreeing bits of A's items against B's at each offset, as running sums.

    Returns A's item rows (a column), B's item index per (row, offset) clipped into B, where
    that index lies inside B, and the cumulative agreeing bits down each offset's column
    (``sums[i]`` = bits agreeing over A's first ``i`` items), so a window's agreement is a
    difference of two rows.
    """
    rows = np.arange(len(a), dtype=np.int64)[:, None]
    index = rows + offsets[None, :]
    valid = (index >= 0) & (index < len(b))
    index = np.clip(index, 0, len(b) - 1)
    agree = np.where(valid, ITEM_BITS - np.bitwise_count(a[:, None] ^ b[index]), 0)
    sums = np.zeros((len(a) + 1, len(offsets)), dtype=np.int32)
    np.cumsum(agree, axis=0, out=sums[1:])
    return rows, index, valid, sums


_EDGE_ITEMS = 4
"""Items averaged when trimming a run's ends (half a second)."""


def _trimmed(
    sums: npt.NDArray[np.int32], begin: int, end: int, similarity: float
) -> tuple[int, int]:
    """``[begin, end)`` without the ends where the items themselves disagree.

    A window qualifies while most of its items match, so a run of windows reaches up to a
    window's width into unshared sound; the ends are cut back to where ``_EDGE_ITEMS``
    consecutive items reach ``similarity`` on their own.
    """
    need = similarity * ITEM_BITS * _EDGE_ITEMS
    edge = sums[begin + _EDGE_ITEMS : end + 1] - sums[begin : end + 1 - _EDGE_ITEMS]
    (good,) = np.nonzero(edge >= need)
    if not len(good):
        return begin, begin
    return begin + int(good[0]), begin + int(good[-1]) + _EDGE_ITEMS


def _covered(ok: npt.NDArray[np.bool_], width: int) -> list[tuple[int, int]]:
    """Item ranges ``[first, last)`` covered by runs of qualifying windows."""
    edges = np.diff(np.concatenate([[0], ok.astype(np.int8), [0]]))
    begins, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return [(int(s), int(e) - 1 + width) for s, e in zip(begins, ends, strict=True)]


def _strongest(runs: list[_Run], rule: MatchRule) -> list[_Run]:
    """Runs by evidence, dropping a weaker one at a neighbouring offset over the same A sound."""
    kept: list[_Run] = []
    for run in sorted(runs, key=lambda r: (-r.evidence, r.a_item, r.offset)):
        if not any(_duplicates(run, other, rule.window_items) for other in kept):
            kept.append(run)
    return kept


def _duplicates(run: _Run, other: _Run, near: int) -> bool:
    """Whether ``run`` is ``other`` seen at a neighbouring offset (overlapping A items)."""
    if abs(run.offset - other.offset) > near:
        return False
    return run.a_item < other.a_item + other.items and other.a_item < run.a_item + run.items


def _stretch(run: _Run, timing: ItemTiming) -> SharedStretch:
    last = run.a_item + run.items - 1
    return SharedStretch(
        a_start_ms=timing.start_ms(run.a_item),
        a_end_ms=timing.end_ms(last),
        b_start_ms=timing.start_ms(run.a_item + run.offset),
        b_end_ms=timing.end_ms(last + run.offset),
        offset_ms=round(run.offset * timing.item_ms),
        similarity=round(run.agree / (run.items * ITEM_BITS), 4),
        items=run.items,
    )
