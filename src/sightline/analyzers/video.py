"""Video frame hashes: a PDQ hash per sampled frame, the sequence signal of a recording.

Frames are decoded with PyAV (FFmpeg) and sampled at one a second: the first frame at or
after each whole second of presentation time. Each sampled frame is hashed by exactly the
rule still images follow (``pdq.hash_image``: 8-bit luma, longest side ``WORKING_SIDE``), so a
frame hash and the hash of the same picture as a still are comparable. Frames below the
quality floor (50, Meta's rule for PDQ and vPDQ) are not kept, and a frame within
``PRUNE_DISTANCE`` bits of the last kept one is pruned: a static shot of a minute is one
hash, not sixty.

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

from sightline.analyzers.base import Analyzer, MediaInput
from sightline.analyzers.pdq import PDQ_KIND, hash_image
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

VPDQ_SIGNAL = SignalKind(
    name=VPDQ_KIND,
    value_type=ValueType.BINARY_SEQUENCE,
    label="video PDQ",
    bits=PDQ_BITS,
    threshold=PDQ_MATCH_THRESHOLD,
    min_quality=PDQ_MIN_QUALITY,
    space=PDQ_KIND,
)
"""PDQ hashes of a recording's sampled frames, with their times (a hash sequence).

Its space is PDQ's: frames are hashed by the still-image rule, so stills and frames are
searched against each other."""


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
        pdq = hash_image(frame.to_image())
        if pdq.quality < PDQ_MIN_QUALITY:
            continue
        if kept and kept[-1].pdq.distance(pdq) <= PRUNE_DISTANCE:
            continue
        kept.append(FrameHash(len(kept), time_ms, pdq))
    if sampled == 0:
        raise TruncatedMedia("no frame of the video stream could be decoded")
    return kept, sampled


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
