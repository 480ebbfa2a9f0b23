"""Benign synthetic rooms seen through a pinhole camera, for scene and object search.

A *room* (:func:`room`) is a small 3D world of textured planes (metres; x right, y up, z away
from the default camera): a back wall and two side walls papered with a repeated motif plus
posters, framed pictures and a shop-sign board, a floor, a ceiling, a curtain in front of a
window, a bed or a sofa (boxes covered in a patterned fabric) with a headboard, toys standing
on the floor or on the bed, and cardboard boxes with printed labels. :func:`view` renders it
from a :class:`Camera`: each plane's texture goes through its own homography
``K R [u/w | v/h | origin - centre]`` with ``cv2.warpPerspective`` (into the bounding box of
its projection only), back to front, faces turned away culled and planes clipped at a near
plane, so two cameras see one geometrically consistent scene with true parallax between
near objects and the walls, not a 2D warp of one picture. Textures keep a ``cv2.pyrDown``
pyramid; each plane is warped from the level nearest its on-screen scale, so minified
surfaces do not alias.

Everything comes from seeds: the same seed and camera give the same pixels. Seed ranges keep
the evaluation and the vocabulary training apart (see :data:`EVALUATION_SEEDS`).

Measured here (CPU time of one core, 30 rooms): building a room 87-188 ms (median 108); a
1024x768 view 23-34 ms; a 512x384 front view has 660-2230 SIFT keypoints (OpenCV,
uncapped; median 1300, 10 % above 1850). Matches surviving the ratio test (0.8) that fit
one fundamental matrix (MAGSAC, 1 pixel) between 512x384 views: same room, front against a
viewpoint of strength 0.4-1 with new light, 112-991 (median 428); the same with 20-50 %
people in front, 35-415 (median 144); fronts of two different rooms, 10-52 (median 18: the
repeated wallpaper motifs pair up). A distractor takes 26 ms (10,000 in 4.3 minutes on one
core); a training image 70 ms. ``tests/unit/test_scenes.py`` checks these properties.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from sightline.services import scene_props as props
from sightline.services import scene_textures as tex
from sightline.services.scene_edits import (
    HARD_COPY_TRANSFORMS,
    hard_copy,
    hard_copy_with_geometry,
    light,
    occlude,
    paste,
    people_mask,
)
from sightline.services.scene_rooms import Room, Surface, room

__all__ = [
    "DISTRACTOR_ROOM_BASE",
    "EVALUATION_SEEDS",
    "HARD_COPY_TRANSFORMS",
    "TRAINING_SEED_BASE",
    "Camera",
    "Room",
    "Surface",
    "distractor",
    "front_camera",
    "hard_copy",
    "hard_copy_with_geometry",
    "light",
    "object_image",
    "occlude",
    "paste",
    "people_mask",
    "random_camera",
    "room",
    "training_images",
    "view",
]

EVALUATION_SEEDS = range(0, 1_000_000)
"""Room and object seeds the benchmark's stored pictures and queries are drawn from."""
DISTRACTOR_ROOM_BASE = 1_000_000
"""``distractor(seed)`` draws its rooms from seed ``DISTRACTOR_ROOM_BASE + seed`` (seeds below
9,000,000), never an evaluation room."""
TRAINING_SEED_BASE = 10_000_000
""":func:`training_images` draws rooms, objects and distractors from ``[10 M, 20 M)`` only."""

_NEAR = 0.05  # metres: the near clipping plane
_LENS_BLUR = 0.7  # pixels (Gaussian sigma)
Vec = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Camera:
    """A pinhole camera in the room.

    Attributes:
        yaw_deg: turn to the right (towards +x), degrees.
        pitch_deg: look up (positive) or down, degrees.
        roll_deg: roll about the viewing axis, degrees.
        x: position across the room, metres (0: the middle).
        y: height above the floor, metres.
        z: position along the room, metres (the back wall stands at the room's depth).
        fov_deg: horizontal field of view, degrees (smaller zooms in).
    """

    yaw_deg: float = 0.0
    pitch_deg: float = -4.0
    roll_deg: float = 0.0
    x: float = 0.0
    y: float = 1.3
    z: float = 0.0
    fov_deg: float = 62.0

    def rotation(self) -> Vec:
        """World-to-camera rotation (rows: the camera's right, down and forward axes)."""
        yaw, pitch, roll = (math.radians(a) for a in (self.yaw_deg, self.pitch_deg, self.roll_deg))
        forward = np.array(
            [math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch)]
        )
        right = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
        down = -np.cross(forward, right)
        c, s = math.cos(roll), math.sin(roll)
        return np.stack([c * right + s * down, -s * right + c * down, forward])

    def intrinsics(self, size: tuple[int, int]) -> Vec:
        """The 3x3 calibration matrix for a picture of ``size`` (width, height)."""
        width, height = size
        focal = width / 2 / math.tan(math.radians(self.fov_deg) / 2)
        return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])


