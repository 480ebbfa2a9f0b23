"""Speech segments: the Silero model finds where espeak-ng speech was placed, and nothing else."""

from __future__ import annotations

import hashlib
import importlib.util
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sightline.analyzers import speech
from sightline.analyzers.base import MediaInput
from sightline.analyzers.speech import (
    SPEECH_KIND,
    SpeechAnalyzer,
    pack_segment,
    speech_probabilities,
    speech_segments,
    unpack_segment,
)
from sightline.errors import AnalyzerSkipped, MissingDependency, UnsupportedMedia
from tests.support import audio
from tests.support.video import write_pan

# How far a segment edge may lie from where the voice starts or stops (the tolerance).
EDGE_S = 0.3

# What espeak-ng says in each language (Japanese in kana), two utterances each.
SENTENCES: dict[str, tuple[str, str]] = {
    "en": ("The quick brown fox jumps over the lazy dog.", "Good morning, how are you today?"),
    "de": ("Guten Morgen, wie geht es Ihnen heute?", "Das Wetter ist heute sehr schön."),
    "fr": ("Bonjour, je voudrais un café, s'il vous plaît.", "Il fait beau aujourd'hui."),
    "es": ("Buenos días, ¿cómo estás hoy?", "Me gusta mucho esta ciudad."),
    "ja": ("こんにちは、きょうはいいてんきですね。", "わたしはがくせいです。"),
    "ru": ("Доброе утро, как дела?", "Сегодня хорошая погода."),
    "nl": ("Goedemorgen, hoe gaat het vandaag?", "Ik woon in een klein huis."),
}


@pytest.fixture(scope="module")
def analyzer() -> SpeechAnalyzer:
    return SpeechAnalyzer()


def _analyze(analyzer: SpeechAnalyzer, path: Path) -> dict[str, Any]:
    with closing(MediaInput(path)) as media:
        return dict(analyzer.analyze(media))


def _track(voice: str) -> tuple[audio.Samples, list[tuple[float, float]]]:
    """Two utterances with a pause between, and where each voice really starts and stops."""
    first, second = (audio.speech(text, voice) for text in SENTENCES[voice])
    starts = (1.2, 1.2 + len(first) / audio.RATE + 1.8)
    truth = []
    for start, part in zip(starts, (first, second), strict=True):
        begin, end = audio.voiced_extent(part)
        truth.append((start + begin, start + end))
    total = starts[1] + len(second) / audio.RATE + 1.5
    return audio.place(total, list(zip(starts, (first, second), strict=True))), truth


def _assert_lined_up(segments: list[list[int]], truth: list[tuple[float, float]]) -> None:
    assert len(segments) == len(truth), (segments, truth)
    for (start_ms, end_ms), (start, end) in zip(segments, truth, strict=True):
        assert abs(start_ms / 1000 - start) <= EDGE_S, (start_ms, start)
        assert abs(end_ms / 1000 - end) <= EDGE_S, (end_ms, end)


@pytest.mark.parametrize("voice", sorted(SENTENCES))
def test_segments_line_up_with_the_speech_in_each_language(
    analyzer: SpeechAnalyzer, tmp_path: Path, voice: str
) -> None:
    samples, truth = _track(voice)
    path = audio.write_audio(tmp_path / f"{voice}.wav", samples)
    value = _analyze(analyzer, path)
    _assert_lined_up(value["segments"], truth)
    assert value["speech_ms"] == sum(end - start for start, end in value["segments"])
    assert value["model"] == "silero_vad_v6"


@pytest.mark.parametrize(("fmt", "voice"), [("mp3", "en"), ("opus", "de"), ("amr", "fr")])
def test_segments_survive_lossy_encodes(
    analyzer: SpeechAnalyzer, tmp_path: Path, fmt: str, voice: str
) -> None:
    samples, truth = _track(voice)
    value = _analyze(analyzer, audio.write_audio(tmp_path / f"speech.{fmt}", samples, fmt))
    _assert_lined_up(value["segments"], truth)


