"""Synthetic scenes for scene search: determinism, true multi-view geometry, edits, the set."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from benchmarks.scene_set import build, relevant
from PIL import Image

from sightline.services import scenes

SMALL = (512, 384)


@cache
def _room(seed: int) -> scenes.Room:
    return scenes.room(seed)


def _luma(image: Image.Image) -> np.ndarray:
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)


def _matches(a: Image.Image, b: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """SIFT keypoints of a and b matched with Lowe's ratio test (0.8): two (n, 2) arrays."""
    sift = cv2.SIFT.create()
    ka, da = sift.detectAndCompute(_luma(a), None)
    kb, db = sift.detectAndCompute(_luma(b), None)
    pairs = cv2.BFMatcher().knnMatch(da, db, k=2)
    good = [m for m, n in pairs if m.distance < 0.8 * n.distance]
    src = np.array([ka[m.queryIdx].pt for m in good], np.float32).reshape(-1, 2)
    dst = np.array([kb[m.trainIdx].pt for m in good], np.float32).reshape(-1, 2)
    return src, dst


def _fundamental_inliers(a: Image.Image, b: Image.Image) -> int:
    """Matches consistent with one epipolar geometry (MAGSAC, 1 pixel)."""
    src, dst = _matches(a, b)
    if len(src) < 8:
        return 0
    _, mask = cv2.findFundamentalMat(src, dst, cv2.USAC_MAGSAC, 1.0, 0.999)
    return 0 if mask is None else int(mask.sum())


def test_same_seed_same_pixels_and_other_seeds_differ() -> None:
    camera = scenes.random_camera(np.random.default_rng(3), 0.7)
    first = np.asarray(scenes.view(scenes.room(11), camera, SMALL))
    again = np.asarray(scenes.view(scenes.room(11), camera, SMALL))
    other = np.asarray(scenes.view(scenes.room(12), camera, SMALL))
    assert first.shape == (SMALL[1], SMALL[0], 3)
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - other).mean() > 20
    assert np.array_equal(np.asarray(scenes.distractor(4)), np.asarray(scenes.distractor(4)))
    assert np.array_equal(np.asarray(scenes.object_image(5)), np.asarray(scenes.object_image(5)))
    edits = [
        np.asarray(scenes.occlude(scenes.light(Image.fromarray(first), rng), rng, 0.3))
        for rng in (np.random.default_rng(9), np.random.default_rng(9))
    ]
    assert np.array_equal(edits[0], edits[1])


def test_views_are_textured_for_sift() -> None:
    sift = cv2.SIFT.create()
    views = [scenes.view(_room(s), scenes.front_camera(), SMALL) for s in (0, 1, 2)]
    counts = [len(sift.detect(_luma(view))) for view in views]
    assert all(400 <= c <= 2500 for c in counts), counts  # measured 660-2230, median 1300


def test_two_views_of_one_room_share_geometry_two_rooms_do_not() -> None:
    rng = np.random.default_rng(4)
    front = scenes.view(_room(0), scenes.front_camera(), SMALL)
    moved = scenes.random_camera(rng, 0.8)
    assert abs(moved.yaw_deg) > 20 and abs(moved.x) > 1
    other_view = scenes.light(scenes.view(_room(0), moved, SMALL), rng)
    other_room = scenes.view(_room(1), scenes.front_camera(), SMALL)
    same = _fundamental_inliers(front, other_view)
    different = _fundamental_inliers(front, other_room)
    # Measured on 30 rooms: 112-991 inliers in one room (strength 0.4-1), 10-52 across rooms
    # (median 18); these two pictures give 384 and 12.
    assert same >= 150, same
    assert different <= 50, different
    assert same >= 5 * different


