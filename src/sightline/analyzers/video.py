"""Video frame hashes: a PDQ hash per sampled frame, the sequence signal of a recording.

Frames are decoded with PyAV (FFmpeg) and sampled at one a second (the first frame at or
after each whole second of presentation time, counted from the first frame) plus one at each
scene change (see ``frames.py``). Each sampled frame is hashed by the rule still images
follow (``pdq.hash_image``: 8-bit luma, box-shrunk to ``WORKING_SIDE``, PDQ) on the picture
as it is displayed (turned upright by the display matrix a phone writes), so a frame hash
and the hash of the same picture as a still are comparable. Frames below the quality floor
(50, Meta's rule for PDQ and vPDQ) are not kept, and a frame within ``PRUNE_DISTANCE`` bits
of the last kept one is pruned: a static shot of a minute is one hash, not sixty.

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
faster, but a mean 3 bits and up to 12 off), and FFmpeg's frame threading (``"AUTO"``: 10 %
more CPU than PyAV's default slice threading; it shortens one file's wall time only while a
core is idle, and ingest keeps every core busy with a worker each: in a pool of two worker
processes the thread count made no difference to throughput).

Measured throughput on four 30-second 720p H.264 files (CPU seconds, as a multiple of real
time on 2 cores; PyAV decode of every frame alone in brackets): 0.9 Mbit/s 72x (86x),
4.1 Mbit/s 37x (26x), 10.9 Mbit/s 18x (13x), 8.2 Mbit/s baseline profile (no B-frames,
like many phones) 30x (34x). The first increment (RGB route, every frame decoded) made
60x, 22x, 12x and 29x.

The feature value is a small summary (duration, size, rotation, codec, frame rate, frames
decoded, sampled and kept, scene changes, the keyframes' times, whether decoding stopped
early); the hashes themselves are the signal sequence (``vpdq``: position = order kept,
``time_ms`` = presentation time), stored as packed bytes, never JSON. Greyscale JPEG
keyframes (the first kept frame and scene changes, at most ``MAX_KEYFRAMES``) are artifacts:
ingest stores them encrypted, and the first is the item's thumbnail.

Bad input: a video stream declaring more pixels than ``max_pixels`` is refused before
decoding (``DecompressionBomb``); a file that yields no frame is ``TruncatedMedia``; a
stream that breaks off or has corrupt packets after some frames keeps the frames decoded
(``damaged``); decoding stops after ``MAX_DECODED_FRAMES`` frames, ``MAX_SAMPLED_FRAMES``
sampled frames or ``MAX_TIME_MS`` of presentation time (``truncated``), so a stream that
decodes forever ends. The worker's per-file time and memory limits bound everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, ClassVar

import av
import av.error

from sightline.analyzers.base import THUMBNAIL_ARTIFACT, Analyzer, MediaInput
from sightline.analyzers.frames import (
    CUT_HISTOGRAM,
    CUT_RATIO,
    CUT_SCORE,
    MAX_KEYFRAMES,
    MIN_CUT_GAP_MS,
    PROBE_VARIANTS,
    PRUNE_DISTANCE,
    SAMPLE_EVERY_MS,
    FrameHash,
    FrameSampler,
    frame_luma,
    keyframe_artifact,
)
from sightline.analyzers.pdq import DIHEDRAL_ORDER
from sightline.domain.signals import (
    CostClass,
    MediaKind,
    Signal,
    SignalKind,
    ValueType,
    Variant,
)
from sightline.errors import AnalyzerSkipped, DecompressionBomb, TruncatedMedia, UnsupportedMedia
from sightline.features.hashes import PDQ_BITS, PDQ_KIND, PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY

__all__ = ["VPDQ_KIND", "VPDQ_SIGNAL", "FrameHash", "VideoPdqAnalyzer", "frame_luma"]

VPDQ_KIND = "vpdq"
# Where the analyzer leaves the kept frames and the keyframe JPEGs for ``signals`` and
# ``artifacts``.
FRAMES_KEY = "vpdq.frames"
KEYFRAMES_KEY = "vpdq.keyframes"
PROBES_KEY = "vpdq.probes"
# Codecs whose decoders drop non-reference frames cleanly (x264's B-frames, say): a third
# of an x264 stream is never decoded, and the frames that are keep every pixel.
_SKIP_NONREF_CODECS = frozenset({"h264", "hevc"})
# A declared duration past this is not believed (a corrupt or hostile header).
MAX_DECLARED_DURATION_MS = 7 * 24 * 3600 * 1000

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


class VideoPdqAnalyzer(Analyzer):
    """PDQ of one frame a second and of each scene change, upright, repeats pruned."""

    name: ClassVar[str] = "vpdq"
    # 2: scene-change frames, display rotation, Y-plane luma, time from the first frame.
    version: ClassVar[str] = "2"
    media_kinds: ClassVar[frozenset[str]] = frozenset({MediaKind.VIDEO})
    emits: ClassVar[tuple[SignalKind, ...]] = (VPDQ_SIGNAL,)
    cost: ClassVar[CostClass] = CostClass.EXPENSIVE

    def params(self) -> Mapping[str, Any]:
        """Sampling interval, scene-change rule, pruning distance and quality floor."""
        return {
            "sample_every_ms": SAMPLE_EVERY_MS,
            "cut_score": CUT_SCORE,
            "cut_ratio": CUT_RATIO,
            "cut_histogram": CUT_HISTOGRAM,
            "min_cut_gap_ms": MIN_CUT_GAP_MS,
            "prune_distance": PRUNE_DISTANCE,
            "min_quality": PDQ_MIN_QUALITY,
            "max_keyframes": MAX_KEYFRAMES,
        }

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Hash the sampled frames; return a summary of the recording and the sampling.

        Raises:
            UnsupportedMedia: the content is not a video, or has no video stream.
            DecompressionBomb: the video stream declares more pixels than ``max_pixels``.
            TruncatedMedia: the stream breaks off or is corrupt before any frame decodes.
            AnalyzerSkipped: no sampled frame reaches the quality floor.
        """
        if media.kind is not MediaKind.VIDEO:  # FFmpeg also opens stills; they are not ours
            raise UnsupportedMedia(f"not a video ({media.kind} content)")
        try:
            with av.open(str(media.path)) as container:
                stream = _video_stream(container, media.max_pixels)
                sampler = FrameSampler(media.max_pixels)
                sampler.run(container, stream)
                summary = _summary(container, stream, sampler)
        except av.error.MemoryError:
            raise MemoryError("FFmpeg ran out of memory") from None  # the worker's limit
        except av.error.FFmpegError as exc:
            raise TruncatedMedia("the video stream is truncated or corrupt") from exc
        media.derived[FRAMES_KEY] = sampler.kept
        media.derived[PROBES_KEY] = sampler.probes
        media.derived[KEYFRAMES_KEY] = [jpeg for _, jpeg in sampler.keyframes]
        if not sampler.kept:
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

    def variants(self, signals: Sequence[Signal], media: MediaInput) -> Sequence[Variant]:
        """Every kept frame's eight rotations and mirror images, with the frame's time.

        PDQ is not invariant to them, so a mirrored copy of a video is found by searching
        each frame's variants (named as in ``pdq.DIHEDRAL_ORDER``). Then the probe frames
        between the kept ones (upright and mirrored; see ``frames``), marked probe-only.
        """
        frames: list[FrameHash] = media.derived.get(FRAMES_KEY, [])
        if not signals or not frames:
            return tuple(Variant(s) for s in signals)
        probes: list[FrameHash] = media.derived.get(PROBES_KEY, [])
        stored = (
            Variant(Signal(VPDQ_KIND, h.to_bytes(), h.quality, f.position, f.time_ms), name)
            for f in frames
            for h, name in zip(f.dihedral or (f.pdq,), DIHEDRAL_ORDER, strict=False)
        )
        between = (
            Variant(
                Signal(VPDQ_KIND, h.to_bytes(), h.quality, f.position, f.time_ms),
                name,
                probe_only=True,
            )
            for f in probes
            for h, name in zip(f.dihedral, PROBE_VARIANTS, strict=True)
        )
        return (*stored, *between)

    def artifacts(self, value: Mapping[str, Any], media: MediaInput) -> Mapping[str, bytes]:
        """The keyframes as greyscale JPEGs (``keyframe.N``); the first is the thumbnail."""
        del value
        jpegs: list[bytes] = media.derived.get(KEYFRAMES_KEY, [])
        out = {keyframe_artifact(n): jpeg for n, jpeg in enumerate(jpegs)}
        if jpegs:
            out[THUMBNAIL_ARTIFACT] = jpegs[0]
        return out


