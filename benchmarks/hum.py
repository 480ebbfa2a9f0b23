"""Mains hum accuracy, false hums, speech-segment edges and speed on generated recordings.

    python -m benchmarks.hum [--clips 120] [--negatives 24] [--seed 10]

``--clips`` recordings of 30-60 s are generated (benign, seeded): the program is speech
(espeak-ng sentences in eight languages with pauses of 0.8-2 s), music (the test melody) or
both (music 12 dB under the voice); a third carry 50 Hz hum, a third 60 Hz, a third none.
A hum is placed 30-50 dB below the program (RMS of the voice where it speaks, or of the
music), with or without its fundamental (a phone's high-pass filter), at a grid frequency
up to 0.05 Hz off nominal, over a noise floor at -70 dBFS; each recording is then encoded
in turn as WAV, MP3 64 kbit/s, AAC 64 kbit/s (M4A), Opus 32 kbit/s, AMR-NB 12.2 kbit/s, or
as the AAC soundtrack of an MP4 video. ``--negatives`` hard hum-free cases follow: steady
tones at and near the grid harmonics (100, 110, 116.5, 120, 123.5, 150 Hz), buzzes (a tone
and harmonics 2-4) at 25, 30, 100 and 120 Hz, and loud 440 Hz and 1 kHz tones through Opus
and AMR, whose 20 ms frames put sidebands 50 Hz apart.

Printed: hum accuracy (the grid right; "none" right for hum-free clips) overall and by
codec, fundamental and level; the false-hum rate on the hum-free clips and on the hard
negatives (target 0); the error of the measured frequency and strength; speech-segment
edge errors against where the voice starts and stops (each utterance, or run of utterances
closer than the analyzer's minimum silence, matched to the segment that overlaps it); false
speech in music; and each analyzer's speed as a multiple of real time (the shared decode
timed apart). Targets: hum accuracy >= 0.95, no false hum.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tests.support import audio

from benchmarks.common import percentile
from sightline.analyzers.audio import decode_audio
from sightline.analyzers.base import MediaInput
from sightline.analyzers.hum import HumAnalyzer
from sightline.analyzers.speech import MIN_SILENCE_MS, SpeechAnalyzer

FORMATS = ("wav", "mp3", "m4a", "opus", "amr", "mp4")
BIT_RATES = {"mp3": 64_000, "m4a": 64_000, "opus": 32_000}
NOISE_FLOOR_DB = -70.0


@dataclass
class Clip:
    """One generated recording and its truth."""

    name: str
    samples: audio.Samples
    fmt: str
    program: str
    grid: int | None = None
    frequency: float | None = None
    fundamental: bool = True
    below_db: float | None = None
    hum_db: float | None = None  # the hum's level relative to the whole recording
    speech: list[tuple[float, float]] = field(default_factory=list)  # seconds
    hard_negative: bool = False


@dataclass
class Result:
    """What the analyzers said about one clip, and how long they took."""

    clip: Clip
    hum: dict[str, Any]
    segments: list[tuple[float, float]]
    seconds: float
    decode_s: float
    hum_s: float
    speech_s: float


def _conversation(
    rng: np.random.Generator, seconds: float
) -> tuple[audio.Samples, float, list[tuple[float, float]]]:
    """Sentences with pauses; the voice's level; where each run of speech starts and stops."""
    parts: list[tuple[float, audio.Samples]] = []
    truth: list[tuple[float, float]] = []
    start = float(rng.uniform(0.3, 1.5))
    while start < seconds - 3.0:
        said = audio.spoken_line(int(rng.integers(len(audio.LINES))))
        begin, end = audio.voiced_extent(said)
        parts.append((start, said))
        truth.append((start + begin, min(start + end, seconds)))
        start += len(said) / audio.RATE + float(rng.uniform(0.8, 2.0))
    return audio.place(seconds, parts), audio.rms_db(np.concatenate([p for _, p in parts])), truth