def test_views_have_parallax_not_one_homography() -> None:
    """Walls and near objects move differently: one plane's homography misplaces the rest."""
    room = _room(0)
    front, side = scenes.front_camera(), scenes.Camera(yaw_deg=20, x=-1.2, z=0.3)
    back = max(room.surfaces, key=lambda s: s.origin[2] if s.u[2] == 0 and s.v[2] == 0 else -1)
    near = min((s for s in room.surfaces if s.layer == 3), key=lambda s: s.group_centre[2])

    def project(camera: scenes.Camera, points: np.ndarray) -> np.ndarray:
        cam = (points - (camera.x, camera.y, camera.z)) @ camera.rotation().T
        pixels = cam @ camera.intrinsics(SMALL).T
        return pixels[:, :2] / pixels[:, 2:]

    wall = back.origin + np.array([[0.2, 0.3], [0.8, 0.3], [0.8, 0.7], [0.2, 0.7]]) @ np.stack(
        [back.u, back.v]
    )
    homography = cv2.getPerspectiveTransform(
        project(front, wall).astype(np.float32), project(side, wall).astype(np.float32)
    )
    point = near.group_centre.reshape(1, 3)
    predicted = cv2.perspectiveTransform(project(front, point).reshape(1, 1, 2), homography).ravel()
    assert np.linalg.norm(predicted - project(side, point).ravel()) > 20


@pytest.mark.parametrize("share", [0.2, 0.35, 0.5])
def test_occlusion_covers_the_share_asked(share: float) -> None:
    for seed, size in ((1, SMALL), (2, (640, 480))):
        mask = scenes.people_mask(size, np.random.default_rng(seed), share)
        assert mask.shape == (size[1], size[0])
        assert abs(mask.mean() - share) <= 0.05, (mask.mean(), share)
    picture = scenes.view(_room(2), scenes.front_camera(), SMALL)
    painted = scenes.occlude(picture, np.random.default_rng(1), share)
    changed = (np.abs(np.asarray(painted).astype(int) - np.asarray(picture)).max(axis=2) > 0).mean()
    assert abs(changed - share) <= 0.05, changed


def test_paste_returns_the_quad_the_object_lies_in() -> None:
    thing = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    pixels = np.zeros((100, 200, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[:, :100, :3] = (250, 20, 20)  # left half red, right half blue
    pixels[:, 100:, :3] = (20, 20, 250)
    thing = Image.fromarray(pixels, "RGBA")
    background = Image.new("RGB", (640, 480), (128, 128, 128))
    composite, quad = scenes.paste(background, thing, np.random.default_rng(2), 0.5, 30.0)
    assert quad.shape == (4, 2)
    assert np.all(quad >= -0.5) and np.all(quad <= (640.5, 480.5))
    assert math.isclose(np.linalg.norm(quad[1] - quad[0]), 240, rel_tol=0.01)  # 0.5 * 480
    affine = cv2.getAffineTransform(
        np.array([[0, 0], [200, 0], [200, 100]], np.float32), quad[:3].astype(np.float32)
    )
    out = np.asarray(composite)
    for (u, v), colour in (((50, 50), (250, 20, 20)), ((150, 50), (20, 20, 250))):
        x, y = affine @ (u, v, 1)
        assert np.abs(out[round(y), round(x)].astype(int) - colour).max() <= 3
    outside = quad.mean(axis=0) + 1.2 * (quad[0] - quad.mean(axis=0))
    assert tuple(out[round(outside[1]), round(outside[0])]) == (128, 128, 128)


def _agrees(original: Image.Image, copy: Image.Image, matrix: np.ndarray) -> float:
    """Mean absolute grey difference between the copy and the original mapped by ``matrix``."""
    size = copy.size
    mapped = cv2.warpPerspective(_luma(original), matrix, size)
    valid = cv2.warpPerspective(np.full(_luma(original).shape, 255, np.uint8), matrix, size)
    valid = cv2.erode(valid, np.ones((5, 5), np.uint8)) == 255
    return float(np.abs(mapped.astype(int) - _luma(copy))[valid].mean())


@pytest.mark.parametrize("transform", scenes.HARD_COPY_TRANSFORMS)
def test_hard_copies_have_the_promised_geometry(transform: str) -> None:
    original = scenes.view(_room(3), scenes.front_camera(), (640, 480))
    copy, matrix = scenes.hard_copy_with_geometry(original, transform, np.random.default_rng(4))
    width, height = copy.size
    if transform.startswith("crop"):
        keep = {"crop10": 0.9, "crop30": 0.7, "crop50": 0.5}[transform]
        assert abs(width * height / (640 * 480) - keep) <= 0.01
    elif transform.startswith("rotate"):
        angle = math.degrees(math.atan2(-matrix[1, 0], matrix[0, 0]))
        assert math.isclose(abs(angle), float(transform[6:]), abs_tol=1e-6)
        src, dst = _matches(original, copy)
        found, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC)
        assert abs(math.degrees(math.atan2(-found[1, 0], found[0, 0])) - angle) < 1.0
    elif transform == "thumbnail":
        assert 160 <= max(width, height) <= 200
    elif transform in ("border", "caption"):  # the picture lies inside, with a frame or band
        corners = cv2.perspectiveTransform(np.array([[[0, 0], [640, 480]]], np.float32), matrix)[0]
        margins = np.concatenate([corners[0], (width, height) - corners[1]])
        assert np.all(margins >= -0.5)
        assert (
            margins.min() >= 0.03 * height
            if transform == "border"
            else margins.max() >= 0.1 * height
        )
    else:
        assert (width, height) == (640, 480)
    limit = 25.0 if transform == "overlay" else 8.0
    assert _agrees(original, copy, matrix) < limit


def test_unknown_transform_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="crop10"):
        scenes.hard_copy(Image.new("RGB", (64, 64)), "mirror", np.random.default_rng(0))


