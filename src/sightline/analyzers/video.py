"""Video frame hashes: a PDQ hash per sampled frame, the sequence signal of a recording.

Frames are decoded with PyAV (FFmpeg) and sampled at one a second: the first frame at or
after each whole second of presentation time. Each sampled frame is hashed by the rule still
images follow (``pdq.hash_image``: 8-bit luma, box-shrunk to ``WORKING_SIDE``, PDQ), so a
frame hash and the hash of the same picture as a still are comparable. Frames below the
quality floor (50, Meta's rule for PDQ and vPDQ) are not kept, and a frame within
``PRUNE_DISTANCE`` bits of the last kept one is pruned: a static shot of a minute is one
hash, not sixty.

Speed (measured on the 2-core development machine, 720p H.264 at 30 fps): the luma of a
frame is its decoded Y plane (``frame_luma``), not an RGB conversion followed by Pillow's
luma: 3.3 ms a sampled frame instead of 8.2 ms. The still rule is Pillow's BT.601 luma of the
RGB picture; the Y plane of BT.601 or untagged video is that luma in limited range, so it is
stretched to full range (without the stretch PDQ quality drops by up to 16 points, since
quality follows contrast). Over 344 frames of generated landscapes and pans (H.264, MJPEG,
VP9) the Y-plane hash lies a mean 0.7 bits from the RGB route's, median 0, at most 4; BT.709
video is converted by FFmpeg's scaler instead (its raw Y plane was up to 12 bits off; the
scaler's grey is a mean 0.1 bits off, at most 2). H.264 and HEVC skip non-reference frames
(``skip_frame="NONREF"``), which never changes a decoded pixel: an x264 stream with B-frames
decodes 546 of 900 frames, about 25 % faster. Rejected: skipping the deblocking filter (8-10 %
faster, but a mean 3 bits and up to 12 off), and FFmpeg's frame threading (``"AUTO"`` was
10 % slower than its default; in a pool of two worker processes the thread count made no
difference).

The feature value is a small summary (duration, frames sampled and kept, size, codec, frame
rate); the hashes themselves are the signal sequence (``vpdq``: position = order kept,
``time_ms`` = presentation time), stored as packed bytes, never JSON.

Not yet (issue 10): scene-change sampling, rotation from the display matrix, keyframe
thumbnails, container metadata beyond the stream's, audio, per-file time and memory limits,
and the aligned-segment matching of two recordings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import av
import av.error
import numpy as np
from av.video.reformatter import ColorRange
from PIL import Image

from sightline.analyzers.base import Analyzer, MediaInput
from sightline.analyzers.pdq import hash_image
from sightline.domain.signals import CostClass, MediaKind, Signal, SignalKind, ValueType
from sightline.errors import AnalyzerSkipped, TruncatedMedia, UnsupportedMedia
from sightline.features.hashes import PDQ_BITS, PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY, PdqHash

VPDQ_KIND = "vpdq"
# Consecutive kept frames closer than this are the same shot: the later one is pruned.
PRUNE_DISTANCE = 2
# One frame a second: vPDQ's default sampling rate.
SAMPLE_EVERY_MS = 1000
# Where the analyzer leaves the kept frames for ``signals``.
FRAMES_KEY = "vpdq.frames"
# Codecs whose decoders drop non-reference frames cleanly (x264's B-frames, say): a third
# of an x264 stream is never decoded, and the frames that are keep every pixel.
_SKIP_NONREF_CODECS = frozenset({"h264", "hevc"})
# Pixel formats whose first plane is the 8-bit luma, full resolution.
_Y_PLANE_FORMATS = frozenset(
    {
        "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
        "yuv440p", "yuvj440p", "yuv411p", "yuv410p", "nv12", "nv21", "gray",
    }
)  # fmt: skip
# Of those, the ones that are full range (0-255) by definition.
_FULL_RANGE_FORMATS = frozenset({"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "gray"})
# Matrices whose Y is BT.601 luma; FFmpeg converts untagged YUV (2) as BT.601 too.
_BT601_FAMILY = frozenset({2, 4, 5, 6})  # unspecified, FCC, BT.470BG, SMPTE 170M
# Limited-range luma (16-235) stretched to full range, rounded and clipped.
_LIMITED_TO_FULL = [min(255, max(0, round((v - 16) * 255 / 219))) for v in range(256)]

VPDQ_SIGNAL = SignalKind(
    name=VPDQ_KIND,
    value_type=ValueType.BINARY_SEQUENCE,
    label="video PDQ",
    bits=PDQ_BITS,
    threshold=PDQ_MATCH_THRESHOLD,
    min_quality=PDQ_MIN_QUALITY,
)
"""PDQ hashes of a recording's sampled frames, with their times (a hash sequence)."""


@dataclass(frozen=True, slots=True)
class FrameHash:
    """One kept frame: its order, presentation time and hash."""

    position: int
    time_ms: int
    pdq: PdqHash


