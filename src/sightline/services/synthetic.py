"""Benign procedural images and the real transformations copies go through.

Used by the demo dataset, the tests and the benchmarks: landscapes with hills, a sun, houses
and trees, plus printed text, all drawn from a seed, so no media file needs to be committed.
Transformations are the ones seized copies really show: JPEG re-encoding, resizing, small
crops, mirror images and rotations.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps


def landscape(seed: int, size: tuple[int, int] = (1024, 768)) -> Image.Image:
    """Draw a benign landscape scene determined by ``seed``."""
    rnd = random.Random(seed)  # noqa: S311 - reproducible drawing, not security
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top = (rnd.randrange(40, 140), rnd.randrange(90, 190), rnd.randrange(170, 255))
    bottom = (rnd.randrange(180, 255), rnd.randrange(160, 230), rnd.randrange(120, 220))
    for y in range(height):
        t = y / height
        colour = tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    sun_x, sun_y, radius = rnd.randrange(width), rnd.randrange(height // 3), rnd.randrange(20, 80)
    draw.ellipse([sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius], fill="#ffe680")
    for layer in range(rnd.randrange(2, 5)):
        base = height // 2 + layer * height // 10
        points = [(0, height)]
        for x in range(0, width + 64, 64):
            points.append((x, base + rnd.randrange(-height // 8, height // 8)))
        points.append((width, height))
        shade = 60 + layer * 30
        draw.polygon(points, fill=(rnd.randrange(20, shade), shade, rnd.randrange(10, shade // 2)))
    for _ in range(rnd.randrange(3, 9)):
        _house(draw, rnd, width, height)
    for _ in range(rnd.randrange(5, 15)):
        _tree(draw, rnd, width, height)
    draw.text(
        (rnd.randrange(10, width // 2), rnd.randrange(height // 2, height - 20)),
        f"ROUTE {rnd.randrange(1, 999)}",
        fill=(255, 255, 255),
    )
    return image.filter(ImageFilter.GaussianBlur(0.6))


def _house(draw: ImageDraw.ImageDraw, rnd: random.Random, width: int, height: int) -> None:
    x, y = rnd.randrange(width - 120), rnd.randrange(height // 2, height - 80)
    w, h = rnd.randrange(50, 140), rnd.randrange(40, 100)
    wall = (rnd.randrange(150, 255), rnd.randrange(120, 230), rnd.randrange(80, 200))
    draw.rectangle([x, y, x + w, y + h], fill=wall, outline=(40, 30, 20))
    draw.polygon([(x - 8, y), (x + w // 2, y - h // 2), (x + w + 8, y)], fill=(140, 40, 30))
    draw.rectangle([x + w // 3, y + h // 2, x + w // 3 + 14, y + h], fill=(70, 40, 20))


def _tree(draw: ImageDraw.ImageDraw, rnd: random.Random, width: int, height: int) -> None:
    x, y = rnd.randrange(width), rnd.randrange(height // 2, height)
    size = rnd.randrange(15, 50)
    draw.rectangle([x - 3, y, x + 3, y + size], fill=(80, 50, 20))
    green = (rnd.randrange(10, 60), rnd.randrange(90, 180), rnd.randrange(10, 60))
    draw.ellipse([x - size // 2, y - size, x + size // 2, y + size // 4], fill=green)


def add_grain(image: Image.Image, sigma: float = 8.0, seed: int = 0) -> Image.Image:
    """Add sensor-like Gaussian noise, so JPEGs compress like camera photos (~300 KiB/MP)."""
    rng = np.random.default_rng(seed)
    width, height = image.size
    noise = rng.normal(0.0, sigma, (height, width, 1))
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) + noise
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    """Encode an image to bytes in the given Pillow format."""
    buffer = io.BytesIO()
    if fmt == "JPEG" and "quality" not in options:
        options["quality"] = 90
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def reencode(image: Image.Image, quality: int = 60) -> Image.Image:
    """Round-trip through JPEG at the given quality."""
    return Image.open(io.BytesIO(encode(image, "JPEG", quality=quality))).convert("RGB")


def resize(image: Image.Image, factor: float = 0.5) -> Image.Image:
    """Scale both sides by ``factor``."""
    width, height = image.size
    return image.resize((max(1, int(width * factor)), max(1, int(height * factor))))


def crop(image: Image.Image, fraction: float = 0.01) -> Image.Image:
    """Trim ``fraction`` of each side (PDQ tolerates a few percent, not 10 %)."""
    width, height = image.size
    dx, dy = int(width * fraction), int(height * fraction)
    return image.crop((dx, dy, width - dx, height - dy))


def mirror(image: Image.Image) -> Image.Image:
    """Mirror left to right."""
    return ImageOps.mirror(image)


def rotate90(image: Image.Image) -> Image.Image:
    """Rotate a quarter turn."""
    return image.transpose(Image.Transpose.ROTATE_90)


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "reencode": reencode,
    "resize": resize,
    "crop": crop,
    "mirror": mirror,
    "rotate90": rotate90,
}
