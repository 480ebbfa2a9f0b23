"""Benign textured pictures for local-feature tests: shapes, lines and printed words.

``synthetic.landscape`` is smooth (few keypoints); these pictures are busy like a room full of
objects, so SIFT finds its 1000 keypoints. Also: wallpaper rooms (one repeated tile behind
different furniture), a two-wall 3-D "room corner" seen by two cameras, and the warps copies
and viewpoints go through. Everything is drawn from a seed.
"""

from __future__ import annotations

import random

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

Luma = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]

WORDS = ("HOTEL", "CAFE", "ROOM 12", "EXIT", "OPEN", "BOOKS", "GARDEN", "No 48", "TAXI", "MAP")


def _colour(rnd: random.Random) -> tuple[int, int, int]:
    return (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))


def _shapes(draw: ImageDraw.ImageDraw, rnd: random.Random, box: tuple[int, int, int, int],
            count: int, big: int) -> None:  # fmt: skip
    x0, y0, x1, y1 = box
    for _ in range(count):
        x, y = rnd.randrange(x0, x1), rnd.randrange(y0, y1)
        w, h = rnd.randrange(6, big), rnd.randrange(6, big)
        kind = rnd.randrange(5)
        if kind == 0:
            draw.rectangle([x, y, x + w, y + h], fill=_colour(rnd), outline=_colour(rnd))
        elif kind == 1:
            draw.ellipse([x, y, x + w, y + h], fill=_colour(rnd), outline=_colour(rnd))
        elif kind == 2:
            points = [(x + rnd.randrange(-w, w), y + rnd.randrange(-h, h)) for _ in range(3)]
            draw.polygon(points, fill=_colour(rnd))
        elif kind == 3:
            draw.line([x, y, x + rnd.randrange(-big, big), y + h], fill=_colour(rnd), width=2)
        else:
            font = ImageFont.load_default(size=rnd.randrange(10, 30))
            draw.text((x, y), rnd.choice(WORDS), fill=_colour(rnd), font=font)


def texture(seed: int, size: tuple[int, int] = (640, 480), count: int = 220) -> Image.Image:
    """A busy picture of random shapes and words on a gradient, determined by ``seed``."""
    rnd = random.Random(seed)
    width, height = size
    ramp = np.linspace(0, 1, height)[:, None, None]
    top, bottom = np.array(_colour(rnd)), np.array(_colour(rnd))
    pixels = (top + (bottom - top) * ramp) * np.ones((1, width, 1))
    image = Image.fromarray(pixels.astype(np.uint8))
    _shapes(ImageDraw.Draw(image), rnd, (-20, -20, width, height), count, max(width, height) // 8)
    return image


def luma(image: Image.Image) -> Luma:
    """8-bit greyscale pixels of a picture."""
    return np.asarray(image.convert("L"), dtype=np.uint8)


def warp(
    image: Image.Image, homography: npt.ArrayLike, size: tuple[int, int] | None = None
) -> Image.Image:
    """The picture seen through a homography (source -> result pixels), black outside."""
    pixels = np.asarray(image.convert("RGB"))
    out = cv2.warpPerspective(
        pixels, np.asarray(homography, np.float64), size or image.size, flags=cv2.INTER_AREA
    )
    return Image.fromarray(out)


def wallpaper_room(pattern: int, room: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A wall papered with tile ``pattern`` behind furniture ``room`` (flat shapes)."""
    rnd = random.Random(pattern)
    tile = Image.new("RGB", (64, 64), _colour(rnd))
    _shapes(ImageDraw.Draw(tile), rnd, (0, 0, 56, 56), 10, 24)
    width, height = size
    image = Image.new("RGB", size)
    phase = random.Random(room).randrange(64)
    for y in range(-phase, height, 64):
        for x in range(-phase, width, 64):
            image.paste(tile, (x, y))
    furniture = random.Random(room + 10_000)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, height * 2 // 3, width, height], fill=_colour(furniture))  # floor
    _shapes(draw, furniture, (0, height * 2 // 3, width, height), 25, 60)
    for _ in range(3):  # furniture standing on the floor, hiding part of the wall
        x, w = furniture.randrange(width - 100), furniture.randrange(60, 160)
        top = furniture.randrange(height // 3, height * 2 // 3)
        draw.rectangle([x, top, x + w, height - 20], fill=_colour(furniture))
    return image


def _look_at(eye: F64, target: F64) -> tuple[F64, F64]:
    """Rotation and translation of a camera at ``eye`` looking at ``target`` (y down)."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, -1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    return rotation, -rotation @ eye


def room_corner(seed: int, eye: tuple[float, float, float], size: tuple[int, int] = (640, 480),
                ) -> Image.Image:  # fmt: skip
    """Two textured walls meeting at a right angle, seen by a camera at ``eye``.

    The walls are the planes x = 0 (for z in 0..4) and z = 4 (for x in 0..4), 3 units tall;
    the camera looks at the corner's middle. Two cameras see a real 3-D scene: no single
    homography maps one picture onto the other, a fundamental matrix does.
    """
    width, height = size
    focal = 0.9 * width
    k = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    rotation, translation = _look_at(np.array(eye), np.array([1.0, 1.5, 3.0]))
    walls = (  # origin, direction of texture x, direction of texture y (per texture pixel)
        (np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 4 / 640]), np.array([0.0, 3 / 480, 0])),
        (np.array([0.0, 0.0, 4.0]), np.array([4 / 640, 0.0, 0.0]), np.array([0.0, 3 / 480, 0])),
    )
    out = np.zeros((height, width, 3), np.uint8)
    for index, (origin, ex, ey) in enumerate(walls):
        h = k @ np.column_stack([rotation @ ex, rotation @ ey, rotation @ origin + translation])
        pixels = np.asarray(texture(seed * 10 + index, (640, 480)))
        seen = cv2.warpPerspective(pixels, h, size, flags=cv2.INTER_AREA)
        mask = cv2.warpPerspective(np.full((480, 640), 255, np.uint8), h, size)
        out[mask > 0] = seen[mask > 0]
    return Image.fromarray(out)
