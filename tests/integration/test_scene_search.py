"""Scene and object search end to end: ingest, real-time matching, search, regions, API, CLI.

Pictures are generated rooms (:mod:`sightline.services.scenes`: textured planes seen by a
pinhole camera, so two viewpoints of one room are geometrically consistent). One agency
stores front views; the other brings hard copies PDQ misses and other photos of the rooms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sightline.domain.models import MatchRecord, TriageStatus
from sightline.services import scenes
from sightline.services.context import AppContext
from sightline.services.matching.search import search_file
from sightline.services.signals.indexes import IndexSet
from tests.support.corpus import TEST_REQUESTER, ingest_folder, media_by_name, two_agencies

SIZE = (640, 480)
ANALYZERS = ["crypto", "pdq", "scene", "metadata"]


@pytest.fixture
def agencies(ctx: AppContext) -> AppContext:
    return two_agencies(ctx, ANALYZERS)


def _front(seed: int) -> Image.Image:
    return scenes.view(scenes.room(seed), scenes.front_camera(), SIZE)


def _elsewhere(seed: int, strength: float = 0.6) -> Image.Image:
    rng = np.random.default_rng(seed + 77)
    return scenes.view(scenes.room(seed), scenes.random_camera(rng, strength), SIZE)


def _copy(image: Image.Image, transform: str, seed: int) -> Image.Image:
    return scenes.hard_copy(image, transform, np.random.default_rng(seed))


def _save(image: Image.Image, path: Path) -> Path:
    image.convert("RGB").save(path, format="JPEG", quality=90)
    return path


def _matches(ctx: AppContext, media_id: int) -> list[MatchRecord]:
    with ctx.uow() as uow:
        return [m for m in uow.matches.for_media([media_id]) if m.signal == "scene"]


def _status(ctx: AppContext, agency: str, case: str) -> dict[int, TriageStatus]:
    with ctx.uow() as uow:
        found = uow.cases.find(uow.agencies.get(agency).id, case)
        assert found is not None
        return {row.media_id: row.status for row in uow.triage.for_case(found.id)}


@pytest.fixture
def ingested(agencies: AppContext, tmp_path: Path) -> dict[str, int]:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    for seed in (101, 102, 103):
        _save(_front(seed), first / f"room-{seed}.jpg")
    for seed in (5, 6):
        _save(scenes.distractor(900_000 + seed, SIZE), first / f"other-{seed}.jpg")
    _save(_copy(_front(101), "crop30", 1), second / "crop.jpg")
    _save(_copy(_front(102), "rotate15", 2), second / "turned.jpg")
    _save(_elsewhere(103), second / "elsewhere.jpg")
    _save(scenes.distractor(900_010, SIZE), second / "unrelated.jpg")
    ingest_folder(agencies, first, agency="AA", case="one")
    ingest_folder(agencies, second, agency="BB", case="two")
    return {**media_by_name(agencies, "one"), **media_by_name(agencies, "two")}


def test_hard_copies_are_matched_at_ingest_as_copies_and_known(
    agencies: AppContext, ingested: dict[str, int]
) -> None:
    copies = (("crop.jpg", "room-101.jpg", "crop"), ("turned.jpg", "room-102.jpg", "rotation"))
    for name, original, label in copies:
        found = _matches(agencies, ingested[name])
        assert [m.target_media_id for m in found] == [ingested[original]]
        detail = found[0].detail
        assert detail is not None
        copy = detail["scene"]["copy"]
        assert copy is not None and label in copy["label"]
        scene = detail["scene"]
        assert scene["accepted"] and scene["score"] >= scene["threshold"]


def test_in_one_agency_a_hard_copy_is_known_and_another_photo_is_new(
    agencies: AppContext, ingested: dict[str, int], tmp_path: Path
) -> None:
    folder = tmp_path / "third"
    folder.mkdir()
    _save(_copy(_front(101), "border", 4), folder / "bordered.jpg")
    _save(_elsewhere(101, 0.5), folder / "view.jpg")
    ingest_folder(agencies, folder, agency="AA", case="three")
    ids = media_by_name(agencies, "three")
    statuses = _status(agencies, "AA", "three")
    assert statuses[ids["bordered.jpg"]] is TriageStatus.KNOWN
    assert statuses[ids["view.jpg"]] is TriageStatus.NEW
    # Every picture of room 101 and nothing else: the front, its crop, the new bordered copy.
    linked = {m.target_media_id for m in _matches(agencies, ids["view.jpg"])}
    assert linked == {ingested["room-101.jpg"], ingested["crop.jpg"], ids["bordered.jpg"]}


def test_another_photo_of_a_room_is_linked_but_stays_new(
    agencies: AppContext, ingested: dict[str, int]
) -> None:
    found = _matches(agencies, ingested["elsewhere.jpg"])
    assert [m.target_media_id for m in found] == [ingested["room-103.jpg"]]
    detail = found[0].detail
    assert detail is not None and detail["scene"]["copy"] is None
    assert _status(agencies, "BB", "two")[ingested["elsewhere.jpg"]] is TriageStatus.NEW
    with agencies.uow() as uow:
        alerts = uow.alerts.for_agency(uow.agencies.get("AA").id)
    linked = {(a.alert.counterpart_media_id, a.alert.signal) for a in alerts}
    assert (ingested["elsewhere.jpg"], "scene") in linked


def test_unrelated_pictures_match_nothing(agencies: AppContext, ingested: dict[str, int]) -> None:
    for name in ("unrelated.jpg", "other-5.jpg", "other-6.jpg"):
        assert _matches(agencies, ingested[name]) == []


def test_search_finds_copies_by_default_and_scenes_when_asked(
    agencies: AppContext, ingested: dict[str, int], tmp_path: Path
) -> None:
    indexes = IndexSet(agencies)
    copy = _save(_copy(_front(101), "rotate30", 3), tmp_path / "q1.jpg")
    result = search_file(agencies, indexes, copy, requester=TEST_REQUESTER)
    # The front view it copies, and the stored crop of that view (a copy of a copy).
    found = {m.media.id: m for m in result.matches}
    assert set(found) == {ingested["room-101.jpg"], ingested["crop.jpg"]}
    best = found[ingested["room-101.jpg"]]
    assert best.signals == ("scene",)
    assert best.transform is not None and "rotation" in best.transform

    view = _save(_elsewhere(102, 0.5), tmp_path / "q2.jpg")
    plain = search_file(agencies, indexes, view, requester=TEST_REQUESTER)
    assert all(m.media.id != ingested["room-102.jpg"] for m in plain.matches)
    wide = search_file(agencies, indexes, view, requester=TEST_REQUESTER, scene=True)
    found = {m.media.id: m for m in wide.matches}
    assert ingested["room-102.jpg"] in found
    assert found[ingested["room-102.jpg"]].transform == "same scene"


def test_a_region_is_found_where_it_lies_in_a_stored_picture(
    agencies: AppContext, tmp_path: Path
) -> None:
    # A toy with printed detail; most generated toys are flat colour and, at the 512 pixels
    # stored pictures are analysed at, too poor in keypoints to verify (benchmarks.scene
    # measures how many region queries are found).
    rng = np.random.default_rng(4)
    toy = scenes.object_image(22)
    stored, quad = scenes.paste(_front(104), toy, rng, 0.35, 0.0)
    folder = tmp_path / "stored"
    folder.mkdir()
    _save(stored, folder / "host.jpg")
    _save(_front(105), folder / "plain.jpg")
    ingest_folder(agencies, folder, agency="AA", case="objects")
    ids = media_by_name(agencies, "objects")

    query, where = scenes.paste(_elsewhere(106), toy, rng, 0.3, 12.0)
    path = _save(query, tmp_path / "query.jpg")
    xs, ys = where[:, 0], where[:, 1]
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min()), int(ys.max() - ys.min()))
    result = search_file(agencies, IndexSet(agencies), path, requester=TEST_REQUESTER, region=box)
    hits = {m.media.id: m for m in result.matches}
    assert ids["host.jpg"] in hits and ids["plain.jpg"] not in hits
    detail = hits[ids["host.jpg"]].detail
    assert detail is not None
    found = np.array(detail["scene"]["quad"], dtype=np.float64)
    width = detail["scene"]["stored_size"][0]
    truth = quad * (width / stored.width)  # the stored picture's analysis pixels
    assert np.abs(found.mean(axis=0) - truth.mean(axis=0)).max() < 0.05 * width
