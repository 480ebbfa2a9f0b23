"""Calibration of soundtrack linking: when do two recordings share sound?

    python -m benchmarks.soundtrack [--seed 7] [--per-cell 8] [--unrelated 400]
                                    [--index-hours 1000] [--skip-index]

Generates benign recordings (melodies of different seeds, espeak-ng speech in several
languages and voices, noise, speech over music, 30-90 s), builds related pairs that share a
stretch of 10, 20 or 30 s of one recording inside other sound, under each transform (MP3 at
64 kbit/s, AAC, Opus at 32 kbit/s, a trimmed excerpt, white noise at 10-20 dB SNR, and two
videos with different pictures over the same soundtrack), and many unrelated pairs, the hard
ones included (the same TTS voice saying different texts, melodies of the same generator).

It prints:

* the distribution of the best window similarity of unrelated pairs and of related pairs at
  their true offset;
* for a grid of similarity thresholds and minimum stretch lengths, the recall on related
  pairs at precision 1.0 on the unrelated ones, and the rule chosen (the most recall with no
  false link, ties to the higher threshold);
* with the module's ``DEFAULT_RULE``: recall and precision per transform and per shared
  length, the mean offset error and the error of the reported boundaries;
* lookups per second of a 30 s query against ``--index-hours`` of stored fingerprints
  (synthetic random items), with the index's memory, build time and recall of planted
  copies.

Measured with the defaults (seed 7, 2-core machine, ~10 minutes): 144 related and 2,016
unrelated pairs; best 32-item window similarity of unrelated pairs 0.812 at most (99th
percentile 0.778), of related pairs at their offset 0.914 at least; the rule chosen is
``DEFAULT_RULE`` (similarity 0.852, 32-item windows, 40-item stretches); recall 1.000 and
precision 1.000 for every transform and shared length, 0 of 2,016 unrelated pairs linked,
offset error 33 ms on average (85 ms at most), boundaries within -0.6/+0.5 s (start) and
-1.0/+1.0 s (end); the index: 102 lookups/s of a 30 s query against 1,000 hours.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tests.support import audio

from sightline.analyzers.audio import decode_audio
from sightline.analyzers.base import MediaInput
from sightline.analyzers.soundtrack import raw_fingerprint
from sightline.features.fingerprint import (
    CHROMAPRINT_TIMING,
    DEFAULT_RULE,
    ITEM_BITS,
    Fingerprint,
    MatchRule,
    SharedStretch,
    agreement,
    change_bits,
    shared_stretches,
)

RATE = audio.RATE
Samples = npt.NDArray[np.float32]

# Benign word lists for seeded sentences, one per espeak-ng language used.
WORDS: dict[str, str] = {
    "en": "the river morning garden window yellow quiet bridge under over small green house "
    "walks slowly across field bird sings light evening table bread coffee friend train "
    "station mountain winter summer often never always bright cold warm",
    "de": "der fluss morgen garten fenster gelb ruhig brücke unter über klein grün haus geht "
    "langsam über feld vogel singt licht abend tisch brot kaffee freund zug bahnhof berg "
    "winter sommer oft nie immer hell kalt warm",
    "fr": "le fleuve matin jardin fenêtre jaune calme pont sous sur petit vert maison marche "
    "lentement champ oiseau chante lumière soir table pain café ami train gare montagne "
    "hiver été souvent jamais toujours clair froid chaud",
    "es": "el río mañana jardín ventana amarillo tranquilo puente bajo sobre pequeño verde "
    "casa camina despacio campo pájaro canta luz tarde mesa pan café amigo tren estación "
    "montaña invierno verano siempre nunca claro frío caliente",
    "it": "il fiume mattina giardino finestra giallo tranquillo ponte sotto sopra piccolo "
    "verde casa cammina piano campo uccello canta luce sera tavolo pane caffè amico treno "
    "stazione montagna inverno estate spesso mai sempre chiaro freddo caldo",
    "nl": "de rivier ochtend tuin raam geel rustig brug onder boven klein groen huis loopt "
    "langzaam veld vogel zingt licht avond tafel brood koffie vriend trein station berg "
    "winter zomer vaak nooit altijd helder koud warm",
}
# Voices: each language's default, and several English variants (the same TTS engine and
# language with different speakers: hard unrelated pairs).
VOICES = ["en", "en+m3", "en+f2", "en+f4", "de", "de+m2", "fr", "es", "it", "nl"]


@dataclass(frozen=True, slots=True)
class Recording:
    """One generated recording: a name, the family it was made by, its samples."""

    name: str
    family: str
    samples: Samples


def sentence_text(language: str, rng: np.random.Generator, words: int) -> str:
    """Seeded benign text of about ``words`` words in sentences of 6-12 words."""
    vocabulary = WORDS[language].split()
    sentences: list[str] = []
    while sum(len(s.split()) for s in sentences) < words:
        count = int(rng.integers(6, 13))
        picked = [vocabulary[int(i)] for i in rng.integers(0, len(vocabulary), count)]
        sentences.append(" ".join(picked).capitalize() + ".")
    return " ".join(sentences)


def spoken(voice: str, rng: np.random.Generator, seconds: float) -> Samples:
    """Speech in ``voice`` filling ``seconds`` (sentences added until long enough)."""
    language = voice.split("+")[0]
    parts: list[Samples] = []
    while sum(len(p) for p in parts) < seconds * RATE:
        parts.append(audio.speech(sentence_text(language, rng, 30), voice))
        parts.append(audio.silence(float(rng.uniform(0.2, 0.8))))
    return fit(np.concatenate(parts), seconds)


def fit(samples: Samples, seconds: float) -> Samples:
    """``samples`` cut or zero-padded to ``seconds``."""
    out = np.zeros(round(seconds * RATE), dtype=np.float32)
    out[: min(len(out), len(samples))] = samples[: len(out)]
    return out


def coloured_noise(seed: int, seconds: float) -> Samples:
    """Noise with a seeded spectral tilt and slow level changes (wind, traffic, a room)."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(round(seconds * RATE))
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(len(white), 1 / RATE)
    spectrum /= np.maximum(freqs, 20.0) ** rng.uniform(0.0, 1.0)
    shaped = np.fft.irfft(spectrum, len(white))
    t = np.arange(len(white)) / RATE
    envelope = 1.0 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 6))
    out = shaped * envelope
    result: Samples = (audio.db(-20.0) * out / np.sqrt(np.mean(out**2))).astype(np.float32)
    return result