class VideoPdqAnalyzer(Analyzer):
    """PDQ of one frame a second of a video, low-quality frames dropped, repeats pruned."""

    name: ClassVar[str] = "vpdq"
    version: ClassVar[str] = "1"
    media_kinds: ClassVar[frozenset[str]] = frozenset({MediaKind.VIDEO})
    emits: ClassVar[tuple[SignalKind, ...]] = (VPDQ_SIGNAL,)
    cost: ClassVar[CostClass] = CostClass.EXPENSIVE

    def params(self) -> Mapping[str, Any]:
        """Sampling interval, pruning distance and quality floor."""
        return {
            "sample_every_ms": SAMPLE_EVERY_MS,
            "prune_distance": PRUNE_DISTANCE,
            "min_quality": PDQ_MIN_QUALITY,
        }

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Hash the sampled frames; return a summary of the recording and the sampling.

        Raises:
            UnsupportedMedia: the content is not a video, or has no video stream.
            TruncatedMedia: the stream breaks off or is corrupt before any frame decodes.
            AnalyzerSkipped: no sampled frame reaches the quality floor.
        """
        if media.kind is not MediaKind.VIDEO:  # FFmpeg also opens stills; they are not ours
            raise UnsupportedMedia(f"not a video ({media.kind} content)")
        try:
            with av.open(str(media.path)) as container:
                if not container.streams.video:
                    raise UnsupportedMedia("the file has no video stream")
                stream = container.streams.video[0]
                _tune_decoder(stream)
                frames, sampled = _sample(container, stream)
                summary = _summary(container, stream, sampled, len(frames))
        except av.error.FFmpegError as exc:
            raise TruncatedMedia("the video stream is truncated or corrupt") from exc
        media.derived[FRAMES_KEY] = frames
        if not frames:
            raise AnalyzerSkipped(f"no sampled frame reaches PDQ quality {PDQ_MIN_QUALITY}")
        return summary

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """Each kept frame's hash, in order, with its time."""
        del value
        frames: list[FrameHash] = media.derived.get(FRAMES_KEY, [])
        return tuple(
            Signal(VPDQ_KIND, f.pdq.to_bytes(), f.pdq.quality, f.position, f.time_ms)
            for f in frames
        )


def _sample(container: Any, stream: Any) -> tuple[list[FrameHash], int]:
    """Hash the first frame at or after each sampling point; returns kept frames and count."""
    kept: list[FrameHash] = []
    sampled, next_ms = 0, 0
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        time_ms = round(float(frame.time) * 1000)
        if time_ms < next_ms:
            continue
        next_ms = (time_ms // SAMPLE_EVERY_MS + 1) * SAMPLE_EVERY_MS
        sampled += 1
        pdq = hash_image(frame_luma(frame))
        if pdq.quality < PDQ_MIN_QUALITY:
            continue
        if kept and kept[-1].pdq.distance(pdq) <= PRUNE_DISTANCE:
            continue
        kept.append(FrameHash(len(kept), time_ms, pdq))
    if sampled == 0:
        raise TruncatedMedia("no frame of the video stream could be decoded")
    return kept, sampled


def _tune_decoder(stream: Any) -> None:
    """Skip the frames no other frame refers to, where the codec marks them reliably."""
    if stream.codec_context.name in _SKIP_NONREF_CODECS:
        stream.codec_context.skip_frame = "NONREF"


def frame_luma(frame: av.VideoFrame) -> Image.Image:
    """The frame's 8-bit luma (mode ``L``) as the still-image rule would see the picture.

    Planar 8-bit YUV in the BT.601 family (or untagged, which FFmpeg converts as BT.601)
    gives its Y plane directly, stretched from limited range (16-235) to full range when the
    stream is limited: no colour conversion at all. Anything else (BT.709 and other matrices,
    10-bit, RGB and palette codecs) is converted to grey by FFmpeg's scaler, which forms the
    same BT.601 luma of the displayed RGB that Pillow's ``convert("L")`` forms for a still.
    """
    name = frame.format.name
    if name in _Y_PLANE_FORMATS and frame.colorspace in _BT601_FAMILY:
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
        luma = Image.fromarray(np.ascontiguousarray(rows[:, : frame.width]))
        full = name in _FULL_RANGE_FORMATS or frame.color_range == ColorRange.JPEG
        return luma if full else luma.point(_LIMITED_TO_FULL)
    return Image.fromarray(frame.to_ndarray(format="gray"))


def _summary(container: Any, stream: Any, sampled: int, kept: int) -> dict[str, Any]:
    duration = container.duration / av.time_base if container.duration else None
    rate = stream.average_rate
    return {
        "duration_ms": int(duration * 1000) if duration is not None else None,
        "width": int(stream.codec_context.width),
        "height": int(stream.codec_context.height),
        "codec": str(stream.codec_context.name),
        "fps": round(float(Fraction(rate)), 3) if rate else None,
        "frames_sampled": sampled,
        "frames_kept": kept,
    }
