"""Benign edited videos for matching tests and benchmarks: shots, cuts, and copies of a stretch.

A :class:`Footage` is an endless, deterministic film: shots of 3-8 seconds, each a generated
landscape the camera pans or zooms across, separated by hard cuts. ``render`` encodes any
stretch of it, transformed the way copies of seized videos are: resized, mirrored,
letter-boxed, captioned, at another frame rate, sped up, or with another codec. Both the
"original" and its copies are rendered from the same pictures and compressed independently,
as a re-encode would be, and the truth of every copy (which seconds of the original it shows)
is known exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageOps

from sightline.services import synthetic
from tests.support.audio import Samples, _encode_sound


@dataclass(frozen=True, slots=True)
class Shot:
    """One shot: a landscape, where it starts, how long it lasts and how the camera moves."""

    seed: int
    start: float
    length: float
    motion: str  # "pan" or "zoom"


@dataclass(frozen=True, slots=True)
class Copy:
    """How a copy differs from the original (the identity by default)."""

    size: tuple[int, int] | None = None
    mirror: bool = False
    letterbox: bool = False
    caption: str | None = None
    caption_bar: bool = False  # the caption on a black band across the bottom
    fps: int | None = None
    speed: float = 1.0
    codec: str = "libx264"
    bit_rate: int = 600_000


class Footage:
    """A deterministic film of shots with cuts, ``seconds`` long, from ``seed``."""

    def __init__(self, seed: int, seconds: float, *, size: tuple[int, int] = (320, 180)) -> None:
        self.seed, self.seconds, self.size = seed, seconds, size
        rnd = random.Random(seed)
        shots: list[Shot] = []
        start = 0.0
        while start < seconds:
            length = rnd.uniform(3.0, 8.0)
            shots.append(Shot(rnd.randrange(1 << 30), start, length, rnd.choice(["pan", "zoom"])))
            start += length
        self.shots = tuple(shots)

    def frame_at(self, t: float) -> Image.Image:
        """The picture at second ``t``."""
        shot = next((s for s in reversed(self.shots) if s.start <= t), self.shots[0])
        progress = min(max((t - shot.start) / shot.length, 0.0), 1.0)
        width, height = self.size
        scene = _scene(shot.seed, width, height)
        if shot.motion == "pan":
            left = round((scene.width - width) * progress)
            return scene.crop((left, 0, left + width, height))
        zoom = 1.0 + 0.6 * progress  # a slow push in on the middle of the scene
        w, h = round(width * 2 / zoom), round(height * 2 / zoom)
        left, top = (scene.width - w) // 2, (scene.height - h) // 2
        return scene.crop((left, top, left + w, top + h)).resize(
            self.size, Image.Resampling.BILINEAR
        )


@lru_cache(maxsize=64)
def _scene(seed: int, width: int, height: int) -> Image.Image:
    return synthetic.landscape(seed, (width * 2, height * 2)).convert("RGB")


def render(
    path: Path,
    footage: Footage,
    start: float = 0.0,
    end: float | None = None,
    copy: Copy | None = None,
    *,
    fps: int = 10,
    container: str = "mp4",
) -> Path:
    """Encode seconds ``start``..``end`` of ``footage`` into ``path``, transformed by ``copy``.

    A ``speed`` above 1 plays the stretch faster (the copy is shorter); its frame at time
    ``u`` shows the original at ``start + u * speed``.
    """
    return render_av(path, footage, None, start, end, copy, fps=fps, container=container)


def render_av(
    path: Path,
    footage: Footage,
    sound: Samples | None,
    start: float = 0.0,
    end: float | None = None,
    copy: Copy | None = None,
    *,
    fps: int = 10,
    container: str = "mp4",
    audio_codec: str = "aac",
    audio_bit_rate: int | None = None,
) -> Path:
    """Like :func:`render`, with ``sound`` (float samples at ``audio.RATE``) as soundtrack.

    ``sound`` is muxed as it is (``audio_codec``, mono, 44.1 kHz for AAC, 48 kHz otherwise):
    cut it to the stretch the pictures show, or give other sound to make a copy that shares
    only its pictures. ``None`` writes a video without sound.
    """
    copy = copy or Copy()
    end = footage.seconds if end is None else end
    rate = copy.fps or fps
    width, height = copy.size or footage.size
    frames = max(1, int((end - start) / copy.speed * rate))
    with av.open(str(path), "w", format=container) as out:
        stream: Any = out.add_stream(copy.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = copy.bit_rate
        if copy.codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        sample_rate = 44_100 if audio_codec == "aac" else 48_000
        track: Any = None
        if sound is not None:  # every stream is added before the first packet is written
            track = out.add_stream(audio_codec, rate=sample_rate)
            track.layout = "mono"
            if audio_bit_rate is not None:
                track.bit_rate = audio_bit_rate
        for i in range(frames):
            picture = _transform(
                footage.frame_at(start + i / rate * copy.speed), copy, (width, height)
            )
            frame = av.VideoFrame.from_ndarray(np.asarray(picture), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if sound is not None:
            _encode_sound(out, track, sound, sample_rate)
    return path


def _transform(picture: Image.Image, copy: Copy, size: tuple[int, int]) -> Image.Image:
    if copy.mirror:
        picture = ImageOps.mirror(picture)
    if copy.letterbox:  # black bars above and below: the picture shrunk to 3/4 height
        inner = picture.resize((size[0], size[1] * 3 // 4))
        boxed = Image.new("RGB", size)
        boxed.paste(inner, (0, size[1] // 8))
        picture = boxed
    elif picture.size != size:
        picture = picture.resize(size, Image.Resampling.BILINEAR)
    if copy.caption:  # a text overlay, as a watermark or a channel's caption
        draw = ImageDraw.Draw(picture)
        if copy.caption_bar:
            draw.rectangle((0, size[1] - 18, size[0], size[1]), fill=(0, 0, 0))
        draw.text((4, size[1] - 16), copy.caption, fill=(255, 255, 255))
    return picture


def still(footage: Footage, t: float, path: Path, *, quality: int = 90) -> Path:
    """The picture at second ``t`` as a JPEG (a still taken from the video)."""
    footage.frame_at(t).save(path, format="JPEG", quality=quality)
    return path
