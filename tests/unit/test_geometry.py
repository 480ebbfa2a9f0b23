"""Geometric verification: copies and viewpoints accepted and explained, look-alikes rejected."""

from __future__ import annotations

import json
import random

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw

from sightline.features.geometry import (
    MAX_PAIRS,
    AcceptRule,
    CopyTransform,
    Verdict,
    correspond,
    describe_copy,
    project,
    verify,
)
from sightline.features.scene import LocalFeatures, extract
from tests.support.textures import luma, room_corner, texture, wallpaper_room, warp

SIZE = (640, 480)
CORNERS = np.array([[0, 0], [640, 0], [640, 480], [0, 480]], np.float64)


def feats(image: Image.Image) -> LocalFeatures:
    return extract(luma(image))


def subset(
    features: LocalFeatures, keep: slice, xy: npt.NDArray[np.float64] | None = None
) -> LocalFeatures:
    return LocalFeatures(
        features.width,
        features.height,
        features.xy[keep] if xy is None else xy.astype(np.float32),
        features.scale[keep],
        features.angle[keep],
        features.descriptors[keep],
    )


@pytest.fixture(scope="module")
def original() -> Image.Image:
    return texture(11, SIZE)


@pytest.fixture(scope="module")
def original_features(original: Image.Image) -> LocalFeatures:
    return feats(original)


def copy_of(verdict: Verdict, query: Image.Image, stored: Image.Image) -> CopyTransform | None:
    assert verdict.accepted, verdict.reasons
    return describe_copy(verdict, query.size, stored.size)


def test_perspective_warp_is_accepted_and_the_homography_recovered(
    original: Image.Image, original_features: LocalFeatures
) -> None:
    moved = CORNERS + np.array([[60, 30], [-40, 50], [-70, -20], [30, -45]])
    truth = cv2.getPerspectiveTransform(CORNERS.astype(np.float32), moved.astype(np.float32))
    warped = warp(original, truth)

    verdict = verify(original_features, feats(warped))

    assert verdict.accepted, verdict.reasons
    assert verdict.model == "homography" and verdict.reasons == ()
    assert verdict.score >= verdict.threshold
    assert verdict.spread_query > 0.5 and verdict.spread_stored > 0.4
    grid = np.stack(np.meshgrid(np.linspace(40, 600, 8), np.linspace(40, 440, 6)), -1)
    grid = grid.reshape(-1, 2)
    assert verdict.homography is not None
    found, expected = project(verdict.homography, grid), project(truth, grid)
    error = np.linalg.norm(found - expected, axis=1)
    assert error.max() < 3.0
    assert verdict.quad is not None
    assert np.abs(np.array(verdict.quad) - moved).max() < 4.0
    assert 0 < len(verdict.pairs) <= MAX_PAIRS
    pairs = np.array(verdict.pairs)
    assert np.linalg.norm(project(truth, pairs[:, :2]) - pairs[:, 2:], axis=1).max() < 5.0
    assert describe_copy(verdict, SIZE, SIZE) is None  # the same picture, seen askew


def test_crop_is_a_copy_with_its_crop(
    original: Image.Image, original_features: LocalFeatures
) -> None:
    cropped = original.crop((100, 50, 100 + 448, 50 + 336))  # 30 % off each side

    verdict = verify(feats(cropped), original_features)
    copy = copy_of(verdict, cropped, original)

    assert copy is not None
    assert copy.label == "crop"
    assert copy.scale == pytest.approx(1.0, abs=0.03)
    assert copy.rotation_deg == pytest.approx(0.0, abs=1.0)
    assert copy.covered_stored == pytest.approx(0.49, abs=0.03)
    assert copy.covered_query == pytest.approx(1.0, abs=0.02)
    assert verdict.quad is not None
    assert np.abs(np.array(verdict.quad) - (CORNERS * 0.7 + [100, 50])).max() < 3.0


def test_rotation_is_a_copy_with_its_angle(
    original: Image.Image, original_features: LocalFeatures
) -> None:
    turned = original.rotate(25, resample=Image.Resampling.BICUBIC)  # counter-clockwise

    copy = copy_of(verdict := verify(feats(turned), original_features), turned, original)

    assert verdict.model == "homography"
    assert copy is not None
    assert copy.rotation_deg == pytest.approx(25.0, abs=1.0)
    assert copy.scale == pytest.approx(1.0, abs=0.03)
    assert copy.label.startswith("rotation")  # and its corners cut off and filled black
    assert copy.covered_query < 0.9 and copy.covered_stored < 0.9


