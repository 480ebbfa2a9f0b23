"""Benign synthetic videos for tests: a camera panning across a generated landscape."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from sightline.services import synthetic


def write_pan(
    path: Path,
    seed: int,
    *,
    seconds: int = 8,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    bit_rate: int = 800_000,
) -> Path:
    """An MPEG-4 video panning left to right across landscape ``seed``, at ``size``."""
    width, height = size
    scene = synthetic.landscape(seed, (1280, 480)).resize((width * 4, height))
    pixels = np.asarray(scene.convert("RGB"))
    frames = seconds * fps
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bit_rate
        for i in range(frames):
            left = (pixels.shape[1] - width) * i // max(frames - 1, 1)
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(pixels[:, left : left + width]), format="rgb24"
            )
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
