"""Mains hum: whether a recording carries the electrical network's 50 or 60 Hz, a location clue.

Equipment on mains power leaks the network frequency (ENF) into what it records: a
fundamental at 50 or 60 Hz and its harmonics. Which of the two it is narrows down where a
recording was made (``GRID_REGIONS``). A phone's high-pass filter often removes the
fundamental, so the decision rests on the fundamental *and* harmonics 2-4, each screened by
its own signal-to-noise ratio: its peak against the median of the bins beside it.

**Detection** reads the *steady spectrum*: the recording cut into ``DETECT_SECONDS`` pieces,
and per frequency bin the ``STEADY_PERCENTILE`` of their power. A hum is in every piece, so
it survives; a note, a word or a click is in few, so it does not; and the sound around the
hum drops to its quietest moments (the pauses of speech, the gaps between notes), where the
hum is exposed. Short pieces find those moments (on 300 generated clips, 0.5 s pieces found
a hum without its fundamental 40-50 dB below speech or music in 24 of 32 clips, 4 s pieces
in none), and the coarse resolution they give (2 Hz) is enough to tell 50 from
60 Hz and their harmonics from the notes of music. What makes the lines a hum:

- each is a local peak of the steady spectrum within a hertz of its harmonic, ``SEEN_SNR_DB``
  above its neighbours;
- at least two harmonics are seen, and not only harmonics of a sound at twice the grid
  frequency (2 and 4 alone are a 100 or 120 Hz tone or note); or the fundamental alone
  stands ``FUNDAMENTAL_SNR_DB`` out (nothing else makes a steady line at 50 or 60 Hz: the
  nearest notes are a hertz or more away, and they pass);
- no line at half the grid frequency (25 or 30 Hz, 75 or 90 Hz): those make a sound at
  half the frequency, whose harmonics also fall on the grid's;
- the lines that count are within ``SPREAD_DB`` of the strongest, and no steady tone
  elsewhere is ``SPREAD_DB`` stronger: a loud tone through a codec with 20 ms frames
  (Opus, AMR) grows sidebands 50 Hz apart, far weaker than itself.

**Measurement** reads ``MEASURE_SECONDS`` segments (half-overlapping, 0.125 Hz bins): the
frequency is the peak of the median spectrum (a parabola through the log power of three
bins) divided by the harmonic number, weighted by SNR; each segment gives one point of the
frequency track (a hum too faint there is measured on the detection spectrum, coarsely).
Strength is the power of the hum's lines in the steady spectrum (their main lobes, less the
noise beneath) relative to the power of the whole recording: within about 3 dB on the
benchmark set, where the median spectrum overestimated faint hums by up to 15 dB (the speech
or music over them). Only numpy's FFT is used (no scipy in the stack).

A recording of a few minutes says which frequency the grid ran at, not which grid (several
share 50 Hz) nor when it was made: matching the track against a grid's frequency log needs
long recordings and the log, so the analyzer claims neither.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from sightline.analyzers.audio import decode_audio
from sightline.analyzers.base import Analyzer, MediaInput
from sightline.domain.signals import CostClass, MediaKind, Signal, SignalKind, ValueType, Variant
from sightline.errors import AnalyzerSkipped

HUM_KIND = "hum"
HUM_SIGNAL = SignalKind(
    name=HUM_KIND, value_type=ValueType.CLUE, label="mains hum", search_label="hum"
)
"""A present hum: compact JSON ``{"frequency_hz": 50, "confidence": .., "strength_db": ..}``."""

GRID_REGIONS: dict[int, tuple[str, ...]] = {
    50: (
        "Europe",
        "most of Asia (China, India, Russia, Indonesia, most of the Middle East)",
        "most of Africa",
        "Australia and New Zealand",
        "eastern Japan (Tokyo, Tohoku, Hokkaido)",
        "Argentina, Chile, Uruguay, Paraguay, Bolivia",
    ),
    60: (
        "North and Central America (United States, Canada, Mexico)",
        "Brazil, Colombia, Venezuela, Ecuador, Peru",
        "western Japan (Osaka, Nagoya, Kyushu)",
        "South Korea",
        "Taiwan",
        "the Philippines",
        "Saudi Arabia",
    ),
}
"""Where each mains frequency is used: the location clue a hum gives (regions, not a grid)."""

GRIDS: tuple[int, ...] = tuple(GRID_REGIONS)
HARMONICS: tuple[int, ...] = (1, 2, 3, 4)
# Detection: pieces of the recording (2 Hz bins), the percentile of their power per bin, and
# the band read (the harmonics, the lines at half the grid frequency, and the tones whose
# codec sidebands could land on the harmonics).
DETECT_SECONDS = 0.5
STEADY_PERCENTILE = 10
DETECT_BAND_HZ = (20.0, 1000.0)
# Measurement: segments of the frequency, the strength and the track (0.125 Hz bins).
MEASURE_SECONDS = 8.0
MEASURE_BAND_HZ = (40.0, 260.0)
# Grids hold their frequency within 0.2 Hz of nominal outside emergencies (Europe: 0.05 Hz
# in normal operation); harmonic k deviates k times as much.
MAX_DEVIATION_HZ = 0.25
# The noise beside a line: the median of the bins from GUARD_HZ beyond its search band over
# NEIGHBOUR_HZ on each side, in the detection and in the measurement spectrum.
DETECT_GUARD_HZ, DETECT_NEIGHBOUR_HZ = 3.0, 8.0
MEASURE_GUARD_HZ, MEASURE_NEIGHBOUR_HZ = 0.75, 3.0
# Seen: a harmonic's peak this far above its neighbours. With FUNDAMENTAL_SNR_DB, chosen on
# 300 generated clips (150 hum-free, tones, buzzes and codec sidebands among them): no false
# hum there, nor on 300 more generated with another seed.
SEEN_SNR_DB = 8.0
# The fundamental alone must stand out further.
FUNDAMENTAL_SNR_DB = 11.0
# Lines count together within this many dB of the strongest; a tone elsewhere this much
# stronger than the lines makes them suspect (see the module's notes).
SPREAD_DB = 30.0
# A line elsewhere this far above its neighbours is a steady tone.
TONE_SNR_DB = 20.0
# A track point shows the hum when one of its harmonics stands this far above its neighbours.
TRACK_SNR_DB = 6.0
# At most this many track points (a longer recording's segments are spaced out).
MAX_TRACK_POINTS = 240
# Shorter recordings are not analysed: one measurement segment.
MIN_SECONDS = MEASURE_SECONDS
# Power below this (dB relative to full scale) is digital silence: nothing to measure.
SILENCE_DBFS = -90.0
_TINY = float(np.finfo(np.float64).tiny)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Line:
    """A peak of a spectrum near an expected frequency, and how far it stands out."""

    frequency_hz: float
    snr_db: float
    level: float  # the spectrum at the peak (power per hertz)


@dataclass(frozen=True, slots=True)
class Harmonic:
    """Harmonic ``number`` of grid frequency ``grid``: its line in the steady spectrum."""

    grid: int
    number: int
    line: Line

    @property
    def seen(self) -> bool:
        """Whether the line stands ``SEEN_SNR_DB`` above its neighbours."""
        return self.line.snr_db >= SEEN_SNR_DB


@dataclass(frozen=True, slots=True)
class _Spectra:
    """Power spectra (per hertz) of a recording's half-overlapping segments, one band."""

    freqs: FloatArray
    segments: npt.NDArray[np.float32]  # (segments, bins)

    @property
    def step(self) -> float:
        """Hertz between bins."""
        return float(self.freqs[1] - self.freqs[0])


