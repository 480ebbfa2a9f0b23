"""Videos go through the same ingest as images: frame hashes stored, matched and searched."""

from __future__ import annotations

from pathlib import Path

import pytest

from sightline.services.context import AppContext
from sightline.services.matching.search import search_file
from sightline.services.signals.indexes import IndexSet
from tests.support.corpus import TEST_REQUESTER, ingest_seeds, media_by_name, two_agencies
from tests.support.video import write_pan


@pytest.fixture
def agencies(ctx: AppContext) -> AppContext:
    return two_agencies(ctx, ["crypto", "pdq", "vpdq", "metadata"])


def _frames(ctx: AppContext, media_id: int) -> list[tuple[int, int | None, int | None]]:
    with ctx.uow() as uow:
        return [
            (s.position, s.time_ms, s.quality)
            for s in uow.signals.of_media(media_id)
            if s.kind == "vpdq"
        ]


def test_a_reencoded_copy_of_a_video_is_matched_and_found(
    agencies: AppContext, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    write_pan(first / "clip.mp4", 11)
    write_pan(second / "copy.bin", 11, size=(240, 180), bit_rate=300_000)  # name says nothing
    write_pan(second / "other.mp4", 12)
    (second / "broken.mp4").write_bytes((first / "clip.mp4").read_bytes()[:1500])

    ingest_seeds(agencies, first, [], agency="AA", case="one")
    report = ingest_seeds(agencies, second, [], agency="BB", case="two")
    assert [f.reason for f in report.failures] in (["truncated"], ["not_media"])
    assert report.summary.stored == 2

    original = media_by_name(agencies, "one")["clip.mp4"]
    theirs = media_by_name(agencies, "two")
    with agencies.uow() as uow:
        item = uow.media.get_many([original])[original]
        matches = uow.matches.for_media([theirs["copy.bin"], theirs["other.mp4"]])
    assert (item.media_type, item.mime_type) == ("video", "video/mp4")
    frames = _frames(agencies, original)
    assert len(frames) >= 4
    assert [p for p, _, _ in frames] == list(range(len(frames)))
    times = [t for _, t, _ in frames if t is not None]
    assert len(times) == len(frames) and times == sorted(times)
    assert all(t % 1000 < 200 for t in times)  # the first frame at or after each second
    assert all(q is not None and q >= 50 for _, _, q in frames)

    copy_matches = [m for m in matches if m.media_id == theirs["copy.bin"]]
    assert [(m.signal, m.target_media_id) for m in copy_matches] == [("vpdq", original)]
    assert copy_matches[0].distance <= 31
    assert not [m for m in matches if m.media_id == theirs["other.mp4"]]
    assert report.alerts_raised == 2  # one per agency

    indexes = IndexSet(agencies)
    result = search_file(agencies, indexes, second / "copy.bin", requester=TEST_REQUESTER)
    found = {m.media.id: m for m in result.matches}
    assert original in found and "vpdq" in found[original].signals
