"""What happens to a picture after it is taken: light, people in front, pasting, hard copies.

Used with :mod:`sightline.services.scenes` to build benign queries for scene search:

* :func:`light`: brightness, contrast, colour cast, gamma and sensor noise, through one
  per-channel lookup table (``cv2.LUT``);
* :func:`people_mask` / :func:`occlude`: people-shaped plain silhouettes (head, neck, torso,
  arms, legs) standing in the foreground, cut by the bottom edge, in flat colours or simple
  cloth patterns. Their size is found by bisection on the covered share (at half
  resolution, then measured at full), so the share asked for is met within about 1 %;
* :func:`paste`: an RGBA object composited into a picture, with its quadrilateral;
* :func:`hard_copy_with_geometry` / :func:`hard_copy`: the copies PDQ misses (crops keeping
  90/70/50 % of the area, 15 and 30 degree rotations, borders, captions, overlays,
  thumbnails), each re-encoded as JPEG at quality 60-90, with the 3x3 matrix that maps the
  original's pixels into the copy (the identity for overlays).
"""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from sightline.services import scene_textures as tex

__all__ = [
    "HARD_COPY_TRANSFORMS",
    "hard_copy",
    "hard_copy_with_geometry",
    "light",
    "occlude",
    "paste",
    "people_mask",
]

HARD_COPY_TRANSFORMS: tuple[str, ...] = (
    "crop10", "crop30", "crop50", "rotate15", "rotate30",
    "border", "caption", "overlay", "thumbnail",
)  # fmt: skip
"""Names accepted by :func:`hard_copy`."""

_CROP_KEEP = {"crop10": 0.9, "crop30": 0.7, "crop50": 0.5}
Matrix = npt.NDArray[np.float64]


