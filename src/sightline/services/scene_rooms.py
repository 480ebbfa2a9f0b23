"""Seeded rooms for :mod:`sightline.services.scenes`: a small 3D world of textured planes.

Metres; x to the right, y up, z away from the default camera. A room has a floor, a ceiling,
a back wall and two side walls (reaching 1.5 m behind the cameras) papered with a repeated
motif plus posters, framed pictures and a shop-sign board pasted at free places, one or two
curtain panels hanging 8 cm in front of the back wall, a bed or a sofa against it (boxes
covered in a patterned fabric, with a headboard), toys on it and on the floor in front of
it, and cardboard boxes with printed labels. Each plane keeps its texture's ``cv2.pyrDown``
pyramid, so a view can warp it from the level nearest its on-screen scale.

Texture density is 220 pixels a metre at ``detail=1`` (about one texture pixel per screen
pixel on a 1024-wide front view of the back wall): a room takes 87-188 ms to build here
(one core, CPU time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from sightline.services import scene_props as props
from sightline.services import scene_textures as tex

__all__ = ["Room", "Surface", "room"]

_PX_PER_M = 220.0  # texture density at detail 1: about 1:1 on a 1024-wide front view
_LEVELS = 4  # pyramid levels kept per texture
Vec = npt.NDArray[np.float64]
Point = Vec | tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class Surface:
    """A textured plane: texture pixel (a, b) lies at ``origin + a/w * u + b/h * v``.

    Seen from its front, ``u`` runs to the viewer's right and ``v`` down; the back is culled.
    ``layer`` orders drawing (0 the enclosure, 1 on the walls, 2 furniture, 3 objects), then
    the distance to ``group_centre``, far first.
    """

    origin: Vec
    u: Vec
    v: Vec
    pyramid: tuple[npt.NDArray[np.uint8], ...]
    layer: int
    group_centre: Vec


@dataclass(frozen=True, eq=False)
class Room:
    """A seeded room: its size in metres and its surfaces."""

    seed: int
    width: float
    depth: float
    height: float
    surfaces: tuple[Surface, ...] = field(repr=False)


def _surface(
    corners: tuple[Point, Point, Point],
    texture: npt.NDArray[np.uint8],
    layer: int,
    centre: Vec | None = None,
) -> Surface:
    """A plane from its top-left, top-right and bottom-left corners as seen from the front."""
    top_left, top_right, bottom_left = (np.asarray(c, np.float64) for c in corners)
    u, v = top_right - top_left, bottom_left - top_left
    pyramid = [texture]
    for _ in range(_LEVELS - 1):
        if min(pyramid[-1].shape[:2]) < 16:
            break
        pyramid.append(np.asarray(cv2.pyrDown(pyramid[-1]), np.uint8))
    middle = top_left + (u + v) / 2
    return Surface(top_left, u, v, tuple(pyramid), layer, middle if centre is None else centre)


def _size(
    rng: np.random.Generator, metres_w: float, metres_h: float, density: float
) -> tuple[int, int]:
    del rng
    return max(8, int(metres_w * density)), max(8, int(metres_h * density))


def room(seed: int, detail: float = 1.0) -> Room:
    """Build the room of ``seed``; ``detail`` scales texture resolution (0.5 for distractors)."""
    rng = np.random.default_rng([seed, 1])
    width, depth, height = rng.uniform(4.2, 5.2), rng.uniform(3.8, 4.8), rng.uniform(2.6, 2.9)
    density = _PX_PER_M * detail
    surfaces = _enclosure(rng, width, depth, height, density)
    surfaces += _furniture(rng, width, depth, density)
    return Room(seed, width, depth, height, tuple(surfaces))


def _wall(
    rng: np.random.Generator, w_m: float, h_m: float, density: float, decorations: int
) -> npt.NDArray[np.uint8]:
    """Wallpaper with posters, framed pictures, a sign and a window pasted at free places."""
    w, h = _size(rng, w_m, h_m, density)
    pixels = tex.wallpaper(rng, w, h)
    taken: list[tuple[int, int, int, int]] = []
    for k in range(decorations * 6):
        if len(taken) >= decorations:
            break
        painter = (tex.poster, tex.framed_picture, tex.sign, tex.poster)[k % 4]
        dw = int(
            density * (rng.uniform(0.9, 1.6) if painter is tex.sign else rng.uniform(0.4, 1.0))
        )
        dh = int(dw * (rng.uniform(0.3, 0.45) if painter is tex.sign else rng.uniform(0.7, 1.4)))
        x, y = (
            int(rng.integers(0, max(1, w - dw))),
            int(rng.integers(int(0.1 * h), max(int(0.1 * h) + 1, int(0.75 * h) - dh))),
        )
        if any(
            x < bx + bw and bx < x + dw and y < by + bh and by < y + dh for bx, by, bw, bh in taken
        ):
            continue
        if dw < 8 or dh < 8 or y + dh > h:
            continue
        pixels[y : y + dh, x : x + dw] = painter(rng, dw, dh)
        taken.append((x, y, dw, dh))
    return pixels


def _enclosure(
    rng: np.random.Generator, width: float, depth: float, height: float, density: float
) -> list[Surface]:
    """Floor, ceiling, back and side walls (the side walls reach behind the cameras)."""
    x0, x1, z0 = -width / 2, width / 2, -1.5
    side = depth - z0
    floor = tex.floor(rng, *_size(rng, width, side, density * 0.8))
    ceiling = tex.plain(rng, *_size(rng, width, side, density * 0.25), (232, 230, 222))
    back = _wall(rng, width, height, density, decorations=4)
    left = _wall(rng, side, height, density, decorations=2)
    right = _wall(rng, side, height, density, decorations=2)
    return [
        _surface(((x0, 0, depth), (x1, 0, depth), (x0, 0, z0)), floor, 0),
        _surface(((x0, height, z0), (x1, height, z0), (x0, height, depth)), ceiling, 0),
        _surface(((x0, height, depth), (x1, height, depth), (x0, 0, depth)), back, 0),
        _surface(((x0, height, z0), (x0, height, depth), (x0, 0, z0)), left, 0),
        _surface(((x1, height, depth), (x1, height, z0), (x1, 0, depth)), right, 0),
        *_curtain(rng, width, depth, height, density),
    ]


def _curtain(
    rng: np.random.Generator, width: float, depth: float, height: float, density: float
) -> list[Surface]:
    """One or two curtain panels hanging 8 cm in front of the back wall."""
    panels = []
    cw, ch = rng.uniform(0.5, 0.9), height * rng.uniform(0.6, 0.85)
    start = rng.uniform(-width / 2 + 0.1, width / 2 - 2 * cw - 0.6)
    for k in range(int(rng.integers(1, 3))):
        x = start + k * (cw + rng.uniform(0.3, 0.6))
        top, z = height - 0.1, depth - 0.08
        texture = tex.curtain(rng, *_size(rng, cw, ch, density))
        panels.append(_surface(((x, top, z), (x + cw, top, z), (x, top - ch, z)), texture, 1))
    return panels


def _box(
    rng: np.random.Generator, lo: Vec, hi: Vec, faces: dict[str, npt.NDArray[np.uint8]], layer: int
) -> list[Surface]:
    """The faces of an axis-aligned box named in ``faces`` (front, top, left, right)."""
    del rng
    (a, b, c), (d, e, f) = lo, hi
    corners = {
        "front": ((a, e, c), (d, e, c), (a, b, c)),
        "top": ((a, e, f), (d, e, f), (a, e, c)),
        "left": ((a, e, f), (a, e, c), (a, b, f)),
        "right": ((d, e, c), (d, e, f), (d, b, c)),
    }
    centre = (np.asarray(lo, np.float64) + np.asarray(hi, np.float64)) / 2
    return [_surface(corners[name], texture, layer, centre) for name, texture in faces.items()]


def _furniture(
    rng: np.random.Generator, width: float, depth: float, density: float
) -> list[Surface]:
    """A bed or a sofa against the back wall, toys on it and on the floor, labelled boxes."""
    bed = rng.random() < 0.6
    bw, bd, bh = (
        (rng.uniform(1.4, 2.0), rng.uniform(1.6, 2.0), 0.5)
        if bed
        else (rng.uniform(1.6, 2.2), 0.9, 0.45)
    )
    bx = rng.uniform(-width / 2 + 0.2, width / 2 - bw - 0.2)
    lo, hi = np.array([bx, 0.0, depth - bd]), np.array([bx + bw, bh, depth - 0.02])
    cover = {
        name: tex.fabric(
            rng,
            *_size(
                rng,
                bw if name != "left" and name != "right" else bd,
                bd if name == "top" else bh,
                density,
            ),
        )
        for name in ("front", "top", "left", "right")
    }
    surfaces = _box(rng, lo, hi, cover, 2)
    back_h = rng.uniform(0.5, 0.9)
    board = (
        tex.fabric(rng, *_size(rng, bw, back_h, density))
        if not bed
        else tex.plain(rng, *_size(rng, bw, back_h, density), (120, 80, 50))
    )
    surfaces.append(
        _surface(
            (
                (bx, bh + back_h, depth - 0.05),
                (bx + bw, bh + back_h, depth - 0.05),
                (bx, bh, depth - 0.05),
            ),
            board,
            2,
        )
    )
    for _ in range(int(rng.integers(1, 4))):  # toys on the bed or sofa
        surfaces.append(
            _toy(
                rng,
                rng.uniform(bx + 0.2, bx + bw - 0.2),
                bh,
                rng.uniform(depth - bd + 0.2, depth - 0.3),
                density,
            )
        )
    for _ in range(int(rng.integers(2, 5))):  # toys and boxes on the floor, in front of it
        # A deep bed in a shallow room leaves no floor in front of it: the toy goes at 1.6 m.
        front = max(1.6, depth - bd - 0.25)
        x, z = rng.uniform(-width / 2 + 0.4, width / 2 - 0.4), rng.uniform(1.6, front)
        if rng.random() < 0.5:
            surfaces.append(_toy(rng, x, 0.0, z, density))
        else:
            s = rng.uniform(0.3, 0.6)
            faces = {
                name: props.box_face(rng, *_size(rng, s, s, density * 1.3))
                for name in ("front", "top", "left", "right")
            }
            surfaces += _box(
                rng, np.array([x - s / 2, 0, z]), np.array([x + s / 2, s * 0.8, z + s]), faces, 3
            )
    return surfaces


def _toy(rng: np.random.Generator, x: float, base: float, z: float, density: float) -> Surface:
    """A toy standing at (x, base, z): a cut-out plane facing the cameras, turned a little."""
    size = rng.uniform(0.3, 0.6)
    pixels = props.toy(rng, max(16, int(size * density * 1.6)))
    turn = math.radians(rng.uniform(-25, 25))
    half = np.array([math.cos(turn), 0, math.sin(turn)]) * size / 2
    centre = np.array([x, base + size, z])
    top_left = centre - half + np.array([0, 0, 0])
    return _surface(
        (top_left, top_left + 2 * half, top_left - np.array([0, size, 0])), pixels, 3, centre
    )