def corpus(seed: int) -> list[Recording]:
    """64 recordings of 30-90 s: melodies, speech, noise and speech over music."""
    rng = np.random.default_rng(seed)

    def length() -> float:
        return float(rng.uniform(30.0, 90.0))

    made = [
        Recording(f"melody-{i}", "melody", audio.melody(seed * 100 + i, length()))
        for i in range(20)
    ]
    for i in range(24):
        voice = VOICES[i % len(VOICES)]
        made.append(
            Recording(f"speech-{voice}-{i}", f"speech-{voice}", spoken(voice, rng, length()))
        )
    for i in range(8):
        made.append(Recording(f"noise-{i}", "noise", coloured_noise(seed * 100 + i, length())))
    for i in range(12):
        seconds = length()
        voice = VOICES[i % 4]  # English voices: the same engine as the speech above
        music = audio.melody(seed * 100 + 50 + i, seconds, level_db=-24.0)
        made.append(Recording(f"mix-{i}", "mix", audio.mix(spoken(voice, rng, seconds), music)))
    return made


TRANSFORMS = ("mp3", "aac", "opus", "trim", "noise", "video")
SHARED_SECONDS = (10, 20, 30)


@dataclass(frozen=True, slots=True)
class Pair:
    """Two fingerprints, and where they share sound (None: unrelated)."""

    label: str
    transform: str
    shared_s: int | None
    a: Fingerprint
    b: Fingerprint
    offset_ms: float | None = None
    a_span_ms: tuple[float, float] | None = None


def fingerprint_samples(samples: Samples) -> Fingerprint:
    """The raw fingerprint of float samples at ``RATE`` (as the analyzer computes it)."""
    ints = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    return raw_fingerprint(ints, RATE)


def fingerprint_file(path: Path) -> Fingerprint:
    """The raw fingerprint of a file, decoded as the analyzer decodes it."""
    with closing(MediaInput(path)) as media:
        pcm = decode_audio(media)
        return raw_fingerprint(pcm.samples, pcm.rate)