def test_thumbnail_is_a_copy_with_its_scale(
    original: Image.Image, original_features: LocalFeatures
) -> None:
    thumbnail = original.resize((180, 135), Image.Resampling.LANCZOS)

    copy = copy_of(verify(feats(thumbnail), original_features), thumbnail, original)

    assert copy is not None
    assert copy.label == "resize"
    assert copy.scale == pytest.approx(180 / 640, rel=0.05)
    assert copy.rotation_deg == pytest.approx(0.0, abs=1.5)
    assert min(copy.covered_query, copy.covered_stored) > 0.95


def test_border_and_caption_make_a_bordered_copy(
    original: Image.Image, original_features: LocalFeatures
) -> None:
    framed = Image.new("RGB", (720, 600), (245, 245, 245))
    framed.paste(original, (40, 40))
    ImageDraw.Draw(framed).text((50, 540), "caption under the picture", fill=(0, 0, 0))

    copy = copy_of(verify(feats(framed), original_features), framed, original)

    assert copy is not None
    assert copy.label == "border"
    assert copy.covered_query == pytest.approx(640 * 480 / (720 * 600), abs=0.03)
    assert copy.covered_stored == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_unrelated_pictures_are_rejected_with_reasons(
    seed: int, original_features: LocalFeatures
) -> None:
    verdict = verify(feats(texture(100 + seed, SIZE)), original_features)

    assert not verdict.accepted
    assert verdict.reasons
    assert verdict.score < verdict.threshold or len(verdict.reasons) > 0
    assert describe_copy(verdict, SIZE, SIZE) is None


def test_the_same_words_in_unrelated_pictures_are_not_a_match() -> None:
    # These two pictures share printed words in the same font (GARDEN, EXIT, HOTEL): true
    # local matches in tight clusters, and one homography fits three clusters by chance
    # (20 inliers, their hull over 8 % of each picture). Few grid cells give it away.
    verdict = verify(feats(texture(12)), feats(texture(10_012)))

    assert not verdict.accepted
    assert verdict.inliers >= 15 and verdict.cells < AcceptRule().min_cells
    assert any("cells" in reason for reason in verdict.reasons)


def test_region_is_found_inside_a_larger_picture_with_its_quad() -> None:
    thing = texture(77, (160, 120), count=60)
    query = texture(78, SIZE)
    query.paste(thing, (400, 300))
    stored = texture(79, (800, 600))
    placed = thing.resize((240, 180), Image.Resampling.LANCZOS)  # 1.5 x larger there
    stored.paste(placed, (120, 200))
    region = (400.0, 300.0, 160.0, 120.0)

    verdict = verify(feats(query), feats(stored), region=region)

    assert verdict.accepted, verdict.reasons
    assert verdict.quad is not None
    expected = np.array([[120, 200], [360, 200], [360, 380], [120, 380]])
    assert np.abs(np.array(verdict.quad) - expected).max() < 4.0
    assert verdict.spread_query > 0.3  # of the region
    assert verdict.spread_stored < 0.1  # of the larger picture
    elsewhere = verify(feats(query), feats(texture(80, (800, 600))), region=region)
    assert not elsewhere.accepted


def test_region_outside_the_picture_is_an_error(original_features: LocalFeatures) -> None:
    with pytest.raises(ValueError, match="no area"):
        verify(original_features, original_features, region=(700, 10, 50, 50))


def test_the_same_wallpaper_in_different_rooms_is_not_a_match() -> None:
    for pattern in (3, 4, 5):
        one, other = feats(wallpaper_room(pattern, 1)), feats(wallpaper_room(pattern, 2))
        verdict = verify(one, other)
        assert not verdict.accepted, (pattern, verdict.inliers, verdict.correspondences)
        # the repeated tiles fail the ratio test: few of ~1000 keypoints pair up at all
        assert verdict.correspondences < 100