def _video_stream(container: Any, max_pixels: int) -> Any:
    """The first moving-picture stream, checked and tuned for decoding.

    Raises:
        UnsupportedMedia: the container has no video stream.
        DecompressionBomb: the stream declares more than ``max_pixels`` pixels a frame.
    """
    if not container.streams.video:
        raise UnsupportedMedia("the file has no video stream")
    stream = container.streams.video[0]
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    if width * height > max_pixels:
        raise DecompressionBomb(
            f"video declares {width * height} pixels a frame, over the limit of {max_pixels}"
        )
    if stream.codec_context.name in _SKIP_NONREF_CODECS:
        stream.codec_context.skip_frame = "NONREF"
    return stream


def _summary(container: Any, stream: Any, sampler: FrameSampler) -> dict[str, Any]:
    duration = container.duration
    duration_ms = duration // 1000 if duration and duration > 0 else None
    if duration_ms is not None and duration_ms > MAX_DECLARED_DURATION_MS:
        duration_ms = None
    rate = stream.average_rate
    fps = round(float(Fraction(rate)), 3) if rate else None
    return {
        "duration_ms": duration_ms,
        "width": int(stream.codec_context.width),
        "height": int(stream.codec_context.height),
        "rotation": sampler.rotation,
        "codec": str(stream.codec_context.name),
        "fps": fps if fps is not None and 0 < fps < 1e6 else None,
        "frames_decoded": sampler.decoded,
        "frames_sampled": sampler.sampled,
        "frames_unchanged": sampler.unchanged,
        "frames_kept": len(sampler.kept),
        "frames_probed": len(sampler.probes),
        "scene_changes": sampler.cuts,
        "keyframes": [{"n": n, "time_ms": t} for n, (t, _) in enumerate(sampler.keyframes)],
        "truncated": sampler.truncated,
        "damaged": sampler.damaged,
    }
