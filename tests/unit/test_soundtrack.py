"""The soundtrack fingerprint analyzer: formats, timing of items, signals, skips and failures."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from sightline.analyzers.base import MediaInput
from sightline.analyzers.soundtrack import (
    CHROMAPRINT_KIND,
    CHUNK_ITEMS,
    ITEM_SOUND_MS,
    MIN_SOUND_MS,
    ChromaprintAnalyzer,
    join_chunks,
    raw_fingerprint,
)
from sightline.errors import AnalysisFailed, AnalyzerSkipped, TruncatedMedia
from sightline.features.fingerprint import CHROMAPRINT_TIMING, shared_stretches
from tests.support import audio
from tests.support.video import write_pan

ITEM_MS = CHROMAPRINT_TIMING.item_ms


def pcm(samples: audio.Samples) -> np.ndarray:
    """Float samples as the int16 PCM the analyzer reads."""
    return (np.clip(samples, -1, 1) * 32767).astype(np.int16)


def analyze(path: Path) -> tuple[dict[str, object], np.ndarray]:
    """The analyzer's value and the raw items joined from its signals."""
    analyzer = ChromaprintAnalyzer()
    with closing(MediaInput(path)) as media:
        value = dict(analyzer.analyze(media))
        signals = analyzer.signals(value, media)
    assert all(s.kind == CHROMAPRINT_KIND for s in signals)
    return value, join_chunks(signals)


def test_one_item_every_123_8_ms() -> None:
    """Chromaprint's item step is 1365 samples at 11,025 Hz; 60 s give 466 items."""
    items = raw_fingerprint(pcm(audio.melody(1, 60.0)), audio.RATE)
    assert CHROMAPRINT_TIMING.item_ms == pytest.approx(1365 / 11.025)
    assert len(items) == (60 * 11025 - 30031) // 1365 + 1


@pytest.mark.parametrize("second", [6.0, 13.3, 21.7])
def test_a_sound_at_a_known_second_maps_to_its_items(second: float) -> None:
    """Item 0 starts at 0 s: item ``i`` is computed from the sound of ``i * 123.8 ms`` to
    2.72 s later, so a 10 ms click at a known second changes only items whose sound holds it,
    and those items centre on it."""
    base = audio.mix(audio.melody(2, 30.0), audio.noise(30.0, 1, level_db=-45.0))
    clicked = base.copy()
    at = round(second * audio.RATE)
    clicked[at : at + 160] += audio.noise(0.01, 5, level_db=-6.0)
    before = raw_fingerprint(pcm(base), audio.RATE)
    after = raw_fingerprint(pcm(clicked), audio.RATE)
    changed = np.nonzero(before != after)[0]
    assert len(changed) >= 5
    click_ms = second * 1000
    starts = changed * ITEM_MS
    assert (starts <= click_ms + 10).all()
    assert (starts + ITEM_SOUND_MS >= click_ms).all()
    centre = (starts.min() + starts.max() + ITEM_SOUND_MS) / 2
    assert centre == pytest.approx(click_ms, abs=500)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "m4a", "ogg", "flac", "amr"])
def test_formats_decode_and_fingerprint_alike(fmt: str, tmp_path: Path) -> None:
    """Every audio format gives a fingerprint that shares its sound with the WAV's."""
    sound = audio.melody(3, 12.0)
    _, reference = analyze(audio.write_audio(tmp_path / "ref.wav", sound, "wav"))
    value, items = analyze(audio.write_audio(tmp_path / f"x.{fmt}", sound, fmt))
    assert value["items"] == len(items)
    assert abs(len(items) - len(reference)) <= 1
    (stretch,) = shared_stretches(reference, items)
    assert abs(stretch.offset_ms) <= ITEM_MS
    assert stretch.similarity >= 0.9


def test_the_value_describes_the_sound_and_the_fingerprint(tmp_path: Path) -> None:
    value, items = analyze(audio.write_audio(tmp_path / "x.flac", audio.melody(4, 10.0), "flac"))
    assert value["codec"] == "flac"
    assert value["duration_ms"] == 10_000
    assert value["item_ms"] == pytest.approx(ITEM_MS)
    assert value["algorithm"] == 1
    assert str(value["library"]).startswith("libchromaprint 1.")
    assert value["items"] == len(items) > 0


def test_a_long_recording_is_chunked_with_times(tmp_path: Path) -> None:
    path = audio.write_audio(tmp_path / "long.wav", audio.melody(5, 70.0), "wav")
    analyzer = ChromaprintAnalyzer()
    with closing(MediaInput(path)) as media:
        value = analyzer.analyze(media)
        signals = analyzer.signals(value, media)
    assert [s.position for s in signals] == [0, 1]
    assert len(signals[0].value) == 4 * CHUNK_ITEMS
    assert signals[1].time_ms == round(CHUNK_ITEMS * ITEM_MS)
    assert len(join_chunks(list(reversed(signals)))) == value["items"]
    with pytest.raises(ValueError, match="numbered"):
        join_chunks(signals[1:])


def test_a_video_soundtrack_is_fingerprinted(tmp_path: Path) -> None:
    sound = audio.melody(6, 10.0)
    value, items = analyze(audio.write_av(tmp_path / "v.mp4", sound, 1, fps=2, size=(64, 48)))
    assert value["codec"] == "aac"
    reference = raw_fingerprint(pcm(sound), audio.RATE)
    assert shared_stretches(reference, items)


def test_a_silent_video_is_skipped(tmp_path: Path) -> None:
    path = write_pan(tmp_path / "pan.mp4", 1, seconds=2, size=(64, 48))
    with pytest.raises(AnalyzerSkipped, match="no audio stream"):
        analyze(path)


def test_silence_is_skipped(tmp_path: Path) -> None:
    path = audio.write_audio(tmp_path / "quiet.wav", audio.noise(12.0, 1, level_db=-75.0))
    with pytest.raises(AnalyzerSkipped, match="silent"):
        analyze(path)


def test_too_short_a_sound_is_skipped(tmp_path: Path) -> None:
    seconds = MIN_SOUND_MS / 1000 - 1
    path = audio.write_audio(tmp_path / "short.wav", audio.melody(7, seconds))
    with pytest.raises(AnalyzerSkipped, match=f"under the {MIN_SOUND_MS} ms"):
        analyze(path)


@pytest.mark.parametrize("fmt", ["flac", "ogg"])
def test_a_file_cut_inside_its_header_fails_clearly(fmt: str, tmp_path: Path) -> None:
    whole = audio.write_audio(tmp_path / f"whole.{fmt}", audio.melody(8, 12.0), fmt).read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(whole[:200])
    with pytest.raises(TruncatedMedia, match="truncated or corrupt"):
        analyze(cut)


def test_a_recording_cut_short_keeps_the_sound_before_the_cut(tmp_path: Path) -> None:
    sound = audio.melody(9, 30.0)
    whole = audio.write_audio(tmp_path / "whole.mp3", sound, "mp3").read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole[: len(whole) // 2])
    value, items = analyze(cut)
    assert 13_000 <= int(str(value["duration_ms"])) <= 17_000
    (stretch,) = shared_stretches(raw_fingerprint(pcm(sound), audio.RATE), items)
    assert abs(stretch.offset_ms) <= ITEM_MS


def test_an_mp4_without_its_index_fails_the_soundtrack_only(tmp_path: Path) -> None:
    """A cut M4A/MP4 has lost its index: a clear failure, not a crash."""
    whole = audio.write_audio(tmp_path / "whole.m4a", audio.melody(10, 12.0), "m4a").read_bytes()
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AnalysisFailed, match="truncated or corrupt"):
        analyze(cut)