def test_distractors_and_training_images() -> None:
    for seed in range(5):  # one of each kind
        picture = scenes.distractor(seed, (320, 240))
        assert picture.size == (320, 240) and picture.mode == "RGB"
    images = list(scenes.training_images(3, seed=1, size=(320, 240)))
    assert len(images) == 3
    assert all(i.shape == (240, 320) and i.dtype == np.uint8 and i.std() > 10 for i in images)


def test_set_builder_writes_what_it_says(tmp_path: Path) -> None:
    items = build(tmp_path, scenes=2, views=1, objects=1, distractors=3, seed=5, workers=1,
                  size=SMALL, transforms=("crop30", "thumbnail"))  # fmt: skip
    names = {item.name for item in items}
    on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.jpg")}
    assert names == on_disk
    kinds = sorted((item.role, item.kind) for item in items)
    assert kinds.count(("stored", "front")) == 2
    assert kinds.count(("query", "viewpoint")) == kinds.count(("query", "viewpoint+occlusion")) == 2
    assert kinds.count(("query", "crop30")) == kinds.count(("query", "thumbnail")) == 2
    assert kinds.count(("query", "region")) == 1
    assert kinds.count(("distractor", "distractor")) == 3
    assert 1 <= kinds.count(("stored", "object")) <= 2
    truth = relevant(items)
    assert set(truth) == {item.name for item in items if item.role == "query"}
    for item in items:
        with Image.open(tmp_path / item.name) as image:
            size = image.size
        if item.role == "query":
            assert truth[item.name], item
        if item.kind == "front" or item.kind == "viewpoint":
            assert size == SMALL
        if item.truth_quad is not None:
            quad = np.array(item.truth_quad)
            assert np.all(quad >= -1) and np.all(quad <= np.array(size) + 1)
        if item.region is not None:
            x, y, w, h = item.region
            quad = np.array(item.truth_quad)
            assert x <= quad[:, 0].min() and quad[:, 0].max() <= x + w + 1
            assert y <= quad[:, 1].min() and quad[:, 1].max() <= y + h + 1
    saved = json.loads((tmp_path / "truth.json").read_text())
    assert [i["name"] for i in saved["items"]] == sorted(names)
    assert saved["relevant"] == truth
    again = build(tmp_path / "again", scenes=2, views=1, objects=1, distractors=3, seed=5,
                  workers=1, size=SMALL, transforms=("crop30", "thumbnail"))  # fmt: skip
    assert again == items