def with_noise(samples: Samples, snr_db: float, seed: int) -> Samples:
    """``samples`` with white noise ``snr_db`` below their RMS level."""
    level = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    noise = np.random.default_rng(seed).standard_normal(len(samples)) * level / 10 ** (snr_db / 20)
    return (samples + noise).astype(np.float32)


def filler(rng: np.random.Generator, seconds: float) -> Samples:
    """Unrelated sound around a shared stretch: a melody or speech not in the corpus."""
    if seconds <= 0:
        return audio.silence(0.0)
    if rng.random() < 0.5:
        return audio.melody(int(rng.integers(10_000, 20_000)), seconds)
    return spoken(VOICES[int(rng.integers(0, len(VOICES)))], rng, seconds)


def transformed(
    transform: str, a: Samples, b: Samples, work: Path, rng: np.random.Generator
) -> tuple[Fingerprint, Fingerprint]:
    """Fingerprints of A (the original) and B after ``transform``."""
    if transform == "video":  # same soundtrack, different pictures, both as MP4 with AAC
        seeds = rng.integers(0, 1_000, 2)
        first = audio.write_av(work / "a.mp4", a, int(seeds[0]), fps=2, size=(64, 48))
        second = audio.write_av(work / "b.mp4", b, int(seeds[1]) + 1_000, fps=2, size=(64, 48))
        return fingerprint_file(first), fingerprint_file(second)
    original = fingerprint_samples(a)
    if transform == "noise":
        return original, fingerprint_samples(with_noise(b, float(rng.uniform(10, 20)), 1))
    if transform == "trim":
        return original, fingerprint_samples(b)
    fmt, rate = {"mp3": ("mp3", 64_000), "aac": ("m4a", None), "opus": ("ogg", 32_000)}[transform]
    path = audio.write_audio(work / f"b.{fmt}", b, fmt, rate)
    return original, fingerprint_file(path)


def related_pairs(
    recordings: list[Recording], per_cell: int, seed: int, work: Path
) -> Iterator[Pair]:
    """``per_cell`` pairs per transform and shared length, each from a different source.

    B holds a stretch of A (at a random, not item-aligned, start) between 4-15 s of other
    sound on each side; for ``trim`` B is the stretch alone.
    """
    rng = np.random.default_rng(seed)
    sources = [r for r in recordings if r.family != "noise"]
    for transform, shared in itertools.product(TRANSFORMS, SHARED_SECONDS):
        fitting = [r for r in sources if len(r.samples) >= (shared + 2) * RATE]
        for i in rng.permutation(len(fitting))[:per_cell]:
            source = fitting[int(i)].samples
            start = float(rng.uniform(0, len(source) / RATE - shared))
            stretch = source[round(start * RATE) : round((start + shared) * RATE)]
            before = 0.0 if transform == "trim" else float(rng.uniform(4, 15))
            after = 0.0 if transform == "trim" else float(rng.uniform(4, 15))
            b = np.concatenate([filler(rng, before), stretch, filler(rng, after)])
            fa, fb = transformed(transform, source, b.astype(np.float32), work, rng)
            yield Pair(
                f"{fitting[int(i)].name}@{start:.2f}",
                transform,
                shared,
                fa,
                fb,
                offset_ms=(before - start) * 1000,
                a_span_ms=(start * 1000, (start + shared) * 1000),
            )


def unrelated_pairs(recordings: list[Recording], most: int, seed: int) -> list[tuple[int, int]]:
    """Pairs of distinct recordings: every pair of the same family first, then random ones."""
    pairs = list(itertools.combinations(range(len(recordings)), 2))
    same = [(i, j) for i, j in pairs if _kin(recordings[i], recordings[j])]
    other = [p for p in pairs if p not in set(same)]
    rng = np.random.default_rng(seed)
    picked = [other[int(k)] for k in rng.permutation(len(other))[: max(0, most - len(same))]]
    return same + picked


def _kin(a: Recording, b: Recording) -> bool:
    """The hard unrelated pairs: one generator (a melody and a melody), one voice, or noise."""
    first, second = a.family, b.family
    return first == second or {first, second} <= {"mix", *(f"speech-{v}" for v in VOICES[:4])}