def test_a_three_dimensional_scene_from_elsewhere_needs_the_fundamental_matrix() -> None:
    one = feats(room_corner(4, (3.0, 1.5, 0.5)))
    other = feats(room_corner(4, (3.9, 2.0, 2.6)))

    verdict = verify(one, other)

    assert verdict.accepted, verdict.reasons
    assert verdict.model == "fundamental"
    assert verdict.homography is None and verdict.quad is None
    assert verdict.threshold == AcceptRule().min_inliers_fundamental
    assert describe_copy(verdict, SIZE, SIZE) is None


@pytest.mark.parametrize("count", [0, 1, 3])
def test_too_few_keypoints_give_a_clean_rejection(
    count: int, original_features: LocalFeatures
) -> None:
    few = subset(original_features, slice(0, count))

    for query, stored in ((few, original_features), (original_features, few), (few, few)):
        verdict = verify(query, stored)
        assert not verdict.accepted and verdict.reasons
        assert verdict.inliers <= count
        json.dumps(verdict.as_dict())


def test_keypoints_all_in_one_spot_or_on_a_line_are_rejected(
    original_features: LocalFeatures,
) -> None:
    n = len(original_features)
    rng = np.random.default_rng(0)
    spot = 300 + rng.uniform(0, 3, (n, 2))
    line = np.c_[np.linspace(10, 630, n), np.full(n, 240.0) + rng.uniform(0, 0.5, n)]
    for xy in (spot, line):
        moved = subset(original_features, slice(None), xy)
        verdict = verify(moved, moved)  # every keypoint pairs with itself
        assert verdict.correspondences > 100
        assert not verdict.accepted
        assert verdict.reasons


def test_correspondences_are_one_to_one_and_pass_the_ratio_test(
    original_features: LocalFeatures,
) -> None:
    doubled = LocalFeatures(
        640,
        480,
        np.r_[original_features.xy, original_features.xy + 1],
        np.r_[original_features.scale, original_features.scale],
        np.r_[original_features.angle, original_features.angle],
        np.r_[original_features.descriptors, original_features.descriptors],
    )
    same = correspond(original_features, original_features)
    assert len(same) > 0.9 * len(original_features)
    assert np.array_equal(same.query_index, same.stored_index)
    # every keypoint has an identical twin in ``doubled``: the ratio test refuses them all
    assert len(correspond(original_features, doubled)) < 0.05 * len(original_features)
    # the other way round, the two twins claim one stored keypoint: one keeps it
    pairs = correspond(doubled, original_features)
    assert len(np.unique(pairs.stored_index)) == len(pairs)
    assert len(pairs) <= len(original_features)


def test_verdicts_are_deterministic_and_json_ready(
    original: Image.Image, original_features: LocalFeatures
) -> None:
    shifted = warp(original, np.array([[0.9, 0.05, 20], [-0.05, 0.9, 30], [0, 0, 1]]))
    stored = feats(shifted)

    first, second = verify(original_features, stored), verify(original_features, stored)

    assert first == second
    loaded = json.loads(json.dumps(first.as_dict()))
    assert loaded["accepted"] is True and loaded["model"] == "homography"
    assert len(loaded["homography"]) == 3 and len(loaded["quad"]) == 4


def test_project_maps_points_through_a_homography() -> None:
    shift = np.array([[2.0, 0, 10], [0, 2.0, -5], [0, 0, 1]])
    assert project(shift, [[1, 1], [0, 0]]).tolist() == [[12.0, -3.0], [10.0, -5.0]]
    assert project(shift, np.zeros((0, 2))).shape == (0, 2)


def test_occluded_viewpoint_is_still_accepted(original: Image.Image) -> None:
    rnd = random.Random(3)
    moved = CORNERS + [[rnd.uniform(-50, 50), rnd.uniform(-40, 40)] for _ in range(4)]
    truth = cv2.getPerspectiveTransform(CORNERS.astype(np.float32), moved.astype(np.float32))
    seen = warp(original, truth)
    draw = ImageDraw.Draw(seen)  # a flat person-shaped silhouette over ~40 % of the width
    draw.ellipse([260, 60, 380, 180], fill=(30, 30, 30))
    draw.rounded_rectangle([200, 170, 460, 520], 40, fill=(30, 30, 30))

    verdict = verify(feats(seen), feats(original))

    assert verdict.accepted, verdict.reasons
