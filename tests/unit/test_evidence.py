"""Weighing the hits of one query on one stored item: stills, recordings, chance, transforms."""

from __future__ import annotations

from sightline.analyzers.pdq import PDQ_SIGNAL
from sightline.services.matching.evidence import Hit, flip_detail, weigh

SECONDS = [s * 1000 for s in range(60)]


def test_a_still_matches_on_any_hit_and_names_the_frame() -> None:
    hits = [Hit(None, 23_000, 12, "original"), Hit(None, 24_000, 20, "original")]
    evidence = weigh(PDQ_SIGNAL, hits, [None], SECONDS)
    assert evidence is not None
    assert evidence.distance == 12 and evidence.share_query is None
    detail = evidence.detail()
    assert detail is not None and [None, 23_000, 12] in detail["frames"]


def test_two_recordings_match_by_an_aligned_segment() -> None:
    # Seconds 0-19 of a clip are seconds 30-49 of the stored recording.
    hits = [Hit(t, t + 30_000, 10, "original") for t in range(0, 20_000, 1000)]
    evidence = weigh(PDQ_SIGNAL, hits, SECONDS[:20], SECONDS)
    assert evidence is not None
    best = evidence.segments[0]
    assert abs(best.offset_ms - 30_000) < 1000 and best.pairs >= 15
    assert evidence.share_query == 1.0
    assert abs((evidence.share_stored or 0) - 20 / 60) < 0.01


def test_chance_hits_between_long_recordings_are_not_a_match() -> None:
    hits = [Hit(3000, 41_000, 30, "original"), Hit(50_000, 7000, 29, "original")]
    assert weigh(PDQ_SIGNAL, hits, SECONDS, SECONDS) is None


def test_the_transform_that_explains_most_frames_is_reported() -> None:
    mirrored = [Hit(t, t, 8, "mirror") for t in range(0, 10_000, 1000)]
    stray = [Hit(4000, 4000, 25, "original")]
    evidence = weigh(PDQ_SIGNAL, mirrored + stray, SECONDS[:10], SECONDS[:10])
    assert evidence is not None and evidence.transform == "mirror"


def test_a_detail_seen_from_the_other_side_swaps_the_sides() -> None:
    hits = [Hit(t, t + 30_000, 10, "original") for t in range(0, 20_000, 1000)]
    evidence = weigh(PDQ_SIGNAL, hits, SECONDS[:20], SECONDS)
    assert evidence is not None
    detail = evidence.detail()
    assert detail is not None
    flipped = flip_detail(detail)
    seg, back = detail["segments"][0], flipped["segments"][0]
    assert back["offset_ms"] == -seg["offset_ms"]
    assert back["query_start_ms"] == seg["stored_start_ms"]
    assert flipped["share_query"] == detail["share_stored"]
    assert flip_detail(flipped)["segments"][0]["query_start_ms"] == seg["query_start_ms"]
