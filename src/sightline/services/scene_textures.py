"""Benign procedural textures for the synthetic rooms of :mod:`sightline.services.scenes`.

Each painter draws one surface from a NumPy generator: wallpaper (a repeated motif tile with
a half-drop, plus scuffs), posters, framed pictures, shop-sign boards with words in Pillow's
default font, bedspread fabrics (plaid, flowers, geometric), floors (planks, tiles), curtains
with folds, a plain painted surface (toys, logos, labelled boxes and streets are in
:mod:`sightline.services.scene_props`). Everything is drawn with Pillow and finished with a
low-frequency blotch field (cv2.resize of a few random cells) and a fine grain, so the
surfaces carry corners and blobs at several scales, as printed and woven ones do, and SIFT
finds keypoints on them. The same generator state always draws the same pixels.
"""

from __future__ import annotations

import colorsys
import functools

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "WORDS",
    "curtain",
    "fabric",
    "floor",
    "font",
    "framed_picture",
    "palette",
    "plain",
    "poster",
    "scatter",
    "shape",
    "sign",
    "star",
    "textured",
    "wallpaper",
]

Rgb = tuple[int, int, int]
Pixels = npt.NDArray[np.uint8]

WORDS = (
    "BAKERY", "HOTEL", "CAFE", "OPEN", "BOOKS", "MARKET", "GARAGE", "PIZZA", "FLOWERS", "TOYS",
    "LAUNDRY", "PHARMACY", "NEWS", "FRUIT", "SHOES", "BARBER", "DINER", "TAXI", "MUSIC", "GIFTS",
    "BIKES", "TAILOR", "SWEETS", "TEA", "FISH", "KEYS", "PRINT", "LAMPS", "SOAP", "BREAD",
)  # fmt: skip
"""Benign shop and sign words."""


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's default font at ``size`` pixels (cached: loading it costs ~1 ms)."""
    return ImageFont.load_default(size=max(6, size))


def palette(rng: np.random.Generator, count: int) -> list[Rgb]:
    """``count`` colours around a random hue, in varied lightness (good contrast for SIFT)."""
    hue = rng.random()
    colours = []
    for _ in range(count):
        h = (hue + rng.normal(0, 0.18)) % 1.0
        rgb = colorsys.hls_to_rgb(h, rng.uniform(0.15, 0.85), rng.uniform(0.35, 1.0))
        colours.append((int(rgb[0] * 255), int(rgb[1] * 255), int(rgb[2] * 255)))
    return colours