def window_scores(
    a: Fingerprint, b: Fingerprint, offsets: npt.NDArray[np.int64], rule: MatchRule
) -> npt.NDArray[np.float64]:
    """Similarity of every window (rows: A's first item; columns: ``offsets``).

    Windows outside the overlap, or where either side does not move (``min_change_bits``),
    score 0, as the decision rule ignores them.
    """
    width = rule.window_items
    rows, index, valid, sums = agreement(a, b, offsets)
    scores = (sums[width:] - sums[:-width]) / (ITEM_BITS * width)
    ca, cb = change_bits(a), change_bits(b)
    moving = rule.min_change_bits * (width - 1)
    starts = rows[: len(a) - width + 1]
    ok = valid[: len(a) - width + 1] & valid[width - 1 :]
    ok &= (ca[starts + width - 1] - ca[starts]) >= moving
    ok &= (cb[index[width - 1 :]] - cb[index[: len(a) - width + 1]]) >= moving
    result: npt.NDArray[np.float64] = np.where(ok, scores, 0.0)
    return result


def best_runs(
    a: Fingerprint,
    b: Fingerprint,
    offsets: npt.NDArray[np.int64],
    rule: MatchRule,
    lengths: tuple[int, ...],
) -> dict[int, float]:
    """For each stretch length: the highest threshold at which some run that long qualifies.

    A stretch of ``n`` items is ``n - window + 1`` consecutive windows; it qualifies at
    threshold ``t`` when the weakest of them reaches ``t``. So the answer is the maximum over
    positions of a sliding minimum of the window scores.
    """
    if len(a) < rule.window_items or len(b) < rule.window_items:
        return dict.fromkeys(lengths, 0.0)
    scores = window_scores(a, b, offsets, rule)
    best: dict[int, float] = {}
    for length in lengths:
        span = length - rule.window_items + 1
        if len(scores) < span:
            best[length] = 0.0
            continue
        view = np.lib.stride_tricks.sliding_window_view(scores, span, axis=0)
        best[length] = float(view.min(axis=-1).max())
    return best


def all_offsets(a: Fingerprint, b: Fingerprint, window: int) -> npt.NDArray[np.int64]:
    """Every offset with a window's overlap."""
    return np.arange(window - len(a), len(b) - window + 1, dtype=np.int64)


def true_offsets(pair: Pair, timing_ms: float, spread_ms: float = 1000.0) -> npt.NDArray[np.int64]:
    """The offsets within ``spread_ms`` of a related pair's true offset."""
    assert pair.offset_ms is not None
    low = int(np.floor((pair.offset_ms - spread_ms) / timing_ms))
    high = int(np.ceil((pair.offset_ms + spread_ms) / timing_ms))
    return np.arange(low, high + 1, dtype=np.int64)


WINDOWS = (24, 32, 40)
LENGTHS = (40, 48, 56, 64)


def calibrate(
    unrelated: list[tuple[Fingerprint, Fingerprint]], related: list[Pair]
) -> tuple[MatchRule, str]:
    """The rule with the best recall at precision 1.0 on ``unrelated``; and a printed table.

    For each window and minimum stretch length, the threshold must exceed the best
    qualifying stretch of every unrelated pair; recall is the share of related pairs whose
    best stretch at their true offset exceeds it. Of equal recalls the widest margin wins
    (margins within 0.01 count as equal: a few thousand pairs measure no finer), then the
    longer window and the longer stretch (harder to reach by chance in a large collection).
    The threshold is set midway between the unrelated maximum and the lowest related pair
    that is still linked.
    """
    lines = ["window  min_items  unrelated_max  related_min  recall@p=1  margin"]
    best: tuple[float, float, int, int, MatchRule] | None = None
    for window in WINDOWS:
        rule = replace_rule(DEFAULT_RULE, window_items=window, min_items=max(LENGTHS))
        lengths = tuple(n for n in LENGTHS if n >= window)
        noise = [best_runs(a, b, all_offsets(a, b, window), rule, lengths) for a, b in unrelated]
        truth = [
            best_runs(p.a, p.b, true_offsets(p, CHROMAPRINT_TIMING.item_ms), rule, lengths)
            for p in related
        ]
        for length in lengths:
            ceiling = max(n[length] for n in noise)
            linked = [t[length] for t in truth if t[length] > ceiling]
            recall = len(linked) / len(truth)
            floor = min(linked) if linked else ceiling
            margin = floor - ceiling
            lines.append(
                f"{window:6d}  {length:9d}  {ceiling:13.3f}  {min(t[length] for t in truth):11.3f}"
                f"  {recall:10.3f}  {margin:6.3f}"
            )
            threshold = round((ceiling + floor) / 2, 3)
            candidate = replace_rule(rule, similarity=threshold, min_items=length)
            score = (recall, round(margin, 2), window, length, candidate)
            if best is None or score[:4] > best[:4]:
                best = score
    assert best is not None
    return best[4], "\n".join(lines)