@pytest.mark.parametrize("background", ["music", "noise"])
def test_segments_over_music_or_noise(
    analyzer: SpeechAnalyzer, tmp_path: Path, background: str
) -> None:
    samples, truth = _track("es")
    seconds = len(samples) / audio.RATE
    voice_db = audio.rms_db(samples[samples != 0])
    if background == "music":  # peaks 15 dB below the voice's level: about 25 dB in RMS
        sound = audio.melody(5, seconds, level_db=voice_db - 15)
    else:
        sound = audio.noise(seconds, seed=2, level_db=voice_db - 30)
    path = audio.write_audio(tmp_path / "busy.wav", audio.mix(samples, sound))
    _assert_lined_up(_analyze(analyzer, path)["segments"], truth)


def test_soundtrack_of_a_video(analyzer: SpeechAnalyzer, tmp_path: Path) -> None:
    samples, truth = _track("ja")
    path = audio.write_av(tmp_path / "talk.mp4", samples, seed=3)
    value = _analyze(analyzer, path)
    _assert_lined_up(value["segments"], truth)
    assert value["codec"] == "aac"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: audio.tone(440, 12), id="tone-440"),
        pytest.param(lambda: audio.tone(120, 12), id="tone-120"),
        pytest.param(lambda: audio.mix(audio.tone(220, 12), audio.tone(330, 12)), id="chord"),
        pytest.param(lambda: audio.melody(1, 15), id="melody-1"),
        pytest.param(lambda: audio.melody(2, 15, level_db=-25), id="melody-2-quiet"),
        pytest.param(lambda: audio.melody(4, 15), id="melody-4"),
        pytest.param(lambda: audio.noise(12, seed=1, level_db=-20), id="noise"),
        pytest.param(lambda: audio.noise(12, seed=2, level_db=-45), id="noise-quiet"),
        pytest.param(lambda: audio.hum(50, 12, level_db=-30), id="hum"),
        pytest.param(lambda: audio.silence(5), id="silence"),
    ],
)
def test_no_speech_in_tones_music_and_noise(
    analyzer: SpeechAnalyzer, tmp_path: Path, make: Any
) -> None:
    path = audio.write_audio(tmp_path / "sound.wav", make())
    with closing(MediaInput(path)) as media:
        value = analyzer.analyze(media)
        assert analyzer.signals(value, media) == ()
    assert value["segments"] == []
    assert value["speech_ms"] == 0


def test_one_signal_per_segment(analyzer: SpeechAnalyzer, tmp_path: Path) -> None:
    samples, _truth = _track("en")
    path = audio.write_audio(tmp_path / "two.wav", samples)
    with closing(MediaInput(path)) as media:
        value = analyzer.analyze(media)
        signals = analyzer.signals(value, media)
        assert analyzer.variants(signals, media) == ()
    assert [s.kind for s in signals] == [SPEECH_KIND, SPEECH_KIND]
    assert [s.position for s in signals] == [0, 1]
    assert [unpack_segment(s.value) for s in signals] == [tuple(v) for v in value["segments"]]
    assert [s.time_ms for s in signals] == [start for start, _end in value["segments"]]
    assert all(len(s.value) == 8 for s in signals)


def test_a_silent_video_is_skipped_with_a_reason(analyzer: SpeechAnalyzer, tmp_path: Path) -> None:
    path = write_pan(tmp_path / "silent.mp4", 1, seconds=2)
    with pytest.raises(AnalyzerSkipped, match="no audio stream"):
        _analyze(analyzer, path)


def test_a_still_image_is_not_sound(analyzer: SpeechAnalyzer, tmp_path: Path) -> None:
    from tests.support.media_files import write_jpeg

    with pytest.raises(UnsupportedMedia):
        _analyze(analyzer, write_jpeg(tmp_path / "still.jpg", seed=1))