def _spectra(
    samples: npt.NDArray[np.float32], rate: int, seconds: float, band: tuple[float, float]
) -> _Spectra:
    """Hann-windowed power spectra of half-overlapping ``seconds`` segments, ``band`` only.

    Segments are transformed a few dozen at a time, so a long recording needs little memory.
    """
    size = round(seconds * rate)
    freqs = np.fft.rfftfreq(size, 1.0 / rate)
    keep = (freqs >= band[0]) & (freqs <= band[1])
    window = np.hanning(size).astype(np.float32)
    scale = 2.0 / (rate * float(np.sum(window.astype(np.float64) ** 2)))  # one-sided, per Hz
    starts = range(0, max(len(samples) - size, 0) + 1, size // 2)
    batch = max(1, 2_000_000 // size)
    rows: list[npt.NDArray[np.float32]] = []
    for first in range(0, len(starts), batch):
        block = np.stack([samples[s : s + size] for s in starts[first : first + batch]])
        spectrum = np.fft.rfft(block * window, axis=1)[:, keep]
        rows.append((np.abs(spectrum) ** 2 * scale).astype(np.float32))
    return _Spectra(freqs[keep].astype(np.float64), np.concatenate(rows))


def _line(
    freqs: FloatArray, power: FloatArray, centre: float, reach: float, guard: float, width: float
) -> tuple[Line, int, npt.NDArray[np.bool_]]:
    """The strongest bin within ``reach`` of ``centre`` against the median of its neighbours.

    A bin that is not a local peak (the skirt of a louder sound beside it) stands out by
    nothing. Returns the line, its bin and the neighbour bins.
    """
    offset = np.abs(freqs - centre)
    reach = max(reach, (freqs[1] - freqs[0]) / 2)  # at least the nearest bin
    search = np.flatnonzero(offset <= reach)
    beside = (offset > reach + guard) & (offset <= reach + guard + width)
    peak = int(search[np.argmax(power[search])])
    floor = max(float(np.median(power[beside])), _TINY)
    level = float(power[peak])
    inner = 0 < peak < len(power) - 1
    local = inner and level > power[peak - 1] and level >= power[peak + 1]
    snr = 10 * math.log10(max(level, _TINY) / floor) if local else 0.0
    return Line(_interpolate(freqs, power, peak), snr, level), peak, beside


def _interpolate(freqs: FloatArray, power: FloatArray, i: int) -> float:
    """The peak's frequency between bins: a parabola through the log power of 3 bins."""
    if i <= 0 or i >= len(power) - 1:
        return float(freqs[i])
    left, mid, right = (math.log(max(float(p), _TINY)) for p in power[i - 1 : i + 2])
    bend = left - 2 * mid + right
    shift = 0.5 * (left - right) / bend if bend < 0 else 0.0
    return float(freqs[i] + max(-0.5, min(0.5, shift)) * (freqs[1] - freqs[0]))


def _detect_line(freqs: FloatArray, steady: FloatArray, frequency: float, number: float) -> Line:
    reach = MAX_DEVIATION_HZ * number
    return _line(freqs, steady, frequency, reach, DETECT_GUARD_HZ, DETECT_NEIGHBOUR_HZ)[0]


def _strongest_tone(freqs: FloatArray, steady: FloatArray, grid: int) -> float:
    """The level of the strongest steady tone off ``grid``'s harmonics (0 if none).

    A tone is a bin ``TONE_SNR_DB`` above the median of the bins within
    ``DETECT_NEIGHBOUR_HZ`` of it.
    """
    half = max(1, round(DETECT_NEIGHBOUR_HZ / float(freqs[1] - freqs[0])))
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(steady, half, mode="edge"), 2 * half + 1
    )
    tone = steady >= np.median(windows, axis=1) * 10 ** (TONE_SNR_DB / 10)
    for k in HARMONICS:
        tone &= np.abs(freqs - grid * k) > MAX_DEVIATION_HZ * k + DETECT_GUARD_HZ
    return float(np.max(steady[tone])) if tone.any() else 0.0


@dataclass(frozen=True, slots=True)
class _Verdict:
    """One grid's harmonics, those that count together, and why they make no hum (or None)."""

    grid: int
    harmonics: tuple[Harmonic, ...]
    support: tuple[Harmonic, ...]
    refusal: str | None

    @property
    def score(self) -> float:
        return sum(h.line.snr_db for h in self.support)


def _judge(freqs: FloatArray, steady: FloatArray, grid: int) -> _Verdict:
    """Whether ``grid``'s harmonics in the steady spectrum make a mains hum, and if not why."""
    harmonics = tuple(
        Harmonic(grid, k, _detect_line(freqs, steady, grid * k, k)) for k in HARMONICS
    )
    seen = [h for h in harmonics if h.seen]
    if not seen:
        return _Verdict(grid, harmonics, (), f"no harmonic of {grid} Hz stands out")
    strongest = max(h.line.level for h in seen)
    support = tuple(h for h in seen if h.line.level >= strongest * 10 ** (-SPREAD_DB / 10))
    return _Verdict(grid, harmonics, support, _refusal(freqs, steady, grid, support, strongest))


def _refusal(
    freqs: FloatArray, steady: FloatArray, grid: int, support: Sequence[Harmonic], strongest: float
) -> str | None:
    """Why steady lines on ``grid``'s harmonics are not mains hum, or None if they are."""
    lines = ", ".join(f"{h.grid * h.number} Hz" for h in support)
    numbers = [h.number for h in support]
    if numbers == [1] and support[0].line.snr_db < FUNDAMENTAL_SNR_DB:
        return f"a faint line at {lines} alone"
    if len(numbers) == 1 and numbers != [1]:
        return f"a single steady line at {lines}: a tone, not the grid"
    if math.gcd(*numbers) != 1:
        return f"lines at {lines}: harmonics of {grid * math.gcd(*numbers)} Hz, not of {grid} Hz"
    for fraction in (0.5, 1.5):  # a sound at half the grid frequency has these lines too
        half = _detect_line(freqs, steady, grid * fraction, fraction)
        if half.snr_db >= SEEN_SNR_DB and half.level >= strongest * 10 ** (-SPREAD_DB / 10):
            return f"lines at {lines} and {grid * fraction:g} Hz: a {grid / 2:g} Hz sound"
    if _strongest_tone(freqs, steady, grid) >= strongest * 10 ** (SPREAD_DB / 10):
        return f"lines at {lines} beside a steady tone {SPREAD_DB:g} dB stronger (its sidebands?)"
    return None


@dataclass(frozen=True, slots=True)
class HumReport:
    """What the analyzer found: a hum (``grid`` set) or none, with the measurements."""

    grid: int | None
    frequency_hz: float | None
    strength_db: float | None
    confidence: float
    harmonics: tuple[Harmonic, ...]
    track: tuple[dict[str, Any], ...]
    evidence: str


def measure_hum(samples: npt.NDArray[np.float32], rate: int) -> HumReport:
    """Look for mains hum in mono float ``samples`` at ``rate`` (at least ``MIN_SECONDS``).

    Both grids are judged; a grid whose harmonics make a hum is reported, the stronger one
    if both do (and then with half the confidence).
    """
    total = float(np.mean(np.square(samples, dtype=np.float64)))
    if total <= 10 ** (SILENCE_DBFS / 10):
        return HumReport(None, None, None, 0.0, (), (), "no hum found: the recording is silent")
    detect = _spectra(samples, rate, DETECT_SECONDS, DETECT_BAND_HZ)
    steady = np.percentile(detect.segments, STEADY_PERCENTILE, axis=0).astype(np.float64)
    verdicts = [_judge(detect.freqs, steady, grid) for grid in GRIDS]
    hums = sorted((v for v in verdicts if v.refusal is None), key=lambda v: -v.score)
    if not hums:
        reasons = "; ".join(f"{v.grid} Hz: {v.refusal}" for v in verdicts)
        every = tuple(h for v in verdicts for h in v.harmonics)
        return HumReport(None, None, None, 0.0, every, (), f"no hum found ({reasons})")
    best = hums[0]
    numbers = [h.number for h in best.support]
    measure = _spectra(samples, rate, MEASURE_SECONDS, MEASURE_BAND_HZ)
    typical = np.median(measure.segments, axis=0).astype(np.float64)  # speech comes and goes
    frequency = _measured_frequency(measure, typical, best.grid, numbers)
    if frequency is None:  # too faint to measure finely: the steady spectrum's coarser peaks
        frequency = _weighted_fundamental([(h.number, h.line) for h in best.support]) or best.grid
    strength = 10 * math.log10(max(_power(detect.freqs, steady, best), _TINY) / total)
    track = _track(measure, best.grid, numbers)
    return HumReport(
        best.grid,
        frequency,
        strength,
        _confidence(best.support, track, rival=len(hums) > 1),
        best.harmonics,
        tuple(track),
        _hum_evidence(best, frequency, strength, track),
    )


def _power(freqs: FloatArray, steady: FloatArray, verdict: _Verdict) -> float:
    """The hum's power: its lines' main lobes in the steady spectrum, less the noise beneath.

    The steady spectrum holds the hum whole (it is in every piece) and little of the sound
    around it, so a faint hum is not overestimated by the speech or music over it.
    """
    power = 0.0
    for h in verdict.support:
        _found, peak, beside = _line(
            freqs,
            steady,
            h.grid * h.number,
            MAX_DEVIATION_HZ * h.number,
            DETECT_GUARD_HZ,
            DETECT_NEIGHBOUR_HZ,
        )
        lobe = steady[max(peak - 2, 0) : peak + 3]  # a Hann window's main lobe: +-2 bins
        power += max(float(np.sum(lobe)) - float(np.median(steady[beside])) * len(lobe), 0.0)
    return power * float(freqs[1] - freqs[0])


def _measured_lines(
    spectra: _Spectra, power: FloatArray, grid: int, numbers: Sequence[int]
) -> list[tuple[int, Line, int, npt.NDArray[np.bool_]]]:
    return [
        (
            k,
            *_line(
                spectra.freqs,
                power,
                grid * k,
                MAX_DEVIATION_HZ * k,
                MEASURE_GUARD_HZ,
                MEASURE_NEIGHBOUR_HZ,
            ),
        )
        for k in numbers
    ]


def _weighted_fundamental(lines: Sequence[tuple[int, Line]]) -> float | None:
    """The SNR-weighted mean of the fundamentals that lines at harmonics ``k`` imply."""
    weights = [10 ** (min(line.snr_db, 60.0) / 10) for _k, line in lines]
    if not lines or sum(weights) <= 0:
        return None
    fundamentals = [line.frequency_hz / k for k, line in lines]
    return sum(w * f for w, f in zip(weights, fundamentals, strict=True)) / sum(weights)


def _measured_frequency(
    spectra: _Spectra, typical: FloatArray, grid: int, numbers: Sequence[int]
) -> float | None:
    """The hum's frequency from the lines that stand out of the median measurement spectrum."""
    lines = _measured_lines(spectra, typical, grid, numbers)
    return _weighted_fundamental([(k, ln) for k, ln, _p, _b in lines if ln.snr_db >= TRACK_SNR_DB])


def _track(spectra: _Spectra, grid: int, numbers: Sequence[int]) -> list[dict[str, Any]]:
    """The measured frequency over time: one point per ``MEASURE_SECONDS`` segment.

    A segment where none of the harmonics stands ``TRACK_SNR_DB`` above its neighbours
    reports ``frequency_hz`` None: the hum is too weak there to measure.
    """
    count = len(spectra.segments)
    step = max(1, -(-count // MAX_TRACK_POINTS))
    points: list[dict[str, Any]] = []
    for i in range(0, count, step):
        power = spectra.segments[i].astype(np.float64)
        lines = [(k, ln) for k, ln, _p, _b in _measured_lines(spectra, power, grid, numbers)]
        frequency = _weighted_fundamental([(k, ln) for k, ln in lines if ln.snr_db >= TRACK_SNR_DB])
        points.append(
            {
                "time_ms": round(i * MEASURE_SECONDS / 2 * 1000),
                "frequency_hz": None if frequency is None else round(frequency, 3),
            }
        )
    return points


def _confidence(support: Sequence[Harmonic], track: Sequence[dict[str, Any]], rival: bool) -> float:
    """A 0-1 confidence from the margin over the thresholds, the harmonics and the track.

    A heuristic, stated so it can be read: the summed margin of the harmonics above
    ``SEEN_SNR_DB`` (of a lone fundamental, above ``FUNDAMENTAL_SNR_DB``; 10 dB of margin
    gives 0.9, 20 dB 0.99), scaled from 0.75 to 1 by the share of the track's points that
    show the hum on their own; three quarters of that for a lone fundamental, half of it
    when the other grid's harmonics also look like a hum.
    """
    lone = len(support) == 1
    floor = FUNDAMENTAL_SNR_DB if lone else SEEN_SNR_DB
    margin = sum(h.line.snr_db - floor for h in support)
    shown = sum(1 for p in track if p["frequency_hz"] is not None) / max(len(track), 1)
    value = (1 - 10 ** (-margin / 10)) * (0.75 + 0.25 * shown)
    value *= 0.75 if lone else 1.0
    return value / 2 if rival else value


def _hum_evidence(
    verdict: _Verdict, frequency: float, strength: float, track: Sequence[dict[str, Any]]
) -> str:
    lines = ", ".join(
        f"{h.grid * h.number} Hz (SNR {h.line.snr_db:.1f} dB)" for h in verdict.support
    )
    shown = sum(1 for p in track if p["frequency_hz"] is not None)
    return (
        f"mains hum at {frequency:.3f} Hz, {-strength:.1f} dB below the whole sound: steady "
        f"lines at {lines} through the recording, measurable in {shown} of {len(track)} "
        f"windows of {MEASURE_SECONDS:g} s. {verdict.grid} Hz mains is used in "
        f"{'; '.join(GRID_REGIONS[verdict.grid])}. A recording this short does not tell "
        "which grid nor when it was made."
    )


class HumAnalyzer(Analyzer):
    """Mains hum (50 or 60 Hz) in a recording's sound, from its fundamental and harmonics."""

    name: ClassVar[str] = "hum"
    version: ClassVar[str] = "1"
    media_kinds: ClassVar[frozenset[str]] = frozenset({MediaKind.AUDIO, MediaKind.VIDEO})
    emits: ClassVar[tuple[SignalKind, ...]] = (HUM_SIGNAL,)
    cost: ClassVar[CostClass] = CostClass.MODERATE

    def params(self) -> Mapping[str, Any]:
        """The spectra and the screening thresholds."""
        return {
            "detect_seconds": DETECT_SECONDS,
            "steady_percentile": STEADY_PERCENTILE,
            "measure_seconds": MEASURE_SECONDS,
            "max_deviation_hz": MAX_DEVIATION_HZ,
            "seen_snr_db": SEEN_SNR_DB,
            "fundamental_snr_db": FUNDAMENTAL_SNR_DB,
            "spread_db": SPREAD_DB,
            "harmonics": list(HARMONICS),
        }

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Whether the sound carries mains hum, at which frequency, how strong and how sure.

        Raises:
            UnsupportedMedia: the content is neither audio nor video.
            AnalyzerSkipped: a video without sound, or a recording under ``MIN_SECONDS``.
            TruncatedMedia: an audio file whose sound cannot be decoded.
            AnalysisFailed: a video whose soundtrack cannot be decoded.
        """
        pcm = decode_audio(media)
        if len(pcm.samples) < MIN_SECONDS * pcm.rate:
            raise AnalyzerSkipped(
                f"the sound lasts {pcm.duration_ms / 1000:.1f} s; mains hum needs at least "
                f"{MIN_SECONDS:g} s to be told from a passing sound"
            )
        report = measure_hum(pcm.floats(), pcm.rate)
        return {
            "present": report.grid is not None,
            "frequency_hz": report.grid,
            "measured_hz": None if report.frequency_hz is None else round(report.frequency_hz, 3),
            "strength_db": None if report.strength_db is None else round(report.strength_db, 1),
            "confidence": round(report.confidence, 3),
            "harmonics": [
                {
                    "grid_hz": h.grid,
                    "number": h.number,
                    "snr_db": round(h.line.snr_db, 1),
                    "seen": h.seen,
                }
                for h in report.harmonics
            ],
            "track": list(report.track),
            "regions": list(GRID_REGIONS[report.grid]) if report.grid else [],
            "evidence": report.evidence,
            **pcm.describe(),
        }

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """One ``hum`` clue when a hum is present: its grid, confidence and strength."""
        del media
        if not value.get("present"):
            return ()
        clue = {
            "frequency_hz": value["frequency_hz"],
            "confidence": value["confidence"],
            "strength_db": value["strength_db"],
        }
        return (Signal(HUM_KIND, json.dumps(clue, separators=(",", ":")).encode()),)

    def variants(self, signals: Sequence[Signal], media: MediaInput) -> Sequence[Variant]:
        """None: a hum is a fact about its recording, not a query value."""
        del signals, media
        return ()
