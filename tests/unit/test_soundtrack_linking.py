"""Recordings that share sound are linked with the offset; unrelated ones are not.

End to end through the analyzer (files decoded and fingerprinted as ingest does) and the
default fingerprint index.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np

from sightline.analyzers.base import MediaInput
from sightline.analyzers.soundtrack import ChromaprintAnalyzer, join_chunks
from sightline.features.fingerprint import CHROMAPRINT_TIMING, Fingerprint
from sightline.indexes.fingerprint import DEFAULT_BACKEND
from sightline.indexes.fingerprint_inverted import InvertedFingerprintIndex
from tests.support import audio

RATE = audio.RATE
TEXT_A = (
    "The river runs slowly under the old stone bridge while the birds sing in the garden "
    "and a yellow train waits at the quiet station before the evening light. Later the "
    "children walk across the green field to the small house on the hill."
)
TEXT_B = (
    "Seven small boats crossed the cold lake in winter and the fishermen counted their nets "
    "twice before they walked back to the warm house for bread and coffee. In the morning "
    "the wind turned and the clouds moved slowly over the mountains to the east."
)


def fingerprint(path: Path) -> Fingerprint:
    """The raw items of a file, from the analyzer's signals."""
    analyzer = ChromaprintAnalyzer()
    with closing(MediaInput(path)) as media:
        return join_chunks(analyzer.signals(analyzer.analyze(media), media))


def test_the_default_backend_is_the_inverted_index() -> None:
    assert InvertedFingerprintIndex.name == DEFAULT_BACKEND


def test_a_re_encoded_clip_is_found_in_its_recording_at_its_offset(tmp_path: Path) -> None:
    """12 s cut at 17.43 s from a 40 s recording, re-encoded as MP3 at 64 kbit/s."""
    recording = audio.mix(audio.melody(21, 40.0), audio.noise(40.0, 2, level_db=-35.0))
    start = 17.43
    clip = recording[round(start * RATE) : round((start + 12) * RATE)]
    index = InvertedFingerprintIndex()
    index.add(1, fingerprint(audio.write_audio(tmp_path / "rec.wav", recording)))
    index.add(2, fingerprint(audio.write_audio(tmp_path / "other.wav", audio.melody(22, 40.0))))
    query = fingerprint(audio.write_audio(tmp_path / "clip.mp3", clip, "mp3", 64_000))
    (hit,) = index.search(query)
    assert hit.key == 1
    (stretch,) = hit.stretches
    assert abs(stretch.offset_ms - start * 1000) <= CHROMAPRINT_TIMING.item_ms
    assert abs(stretch.b_start_ms - start * 1000) <= 1000
    assert abs(stretch.b_end_ms - (start + 12) * 1000) <= 1000


def test_unrelated_speech_of_the_same_voice_is_not_linked(tmp_path: Path) -> None:
    first = audio.speech(TEXT_A, "en")
    second = audio.speech(TEXT_B, "en")
    assert min(len(first), len(second)) > 11 * RATE
    index = InvertedFingerprintIndex()
    index.add(1, fingerprint(audio.write_audio(tmp_path / "a.mp3", first, "mp3", 64_000)))
    assert index.search(fingerprint(audio.write_audio(tmp_path / "b.wav", second))) == []
    assert index.search(fingerprint(audio.write_audio(tmp_path / "a.wav", first)))


def test_two_videos_sharing_only_a_soundtrack_are_linked(tmp_path: Path) -> None:
    """Different pictures; B's soundtrack holds 15 s of A's from 8 s on, 5 s into B."""
    shared = audio.melody(23, 30.0)
    a = shared[: 30 * RATE]
    b = np.concatenate([audio.melody(24, 5.0), shared[8 * RATE : 23 * RATE]])
    index = InvertedFingerprintIndex()
    index.add(7, fingerprint(audio.write_av(tmp_path / "a.mp4", a, 1, fps=2, size=(64, 48))))
    query = fingerprint(audio.write_av(tmp_path / "b.mp4", b, 2, fps=2, size=(64, 48)))
    (hit,) = index.search(query)
    assert hit.key == 7
    # B's second 5 is A's second 8: A's time = B's time + 3 s.
    assert abs(hit.stretches[0].offset_ms - 3000) <= CHROMAPRINT_TIMING.item_ms
