"""Speech segments and mains hum go through ingest: features and clue signals are stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from sightline.analyzers.speech import unpack_segment
from sightline.domain.models import Feature, FeatureStatus
from sightline.domain.signals import Signal
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from tests.support import audio
from tests.support.corpus import TEST_REQUESTER, ingest_seeds
from tests.support.video import write_pan

ENABLED = ["crypto", "pdq", "vpdq", "metadata", "speech", "hum"]


@pytest.fixture
def audio_enabled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The analyzers enabled the way an operator enables them: the environment."""
    monkeypatch.setenv("SIGHTLINE_ANALYZERS__ENABLED", ",".join(ENABLED))
    return ENABLED


@pytest.fixture
def agency(audio_enabled: list[str], ctx: AppContext) -> AppContext:
    assert ctx.settings.analyzers.enabled == audio_enabled
    add_agency(ctx, "AA", "Agency AA", "NL", requester=TEST_REQUESTER)
    return ctx


def _media_ids(ctx: AppContext) -> dict[str, int]:
    with ctx.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT original_path, media_id FROM sightings")).all()
    return {Path(str(p)).name: int(m) for p, m in rows}


def _stored(ctx: AppContext, media_id: int) -> tuple[dict[str, Feature], list[Signal]]:
    with ctx.uow() as uow:
        features = {f.analyzer: f for f in uow.features.for_media(media_id)}
        signals = [s for s in uow.signals.of_media(media_id) if s.kind in ("speech", "hum")]
    return features, sorted(signals, key=lambda s: (s.kind, s.position))


def test_speech_and_hum_are_stored_as_features_and_clues(
    agency: AppContext, tmp_path: Path
) -> None:
    folder = tmp_path / "seized"
    folder.mkdir()
    seconds = 16.0
    said = [audio.speech(text, voice) for voice, text in audio.LINES[:2]]
    talk = audio.place(seconds, [(1.0, said[0]), (9.0, said[1])])
    level = audio.rms_db(talk[talk != 0])
    talk = audio.mix(talk, audio.hum(50, seconds, level_db=level - 30))
    audio.write_audio(folder / "talk.wav", talk)
    hummed_tune = audio.mix(
        audio.melody(2, seconds), audio.hum(60, seconds, level_db=-50, fundamental=False)
    )
    audio.write_av(folder / "clip.mp4", hummed_tune, seed=5)
    audio.write_audio(folder / "tune.mp3", audio.melody(3, seconds), "mp3")
    write_pan(folder / "silent.mp4", 6, seconds=3)

    report = ingest_seeds(agency, folder, [], agency="AA", case="sounds")
    assert report.failures == []
    assert report.summary.stored == 4
    media = _media_ids(agency)

    features, signals = _stored(agency, media["talk.wav"])
    speech, hum = features["speech"], features["hum"]
    assert speech.status is FeatureStatus.OK and hum.status is FeatureStatus.OK
    assert speech.params["model"] == "silero_vad_v6" and len(speech.params["model_sha256"]) == 64
    segments = speech.value["segments"]
    assert len(segments) == 2
    assert abs(segments[0][0] - 1000) < 300 and abs(segments[1][0] - 9000) < 300
    spoken = [s for s in signals if s.kind == "speech"]
    assert [unpack_segment(s.value) for s in spoken] == [tuple(seg) for seg in segments]
    assert [(s.position, s.time_ms) for s in spoken] == [
        (i, seg[0]) for i, seg in enumerate(segments)
    ]
    assert hum.value["present"] is True and hum.value["frequency_hz"] == 50
    [clue] = [s for s in signals if s.kind == "hum"]
    assert json.loads(clue.value) == {
        "frequency_hz": 50,
        "confidence": hum.value["confidence"],
        "strength_db": hum.value["strength_db"],
    }

    features, signals = _stored(agency, media["clip.mp4"])
    assert features["hum"].value["frequency_hz"] == 60
    assert features["speech"].value["segments"] == []
    assert [s.kind for s in signals] == ["hum"]
    assert features["vpdq"].status is FeatureStatus.OK  # the pictures are read too

    features, signals = _stored(agency, media["tune.mp3"])
    assert features["hum"].status is FeatureStatus.OK
    assert features["hum"].value["present"] is False
    assert features["hum"].value["evidence"].startswith("no hum found")
    assert features["speech"].value["speech_ms"] == 0
    assert signals == []

    features, signals = _stored(agency, media["silent.mp4"])
    for name in ("speech", "hum"):
        assert features[name].status is FeatureStatus.SKIPPED
        assert features[name].reason == "the file has no audio stream"
    assert signals == []