def test_params_name_the_exact_model(analyzer: SpeechAnalyzer) -> None:
    params = analyzer.params()
    model = speech.model_path()
    assert params["model"] == "silero_vad_v6"
    assert params["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert model.name == "silero_vad_v6.onnx" and model.parent.name == "assets"


def test_model_is_found_without_importing_faster_whisper() -> None:
    import sys

    loaded = "faster_whisper" in sys.modules
    speech.model_path()
    assert ("faster_whisper" in sys.modules) == loaded


def test_a_missing_model_is_a_clear_missing_dependency(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = importlib.util.spec_from_file_location("faster_whisper", tmp_path / "__init__.py")
    assert empty is not None
    empty.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: empty)
    with pytest.raises(MissingDependency, match="faster-whisper"):
        SpeechAnalyzer()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependency, match="faster-whisper"):
        speech.model_path()


def test_one_session_per_process() -> None:
    model = speech.model_path()
    assert speech._session(model) is speech._session(model)


def test_batches_carry_the_model_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Probabilities are the same whether the windows go in one call or in many."""
    samples, _truth = _track("de")
    pcm = (samples * 32767).astype(np.int16)
    model = speech.model_path()
    whole = speech_probabilities(pcm, model)
    monkeypatch.setattr(speech, "BATCH_WINDOWS", 7)
    np.testing.assert_allclose(speech_probabilities(pcm, model), whole, atol=1e-5)
    assert len(whole) == -(-len(pcm) // speech.WINDOW)


def _probs(*runs: tuple[float, int]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Window probabilities from ``(probability, windows)`` runs."""
    return np.concatenate([np.full(n, p, dtype=np.float32) for p, n in runs])


def _ms(segments: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(start * 1000 // 16_000, end * 1000 // 16_000) for start, end in segments]


@pytest.fixture
def window_ms() -> int:
    return speech.WINDOW * 1000 // 16_000  # 32


def test_segmentation_rules(window_ms: int) -> None:
    pad = speech.SPEECH_PAD_MS
    # 1 s of speech between 1 s silences: one segment, padded on both sides.
    probs = _probs((0.0, 31), (0.95, 31), (0.0, 31))
    length = len(probs) * speech.WINDOW
    assert _ms(speech_segments(probs, length)) == [(31 * window_ms - pad, 62 * window_ms + pad)]
    # A dip below the lower threshold shorter than the minimum silence does not split it,
    # and values between the two thresholds keep speech going (hysteresis).
    probs = _probs((0.0, 10), (0.9, 20), (0.1, 5), (0.7, 30), (0.9, 10), (0.0, 40))
    [(start, end)] = _ms(speech_segments(probs, len(probs) * speech.WINDOW))
    assert (start, end) == (10 * window_ms - pad, 75 * window_ms + pad)
    # A probability between the thresholds never starts speech.
    assert speech_segments(_probs((0.7, 100)), 100 * speech.WINDOW) == []


def test_short_blips_are_dropped_and_long_pauses_split(window_ms: int) -> None:
    # 4 windows (128 ms) is under the minimum speech length.
    probs = _probs((0.0, 10), (0.99, 4), (0.0, 40))
    assert speech_segments(probs, len(probs) * speech.WINDOW) == []
    # A pause longer than the minimum silence makes two segments.
    probs = _probs((0.0, 10), (0.9, 20), (0.0, 25), (0.9, 20), (0.0, 30))
    segments = _ms(speech_segments(probs, len(probs) * speech.WINDOW))
    assert len(segments) == 2
    assert segments[0][1] < segments[1][0]


def test_close_segments_meet_halfway_and_the_ends_are_clipped() -> None:
    # Speech from the very first window to the end: clipped to the recording, not padded past.
    probs = _probs((0.9, 50))
    length = 50 * speech.WINDOW - 100
    assert speech_segments(probs, length) == [(0, length)]
    # Two segments whose gap is under twice the padding meet in the middle of the gap.
    gap = speech.MIN_SILENCE_MS * 16 + 2 * speech.WINDOW  # in samples, just over the minimum
    raw = [(16_000, 32_000), (32_000 + gap, 60_000)]
    padded = speech._pad(raw, 80_000, gap)  # a pad wider than half the gap
    assert padded[0][1] == padded[1][0] == 32_000 + gap // 2


def test_segment_values_round_trip() -> None:
    assert unpack_segment(pack_segment(1_500, 4_250)) == (1_500, 4_250)
    assert pack_segment(1, 2) == b"\x01\x00\x00\x00\x02\x00\x00\x00"