def front_camera() -> Camera:
    """The camera of the stored view: in the middle, near the room's front, level."""
    return Camera()


def random_camera(rng: np.random.Generator, strength: float) -> Camera:
    """Another viewpoint, from 0 (the front camera) to 1 (a strong change).

    At strength 1: yaw up to 35 degrees, moved up to 1.5 m across and 1 m forward, height
    +-0.35 m, pitch +-8 and roll +-6 degrees, field of view -30 % to +20 % (zoom). The camera
    moves against its turn, so it keeps looking into the room's middle.
    """
    s = min(max(strength, 0.0), 1.0)
    yaw = s * rng.uniform(-35, 35)
    z = s * rng.uniform(-0.3, 1.0)
    x = float(np.clip(-math.tan(math.radians(yaw)) * (4.2 - z) * rng.uniform(0.4, 0.9), -1.5, 1.5))
    return Camera(
        yaw_deg=yaw,
        pitch_deg=-4.0 + s * rng.uniform(-8, 8),
        roll_deg=s * rng.uniform(-6, 6),
        x=x,
        y=1.3 + s * rng.uniform(-0.35, 0.35),
        z=z,
        fov_deg=62.0 * (1 + s * rng.uniform(-0.3, 0.2)),
    )


def view(room: Room, camera: Camera, size: tuple[int, int] = (1024, 768)) -> Image.Image:
    """Render ``room`` from ``camera`` as an RGB picture of ``size`` (width, height)."""
    width, height = size
    rotation, centre = camera.rotation(), np.array([camera.x, camera.y, camera.z])
    calibration = camera.intrinsics(size)
    canvas = np.full((height, width, 3), 60, np.uint8)
    for surface in _drawing_order(room.surfaces, centre):
        _draw(canvas, surface, rotation, centre, calibration)
    # A lens is never perfectly sharp: a slight blur, as in photos, also spares SIFT the
    # one-pixel corners of the warped textures.
    return Image.fromarray(cv2.GaussianBlur(canvas, (0, 0), _LENS_BLUR))


def _drawing_order(surfaces: tuple[Surface, ...], centre: Vec) -> list[Surface]:
    """Faces turned towards the camera, by layer, then far to near."""
    visible = [s for s in surfaces if np.dot(np.cross(s.u, s.v), centre - s.origin) > 0]
    return sorted(visible, key=lambda s: (s.layer, -float(np.linalg.norm(s.group_centre - centre))))


