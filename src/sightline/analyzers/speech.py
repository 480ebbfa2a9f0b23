"""Speech segments: where in a recording someone speaks, by the Silero voice-activity model.

The model is the Silero VAD (version 6) ONNX file that ships inside the installed
``faster-whisper`` package (``faster_whisper/assets/silero_vad_v6.onnx``); it is found on
disk without importing ``faster_whisper`` (which would load CTranslate2 and a tokenizer) and
run with onnxruntime on one thread, one session per process, created on first use. Nothing
is ever downloaded.

The model reads the shared decode (``decode_audio``: mono, 16 kHz) in windows of 512 samples
(32 ms), each preceded by the last 64 samples of the window before, and gives each window a
speech probability. Windows become segments by Silero's own rule (the reference is
``faster_whisper/vad.py``): speech starts where the probability reaches ``THRESHOLD`` and ends
where it has stayed below ``NEG_THRESHOLD`` for ``MIN_SILENCE_MS``; segments shorter than
``MIN_SPEECH_MS`` are dropped, and the rest are widened by ``SPEECH_PAD_MS``. One rule is
Sightline's: a segment must hold ``CONFIRM_WINDOWS`` windows the model is sure of
(``CONFIRM_THRESHOLD``), which keeps music from passing as speech. The minimum silence is
chosen for investigators rather than for a transcriber: a pause of half a second separates
two utterances (faster-whisper waits two seconds, to feed Whisper long chunks); the padding
is Silero's small default, so the segment edges stay within a few hundred milliseconds of
the voice (measured on espeak-ng speech in several languages, ``benchmarks/hum.py``).

A known limit of the model, measured and not hidden: the generated test melody (peaks at
-10 dBFS) over white noise passes as speech in some clips: none of 20 with the noise at
-70 dBFS, 4 at -60 or -50 dBFS, 8 to 10 at -40 to -30 dBFS. Melodies or noise alone do not.

The feature value lists the segments (``[start_ms, end_ms]``) and their total; each segment
is also a ``speech`` clue signal (``struct.pack("<II", start_ms, end_ms)``, ``time_ms`` its
start). A recording without speech gives an empty list, an honest "no speech found".
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import struct
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from sightline.analyzers.audio import AUDIO_RATE, decode_audio
from sightline.analyzers.base import Analyzer, MediaInput
from sightline.domain.signals import CostClass, MediaKind, Signal, SignalKind, ValueType, Variant
from sightline.errors import MissingDependency

SPEECH_KIND = "speech"
SPEECH_SIGNAL = SignalKind(
    name=SPEECH_KIND, value_type=ValueType.CLUE, label="speech", search_label="speech"
)
"""One speech segment: its start and end in milliseconds, packed ``<II``."""

MODEL_NAME = "silero_vad_v6"
# The package that carries the model, and the model's path inside it.
MODEL_PACKAGE = "faster_whisper"
MODEL_FILE = ("assets", "silero_vad_v6.onnx")

# The model's input: 512 samples a window at 16 kHz, with the 64 samples before as context.
WINDOW = 512
CONTEXT = 64
# Windows per model call: bounds memory on long recordings (the reference's batch size); the
# model's state and the context carry over from one call to the next.
BATCH_WINDOWS = 10_000
# Speech starts where the probability reaches THRESHOLD and ends where it stays below
# NEG_THRESHOLD: Silero's defaults (0.5, and THRESHOLD - 0.15: the hysteresis keeps a word's
# soft ending in it). They place the edges well, narrow-band (AMR) speech included, but on
# their own they found "speech" in 30 of 120 generated melodies (notes with an attack and a
# decay look like syllables to the model). So a segment is kept only when the model is sure
# of at least CONFIRM_WINDOWS windows of it (CONFIRM_THRESHOLD): 1 melody in 120 then, and
# every espeak-ng utterance tested still found (single words, AMR, white noise 3 dB below the
# voice, music 10 dB below it).
THRESHOLD = 0.5
NEG_THRESHOLD = 0.35
CONFIRM_THRESHOLD = 0.8
CONFIRM_WINDOWS = 6
# Shorter stretches are clicks or a note's attack, not speech (Silero's default).
MIN_SPEECH_MS = 250
# A pause this long separates two utterances; shorter ones (between words, at a comma) do not.
MIN_SILENCE_MS = 500
# Each segment is widened by this much (Silero's default): the model is late on soft onsets.
SPEECH_PAD_MS = 30

_SESSION_LOCK = threading.Lock()
# One onnxruntime session per process (keyed by process id: a forked worker makes its own).
_SESSIONS: dict[tuple[int, str], Any] = {}


def model_path() -> Path:
    """Where the Silero VAD model lies in the installed ``faster-whisper`` package.

    Found from the package's import location without importing it.

    Raises:
        MissingDependency: the package or its model file is not installed.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location).joinpath(*MODEL_FILE)
        if path.is_file():
            return path
    raise MissingDependency(
        f"the speech analyzer needs the Silero VAD model ({'/'.join(MODEL_FILE)}) from the "
        "faster-whisper package: install faster-whisper"
    )


