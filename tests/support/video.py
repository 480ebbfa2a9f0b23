"""Benign synthetic videos for tests: a camera panning across generated landscapes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from sightline.services import synthetic

Pixels = npt.NDArray[np.uint8]


def pan_frames(
    seed: int, *, seconds: float = 8, fps: int = 10, size: tuple[int, int] = (320, 240)
) -> Iterator[Pixels]:
    """RGB frames of a camera panning left to right across landscape ``seed``."""
    width, height = size
    scene = synthetic.landscape(seed, (1280, 480)).resize((width * 4, height))
    pixels = np.asarray(scene.convert("RGB"))
    frames = round(seconds * fps)
    for i in range(frames):
        left = (pixels.shape[1] - width) * i // max(frames - 1, 1)
        yield np.ascontiguousarray(pixels[:, left : left + width])


def cut_frames(
    seeds: Iterable[int],
    *,
    seconds_each: float = 2.5,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
) -> Iterator[Pixels]:
    """Pans across several landscapes, one after the other with hard cuts between them."""
    for seed in seeds:
        yield from pan_frames(seed, seconds=seconds_each, fps=fps, size=size)


def write_video(
    path: Path,
    frames: Iterable[Pixels],
    *,
    fps: int = 10,
    codec: str = "mpeg4",
    container: str = "mp4",
    bit_rate: int = 800_000,
    pix_fmt: str = "yuv420p",
    rotation: int | None = None,
    options: Mapping[str, str] | None = None,
) -> Path:
    """Encode RGB ``frames`` with PyAV; ``rotation`` writes a display matrix (degrees, CCW)."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.pix_fmt = pix_fmt
        stream.bit_rate = bit_rate
        if options:
            stream.options = dict(options)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        sized = False
        for pixels in frames:
            if not sized:
                stream.height, stream.width = pixels.shape[:2]
                sized = True
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_pan(
    path: Path,
    seed: int,
    *,
    seconds: int = 8,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    bit_rate: int = 800_000,
    codec: str = "mpeg4",
    container: str = "mp4",
    rotation: int | None = None,
) -> Path:
    """A video panning left to right across landscape ``seed``, at ``size``."""
    frames = pan_frames(seed, seconds=seconds, fps=fps, size=size)
    return write_video(
        path,
        frames,
        fps=fps,
        codec=codec,
        container=container,
        bit_rate=bit_rate,
        rotation=rotation,
    )


def ffmpeg(*args: str) -> None:
    """Run Debian's ``ffmpeg`` command quietly (test media it writes that PyAV does not).

    Raises:
        subprocess.CalledProcessError: ffmpeg failed.
    """
    binary = shutil.which("ffmpeg")
    assert binary is not None, "Debian's ffmpeg is a test dependency"
    subprocess.run([binary, "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


def write_timed(
    path: Path, frames: Iterable[tuple[int, Pixels]], *, codec: str = "libx264"
) -> Path:
    """An MP4 whose frames show at the given milliseconds (variable frame rate)."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream(codec, rate=1000)
        assert isinstance(stream, av.VideoStream)
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        sized = False
        for time_ms, pixels in frames:
            if not sized:
                stream.height, stream.width = pixels.shape[:2]
                sized = True
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = time_ms, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_frozen(path: Path, seed: int, *, hours: int = 10, every_s: int = 10) -> Path:
    """``hours`` of one still picture, a frame every ``every_s`` seconds (cheap to write)."""
    still = synthetic.landscape(seed, (640, 480)).resize((160, 120)).convert("RGB")
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(1, every_s))
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.asarray(still), format="rgb24")
        for i in range(hours * 3600 // every_s):
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