def textured(rng: np.random.Generator, pixels: Pixels, grain: float, blotch: float) -> Pixels:
    """Add a low-frequency blotch field (``blotch`` grey levels) and a fine grain.

    Saturating integer arithmetic (``cv2.add``) and uniform grain: Gaussian float noise
    made this 4x slower.
    """
    height, width = pixels.shape[:2]
    cells = rng.standard_normal((max(2, height // 48), max(2, width // 48)), dtype=np.float32)
    field = cv2.resize(cells * blotch, (width, height), interpolation=cv2.INTER_CUBIC)
    spread = max(1, round(grain * 1.7))  # a uniform spread with the standard deviation asked
    noise = rng.integers(-spread, spread + 1, (height, width), dtype=np.int16)
    noise += field.astype(np.int16)
    if pixels.shape[2] == 4:
        colour = cv2.add(pixels[..., :3], cv2.merge([noise] * 3), dtype=cv2.CV_8U)
        return np.dstack([colour, pixels[..., 3]]).astype(np.uint8)
    return np.asarray(
        cv2.add(np.ascontiguousarray(pixels), cv2.merge([noise] * 3), dtype=cv2.CV_8U), np.uint8
    )


def plain(rng: np.random.Generator, width: int, height: int, colour: Rgb) -> Pixels:
    """A painted surface: one colour with blotches and grain (a ceiling, a bare board)."""
    base = np.empty((height, width, 3), np.uint8)
    base[:] = colour
    return textured(rng, base, grain=3.0, blotch=6.0)


def shape(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: list[float], fill: Rgb) -> None:
    """One primitive (circle, ring, diamond, triangle, star, cross, flower) inside ``box``."""
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    kind = int(rng.integers(7))
    if kind == 0:
        draw.ellipse(box, fill=fill)
    elif kind == 1:
        draw.ellipse(box, outline=fill, width=max(1, int(r / 4)))
    elif kind == 2:
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    elif kind == 3:
        draw.regular_polygon((cx, cy, r), 3, rotation=float(rng.uniform(0, 120)), fill=fill)
    elif kind == 4:
        star(draw, cx, cy, r, int(rng.integers(5, 8)), fill)
    elif kind == 5:
        w = max(1, int(r / 3))
        draw.line([(x0, cy), (x1, cy)], fill=fill, width=w)
        draw.line([(cx, y0), (cx, y1)], fill=fill, width=w)
    else:
        for k in range(5):
            a = k * 2 * np.pi / 5
            px, py = cx + r * 0.5 * np.cos(a), cy + r * 0.5 * np.sin(a)
            draw.ellipse([px - r / 2, py - r / 2, px + r / 2, py + r / 2], fill=fill)


def star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, n: int, fill: Rgb) -> None:
    """A star of ``n`` points, outer radius ``r``, centred at (cx, cy)."""
    points = []
    for k in range(2 * n):
        radius = r if k % 2 == 0 else r * 0.45
        a = k * np.pi / n - np.pi / 2
        points.append((cx + radius * np.cos(a), cy + radius * np.sin(a)))
    draw.polygon(points, fill=fill)


def scatter(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int], count: int,
    radius: tuple[float, float], colours: list[Rgb],
) -> None:  # fmt: skip
    """``count`` random primitives of radius in ``radius`` anywhere on a canvas of ``size``."""
    for _ in range(count):
        r = rng.uniform(*radius)
        x, y = rng.uniform(0, size[0]), rng.uniform(0, size[1])
        shape(draw, rng, [x - r, y - r, x + r, y + r], colours[int(rng.integers(len(colours)))])


def _tile(rng: np.random.Generator, size: int, colours: list[Rgb]) -> Image.Image:
    """A wallpaper motif: a few large and small primitives on the base colour."""
    tile = Image.new("RGB", (size, size), colours[0])
    draw = ImageDraw.Draw(tile)
    scatter(
        draw, rng, (size, size), int(rng.integers(2, 4)), (size * 0.15, size * 0.3), colours[1:]
    )
    scatter(
        draw, rng, (size, size), int(rng.integers(1, 4)), (size * 0.05, size * 0.12), colours[1:]
    )
    return tile


def wallpaper(rng: np.random.Generator, width: int, height: int) -> Pixels:
    """Repeated motif (half-drop rows of a random tile), or stripes with motifs, plus scuffs."""
    colours = palette(rng, 5)
    size = int(rng.integers(56, 128))
    tile = np.asarray(_tile(rng, size, colours))
    pair = np.concatenate([tile, np.roll(tile, size // 2, axis=0)], axis=1)
    reps = (height // size + 2, width // (2 * size) + 2, 1)
    pixels = np.ascontiguousarray(np.tile(pair, reps)[:height, :width])
    if rng.random() < 0.4:  # stripes between the motif columns
        stripe = int(rng.integers(4, 14))
        for x in range(0, width, size):
            pixels[:, x : x + stripe] = colours[int(rng.integers(1, 5))]
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(8, 20))):  # scuffs and marks: non-repeating detail
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(3, 25)
        shade = tuple(int(c * rng.uniform(0.6, 0.9)) for c in colours[0])
        draw.ellipse([cx - r, cy - r * rng.uniform(0.3, 1), cx + r, cy + r], outline=shade, width=2)
    return textured(rng, np.asarray(image), grain=3.0, blotch=8.0)


def poster(rng: np.random.Generator, width: int, height: int) -> Pixels:
    """A poster: a colour field, bold shapes at several scales and a title in large type."""
    colours = palette(rng, 6)
    image = Image.new("RGB", (width, height), colours[0])
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    scatter(
        draw,
        rng,
        (width, height),
        int(rng.integers(3, 6)),
        (short * 0.12, short * 0.3),
        colours[1:],
    )
    scatter(
        draw,
        rng,
        (width, height),
        int(rng.integers(8, 20)),
        (short * 0.02, short * 0.07),
        colours[1:],
    )
    words = " ".join(rng.choice(WORDS, int(rng.integers(1, 3))))
    size = max(8, int(width / max(4, len(words)) * 1.4))
    draw.text(
        (width * 0.06, height * rng.uniform(0.05, 0.8)), words, font=font(size), fill=colours[-1]
    )
    draw.rectangle(
        [0, 0, width - 1, height - 1], outline=(250, 250, 245), width=max(2, short // 30)
    )
    return textured(rng, np.asarray(image), grain=2.0, blotch=4.0)


def framed_picture(rng: np.random.Generator, width: int, height: int) -> Pixels:
    """A small landscape (:func:`sightline.services.synthetic.landscape`) in a wooden frame."""
    from sightline.services.synthetic import landscape  # a sibling service, imported lazily

    frame = max(3, min(width, height) // 10)
    inner_size = (max(8, width - 2 * frame), max(8, height - 2 * frame))
    # landscape() needs room for its houses: draw it at 400x300, then scale it to the frame.
    inner = landscape(int(rng.integers(2**31)), (400, 300)).resize(inner_size, Image.Resampling.BOX)
    wood = (int(rng.integers(60, 140)), int(rng.integers(40, 90)), int(rng.integers(10, 50)))
    image = Image.new("RGB", (width, height), wood)
    ImageDraw.Draw(image).rectangle([2, 2, width - 3, height - 3], outline=(30, 20, 10), width=2)
    image.paste(inner, (frame, frame))
    return textured(rng, np.asarray(image), grain=2.0, blotch=3.0)


def sign(rng: np.random.Generator, width: int, height: int) -> Pixels:
    """A shop-sign board: a bordered panel with a large word, a smaller line and a number."""
    colours = palette(rng, 4)
    image = Image.new("RGB", (width, height), colours[0])
    draw = ImageDraw.Draw(image)
    edge = max(2, height // 12)
    draw.rectangle([edge, edge, width - edge, height - edge], outline=colours[1], width=edge)
    word = str(rng.choice(WORDS))
    big = max(8, min(int(height * 0.45), int(width / (len(word) * 0.65))))
    draw.text((width * 0.08, height * 0.12), word, font=font(big), fill=colours[2])
    line = f"{rng.choice(WORDS).lower()} & {rng.choice(WORDS).lower()}  No {rng.integers(1, 300)}"
    draw.text((width * 0.08, height * 0.68), line, font=font(max(6, height // 7)), fill=colours[3])
    star(draw, width * 0.9, height * 0.5, height * 0.2, 5, colours[1])
    return textured(rng, np.asarray(image), grain=2.0, blotch=4.0)


def fabric(rng: np.random.Generator, width: int, height: int) -> Pixels:
    """A bedspread or sofa cover: plaid, scattered flowers or a geometric repeat."""
    colours = palette(rng, 5)
    kind = int(rng.integers(3))
    if kind == 0:  # plaid: bands of colour across and down, multiplied
        pixels = np.full((height, width, 3), 255.0, np.float32)
        for axis in (0, 1):
            pos = 0
            while pos < (height, width)[axis]:
                band = int(rng.integers(6, 40))
                tint = np.array(colours[int(rng.integers(5))], np.float32) / 255 * 0.6 + 0.4
                sl = (
                    (slice(pos, pos + band), slice(None))
                    if axis == 0
                    else (slice(None), slice(pos, pos + band))
                )
                pixels[sl] *= tint
                pos += band + int(rng.integers(2, 30))
        image = Image.fromarray(pixels.astype(np.uint8))
        scatter(
            ImageDraw.Draw(image), rng, (width, height), width * height // 12000, (3, 8), colours
        )
    else:
        image = Image.new("RGB", (width, height), colours[0])
        draw = ImageDraw.Draw(image)
        if kind == 2:
            image = Image.fromarray(np.asarray(_tile(rng, int(rng.integers(40, 90)), colours)))
            image = Image.fromarray(
                np.tile(
                    np.asarray(image), (height // image.height + 1, width // image.width + 1, 1)
                )[:height, :width]
            )
            draw = ImageDraw.Draw(image)
        count = width * height // int(rng.integers(3000, 8000))
        scatter(draw, rng, (width, height), count, (5, 26), colours[1:])
    return textured(rng, np.asarray(image), grain=5.0, blotch=6.0)


def floor(rng: np.random.Generator, width: int, height: int) -> Pixels:
    """Wooden planks with grain and joints, or tiles of varied shades with a few motifs."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    base = np.array([rng.integers(90, 200), rng.integers(60, 140), rng.integers(30, 100)])
    if rng.random() < 0.5:
        plank = int(rng.integers(24, 48))
        for x in range(0, width, plank):
            y = -int(rng.integers(0, 200))
            while y < height:
                length = int(rng.integers(120, 400))
                shade = tuple(int(v) for v in np.clip(base * rng.uniform(0.7, 1.25), 0, 255))
                draw.rectangle([x, y, x + plank - 2, y + length - 2], fill=shade)
                for _ in range(int(rng.integers(2, 6))):  # grain lines and knots
                    gx = x + rng.uniform(2, plank - 2)
                    draw.line(
                        [(gx, y), (gx + rng.uniform(-4, 4), y + length)],
                        fill=tuple(int(v * 0.8) for v in shade),
                    )
                if rng.random() < 0.5:
                    ky = y + rng.uniform(0, length)
                    draw.ellipse(
                        [x + plank / 3, ky, x + plank / 3 + 6, ky + 10],
                        fill=tuple(int(v * 0.6) for v in shade),
                    )
                y += length
    else:
        tile = int(rng.integers(40, 90))
        colours = palette(rng, 4)
        for y in range(0, height, tile):
            for x in range(0, width, tile):
                draw.rectangle(
                    [x, y, x + tile - 3, y + tile - 3], fill=colours[int(rng.integers(4))]
                )
                if rng.random() < 0.3:
                    shape(
                        draw,
                        rng,
                        [x + tile / 4, y + tile / 4, x + 3 * tile / 4, y + 3 * tile / 4],
                        colours[int(rng.integers(4))],
                    )
    return textured(rng, np.asarray(image), grain=4.0, blotch=10.0)


def curtain(rng: np.random.Generator, width: int, height: int) -> Pixels:
    """A patterned curtain shaded by vertical folds (a sine of random period)."""
    pixels = fabric(rng, width, height).astype(np.float32)
    period = rng.uniform(30, 70)
    x = np.arange(width, dtype=np.float32)
    folds = 0.75 + 0.25 * np.sin(2 * np.pi * x / period + rng.uniform(0, 6))
    shaded: Pixels = np.clip(pixels * folds[None, :, None], 0, 255).astype(np.uint8)
    return shaded