def replace_rule(rule: MatchRule, **changes: float) -> MatchRule:
    """``rule`` with some fields changed."""
    fields = {
        "similarity": rule.similarity,
        "window_items": rule.window_items,
        "min_items": rule.min_items,
        "min_change_bits": rule.min_change_bits,
    }
    fields.update(changes)
    return MatchRule(
        similarity=float(fields["similarity"]),
        window_items=int(fields["window_items"]),
        min_items=int(fields["min_items"]),
        min_change_bits=float(fields["min_change_bits"]),
    )


@dataclass
class Tally:
    """Linked, missed and wrongly linked pairs, offset and boundary errors."""

    pairs: int = 0
    linked: int = 0
    false_links: int = 0
    offset_errors: list[float] | None = None
    start_errors: list[float] | None = None
    end_errors: list[float] | None = None

    def add(self, pair: Pair, found: list[SharedStretch]) -> None:
        """Count one related pair's result."""
        assert pair.offset_ms is not None
        assert pair.a_span_ms is not None
        self.pairs += 1
        right = [s for s in found if abs(s.offset_ms - pair.offset_ms) <= 1000]
        if any(abs(s.offset_ms - pair.offset_ms) > 1000 for s in found):
            self.false_links += 1
        if right:
            self.linked += 1
            for name, value in (
                ("offset_errors", abs(right[0].offset_ms - pair.offset_ms)),
                ("start_errors", right[0].a_start_ms - pair.a_span_ms[0]),
                ("end_errors", right[0].a_end_ms - pair.a_span_ms[1]),
            ):
                values = getattr(self, name) or []
                values.append(float(value))
                setattr(self, name, values)

    def row(self, label: str) -> str:
        """One line of the table."""
        recall = self.linked / self.pairs if self.pairs else 0.0
        links = self.linked + self.false_links
        precision = self.linked / links if links else 1.0
        offset = statistics.mean(self.offset_errors) if self.offset_errors else float("nan")
        return f"{label:>10}  {self.pairs:5d}  {recall:6.3f}  {precision:9.3f}  {offset:10.0f}"


def evaluate(
    related: list[Pair], unrelated: list[tuple[Fingerprint, Fingerprint]], rule: MatchRule
) -> str:
    """Recall and precision of ``rule`` per transform and per shared length, and errors."""
    by: dict[str, Tally] = defaultdict(Tally)
    everything = Tally()
    for pair in related:
        found = shared_stretches(pair.a, pair.b, rule=rule)
        for label in (pair.transform, f"{pair.shared_s} s"):
            by[label].add(pair, found)
        everything.add(pair, found)
    false_unrelated = sum(bool(shared_stretches(a, b, rule=rule)) for a, b in unrelated)
    links = everything.linked + everything.false_links + false_unrelated
    lines = [
        "     group  pairs  recall  precision  offset_ms",
        *(by[t].row(t) for t in TRANSFORMS),
        *(by[f"{n} s"].row(f"{n} s") for n in SHARED_SECONDS),
        everything.row("all"),
        f"unrelated pairs linked: {false_unrelated} of {len(unrelated)}; overall precision "
        f"{everything.linked / links if links else 1.0:.3f}",
    ]
    for name in ("offset_errors", "start_errors", "end_errors"):
        values = getattr(everything, name) or [float("nan")]
        lines.append(
            f"{name}: mean {statistics.mean(values):.0f} ms, median "
            f"{statistics.median(values):.0f} ms, min {min(values):.0f}, max {max(values):.0f}"
        )
    return "\n".join(lines)


