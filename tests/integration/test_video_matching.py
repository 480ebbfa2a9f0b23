"""Clip localisation: a copy of a stretch of a video is matched with the seconds that match.

The original is an edited film (shots with cuts, pans and zooms); copies of a stretch of it
are rendered independently (resized, mirrored, letter-boxed, at another frame rate), as a
re-encode would make them. Matching at ingest records the aligned segments, the share of
each side matched and the offset; search and match answer with the same explanation; a still
taken from the video finds it (and the video finds the still); a tool can send frame hashes
instead of the video.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sightline.domain.models import MatchRecord
from sightline.services.context import AppContext
from sightline.services.matching.engine import MatchingEngine
from sightline.services.matching.match import SentFrame, match_query, query_from_hashes
from sightline.services.matching.search import search_file
from sightline.services.matching.triage import agency_alerts
from sightline.services.signals.indexes import IndexSet
from tests.support.clips import Copy, Footage, render, still
from tests.support.corpus import TEST_REQUESTER, ingest_seeds, media_by_name, two_agencies

ORIGINAL = Footage(7, 48)
# The copies show seconds 12-30 of the original.
START, END = 12.0, 30.0


@pytest.fixture
def agencies(ctx: AppContext) -> AppContext:
    return two_agencies(ctx, ["crypto", "pdq", "vpdq", "metadata"])


def _match(ctx: AppContext, media_id: int, target: int) -> MatchRecord:
    with ctx.uow() as uow:
        found = [m for m in uow.matches.for_media([media_id]) if m.target_media_id == target]
    assert found, f"media {media_id} did not match {target}"
    return found[0]


def _check_segment(
    detail: Any, *, offset_s: float, query_range: tuple[float, float], speed: float = 1.0
) -> None:
    """The best segment has the expected offset (within 1 s) and covers most of the range.

    Frames too flat to hash (PDQ quality under 50: a sky, a dark shot) are never sampled,
    so a segment may start or end a few seconds inside the stretch the copies share.
    """
    assert detail is not None
    best = detail["segments"][0]
    assert abs(best["offset_ms"] / 1000 - offset_s) < 1.0
    assert abs(best["speed"] - speed) < 0.02
    start, end = best["query_start_ms"] / 1000, best["query_end_ms"] / 1000
    assert query_range[0] - 1.0 <= start and end <= query_range[1] + 1.0
    assert end - start >= 0.6 * (query_range[1] - query_range[0])


@pytest.fixture
def ingested(agencies: AppContext, tmp_path: Path) -> dict[str, int]:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    render(first / "original.mp4", ORIGINAL)
    render(second / "resized.mp4", ORIGINAL, START, END, Copy(size=(256, 144), bit_rate=250_000))
    render(second / "mirrored.mkv", ORIGINAL, START, END, Copy(mirror=True), container="matroska")
    render(second / "letterbox.mp4", ORIGINAL, START, END, Copy(letterbox=True, fps=25))
    render(second / "unrelated.mp4", Footage(99, 20))
    ingest_seeds(agencies, first, [], agency="AA", case="one")
    report = ingest_seeds(agencies, second, [], agency="BB", case="two")
    assert report.summary.stored == 4 and not report.failures
    return {**media_by_name(agencies, "one"), **media_by_name(agencies, "two")}


def test_copies_of_a_stretch_are_matched_with_the_seconds_that_match(
    agencies: AppContext, ingested: dict[str, int]
) -> None:
    original = ingested["original.mp4"]
    for name in ("resized.mp4", "mirrored.mkv", "letterbox.mp4"):
        match = _match(agencies, ingested[name], original)
        assert match.signal == "vpdq"
        assert match.distance <= 31
        detail = match.detail
        _check_segment(detail, offset_s=START, query_range=(0.0, END - START))
        assert detail is not None
        assert detail["share_query"] >= 0.8  # the copy is all original material
        assert 0.2 <= detail["share_stored"] <= 0.55  # 18 of the original's 48 seconds
    with agencies.uow() as uow:
        unrelated = uow.matches.for_media([ingested["unrelated.mp4"]])
    assert unrelated == []
    # The original's agency is alerted, and sees where its video matches from its side.
    lines = agency_alerts(agencies, "AA", requester=TEST_REQUESTER)
    seen = {line.other_media_id: line for line in lines}
    resized = seen[ingested["resized.mp4"]]
    assert resized.alert.media_id == original and resized.detail is not None
    flipped = resized.detail["segments"][0]
    assert abs(flipped["offset_ms"] / 1000 + START) < 1.0
    assert flipped["query_start_ms"] / 1000 >= START - 1.0


def test_a_clip_search_answers_with_the_aligned_segment(
    agencies: AppContext, ingested: dict[str, int], tmp_path: Path
) -> None:
    # A second copy, never ingested: seconds 20-40 at another size, searched as a file.
    clip = render(tmp_path / "query.mp4", ORIGINAL, 20.0, 40.0, Copy(size=(288, 162)))
    result = search_file(agencies, IndexSet(agencies), clip, requester=TEST_REQUESTER)
    found = {m.media.id: m for m in result.matches}
    original = ingested["original.mp4"]
    assert original in found and "vpdq" in found[original].signals
    _check_segment(found[original].detail, offset_s=20.0, query_range=(0.0, 20.0))
    assert ingested["unrelated.mp4"] not in found

    # Sped up 5 % and captioned: 21 s of the original in 20 s, found with the speed ratio.
    faster = Copy(size=(288, 162), speed=1.05, caption="benign caption")
    clip = render(tmp_path / "faster.mp4", ORIGINAL, 10.0, 31.0, faster)
    result = search_file(agencies, IndexSet(agencies), clip, requester=TEST_REQUESTER)
    found = {m.media.id: m for m in result.matches}
    assert original in found
    _check_segment(found[original].detail, offset_s=10.0, query_range=(0.0, 20.0), speed=1.05)


def test_a_still_finds_its_video_and_the_video_finds_the_still(
    agencies: AppContext, ingested: dict[str, int], tmp_path: Path
) -> None:
    picture = still(ORIGINAL, 23.0, tmp_path / "still.jpg")
    indexes = IndexSet(agencies)
    result = search_file(agencies, indexes, picture, requester=TEST_REQUESTER)
    found = {m.media.id: m for m in result.matches}
    original = ingested["original.mp4"]
    assert original in found and found[original].signals == ("vpdq",)
    detail = found[original].detail
    assert detail is not None
    # The stored frames that match lie within a second of where the still was taken.
    assert any(abs(stored / 1000 - 23.0) <= 1.0 for _, stored, _ in detail["frames"])

    # The other way round: the still is stored, the video finds it through its frames.
    stills = tmp_path / "stills"
    stills.mkdir()
    still(ORIGINAL, 33.0, stills / "frame.jpg")
    ingest_seeds(agencies, stills, [], agency="AA", case="stills")
    stored_still = media_by_name(agencies, "stills")["frame.jpg"]
    video = tmp_path / "query.mp4"
    render(video, ORIGINAL, 30.0, 40.0, Copy(size=(256, 144)))
    result = search_file(agencies, IndexSet(agencies), video, requester=TEST_REQUESTER)
    found = {m.media.id: m for m in result.matches}
    assert stored_still in found and found[stored_still].signals == ("pdq",)
    frames = found[stored_still].detail
    assert frames is not None
    assert any(abs(query / 1000 - 3.0) <= 1.0 for query, _, _ in frames["frames"])


def test_frame_hashes_alone_find_the_video(
    agencies: AppContext, ingested: dict[str, int], tmp_path: Path
) -> None:
    clip = render(tmp_path / "query.mp4", ORIGINAL, 5.0, 20.0, Copy(size=(256, 144)))
    from sightline.analyzers.base import MediaInput
    from sightline.analyzers.video import VideoPdqAnalyzer

    analyzer, media = VideoPdqAnalyzer(), MediaInput(clip)
    frames = [
        SentFrame(s.value.hex(), s.time_ms or 0, s.quality)
        for s in analyzer.signals(analyzer.analyze(media), media)
    ]
    query = query_from_hashes(agencies, frames)
    engine = MatchingEngine(agencies, IndexSet(agencies))
    result = match_query(agencies, engine, query, requester=TEST_REQUESTER)
    found = {m.media.id: m for m in result.search.matches}
    original = ingested["original.mp4"]
    assert original in found
    _check_segment(found[original].detail, offset_s=5.0, query_range=(0.0, 15.0))
    assert result.status.value == "known"


@pytest.mark.parametrize("start", [14.5, 25.5, 36.5])
def test_a_clip_cut_half_a_second_off_the_sampling_is_found(
    agencies: AppContext, tmp_path: Path, start: float
) -> None:
    """Its one-a-second samples fall between the original's; the probe frames bridge them.

    In these pans and zooms half a second moves a frame's PDQ past the threshold in most
    shots, so without probes a 10 s clip often has fewer than three matching pairs.
    """
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    render(first / "original.mp4", ORIGINAL)
    render(second / "clip.mp4", ORIGINAL, start, start + 10.0, Copy(bit_rate=400_000))
    ingest_seeds(agencies, first, [], agency="AA", case="one")
    ingest_seeds(agencies, second, [], agency="BB", case="two")
    ids = {**media_by_name(agencies, "one"), **media_by_name(agencies, "two")}
    match = _match(agencies, ids["clip.mp4"], ids["original.mp4"])
    _check_segment(match.detail, offset_s=start, query_range=(0.0, 10.0))
    assert match.detail is not None
    # Shares count stored frames only: never past 1, whatever the probes found.
    assert 0 < match.detail["share_query"] <= 1 and 0 < match.detail["share_stored"] <= 1
    # Most seconds of the clip are paired with the original's (without probes: 3-4 of 10).
    assert match.detail["segments"][0]["pairs"] >= 6