def _merged(truth: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Utterances closer than the analyzer's minimum silence are one segment."""
    merged: list[tuple[float, float]] = []
    for start, end in truth:
        if merged and start - merged[-1][1] < MIN_SILENCE_MS / 1000:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def make_clips(count: int, seed: int) -> list[Clip]:
    """``count`` recordings: hum 50 / 60 / none under speech, music or both, every codec."""
    rng = np.random.default_rng(seed)
    clips: list[Clip] = []
    for i in range(count):
        seconds = float(rng.uniform(30, 60))
        program = ("speech", "music", "both")[i % 3]
        grid = (50, 60, None)[(i // 3) % 3]
        truth: list[tuple[float, float]] = []
        if program == "music":
            sound = audio.melody(int(rng.integers(1 << 30)), seconds)
            level = audio.rms_db(sound)
        else:
            sound, level, truth = _conversation(rng, seconds)
            if program == "both":
                tune = audio.melody(int(rng.integers(1 << 30)), seconds)
                sound = audio.mix(sound, tune * audio.db(level - 12 - audio.rms_db(tune)))
        floor = audio.noise(seconds, seed=int(rng.integers(1 << 30)), level_db=NOISE_FLOOR_DB)
        clip = Clip(f"c{i:03d}", audio.mix(sound, floor), FORMATS[i % len(FORMATS)], program)
        clip.speech = _merged(truth)
        if grid is not None:
            clip.grid, clip.fundamental = grid, bool((i // 9) % 2 == 0)
            clip.frequency = grid + float(rng.uniform(-0.05, 0.05))
            clip.below_db = float(rng.uniform(30, 50))
            hum = audio.hum(
                clip.frequency, seconds, level - clip.below_db, fundamental=clip.fundamental
            )
            clip.samples = audio.mix(clip.samples, hum)
            clip.hum_db = audio.rms_db(hum) - audio.rms_db(clip.samples)
        clips.append(clip)
    return clips


def _buzz(freq: float, seconds: float, level_db: float) -> audio.Samples:
    return audio.mix(*(audio.tone(freq * k, seconds, level_db - 4 * k) for k in range(1, 5)))


def hard_negatives(count: int, seed: int) -> list[Clip]:
    """Hum-free recordings that look most like hum: steady tones, buzzes, codec sidebands."""
    rng = np.random.default_rng(seed + 1)
    makers: list[tuple[str, str, Callable[[float], audio.Samples]]] = [
        *(
            (f"tone-{f:g}", "wav", lambda s, f=f: audio.tone(f, s, -20))
            for f in (100, 110, 116.54, 120, 123.47, 150)
        ),
        *((f"buzz-{f:g}", "wav", lambda s, f=f: _buzz(f, s, -15)) for f in (25, 30, 100, 120)),
        ("tone-440-opus", "opus", lambda s: audio.tone(440, s, -12)),
        ("tone-1000-opus", "opus", lambda s: audio.tone(1000, s, -12)),
        ("tone-440-amr", "amr", lambda s: audio.tone(440, s, -12)),
        ("tone-100-mp3", "mp3", lambda s: audio.tone(100, s, -12)),
    ]
    clips = []
    for i in range(count):
        name, fmt, make = makers[i % len(makers)]
        seconds = float(rng.uniform(30, 60))
        floor = audio.noise(seconds, seed=int(rng.integers(1 << 30)), level_db=NOISE_FLOOR_DB)
        clip = Clip(f"n{i:03d}-{name}", audio.mix(make(seconds), floor), fmt, "tone")
        clip.hard_negative = True
        clips.append(clip)
    return clips


def _write(clip: Clip, folder: Path, seed: int) -> Path:
    if clip.fmt == "mp4":
        return audio.write_av(folder / f"{clip.name}.mp4", clip.samples, seed=seed)
    path = folder / f"{clip.name}.{clip.fmt}"
    return audio.write_audio(path, clip.samples, clip.fmt, BIT_RATES.get(clip.fmt))


def run_clip(clip: Clip, folder: Path, seed: int) -> Result:
    """Encode one clip, decode it once, and run both analyzers on the shared decode."""
    path = _write(clip, folder, seed)
    hum, speech = HumAnalyzer(), SpeechAnalyzer()
    with closing(MediaInput(path)) as media:
        start = time.perf_counter()
        pcm = decode_audio(media)
        decoded = time.perf_counter()
        hum_value = dict(hum.analyze(media))
        hummed = time.perf_counter()
        speech_value = dict(speech.analyze(media))
        done = time.perf_counter()
    path.unlink()
    segments = [(a / 1000, b / 1000) for a, b in speech_value["segments"]]
    return Result(
        clip,
        hum_value,
        segments,
        len(pcm.samples) / pcm.rate,
        decoded - start,
        hummed - decoded,
        done - hummed,
    )


def _accuracy(results: Sequence[Result]) -> str:
    if not results:
        return "   -"
    right = sum(r.hum["frequency_hz"] == r.clip.grid for r in results)
    return f"{right / len(results):.3f} ({right}/{len(results)})"


def report_hum(results: Sequence[Result]) -> None:
    hummed = [r for r in results if r.clip.grid is not None]
    free = [r for r in results if r.clip.grid is None and not r.clip.hard_negative]
    hard = [r for r in results if r.clip.hard_negative]
    print(f"hum accuracy, all generated clips:   {_accuracy(hummed + free)}   (target >= 0.95)")
    print(f"  clips with hum (grid right):       {_accuracy(hummed)}")
    not_amr = [r for r in hummed + free if r.clip.fmt != "amr"]
    print(f"  all clips but AMR:                 {_accuracy(not_amr)}")
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in hummed:
        groups[f"codec {r.clip.fmt}"].append(r)
        groups["with fundamental" if r.clip.fundamental else "without fundamental"].append(r)
        below = r.clip.below_db or 0.0
        band = (
            "30-35" if below < 35 else "35-40" if below < 40 else "40-45" if below < 45 else "45-50"
        )
        groups[f"{band} dB below ({'F' if r.clip.fundamental else 'no F'})"].append(r)
    for key in sorted(groups):
        print(f"    {key:32s} {_accuracy(groups[key])}")
    false = [r for r in free if r.hum["present"]]
    false_hard = [r for r in hard if r.hum["present"]]
    print(f"false hums on hum-free clips:        {len(false)}/{len(free)}   (target 0)")
    print(f"false hums on hard negatives:        {len(false_hard)}/{len(hard)}")
    for r in false + false_hard:
        print(f"    {r.clip.name} ({r.clip.program}, {r.clip.fmt}): {r.hum['evidence'][:120]}")
    found = [r for r in hummed if r.hum["frequency_hz"] == r.clip.grid]
    freq = [abs(r.hum["measured_hz"] - (r.clip.frequency or 0.0)) for r in found]
    strength = [r.hum["strength_db"] - (r.clip.hum_db or 0.0) for r in found]
    if found:
        print(
            f"frequency error (Hz): median {statistics.median(freq):.4f}, "
            f"p95 {percentile(freq, 95):.4f}, max {max(freq):.4f}"
        )
        print(
            f"strength error (dB, measured - true): median {statistics.median(strength):+.1f}, "
            f"p5 {percentile(strength, 5):+.1f}, p95 {percentile(strength, 95):+.1f}"
        )


def report_speech(results: Sequence[Result]) -> None:
    edges: list[float] = []
    missed = extra = 0
    for r in results:
        if not r.clip.speech:
            continue
        used: set[int] = set()
        for start, end in r.clip.speech:
            hits = [
                i for i, (a, b) in enumerate(r.segments) if a < end and b > start and i not in used
            ]
            if not hits:
                missed += 1
                continue
            used.add(hits[0])
            a, b = r.segments[hits[0]]
            edges += [abs(a - start), abs(b - end)]
        extra += len(r.segments) - len(used)
    truth = sum(len(r.clip.speech) for r in results)
    talking = sum(bool(r.clip.speech) for r in results)
    print(f"speech segments: {truth} runs of speech in {talking} clips")
    if edges:
        within = sum(e <= 0.3 for e in edges) / len(edges)
        print(
            f"  edge error (s): median {statistics.median(edges):.3f}, p95 "
            f"{percentile(edges, 95):.3f}, max {max(edges):.3f}; within 0.3 s: {within:.3f}"
        )
    print(f"  missed runs: {missed}; extra segments: {extra}")
    music = [r for r in results if r.clip.program == "music"]
    tones = [r for r in results if r.clip.hard_negative]
    print(
        f"  false speech in music-only clips: {sum(bool(r.segments) for r in music)}/{len(music)}"
    )
    print(
        f"  false speech in tones and buzzes: {sum(bool(r.segments) for r in tones)}/{len(tones)}"
    )


def report_speed(results: Sequence[Result]) -> None:
    sound = sum(r.seconds for r in results)
    for label, spent in (
        ("decode (shared, PyAV)", sum(r.decode_s for r in results)),
        ("hum", sum(r.hum_s for r in results)),
        ("speech (Silero VAD)", sum(r.speech_s for r in results)),
    ):
        minutes = sound / 60
        print(
            f"speed {label:24s} {sound / spent:8.0f}x real time ({spent:.1f} s, {minutes:.0f} min)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--negatives", type=int, default=24)
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    started = time.perf_counter()
    clips = make_clips(args.clips, args.seed) + hard_negatives(args.negatives, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_clip(clip, Path(tmp), args.seed + i) for i, clip in enumerate(clips)]
    print(f"{len(clips)} recordings, {sum(r.seconds for r in results) / 60:.0f} min of sound")
    report_hum(results)
    report_speech(results)
    report_speed(results)
    print(f"benchmark wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