def _draw(
    canvas: npt.NDArray[np.uint8], surface: Surface, rotation: Vec, centre: Vec, calibration: Vec
) -> None:
    """Warp the surface's texture into the canvas over its visible (near-clipped) polygon."""
    corners = np.stack(
        [
            surface.origin,
            surface.origin + surface.u,
            surface.origin + surface.u + surface.v,
            surface.origin + surface.v,
        ]
    )
    camera_pts = (corners - centre) @ rotation.T
    polygon = _clip_near(camera_pts)
    if len(polygon) < 3:
        return
    pixels = polygon[:, :2] / polygon[:, 2:3] @ calibration[:2, :2].T + calibration[:2, 2]
    height, width = canvas.shape[:2]
    x0, y0 = np.floor(pixels.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(pixels.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        return
    base = (
        calibration @ rotation @ np.stack([surface.u, surface.v, surface.origin - centre], axis=1)
    )
    level = _level(surface, base, pixels)
    texture = surface.pyramid[level]
    th, tw = texture.shape[:2]
    homography = (
        np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ base @ np.diag([1 / tw, 1 / th, 1.0])
    )
    _composite(
        canvas[y0:y1, x0:x1],
        texture,
        homography,
        pixels - (x0, y0),
        clipped=len(polygon) != 4 or bool(np.any(camera_pts[:, 2] < _NEAR)),
    )


def _clip_near(points: Vec) -> Vec:
    """Sutherland-Hodgman clipping of a polygon (camera coordinates) to z >= the near plane."""
    out = []
    for k in range(len(points)):
        a, b = points[k], points[(k + 1) % len(points)]
        if a[2] >= _NEAR:
            out.append(a)
        if (a[2] >= _NEAR) != (b[2] >= _NEAR):
            t = (_NEAR - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out).reshape(-1, 3)


def _level(surface: Surface, base: Vec, pixels: Vec) -> int:
    """The pyramid level whose pixels are closest to one screen pixel over the visible part."""
    texture = surface.pyramid[0]
    th, tw = texture.shape[:2]
    inverse = np.linalg.inv(base @ np.diag([1 / tw, 1 / th, 1.0]))
    back = cv2.perspectiveTransform(pixels.reshape(-1, 1, 2).astype(np.float64), inverse).reshape(
        -1, 2
    )
    screen = abs(cv2.contourArea(pixels.astype(np.float32)))
    source = abs(cv2.contourArea(back.astype(np.float32)))
    if screen <= 0 or source <= 0:
        return 0
    shrink = math.sqrt(source / screen)  # texture pixels per screen pixel, on average
    return int(min(len(surface.pyramid) - 1, max(0, math.floor(math.log2(shrink) + 0.25))))


def _composite(
    roi: npt.NDArray[np.uint8],
    texture: npt.NDArray[np.uint8],
    homography: Vec,
    polygon: Vec,
    *,
    clipped: bool,
) -> None:
    """Alpha-blend the warped texture into ``roi`` (alpha from the texture or its outline)."""
    size = (roi.shape[1], roi.shape[0])
    warped = cv2.warpPerspective(
        texture, homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    if texture.shape[2] == 4:
        alpha = warped[..., 3]
    else:
        ones = np.full(texture.shape[:2], 255, np.uint8)
        alpha = cv2.warpPerspective(ones, homography, size, flags=cv2.INTER_LINEAR)
    if clipped:  # the homography also maps points behind the camera: keep the visible polygon
        keep = np.zeros_like(alpha)
        cv2.fillPoly(keep, [np.round(polygon * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        alpha = cv2.min(alpha, keep)
    a = alpha.astype(np.float32) / 255.0
    roi[:] = cv2.blendLinear(np.ascontiguousarray(warped[..., :3]), roi, a, 1 - a)


def object_image(seed: int, size: int = 320) -> Image.Image:
    """A standalone object for region queries (RGBA, transparent around it).

    A toy for about half of the seeds, else a shop sign or a logo; ``size`` pixels wide.
    """
    return _object(np.random.default_rng([seed, 2]), size)


def _object(rng: np.random.Generator, size: int) -> Image.Image:
    kind = rng.random()
    if kind < 0.5:
        return Image.fromarray(props.toy(rng, size), "RGBA")
    if kind < 0.75:
        board = tex.sign(rng, size, int(size * rng.uniform(0.3, 0.45)))
        return Image.fromarray(board).convert("RGBA")
    return Image.fromarray(props.logo(rng, size), "RGBA")


def distractor(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """An unrelated picture (RGB), lit at random.

    By ``seed % 5``: another room (seed ``DISTRACTOR_ROOM_BASE + seed``, at half texture
    detail, any viewpoint), a landscape, a texture, a street of signs, or objects on a cloth.
    """
    rng = np.random.default_rng([seed, 4])
    width, height = size
    kind = seed % 5
    if kind == 0:
        picture = view(
            room(DISTRACTOR_ROOM_BASE + seed, detail=0.5), random_camera(rng, rng.random()), size
        )
    elif kind == 1:
        from sightline.services.synthetic import landscape  # a sibling service

        picture = landscape(DISTRACTOR_ROOM_BASE + seed, size)
    elif kind == 2:
        painter = (tex.wallpaper, tex.fabric, tex.floor, tex.poster)[int(rng.integers(4))]
        picture = Image.fromarray(painter(rng, width, height))
    elif kind == 3:
        picture = Image.fromarray(props.street(rng, width, height))
    else:
        picture = Image.fromarray(tex.fabric(rng, width, height))
        for k in range(int(rng.integers(2, 5))):
            thing = _object(np.random.default_rng([DISTRACTOR_ROOM_BASE + seed, 2, k]), 200)
            picture = paste(picture, thing, rng, rng.uniform(0.2, 0.45), rng.uniform(-40, 40))[0]
    return light(picture, rng)


def training_images(
    count: int, seed: int, size: tuple[int, int] = (640, 480)
) -> Iterator[npt.NDArray[np.uint8]]:
    """``count`` greyscale pictures (uint8 luma) for training a visual vocabulary.

    Half are views of rooms (any viewpoint, lit differently), a fifth objects pasted on
    distractors, the rest distractors. Rooms, objects and distractors are drawn from seeds
    ``TRAINING_SEED_BASE`` to ``2 * TRAINING_SEED_BASE`` (distractor rooms from
    ``DISTRACTOR_ROOM_BASE + TRAINING_SEED_BASE`` on), never from :data:`EVALUATION_SEEDS`
    nor from the distractor seeds below 9,000,000 that the benchmark uses.
    """
    for index in range(count):
        rng = np.random.default_rng([seed, index, 3])
        pick = TRAINING_SEED_BASE + int(rng.integers(0, 9_000_000))
        kind = rng.random()
        if kind < 0.5:
            picture = light(view(room(pick), random_camera(rng, rng.random()), size), rng)
        elif kind < 0.7:
            picture = paste(
                distractor(pick, size),
                object_image(pick),
                rng,
                rng.uniform(0.2, 0.6),
                rng.uniform(-45, 45),
            )[0]
        else:
            picture = distractor(pick, size)
        yield np.asarray(cv2.cvtColor(np.asarray(picture), cv2.COLOR_RGB2GRAY), np.uint8)
