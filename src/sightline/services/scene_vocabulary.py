r"""Command that trains the scene vocabulary shipped as ``sightline/data/scene-vocabulary-v1.npz``.

::

    python -m sightline.services.scene_vocabulary --images N --seed S --out PATH \
        [--source scenes|provisional] [--k 64] [--dims 256] [--version V]

``--source scenes`` (the default) trains on ``sightline.services.scenes.training_images(N, S)``;
``--source provisional`` on ``synthetic.landscape`` pictures alternating with the generated
textures of :func:`texture` (wallpaper-like motifs, blocks, blotches and printed text), which
made the provisional file. The method, the recipe of the committed file and its cost are in
:mod:`sightline.features.scene_training`; this module only supplies pictures (the layers keep
generators, which live in ``services``, out of ``features``).
"""

from __future__ import annotations

import argparse
import importlib
import random
import sys
import time
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

from sightline.features.scene import extract
from sightline.features.scene_training import train
from sightline.services.synthetic import landscape

__all__ = ["main", "provisional_images", "texture"]

PICTURE_SIZE = (640, 480)


def texture(seed: int, size: tuple[int, int] = PICTURE_SIZE) -> Image.Image:
    """A benign generated texture: a repeated motif, coloured blocks or blotches, with text."""
    rnd = random.Random(seed)  # noqa: S311 - reproducible drawing, not security
    kind = seed % 3
    if kind == 0:
        image = _wallpaper(rnd, size)
    elif kind == 1:
        image = _blocks(rnd, size)
    else:
        image = _blotches(rnd, size)
    draw = ImageDraw.Draw(image)
    for _ in range(rnd.randrange(0, 3)):
        words = " ".join(rnd.choice(["OPEN", "SALE", "HOTEL", "CAFE", "NO 12", "EXIT", "BAR"]))
        draw.text((rnd.randrange(size[0] - 80), rnd.randrange(size[1] - 20)), words, fill=_rgb(rnd))
    return image.filter(ImageFilter.GaussianBlur(rnd.uniform(0.3, 1.0)))


def _rgb(rnd: random.Random) -> tuple[int, int, int]:
    return (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))


def _wallpaper(rnd: random.Random, size: tuple[int, int]) -> Image.Image:
    """A motif of a few shapes repeated on a (possibly staggered) grid."""
    image = Image.new("RGB", size, _rgb(rnd))
    draw = ImageDraw.Draw(image)
    step = rnd.randrange(24, 90)
    shapes = [(rnd.randrange(step), rnd.randrange(step), rnd.randrange(4, step // 2 + 5),
               rnd.randrange(3), _rgb(rnd)) for _ in range(rnd.randrange(2, 5))]  # fmt: skip
    stagger = rnd.random() < 0.5
    for row, y0 in enumerate(range(-step, size[1] + step, step)):
        shift = step // 2 if stagger and row % 2 else 0
        for x0 in range(-step + shift, size[0] + step, step):
            for dx, dy, r, shape, colour in shapes:
                box = (x0 + dx - r, y0 + dy - r, x0 + dx + r, y0 + dy + r)
                if shape == 0:
                    draw.ellipse(box, fill=colour)
                elif shape == 1:
                    draw.rectangle(box, outline=colour, width=2)
                else:
                    draw.polygon([(box[0], box[3]), (x0 + dx, box[1]), (box[2], box[3])], colour)
    return image


def _blocks(rnd: random.Random, size: tuple[int, int]) -> Image.Image:
    """Overlapping rectangles and lines, like furniture, frames and shelves."""
    image = Image.new("RGB", size, _rgb(rnd))
    draw = ImageDraw.Draw(image)
    for _ in range(rnd.randrange(10, 40)):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        w, h = rnd.randrange(10, size[0] // 3), rnd.randrange(10, size[1] // 3)
        draw.rectangle((x, y, x + w, y + h), fill=_rgb(rnd), outline=_rgb(rnd))
    for _ in range(rnd.randrange(0, 15)):
        points = [(rnd.randrange(size[0]), rnd.randrange(size[1])) for _ in range(2)]
        draw.line(points, fill=_rgb(rnd), width=rnd.randrange(1, 5))
    return image


def _blotches(rnd: random.Random, size: tuple[int, int]) -> Image.Image:
    """Smoothed noise cut into a few colour levels (camouflage, stone, foliage)."""
    rng = np.random.default_rng(rnd.randrange(2**32))
    small = rng.random((size[1] // 16 + 1, size[0] // 16 + 1)).astype(np.float32)
    field = cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)
    levels = np.digitize(field, np.sort(rng.random(rnd.randrange(2, 5))))
    palette = np.array([_rgb(rnd) for _ in range(6)], np.uint8)
    return Image.fromarray(palette[levels])


def provisional_images(count: int, seed: int) -> Iterator[Image.Image]:
    """``count`` training pictures: landscapes and textures alternating, seeds from ``seed``."""
    for i in range(count):
        picture_seed = seed + i // 2
        if i % 2 == 0:
            yield landscape(picture_seed, PICTURE_SIZE)
        else:
            yield texture(picture_seed)


def _luma(picture: object) -> npt.NDArray[np.uint8]:
    """8-bit greyscale pixels of a PIL image or an RGB/grey array."""
    if isinstance(picture, Image.Image):
        return np.asarray(picture.convert("L"), np.uint8)
    pixels: npt.NDArray[np.uint8] = np.asarray(picture, np.uint8)
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).astype(np.uint8)
    return pixels


def main(argv: Sequence[str] | None = None) -> int:
    """Train a vocabulary and save it; prints counts and timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--source", choices=("scenes", "provisional"), default="scenes")
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--version", default="1")
    args = parser.parse_args(argv)
    if args.source == "scenes":
        # Imported by name when asked for: the scene generator is optional for this command.
        scenes = importlib.import_module("sightline.services.scenes")
        pictures = scenes.training_images(args.images, args.seed)
    else:
        pictures = provisional_images(args.images, args.seed)
    start = time.perf_counter()
    batches = [extract(_luma(picture)).descriptors for picture in pictures]
    described = time.perf_counter()
    total = sum(len(b) for b in batches)
    print(f"{len(batches)} pictures, {total} descriptors, SIFT {described - start:.0f} s")
    vocabulary = train(batches, k=args.k, dims=args.dims, seed=args.seed, version=args.version)
    vocabulary.save(args.out)
    print(f"trained in {time.perf_counter() - described:.0f} s, saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