def light(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Another exposure of ``image``.

    Brightness x0.7-1.3, contrast x0.7-1.25, a colour cast of up to 15 % per channel, gamma
    0.7-1.4, and sensor noise (sigma 1.2-2.9 grey levels).
    """
    pixels = np.asarray(image.convert("RGB"))
    mean = float(pixels.mean())
    contrast, brightness, gamma = (
        rng.uniform(0.7, 1.25),
        rng.uniform(0.7, 1.3),
        rng.uniform(0.7, 1.4),
    )
    levels = np.arange(256, dtype=np.float64)
    tables = []
    for gain in rng.uniform(0.85, 1.15, 3):
        values = ((levels - mean) * contrast + mean) * brightness * gain
        tables.append(255 * np.clip(values / 255, 0, 1) ** gamma)
    lut = np.stack(tables, axis=1).reshape(256, 1, 3).round().astype(np.uint8)
    out = cv2.LUT(np.ascontiguousarray(pixels), lut)
    spread = int(rng.integers(2, 6))  # uniform sensor noise, standard deviation 1.2-2.9
    noise = rng.integers(-spread, spread + 1, out.shape[:2], dtype=np.int16)
    return Image.fromarray(cv2.add(out, cv2.merge([noise] * 3), dtype=cv2.CV_8U))


def _figure(
    draw: ImageDraw.ImageDraw, pose: npt.NDArray[np.float64], x: float, top: float, height: float
) -> None:
    """Draw one silhouette of ``height`` pixels, top of the head at (x, top), in white."""
    girth, arm_l, arm_r, stance = pose

    def at(px: float, py: float) -> tuple[float, float]:
        return x + px * height * girth, top + py * height

    draw.ellipse([*at(-0.06, 0.0), *at(0.06, 0.15)], fill=255)
    draw.rectangle([*at(-0.03, 0.13), *at(0.03, 0.2)], fill=255)
    draw.polygon([at(-0.17, 0.18), at(0.17, 0.18), at(0.14, 0.56), at(-0.14, 0.56)], fill=255)
    for side, angle in ((-1, arm_l), (1, arm_r)):
        shoulder = at(side * 0.15, 0.21)
        hand = (
            shoulder[0] + side * math.sin(angle) * 0.38 * height,
            shoulder[1] + math.cos(angle) * 0.38 * height,
        )
        draw.line(
            [shoulder, hand], fill=255, width=max(1, int(0.075 * height * girth)), joint="curve"
        )
        r = 0.04 * height
        draw.ellipse([hand[0] - r, hand[1] - r, hand[0] + r, hand[1] + r], fill=255)
    for side in (-1, 1):
        hip, foot = at(side * 0.075, 0.54), at(side * (0.075 + stance), 1.0)
        draw.line([hip, foot], fill=255, width=max(1, int(0.1 * height * girth)))


def _figure_masks(
    size: tuple[int, int], layout: npt.NDArray[np.float64], scale: float
) -> list[npt.NDArray[np.bool_]]:
    """One boolean mask per figure of ``layout`` (rows: x, top, height, pose...) at ``scale``."""
    width, height = size
    masks = []
    for x, top, tall, *pose in layout:
        canvas = Image.new("L", size, 0)
        _figure(
            ImageDraw.Draw(canvas), np.array(pose), x * width, top * height, tall * height * scale
        )
        masks.append(np.asarray(canvas) > 127)
    return masks


def _layout(rng: np.random.Generator, share: float) -> npt.NDArray[np.float64]:
    """Figures' places and poses: more people for a larger share, spread across the picture."""
    count = (
        1 if share < 0.3 else int(rng.integers(1, 3)) if share < 0.4 else int(rng.integers(2, 4))
    )
    xs = (np.arange(count) + rng.uniform(0.3, 0.7, count)) / count
    rows = [
        [x, rng.uniform(-0.05, 0.3), rng.uniform(0.85, 1.15), rng.uniform(0.9, 1.25),
         math.radians(rng.uniform(5, 40)), math.radians(rng.uniform(5, 40)), rng.uniform(0.0, 0.08)]
        for x in xs
    ]  # fmt: skip
    return np.array(rows)


def _solve_masks(
    size: tuple[int, int], rng: np.random.Generator, share: float
) -> list[npt.NDArray[np.bool_]]:
    """Figure masks whose union covers ``share`` of the picture (bisection on their size)."""
    layout = _layout(rng, share)
    small = (max(8, size[0] // 2), max(8, size[1] // 2))
    lo, hi = 0.05, 6.0
    for _ in range(18):
        mid = (lo + hi) / 2
        covered = np.logical_or.reduce(_figure_masks(small, layout, mid)).mean()
        lo, hi = (mid, hi) if covered < share else (lo, mid)
    return _figure_masks(size, layout, (lo + hi) / 2)


def people_mask(
    size: tuple[int, int], rng: np.random.Generator, share: float
) -> npt.NDArray[np.bool_]:
    """Where :func:`occlude` with the same generator state draws people: ``(height, width)``."""
    union: npt.NDArray[np.bool_] = np.logical_or.reduce(_solve_masks(size, rng, share))
    return union


def occlude(image: Image.Image, rng: np.random.Generator, share: float) -> Image.Image:
    """People-shaped plain silhouettes in the foreground covering ``share`` of the picture.

    Each figure is one flat colour or a simple cloth pattern (stripes or checks); nothing else.
    """
    masks = _solve_masks(image.size, rng, share)
    pixels = np.asarray(image.convert("RGB")).copy()
    for mask in masks:
        pixels[mask] = _cloth(rng, image.size)[mask]
    return Image.fromarray(pixels)


def _cloth(rng: np.random.Generator, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """A flat colour, stripes or checks filling a picture of ``size``."""
    width, height = size
    first, second = (np.array(c, np.uint8) for c in tex.palette(rng, 2))
    kind = int(rng.integers(3))
    if kind == 0:
        return np.broadcast_to(first, (height, width, 3))
    period = int(rng.integers(10, 40))
    yy, xx = np.mgrid[0:height, 0:width]
    on = (yy // period) % 2 == 0 if kind == 1 else ((yy // period) + (xx // period)) % 2 == 0
    return np.where(on[..., None], first, second).astype(np.uint8)


def paste(
    background: Image.Image,
    obj: Image.Image,
    rng: np.random.Generator,
    scale: float,
    angle_deg: float,
) -> tuple[Image.Image, npt.NDArray[np.float64]]:
    """Composite the RGBA ``obj`` into ``background`` at a random place.

    Its longer side becomes ``scale`` times the background's shorter side, turned
    ``angle_deg`` counter-clockwise, wholly inside the background when it fits.

    Returns:
        The RGB composite and the object's corners in it, ``(4, 2)`` float pixels, clockwise
        from the object's top-left.
    """
    width, height = background.size
    ow, oh = obj.size
    factor = scale * min(width, height) / max(ow, oh)
    corners = np.array([[0, 0], [ow, 0], [ow, oh], [0, oh]], np.float64)
    turn = cv2.getRotationMatrix2D((ow / 2, oh / 2), angle_deg, factor)
    placed = corners @ turn[:, :2].T + turn[:, 2]
    span = placed.max(axis=0) - placed.min(axis=0)
    room_x, room_y = max(0.0, width - span[0]), max(0.0, height - span[1])
    shift = np.array([rng.uniform(0, room_x), rng.uniform(0, room_y)]) - placed.min(axis=0)
    turn[:, 2] += shift
    quad = corners @ turn[:, :2].T + turn[:, 2]
    x0, y0 = np.maximum(np.floor(quad.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(quad.max(axis=0)).astype(int) + 1, (width, height))
    turn[:, 2] -= (x0, y0)  # warp into the object's bounding box only
    rgba = np.asarray(obj.convert("RGBA"))
    warped = np.asarray(cv2.warpAffine(rgba, turn, (int(x1 - x0), int(y1 - y0))), np.uint8)
    out = np.asarray(background.convert("RGB")).copy()
    _blend(out[y0:y1, x0:x1], warped)
    return Image.fromarray(out), quad


def _blend(roi: npt.NDArray[np.uint8], rgba: npt.NDArray[np.uint8]) -> None:
    """Alpha-blend ``rgba`` over ``roi`` in place (``cv2.blendLinear``)."""
    alpha = rgba[..., 3].astype(np.float32) / 255
    roi[:] = cv2.blendLinear(np.ascontiguousarray(rgba[..., :3]), roi, alpha, 1 - alpha)


def hard_copy(image: Image.Image, transform: str, rng: np.random.Generator) -> Image.Image:
    """A copy of ``image`` under one of :data:`HARD_COPY_TRANSFORMS`, re-encoded as JPEG."""
    return hard_copy_with_geometry(image, transform, rng)[0]


def hard_copy_with_geometry(
    image: Image.Image, transform: str, rng: np.random.Generator
) -> tuple[Image.Image, Matrix]:
    """Like :func:`hard_copy`, with the 3x3 matrix mapping ``image`` pixels into the copy.

    Raises:
        ValueError: ``transform`` is not one of :data:`HARD_COPY_TRANSFORMS`.
    """
    if transform not in HARD_COPY_TRANSFORMS:
        raise ValueError(
            f"unknown transform {transform!r}; choose one of {', '.join(HARD_COPY_TRANSFORMS)}"
        )
    rgb = image.convert("RGB")
    if transform in _CROP_KEEP:
        copy, matrix = _crop(rgb, _CROP_KEEP[transform], rng)
    elif transform.startswith("rotate"):
        copy, matrix = _rotate(rgb, float(transform[6:]) * rng.choice([-1, 1]), rng)
    else:
        copy, matrix = {
            "border": _border,
            "caption": _caption,
            "overlay": _overlay,
            "thumbnail": _thumbnail,
        }[transform](rgb, rng)
    buffer = io.BytesIO()
    copy.save(buffer, format="JPEG", quality=int(rng.integers(60, 91)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), matrix


def _shift(dx: float, dy: float, factor: float = 1.0) -> Matrix:
    return np.array([[factor, 0, dx], [0, factor, dy], [0, 0, 1]], np.float64)


def _crop(image: Image.Image, keep: float, rng: np.random.Generator) -> tuple[Image.Image, Matrix]:
    """Keep ``keep`` of the area: a random aspect near the original's, at a random place."""
    width, height = image.size
    wide = min(1.0, max(keep, math.sqrt(keep) * rng.uniform(0.88, 1.12)))
    cw, ch = round(width * wide), round(height * keep / wide)
    x0, y0 = int(rng.integers(0, width - cw + 1)), int(rng.integers(0, height - ch + 1))
    return image.crop((x0, y0, x0 + cw, y0 + ch)), _shift(-x0, -y0)


def _rotate(
    image: Image.Image, angle: float, rng: np.random.Generator
) -> tuple[Image.Image, Matrix]:
    """Turn ``angle`` degrees counter-clockwise on a canvas grown to hold it, in a flat fill."""
    width, height = image.size
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    new_w, new_h = math.ceil(width * cos + height * sin), math.ceil(width * sin + height * cos)
    turn[:, 2] += np.array([new_w / 2 - width / 2, new_h / 2 - height / 2])
    fill = tuple(int(v) for v in rng.choice([[0, 0, 0], [255, 255, 255], [128, 128, 128]]))
    out = cv2.warpAffine(
        np.asarray(image), turn, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=fill
    )
    return Image.fromarray(out), np.vstack([turn, [0, 0, 1]])


def _border(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Matrix]:
    """A frame of 4-15 % on each side, flat or two-tone; half the time scaled back."""
    width, height = image.size
    left, right = (int(width * rng.uniform(0.04, 0.15)) for _ in range(2))
    top, bottom = (int(height * rng.uniform(0.04, 0.15)) for _ in range(2))
    outer, inner = tex.palette(rng, 2)
    canvas = Image.new("RGB", (width + left + right, height + top + bottom), outer)
    ImageDraw.Draw(canvas).rectangle(
        [left // 2, top // 2, width + left + right // 2, height + top + bottom // 2], fill=inner
    )
    canvas.paste(image, (left, top))
    matrix = _shift(left, top)
    if rng.random() < 0.5:
        factor = width / canvas.width
        canvas = canvas.resize((width, round(canvas.height * factor)), Image.Resampling.LANCZOS)
        matrix = _shift(0, 0, factor) @ matrix
    return canvas, matrix


def _caption(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Matrix]:
    """A band of 12-20 % of the height above or below, with a line of large text."""
    width, height = image.size
    band = int(height * rng.uniform(0.12, 0.2))
    above = bool(rng.random() < 0.5)
    colour = tuple(int(v) for v in rng.choice([[255, 255, 255], [0, 0, 0], [250, 230, 40]]))
    ink = (0, 0, 0) if sum(colour) > 300 else (255, 255, 255)
    canvas = Image.new("RGB", (width, height + band), colour)
    canvas.paste(image, (0, band if above else 0))
    text = " ".join(str(w).lower() for w in rng.choice(tex.WORDS, 4))
    y = band * 0.2 if above else height + band * 0.2
    ImageDraw.Draw(canvas).text((width * 0.04, y), text, font=tex.font(int(band * 0.55)), fill=ink)
    return canvas, _shift(0, band if above else 0)


def _overlay(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Matrix]:
    """Semi-transparent (35-70 %) text, a logo and emoji-like faces and stars over the picture."""
    width, height = image.size
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(3, 7))):
        r = min(width, height) * rng.uniform(0.05, 0.12)
        x, y = rng.uniform(r, width - r), rng.uniform(r, height - r)
        alpha = int(255 * rng.uniform(0.35, 0.7))
        kind = int(rng.integers(3))
        if kind == 0:  # a smiley face
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(250, 210, 40, alpha))
            for ex in (-0.35, 0.35):
                draw.ellipse(
                    [x + ex * r - r * 0.1, y - r * 0.4, x + ex * r + r * 0.1, y - r * 0.1],
                    fill=(40, 30, 20, alpha),
                )
            draw.arc(
                [x - r * 0.5, y - r * 0.3, x + r * 0.5, y + r * 0.5],
                20,
                160,
                fill=(40, 30, 20, alpha),
                width=max(1, int(r / 10)),
            )
        elif kind == 1:  # a logo: a ring and a word
            draw.ellipse(
                [x - r, y - r, x + r, y + r],
                outline=(255, 255, 255, alpha),
                width=max(1, int(r / 6)),
            )
            draw.text(
                (x - r * 0.8, y - r * 0.25),
                str(rng.choice(tex.WORDS))[:4],
                font=tex.font(int(r * 0.5)),
                fill=(255, 255, 255, alpha),
            )
        else:
            draw.text(
                (x - r, y),
                str(rng.choice(tex.WORDS)).lower(),
                font=tex.font(int(r * 0.7)),
                fill=(255, 255, 255, alpha),
            )
    out = Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")
    return out, np.eye(3)


def _thumbnail(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Matrix]:
    """Scaled so its longer side is 160-200 pixels (area-averaged)."""
    width, height = image.size
    factor = int(rng.integers(160, 201)) / max(width, height)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = cv2.resize(np.asarray(image), size, interpolation=cv2.INTER_AREA)
    return Image.fromarray(small), _shift(0, 0, factor)
