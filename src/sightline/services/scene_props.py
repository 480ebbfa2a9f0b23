"""Benign props for the synthetic scenes: toys, logos, labelled boxes and shop streets.

Drawn with Pillow from a NumPy generator, like :mod:`sightline.services.scene_textures`:
toys (a teddy-like cluster of circles, a blob creature, a star, a striped ball, a robot) and
logos are RGBA cut-outs with patches, spots and a printed letter inside their outline, so
SIFT finds keypoints on them and not only along their edges; box faces carry a printed
label; a street is a row of facades, each with a sign board over its shop.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from sightline.services import scene_textures as tex

__all__ = ["box_face", "logo", "street", "toy"]

Rgb = tuple[int, int, int]
Pixels = npt.NDArray[np.uint8]


def toy(rng: np.random.Generator, size: int) -> Pixels:
    """A toy-like object on a transparent background (RGBA): teddy, blob, star, ball, robot."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    colours = tex.palette(rng, 5)
    s, kind = size, int(rng.integers(5))
    if kind == 0:  # teddy: head, ears, body, arms, legs, muzzle, eyes
        body = colours[0]
        parts = [(0.3, 0.12, 0.09), (0.7, 0.12, 0.09), (0.5, 0.62, 0.27), (0.2, 0.55, 0.1),
                 (0.8, 0.55, 0.1), (0.3, 0.88, 0.11), (0.7, 0.88, 0.11),
                 (0.5, 0.27, 0.19)]  # fmt: skip
        for cx, cy, r in parts:
            draw.ellipse(
                [(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=(*body, 255)
            )
        draw.ellipse([0.4 * s, 0.3 * s, 0.6 * s, 0.42 * s], fill=colours[1] + (255,))
        for ex in (0.42, 0.58):
            draw.ellipse(
                [(ex - 0.03) * s, 0.2 * s, (ex + 0.03) * s, 0.26 * s], fill=(20, 20, 20, 255)
            )
        draw.ellipse([0.35 * s, 0.5 * s, 0.65 * s, 0.8 * s], fill=colours[2] + (255,))  # bib
    elif kind == 1:  # blob creature: a random smooth polygon
        angles = np.sort(rng.uniform(0, 2 * np.pi, 14))
        radii = rng.uniform(0.3, 0.48, 14) * s
        draw.polygon(
            [
                (s / 2 + r * np.cos(a), s / 2 + r * np.sin(a))
                for a, r in zip(angles, radii, strict=True)
            ],
            fill=colours[0] + (255,),
        )
    elif kind == 2:
        tex.star(draw, s / 2, s / 2, s * 0.48, int(rng.integers(5, 8)), colours[0] + (255,))  # type: ignore[arg-type]
    elif kind == 3:  # striped ball
        draw.ellipse([0.05 * s, 0.05 * s, 0.95 * s, 0.95 * s], fill=colours[0] + (255,))
        for k in range(1, 6, 2):
            draw.arc(
                [0.05 * s, (0.05 + k * 0.08) * s, 0.95 * s, (0.95 - k * 0.08) * s],
                0,
                180,
                fill=colours[k % 4 + 1] + (255,),
                width=max(2, s // 20),
            )
    else:  # robot: head, body, antenna, dials
        draw.rectangle([0.3 * s, 0.08 * s, 0.7 * s, 0.35 * s], fill=colours[0] + (255,))
        draw.rectangle([0.2 * s, 0.38 * s, 0.8 * s, 0.95 * s], fill=colours[1] + (255,))
        draw.line(
            [(0.5 * s, 0.0), (0.5 * s, 0.08 * s)], fill=colours[2] + (255,), width=max(2, s // 40)
        )
        for ex in (0.4, 0.6):
            draw.ellipse(
                [(ex - 0.04) * s, 0.16 * s, (ex + 0.04) * s, 0.24 * s], fill=(240, 240, 40, 255)
            )
    _decorate(image, rng, colours)
    pixels = np.asarray(image).copy()
    pixels[..., :3] = tex.textured(rng, pixels[..., :3], grain=4.0, blotch=5.0)
    return pixels


def _decorate(image: Image.Image, rng: np.random.Generator, colours: list[Rgb]) -> None:
    """Patches, spots and a printed letter on the opaque part of a toy (keypoints inside it)."""
    size = image.width
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    contrast = tex.palette(rng, 3)  # a second palette: decorations stand out from the body
    tex.scatter(
        draw, rng, (size, size), int(rng.integers(12, 30)), (size * 0.015, size * 0.06), contrast
    )
    letter = chr(int(rng.integers(65, 91)))
    draw.text((size * 0.42, size * 0.55), letter, font=tex.font(size // 6), fill=colours[-1])
    alpha = np.asarray(image)[..., 3]
    decorated = Image.alpha_composite(image, layer)
    out = np.asarray(decorated).copy()
    out[..., 3] = alpha  # decorations never extend the toy's outline
    image.paste(Image.fromarray(out))


def box_face(rng: np.random.Generator, width: int, height: int) -> Pixels:
    """A cardboard box face with a printed label: a word, a number, a logo and stripes."""
    cardboard = (
        int(rng.integers(150, 210)),
        int(rng.integers(110, 160)),
        int(rng.integers(60, 110)),
    )
    image = Image.new("RGB", (width, height), cardboard)
    draw = ImageDraw.Draw(image)
    colours = tex.palette(rng, 3)
    lw, lh = int(width * 0.7), int(height * 0.45)
    x, y = int(width * 0.15), int(height * rng.uniform(0.1, 0.45))
    draw.rectangle([x, y, x + lw, y + lh], fill=(240, 238, 230), outline=colours[0], width=2)
    word = str(rng.choice(tex.WORDS))
    draw.text(
        (x + 4, y + 2), word, font=tex.font(max(6, int(lw / (len(word) * 0.7)))), fill=colours[1]
    )
    draw.text(
        (x + 4, y + lh * 0.65),
        f"No {rng.integers(100, 9999)}",
        font=tex.font(max(6, lh // 5)),
        fill=colours[2],
    )
    for k in range(int(rng.integers(3, 8))):  # tape and barcode-like stripes
        bx = x + lw * 0.7 + k * 4
        draw.line(
            [(bx, y + lh * 0.6), (bx, y + lh * 0.95)],
            fill=(20, 20, 20),
            width=int(rng.integers(1, 3)),
        )
    return tex.textured(rng, np.asarray(image), grain=3.0, blotch=6.0)


def logo(rng: np.random.Generator, size: int) -> Pixels:
    """A logo on a transparent background (RGBA): an emblem, a star, a word on a banner."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    colours = tex.palette(rng, 4)
    s = size
    if rng.random() < 0.5:
        draw.ellipse([0.05 * s, 0.05 * s, 0.95 * s, 0.95 * s], fill=colours[0] + (255,))
        draw.ellipse(
            [0.15 * s, 0.15 * s, 0.85 * s, 0.85 * s],
            outline=colours[1] + (255,),
            width=max(2, s // 30),
        )
    else:  # a shield
        draw.polygon(
            [
                (0.1 * s, 0.05 * s),
                (0.9 * s, 0.05 * s),
                (0.9 * s, 0.5 * s),
                (0.5 * s, 0.95 * s),
                (0.1 * s, 0.5 * s),
            ],
            fill=colours[0] + (255,),
        )
    tex.star(draw, 0.5 * s, 0.35 * s, 0.18 * s, int(rng.integers(5, 9)), colours[2])
    draw.rectangle([0.02 * s, 0.55 * s, 0.98 * s, 0.75 * s], fill=colours[3] + (255,))
    word = str(rng.choice(tex.WORDS))
    draw.text(
        (0.06 * s, 0.57 * s),
        word,
        font=tex.font(int(min(0.16 * s, 0.9 * s / (len(word) * 0.65)))),
        fill=(255, 255, 255, 255),
    )
    _decorate(image, rng, colours)
    return np.asarray(image).copy()


def street(rng: np.random.Generator, width: int, height: int) -> Pixels:
    """A street of shop fronts: facades with windows, a sign board over each shop, pavement."""
    sky = np.linspace(rng.uniform(120, 200), 250, height // 3)[:, None] * np.ones((1, width))
    image = Image.new("RGB", (width, height), (150, 150, 150))
    image.paste(
        Image.fromarray(np.stack([sky * 0.6, sky * 0.8, sky], axis=-1).astype(np.uint8)), (0, 0)
    )
    draw = ImageDraw.Draw(image)
    x = -int(rng.integers(0, 60))
    while x < width:
        w = int(rng.integers(width // 5, width // 2))
        top = int(height * rng.uniform(0.05, 0.3))
        wall = tex.palette(rng, 1)[0]
        draw.rectangle([x, top, x + w, int(height * 0.85)], fill=wall, outline=(40, 40, 40))
        pane = int(rng.integers(14, 30))
        for wy in range(top + pane, int(height * 0.5), pane * 2):
            for wx in range(x + pane // 2, x + w - pane, pane * 2):
                draw.rectangle(
                    [wx, wy, wx + pane, wy + pane], fill=(70, 90, 110), outline=(230, 230, 230)
                )
        sw, sh = int(w * 0.8), int(height * rng.uniform(0.08, 0.14))
        image.paste(Image.fromarray(tex.sign(rng, sw, sh)), (x + w // 10, int(height * 0.55)))
        draw.rectangle(
            [x + w // 6, int(height * 0.55) + sh + 6, x + w * 5 // 6, int(height * 0.85)],
            fill=(50, 60, 70),
        )
        x += w
    draw.rectangle([0, int(height * 0.85), width, height], fill=(120, 118, 112))
    return tex.textured(rng, np.asarray(image), grain=3.0, blotch=5.0)
