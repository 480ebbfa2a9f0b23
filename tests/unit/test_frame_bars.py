"""Letter-box and pillar-box bars are cut before a frame is hashed."""

from __future__ import annotations

from PIL import Image

from sightline.analyzers.frames import trim_bars
from sightline.analyzers.pdq import hash_image
from sightline.services import synthetic


def _boxed(picture: Image.Image, size: tuple[int, int], at: tuple[int, int]) -> Image.Image:
    canvas = Image.new("L", size, 0)
    canvas.paste(picture, at)
    return canvas


def test_letterbox_bars_are_cut_and_the_hash_comes_back() -> None:
    picture = synthetic.landscape(3, (640, 480)).convert("L").resize((320, 135))
    boxed = _boxed(picture, (320, 180), (0, 22))
    trimmed = trim_bars(boxed)
    assert trimmed.size == (320, 135)
    assert hash_image(boxed).distance(hash_image(picture)) > 31
    assert hash_image(trimmed).distance(hash_image(picture)) <= 8


def test_pillarbox_bars_are_cut() -> None:
    picture = synthetic.landscape(4, (640, 480)).convert("L").resize((240, 180))
    assert trim_bars(_boxed(picture, (320, 180), (40, 0))).size == (240, 180)


def test_pictures_without_bars_and_black_frames_are_left_alone() -> None:
    picture = synthetic.landscape(5, (640, 480)).convert("L").resize((320, 180))
    assert trim_bars(picture) is picture
    black = Image.new("L", (320, 180), 0)
    assert trim_bars(black) is black
    # A thin dark line at the edge (1 %) is part of the picture, not a bar.
    assert trim_bars(_boxed(picture.crop((0, 0, 320, 178)), (320, 180), (0, 2))).size == (
        320,
        180,
    )
