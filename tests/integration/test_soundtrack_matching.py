"""Recordings that share only their sound are linked, with the offset, at ingest and search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.matching.search import search_file
from sightline.services.signals.indexes import IndexSet
from tests.support import audio
from tests.support.corpus import TEST_REQUESTER, ingest_seeds

ANALYZERS = ["crypto", "pdq", "vpdq", "chromaprint", "metadata"]


@pytest.fixture
def agencies(ctx: AppContext) -> AppContext:
    ctx.settings.analyzers.enabled = ANALYZERS
    for code in ("AA", "BB"):
        add_agency(ctx, code, f"Agency {code}", "NL", requester=TEST_REQUESTER)
    return ctx


def _media_of(ctx: AppContext, case: str) -> dict[str, int]:
    with ctx.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT s.original_path, s.media_id FROM sightings s JOIN cases c "
                "ON c.id = s.case_id WHERE c.reference = :case"
            ),
            {"case": case},
        ).all()
    return {Path(str(p)).name: int(m) for p, m in rows}


def test_two_videos_sharing_only_sound_are_linked_with_the_offset(
    agencies: AppContext, tmp_path: Path
) -> None:
    music = audio.melody(5, 30)
    # A: 40 s of film whose sound from 6 s on is the music; B: other pictures, the same
    # music from 0 s, after 14 s of its own: B's second 14 is A's second 6.
    first = audio.place(40, [(0, audio.melody(1, 6)), (6, music)])
    second = audio.place(30, [(0, audio.melody(2, 14)), (14, music[: 16 * audio.RATE])])
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    audio.write_av(one / "a.mp4", first, 3)
    audio.write_av(two / "b.mp4", second, 4)
    audio.write_av(two / "unrelated.mp4", audio.melody(9, 30), 5)
    ingest_seeds(agencies, one, [], agency="AA", case="one")
    report = ingest_seeds(agencies, two, [], agency="BB", case="two")
    assert not report.failures
    a = _media_of(agencies, "one")["a.mp4"]
    theirs = _media_of(agencies, "two")
    with agencies.uow() as uow:
        linked = [m for m in uow.matches.for_media([theirs["b.mp4"]]) if m.target_media_id == a]
        unrelated = uow.matches.for_media([theirs["unrelated.mp4"]])
    assert [m.signal for m in linked] == ["chromaprint"]  # the pictures differ
    detail = linked[0].detail
    assert detail is not None
    best = detail["segments"][0]
    # Query B, stored A: A's time = B's time - 8 s.
    assert abs(best["offset_ms"] / 1000 - (-8.0)) < 1.0
    assert best["query_end_ms"] - best["query_start_ms"] >= 10_000
    assert detail["similarity"] >= detail["similarity_threshold"]
    assert unrelated == []
    assert report.alerts_raised == 2

    # An audio-only clip of the music (MP3 64 kbit/s) finds the video by its sound.
    clip = audio.write_audio(
        tmp_path / "clip.mp3", music[5 * audio.RATE : 20 * audio.RATE], "mp3", 64_000
    )
    result = search_file(agencies, IndexSet(agencies), clip, requester=TEST_REQUESTER)
    found = {m.media.id: m for m in result.matches}
    assert a in found and found[a].signals == ("chromaprint",)
    where = found[a].detail
    assert where is not None
    assert abs(where["segments"][0]["offset_ms"] / 1000 - 11.0) < 1.0


def test_noise_and_silence_link_nothing(agencies: AppContext, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(3)
    audio.write_audio(folder / "noise1.wav", audio.noise(20, 1, -20))
    audio.write_audio(folder / "noise2.wav", audio.noise(20, 2, -20))
    audio.write_audio(
        folder / "quiet.wav", (rng.standard_normal(20 * audio.RATE) * 1e-5).astype(np.float32)
    )
    report = ingest_seeds(agencies, folder, [], agency="AA", case="one")
    assert report.summary.stored == 3
    ids = list(_media_of(agencies, "one").values())
    with agencies.uow() as uow:
        assert uow.matches.for_media(ids) == []