def distribution(
    unrelated: list[tuple[Fingerprint, Fingerprint]], related: list[Pair], rule: MatchRule
) -> str:
    """Percentiles of the best window similarity: unrelated pairs, related at their offset."""
    single = (rule.window_items,)
    noise = [
        best_runs(a, b, all_offsets(a, b, rule.window_items), rule, single)[single[0]]
        for a, b in unrelated
    ]
    truth = [
        best_runs(p.a, p.b, true_offsets(p, CHROMAPRINT_TIMING.item_ms), rule, single)[single[0]]
        for p in related
    ]
    marks = (0, 1, 5, 50, 95, 99, 100)
    lines = [f"best {rule.window_items}-item window similarity, percentiles {marks}:"]
    for label, values in (("unrelated", noise), ("related", truth)):
        cuts = np.percentile(values, marks)
        lines.append(f"  {label:>9}: " + " ".join(f"{v:.3f}" for v in cuts))
    return "\n".join(lines)


def index_speed(hours: float, seed: int, queries: int) -> str:
    """Lookups/s of 30 s queries against ``hours`` of random stored fingerprints."""
    from sightline.indexes.fingerprint_inverted import InvertedFingerprintIndex

    rng = np.random.default_rng(seed)
    per_recording = round(600_000 / CHROMAPRINT_TIMING.item_ms)  # ten minutes each
    recordings = max(1, round(hours * 6))
    before = _rss_mb()
    started = time.perf_counter()
    index = InvertedFingerprintIndex()
    for key in range(recordings):
        index.add(key, rng.integers(0, 2**32, per_recording, dtype=np.uint32))
    added = time.perf_counter() - started
    query_items = round(30_000 / CHROMAPRINT_TIMING.item_ms)
    planted = []
    for _ in range(queries):
        key = int(rng.integers(0, recordings))
        start = int(rng.integers(0, per_recording - query_items))
        clip = index.sequence(key)[start : start + query_items]
        flips = rng.random((len(clip), ITEM_BITS)) < 0.05  # 5 % of bits flipped
        noise = np.packbits(flips, axis=1, bitorder="little").view(np.uint32).ravel()
        planted.append((key, start, clip ^ noise))
    started = time.perf_counter()
    index.search(planted[0][2], limit=10)  # builds the tables
    built = time.perf_counter() - started
    memory = _rss_mb() - before
    started = time.perf_counter()
    found = 0
    for key, start, query in planted:
        hits = index.search(query, limit=10)
        found += any(
            h.key == key and h.stretches[0].offset_ms == round(start * CHROMAPRINT_TIMING.item_ms)
            for h in hits[:1]
        )
    elapsed = time.perf_counter() - started
    return (
        f"index: {index.item_count:,} items ({hours:g} h in {recordings} recordings), "
        f"added in {added:.1f} s, tables built in {built:.1f} s, resident memory "
        f"+{memory:,.0f} MB\n"
        f"30 s queries (5 % of bits flipped): {queries / elapsed:.1f} lookups/s "
        f"({1000 * elapsed / queries:.1f} ms each, one thread), "
        f"found first at the right offset: {found}/{queries}"
    )


def _rss_mb() -> float:
    """Resident memory of this process in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> None:
    """Generate the pairs, calibrate, evaluate, and time the index."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soundtrack")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-cell", type=int, default=8, help="related pairs per cell")
    parser.add_argument("--unrelated", type=int, default=2_016, help="unrelated pairs")
    parser.add_argument("--index-hours", type=float, default=1_000.0)
    parser.add_argument("--index-queries", type=int, default=200)
    parser.add_argument("--skip-index", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    recordings = corpus(args.seed)
    prints = [fingerprint_samples(r.samples) for r in recordings]
    hours = sum(len(r.samples) for r in recordings) / RATE / 3600
    print(f"corpus: {len(recordings)} recordings, {hours * 60:.0f} min of sound")
    with tempfile.TemporaryDirectory() as work:
        related = list(related_pairs(recordings, args.per_cell, args.seed, Path(work)))
    unrelated = [
        (prints[i], prints[j]) for i, j in unrelated_pairs(recordings, args.unrelated, args.seed)
    ]
    print(
        f"pairs: {len(related)} related, {len(unrelated)} unrelated "
        f"({time.perf_counter() - started:.0f} s to generate)"
    )
    print(distribution(unrelated, related, DEFAULT_RULE))
    chosen, table = calibrate(unrelated, related)
    print(table)
    print(f"chosen: {chosen}")
    print(f"DEFAULT_RULE: {DEFAULT_RULE}")
    print(evaluate(related, unrelated, DEFAULT_RULE))
    if not args.skip_index:
        print(index_speed(args.index_hours, args.seed, args.index_queries))


if __name__ == "__main__":
    main()
