"""Search: exact and perceptual matches, with the dihedral variants of the query."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from sightline.services import synthetic
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.matching.search import SearchResult, search_file
from tests.support.corpus import SMALL, TEST_REQUESTER, ingest_seeds
from tests.support.indexes import pdq_indexes


@pytest.fixture
def stored(ctx: AppContext, tmp_path: Path) -> AppContext:
    """Seeds 1-6 stored in agency TEST-GB's case CASE-1."""
    add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    ingest_seeds(ctx, tmp_path / "stored", range(1, 7), agency="TEST-GB", case="CASE-1")
    return ctx


def _query(ctx: AppContext, tmp_path: Path, image: Image.Image, name: str) -> SearchResult:
    path = tmp_path / name
    path.write_bytes(synthetic.encode(image, "PNG" if name.endswith(".png") else "JPEG"))
    return search_file(ctx, pdq_indexes(ctx), path, requester=TEST_REQUESTER)


def test_exact_copy_matches_all_digests(stored: AppContext, tmp_path: Path) -> None:
    result = search_file(
        stored, pdq_indexes(stored), tmp_path / "stored/3.jpg", requester=TEST_REQUESTER
    )
    [match] = result.matches
    assert set(match.signals) == {"sha256", "sha1", "md5", "pdq"}
    assert match.distance == 0
    assert [(loc.agency_code, loc.case_reference) for loc in match.locations] == [
        ("TEST-GB", "CASE-1")
    ]
    assert match.locations[0].original_path.endswith("stored/3.jpg")


@pytest.mark.parametrize("transform", ["reencode", "resize", "crop"])
def test_transformed_copy_matches_by_pdq(
    stored: AppContext, tmp_path: Path, transform: str
) -> None:
    image = synthetic.TRANSFORMS[transform](synthetic.landscape(4, SMALL))
    result = _query(stored, tmp_path, image, f"{transform}.png")
    [match] = result.matches
    assert match.signals == ("pdq",)
    assert 0 <= match.distance <= 31
    assert match.threshold == 31
    assert match.media.sha256 != result.query.sha256


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        (Image.Transpose.FLIP_LEFT_RIGHT, "mirror"),
        (Image.Transpose.FLIP_TOP_BOTTOM, "flip_vertical"),
        (Image.Transpose.ROTATE_90, "rotate270"),  # rotating it 270 more restores the original
        (Image.Transpose.ROTATE_180, "rotate180"),
        (Image.Transpose.ROTATE_270, "rotate90"),
        (Image.Transpose.TRANSPOSE, "transpose"),
        (Image.Transpose.TRANSVERSE, "transverse"),
    ],
)
def test_rotations_and_mirrors_match_via_dihedral_hashes(
    stored: AppContext, tmp_path: Path, transform: Image.Transpose, expected: str
) -> None:
    image = synthetic.landscape(5, SMALL).transpose(transform)
    result = _query(stored, tmp_path, image, f"{expected}.png")
    [match] = result.matches
    assert match.signals == ("pdq",)
    assert match.transform == expected
    assert match.distance <= 31


def test_unrelated_image_matches_nothing(stored: AppContext, tmp_path: Path) -> None:
    result = _query(stored, tmp_path, synthetic.landscape(777, SMALL), "other.jpg")
    assert result.matches == ()
    pdq = result.query.signal("pdq")
    assert pdq is not None
    assert pdq.quality is not None and pdq.quality >= 50


def test_flat_image_skips_perceptual_search_with_a_note(stored: AppContext, tmp_path: Path) -> None:
    result = _query(stored, tmp_path, Image.new("RGB", (300, 200), "grey"), "flat.png")
    assert result.matches == ()
    assert any("quality" in note for note in result.query.notes)


def test_non_image_query_still_gets_exact_search(stored: AppContext, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("text")
    result = search_file(stored, pdq_indexes(stored), path, requester=TEST_REQUESTER)
    assert result.matches == () and result.query.signal("pdq") is None
    assert any("no perceptual search" in note for note in result.query.notes)


def test_every_search_is_audited_without_case_content(stored: AppContext, tmp_path: Path) -> None:
    _query(stored, tmp_path, synthetic.landscape(2, SMALL), "q.png")
    _query(stored, tmp_path, synthetic.landscape(900, SMALL), "other.png")
    with stored.uow() as uow:
        events = [e for e in uow.audit.page(0, 100) if e.action == "search"]
        assert uow.audit.verify().ok
    assert [(e.actor, str(e.outcome), e.detail["media_matches"]) for e in events] == [
        ("test", "allowed", 1),
        ("test", "allowed", 0),
    ]
    assert all(str(tmp_path) not in str(e.detail) for e in events)