@cache
def model_sha256(path: Path) -> str:
    """The SHA-256 of the model file, recorded so a stored result names the exact model."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _session(path: Path) -> Any:
    """This process's onnxruntime session for the model at ``path`` (created on first use).

    Raises:
        MissingDependency: onnxruntime is not installed.
    """
    key = (os.getpid(), str(path))
    session = _SESSIONS.get(key)
    if session is not None:
        return session
    with _SESSION_LOCK:
        if key not in _SESSIONS:
            try:
                import onnxruntime
            except ImportError as exc:
                raise MissingDependency(
                    "the speech analyzer needs onnxruntime: install onnxruntime"
                ) from exc
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 4  # no console output from the runtime
            _SESSIONS[key] = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        return _SESSIONS[key]


def speech_probabilities(samples: npt.NDArray[np.int16], path: Path) -> npt.NDArray[np.float32]:
    """The model's speech probability for each 32 ms window of 16 kHz ``samples``.

    The last window is padded with silence. Windows are sent in batches of
    ``BATCH_WINDOWS``, so a long recording is never converted to floats all at once.
    """
    session = _session(path)
    state = np.zeros((1, 1, 128), dtype=np.float32)
    cell = np.zeros((1, 1, 128), dtype=np.float32)
    before = np.zeros(CONTEXT, dtype=np.float32)
    out: list[npt.NDArray[np.float32]] = []
    step = BATCH_WINDOWS * WINDOW
    for begin in range(0, len(samples), step):
        chunk = samples[begin : begin + step].astype(np.float32) / 32768.0
        chunk = np.pad(chunk, (0, -len(chunk) % WINDOW))
        windows = chunk.reshape(-1, WINDOW)
        context = np.empty((len(windows), CONTEXT), dtype=np.float32)
        context[0] = before
        context[1:] = windows[:-1, -CONTEXT:]
        batch = np.concatenate([context, windows], axis=1)
        probs, state, cell = session.run(None, {"input": batch, "h": state, "c": cell})
        out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
        before = windows[-1, -CONTEXT:].copy()
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def speech_segments(
    probs: npt.NDArray[np.float32], length: int, rate: int = AUDIO_RATE
) -> list[tuple[int, int]]:
    """Speech segments, as ``(start, end)`` sample offsets, from window probabilities.

    Silero's post-processing (``get_speech_timestamps`` in ``faster_whisper/vad.py``) with
    this module's durations, and segments the model is not sure of dropped (``_confirmed``).
    It is ported rather than imported because importing it loads all of ``faster_whisper``;
    the reference's splitting of segments longer than a maximum is left out (its maximum is
    unlimited by default, as here).

    Args:
        probs: the speech probability of each ``WINDOW``-sample window.
        length: the number of samples (the end of a segment still open at the end).
        rate: samples per second.

    Returns:
        The segments in order, padded, never overlapping, within ``[0, length]``.
    """
    min_speech = rate * MIN_SPEECH_MS / 1000
    min_silence = rate * MIN_SILENCE_MS / 1000
    raw: list[tuple[int, int]] = []
    start: int | None = None
    silent_from = 0  # where the probability last fell below NEG_THRESHOLD, 0: not below
    for i, prob in enumerate(probs.tolist()):
        at = WINDOW * i
        if prob >= THRESHOLD:
            silent_from = 0
            if start is None:
                start = at
            continue
        if start is None or prob >= NEG_THRESHOLD:
            continue
        if not silent_from:
            silent_from = at
        if at - silent_from >= min_silence:
            if silent_from - start > min_speech:
                raw.append((start, silent_from))
            start, silent_from = None, 0
    if start is not None and length - start > min_speech:
        raw.append((start, length))
    sure = [(start, end) for start, end in raw if _confirmed(probs, start, end)]
    return _pad(sure, length, round(rate * SPEECH_PAD_MS / 1000))


def _confirmed(probs: npt.NDArray[np.float32], start: int, end: int) -> bool:
    """Whether the model is sure of at least ``CONFIRM_WINDOWS`` windows of a segment."""
    windows = probs[start // WINDOW : -(-end // WINDOW)]
    return int(np.count_nonzero(windows >= CONFIRM_THRESHOLD)) >= CONFIRM_WINDOWS


def _pad(raw: list[tuple[int, int]], length: int, pad: int) -> list[tuple[int, int]]:
    """Widen each segment by ``pad``; two closer than twice that meet halfway (Silero's rule)."""
    spans = [[start, end] for start, end in raw]
    if spans:
        spans[0][0] = max(0, spans[0][0] - pad)
    for current, following in itertools.pairwise(spans):
        gap = following[0] - current[1]
        if gap < 2 * pad:
            current[1] += gap // 2
            following[0] -= gap // 2
        else:
            current[1] = min(length, current[1] + pad)
            following[0] = max(0, following[0] - pad)
    if spans:
        spans[-1][1] = min(length, spans[-1][1] + pad)
    return [(start, end) for start, end in spans]


class SpeechAnalyzer(Analyzer):
    """Time ranges of speech in a recording's sound (the Silero VAD model, offline)."""

    name: ClassVar[str] = "speech"
    version: ClassVar[str] = "1"
    media_kinds: ClassVar[frozenset[str]] = frozenset({MediaKind.AUDIO, MediaKind.VIDEO})
    emits: ClassVar[tuple[SignalKind, ...]] = (SPEECH_SIGNAL,)
    cost: ClassVar[CostClass] = CostClass.EXPENSIVE

    def __init__(self) -> None:
        """Find the model now, so a missing one is reported when analyzers are loaded.

        Raises:
            MissingDependency: faster-whisper (which carries the model) or onnxruntime is
                not installed.
        """
        self._model = model_path()
        if importlib.util.find_spec("onnxruntime") is None:
            raise MissingDependency("the speech analyzer needs onnxruntime: install onnxruntime")

    def params(self) -> Mapping[str, Any]:
        """The model (name and file checksum) and the segmentation thresholds."""
        return {
            "model": MODEL_NAME,
            "model_sha256": model_sha256(self._model),
            "threshold": THRESHOLD,
            "neg_threshold": NEG_THRESHOLD,
            "confirm_threshold": CONFIRM_THRESHOLD,
            "confirm_windows": CONFIRM_WINDOWS,
            "min_speech_ms": MIN_SPEECH_MS,
            "min_silence_ms": MIN_SILENCE_MS,
            "speech_pad_ms": SPEECH_PAD_MS,
        }

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """The speech segments of the recording's sound, in milliseconds.

        Raises:
            UnsupportedMedia: the content is neither audio nor video.
            AnalyzerSkipped: a video without sound.
            TruncatedMedia: an audio file whose sound cannot be decoded.
            AnalysisFailed: a video whose soundtrack cannot be decoded.
        """
        pcm = decode_audio(media)
        probs = speech_probabilities(pcm.samples, self._model)
        segments = [
            [start * 1000 // pcm.rate, end * 1000 // pcm.rate]
            for start, end in speech_segments(probs, len(pcm.samples), pcm.rate)
        ]
        return {
            "segments": segments,
            "speech_ms": sum(end - start for start, end in segments),
            "model": MODEL_NAME,
            **pcm.describe(),
        }

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """One ``speech`` clue per segment: ``<II`` start and end, positioned in order."""
        del media
        return tuple(
            Signal(SPEECH_KIND, pack_segment(start, end), position=i, time_ms=start)
            for i, (start, end) in enumerate(value.get("segments", ()))
        )

    def variants(self, signals: Sequence[Signal], media: MediaInput) -> Sequence[Variant]:
        """None: a speech segment is a fact about its recording, not a query value."""
        del signals, media
        return ()


def pack_segment(start_ms: int, end_ms: int) -> bytes:
    """A segment as a ``speech`` signal's value: little-endian unsigned start and end."""
    return struct.pack("<II", start_ms, end_ms)


def unpack_segment(value: bytes) -> tuple[int, int]:
    """A ``speech`` signal's value as ``(start_ms, end_ms)``."""
    start, end = struct.unpack("<II", value)
    return int(start), int(end)
