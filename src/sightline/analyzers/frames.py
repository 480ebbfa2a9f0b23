"""Which frames of a video are hashed, and how a decoded frame becomes a still picture.

``FrameSampler`` reads a decoded stream once and keeps vPDQ's sampling with one addition:
the first frame at or after each whole second, plus the first frame of each new shot. A
shot change (a cut) is found from two cheap scores on every decoded frame, both read from a
64 x 64 point grid taken straight from the Y plane (~70 us a 720p frame): the mean absolute
difference, on the 0-255 scale, between the 32 x 32 grids of 2 x 2 means of consecutive
frames, and the share of their 16-bin luma histograms that moved. A cut changes the
picture (a difference of at least ``CUT_SCORE``) suddenly: the difference is ``CUT_RATIO``
times the recent level (an exponential mean), or the histogram moved by ``CUT_HISTOGRAM``.
A pan or a shaking camera changes every frame (a high level) but keeps its histogram, so it
is not a string of cuts. Measured on generated landscape pans: at 30 fps, cuts differed by
17-30 and moved 0.36-0.72 of the histogram, frames within a shot differed by 3-4; in 10 fps
pans crossing a sixth of the frame a frame, frames within a shot differed by up to 22 but
moved at most 0.09 of the histogram, and of 16 cuts between such pans 15 moved 0.23-0.76
(found) and one 0.14 (missed: two similar landscapes). A missed cut costs a sample of a
shot shorter than a second; a false one costs one extra hash.
Cut frames are at least ``MIN_CUT_GAP_MS`` apart (strobe light).

*Probe frames*: every third of a second after each sampled frame, another frame is hashed
for lookups only (never stored). A copy cut from a recording at an arbitrary moment
samples its seconds at another phase than the original did, up to half a second apart, and
in a moving shot half a second carries a frame's PDQ past the match distance: on generated
720p pans and zooms, frames 0.5 s apart were within 31 bits in 16 % of cases, 0.2 s apart
in 54 %, 0.1 s apart in 62 %. With two probes between samples, one lies within a sixth of a
second of every stored sample of the other side: clip localisation in ``benchmarks.video``
went from recall 0.83 to 1.0 on the same files (10 originals, 40 clips at 720p), for about
45 % more hashing. Only the upright and mirrored variants of a probe are looked up (a copy
turned by 90 degrees is rare in video, and the display matrix is honoured), so a second of
video costs 8 + 2 x 2 lookups. A sampled frame whose
sketch is that of the last hashed frame (a frozen picture: ten hours of a still) is counted
but not hashed again, since its hash would be pruned: such a file costs its decoding only.

Every sampled frame is hashed on its upright working luma (``upright_working_luma``): the
decoded luma (``frame_luma``), shrunk by the still-image rule, then turned as the display
matrix says (a phone filming in portrait stores landscape frames and a rotation).
Mirroring in a display matrix is ignored: search looks up the mirrored variants anyway.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from typing import Any

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.video.reformatter import ColorRange
from PIL import Image

from sightline.analyzers.base import working_luma_of
from sightline.analyzers.limits import check_deadline
from sightline.analyzers.pdq import DIHEDRAL_ORDER as _ORDER
from sightline.analyzers.pdq import dihedral_hashes_of_image
from sightline.errors import DecompressionBomb, TruncatedMedia
from sightline.features.hashes import PDQ_MIN_QUALITY, PdqHash

# Consecutive kept frames closer than this are the same shot: the later one is pruned.
PRUNE_DISTANCE = 2
# One frame a second: vPDQ's default sampling rate.
SAMPLE_EVERY_MS = 1000
# Probe frames (looked up, not stored): every third of a second after each sampled frame,
# so two between each pair of samples a second apart.
PROBE_EVERY_MS = 333
# The variants of a probe frame looked up (``pdq.DIHEDRAL_ORDER`` names), and the most probe
# frames a video keeps (past them, about 2.8 hours in, only the stored samples are looked up).
PROBE_VARIANTS = ("original", "mirror")
MAX_PROBE_FRAMES = 30_000
# A cut: a frame-to-frame luma difference (0-255 mean absolute difference of 32 x 32 grids)
# of at least CUT_SCORE, and either CUT_RATIO times the recent level or a move of at least
# CUT_HISTOGRAM of the luma histogram (0-1).
CUT_SCORE = 12.0
CUT_RATIO = 3.0
CUT_HISTOGRAM = 0.15
_HISTOGRAM_BINS = 16
# Weight of the newest score in the recent level (an exponential mean over ~5 frames).
_LEVEL_WEIGHT = 0.2
# A sampled frame this close to the last hashed one (every 2 x 2 grid mean within this many
# grey levels, at most this share of the histogram moved) is the same picture: not hashed.
_SAME_LEVELS = 2.0
_SAME_HISTOGRAM = 0.01
# Cuts closer than this to the previous sampled frame add no sample (strobes, flashes).
MIN_CUT_GAP_MS = 250
# Keyframe thumbnails kept per video (the first kept frame and scene changes, evenly spread).
MAX_KEYFRAMES = 24
KEYFRAME_SIDE = 256
KEYFRAME_QUALITY = 80
# Caps that end decoding early (the feature says ``truncated``): frames decoded, frames
# sampled, presentation time. A stream that decodes forever stops at the first one reached.
MAX_DECODED_FRAMES = 2_000_000
MAX_SAMPLED_FRAMES = 100_000
MAX_TIME_MS = 24 * 3600 * 1000
# Corrupt packets in a row after which a damaged stream is given up.
MAX_BAD_PACKETS = 200
# The grid the scene-change score reads: GRID x GRID means of 2 x 2 points.
GRID = 32

# Pixel formats whose first plane is the 8-bit luma, full resolution.
_Y_PLANE_FORMATS = frozenset(
    {
        "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
        "yuv440p", "yuvj440p", "yuv411p", "yuv410p", "nv12", "nv21", "gray",
    }
)  # fmt: skip
# Of those, the ones that are full range (0-255) by definition.
_FULL_RANGE_FORMATS = frozenset({"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "gray"})
# Matrices whose Y is BT.601 luma: unspecified (FFmpeg converts it as BT.601), FCC,
# BT.470BG and SMPTE 170M (AVColorSpace values).
_BT601_FAMILY = frozenset({2, 4, 5, 6})
# Limited-range luma (16-235) stretched to full range, rounded and clipped.
_LIMITED_TO_FULL = [min(255, max(0, round((v - 16) * 255 / 219))) for v in range(256)]
# Quarter turns counter-clockwise (the display matrix's sense) -> Pillow's transpose.
_TURNS = {
    1: Image.Transpose.ROTATE_90,
    2: Image.Transpose.ROTATE_180,
    3: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True, slots=True)
class FrameHash:
    """One kept frame: its order, presentation time and hash."""

    position: int
    time_ms: int
    pdq: PdqHash
    # The frame's eight rotation/mirror hashes (``pdq.DIHEDRAL_ORDER``; the first is ``pdq``),
    # searched at ingest and search so a mirrored copy of a video is found.
    dihedral: tuple[PdqHash, ...] = ()


def keyframe_artifact(n: int) -> str:
    """The artifact (and blob role) name of a video's ``n``-th keyframe thumbnail."""
    return f"keyframe.{n}"


def _y_plane(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    """The frame's first plane as a ``(height, width)`` view, without copying."""
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, : frame.width]


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
        luma = Image.fromarray(np.ascontiguousarray(_y_plane(frame)))
        full = name in _FULL_RANGE_FORMATS or frame.color_range == ColorRange.JPEG
        return luma if full else luma.point(_LIMITED_TO_FULL)
    return Image.fromarray(frame.to_ndarray(format="gray"))


def quarter_turns(rotation: float) -> int:
    """A display rotation (degrees counter-clockwise) as quarter turns, 0-3.

    Angles that are not a multiple of 90 degrees (never written by phones) count as 0.
    """
    turns = round(rotation / 90)
    return turns % 4 if abs(rotation - 90 * turns) < 1 else 0


# Letter-box and pillar-box bars: edge rows or columns this dark and this flat are cut off
# before hashing, as long as they take between 2 % and 40 % of the side. PDQ of a frame with
# bars is far from PDQ of the same frame without (a copy letter-boxed to 4:3 measured 60-90
# bits away); with the bars cut it is back within the threshold.
BAR_MAX_LEVEL = 28.0
BAR_MAX_SPREAD = 6.0
BAR_MIN_SHARE = 0.02
BAR_MAX_SHARE = 0.40
_BAR_STRIDE = 4


def trim_bars(luma: Image.Image) -> Image.Image:
    """``luma`` without black letter-box or pillar-box bars (itself when it has none)."""
    pixels = np.asarray(luma)
    height, width = pixels.shape
    # Every row and column is judged, from every _BAR_STRIDE-th pixel along it: a quarter of
    # the work (this runs on every hashed frame, full size), and a bar is flat anyway.
    along_rows = pixels[:, ::_BAR_STRIDE].astype(np.float32)
    along_cols = pixels[::_BAR_STRIDE, :].astype(np.float32)
    rows = (along_rows.mean(axis=1) <= BAR_MAX_LEVEL) & (along_rows.std(axis=1) <= BAR_MAX_SPREAD)
    cols = (along_cols.mean(axis=0) <= BAR_MAX_LEVEL) & (along_cols.std(axis=0) <= BAR_MAX_SPREAD)
    top, bottom = _run(rows), _run(rows[::-1])
    left, right = _run(cols), _run(cols[::-1])
    if not _bars(top + bottom, height):
        top = bottom = 0
    if not _bars(left + right, width):
        left = right = 0
    if top == bottom == left == right == 0:
        return luma
    return luma.crop((left, top, width - right, height - bottom))


def _run(flags: npt.NDArray[np.bool_]) -> int:
    """How many leading entries of ``flags`` are true."""
    false = np.flatnonzero(~flags)
    return int(false[0]) if len(false) else len(flags)


def _bars(total: int, side: int) -> bool:
    return BAR_MIN_SHARE * side <= total <= BAR_MAX_SHARE * side


def upright_working_luma(frame: av.VideoFrame) -> Image.Image:
    """The frame as displayed, bars cut: working-size luma, turned by its display matrix."""
    working = working_luma_of(trim_bars(frame_luma(frame)))
    turn = _TURNS.get(quarter_turns(frame.rotation))
    return working.transpose(turn) if turn is not None else working


def keyframe_jpeg(working: Image.Image) -> bytes:
    """A greyscale JPEG of at most ``KEYFRAME_SIDE`` pixels a side (as image thumbnails)."""
    factor = -(-max(working.size) // KEYFRAME_SIDE)
    image = working.reduce(factor) if factor > 1 else working
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=KEYFRAME_QUALITY)
    return buffer.getvalue()


@functools.lru_cache(maxsize=16)
def _grid_points(height: int, width: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Rows and columns of a ``2 GRID`` x ``2 GRID`` point grid spread over the frame."""
    rows = (np.arange(2 * GRID) * height) // (2 * GRID)
    cols = (np.arange(2 * GRID) * width) // (2 * GRID)
    return rows[:, np.newaxis], cols[np.newaxis, :]


@dataclass(frozen=True, slots=True)
class SceneSketch:
    """What the scene-change scores compare: a coarse luma grid and a luma histogram."""

    grid: npt.NDArray[np.int32]
    histogram: npt.NDArray[np.float64]

    def same_picture(self, other: SceneSketch) -> bool:
        """Whether both frames show the same picture (a frozen frame, a repeated still).

        Strict on purpose: every grid cell within ``_SAME_LEVELS`` grey levels and the
        histogram all but unmoved. A repeated frame decodes to the same pixels and passes;
        a static camera's sensor noise usually does not, and is then simply hashed.
        """
        worst = int(np.abs(self.grid - other.grid).max()) / 4
        moved = float(np.abs(self.histogram - other.histogram).sum()) / 2
        return worst <= _SAME_LEVELS and moved <= _SAME_HISTOGRAM

    def difference(self, other: SceneSketch) -> tuple[float, float]:
        """Mean absolute grid difference (0-255) and the share of the histogram moved (0-1)."""
        grid = float(np.abs(self.grid - other.grid).mean()) / 4  # sums of 4 points
        moved = float(np.abs(self.histogram - other.histogram).sum()) / 2
        return grid, moved


def scene_sketch(frame: av.VideoFrame) -> SceneSketch:
    """The frame's ``SceneSketch``, from a ``2 GRID`` x ``2 GRID`` grid of luma points."""
    if frame.format.name in _Y_PLANE_FORMATS:
        luma = _y_plane(frame)
    else:  # RGB, palette, 10-bit...: the scaler's grey (slower, and rare)
        luma = np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
    rows, cols = _grid_points(*luma.shape[:2])
    points = luma[rows, cols]
    grid: npt.NDArray[np.int32] = points.reshape(GRID, 2, GRID, 2).sum(axis=(1, 3), dtype=np.int32)
    counts = np.bincount(points.ravel() >> 4, minlength=_HISTOGRAM_BINS)
    return SceneSketch(grid, counts / points.size)


@dataclass
class FrameSampler:
    """Samples, hashes and prunes the frames of one video stream; keeps the keyframes.

    Attributes:
        max_pixels: a decoded frame with more pixels is refused as a decompression bomb.
        kept: the kept frame hashes, in order.
        keyframes: ``(time_ms, JPEG)`` of the keyframe thumbnails, evenly spread.
    """

    max_pixels: int
    kept: list[FrameHash] = field(default_factory=list)
    probes: list[FrameHash] = field(default_factory=list)
    keyframes: list[tuple[int, bytes]] = field(default_factory=list)
    decoded: int = 0
    sampled: int = 0
    unchanged: int = 0
    cuts: int = 0
    rotation: int = 0
    truncated: bool = False
    damaged: bool = False
    _origin: float | None = None
    _last_ms: int = 0
    _next_ms: int = 0
    _next_probe_ms: int = 0
    _last_sample_ms: int | None = None
    _sketch: SceneSketch | None = None
    _hashed: SceneSketch | None = None
    _probed: SceneSketch | None = None
    _level: float | None = None
    _stride: int = 1
    _candidates: int = 0

    def run(self, container: Any, stream: Any) -> None:
        """Decode ``stream`` packet by packet, sampling as it goes.

        A corrupt packet is skipped (the stream is then ``damaged``); a container that
        breaks off keeps what was decoded before the break.

        Raises:
            TruncatedMedia: no frame could be decoded.
            DecompressionBomb: a decoded frame has more than ``max_pixels`` pixels.
            TimeLimitExceeded: the file's analysis deadline passed.
            MemoryError: FFmpeg or NumPy ran out of memory (a worker's memory limit).
        """
        bad = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.MemoryError:
                    raise
                except av.error.FFmpegError:
                    self.damaged, bad = True, bad + 1
                    if bad > MAX_BAD_PACKETS:
                        break
                    continue
                bad = 0
                if not all(self._feed(frame) for frame in frames):
                    break
        except av.error.MemoryError:
            raise
        except av.error.FFmpegError:
            if not self.decoded:
                raise
            self.damaged = True  # the container breaks off: keep what came before
        if not self.sampled:
            raise TruncatedMedia("no frame of the video stream could be decoded")
        self._spread_keyframes()

    def _feed(self, frame: av.VideoFrame) -> bool:
        """Take one decoded frame; False when a cap is reached and decoding must stop."""
        check_deadline()
        self.decoded += 1
        if frame.width * frame.height > self.max_pixels:
            raise DecompressionBomb(f"a video frame has more than {self.max_pixels} pixels")
        time_ms = self._time_ms(frame)
        if self.decoded > MAX_DECODED_FRAMES or time_ms > MAX_TIME_MS:
            self.truncated = True
            return False
        sketch = scene_sketch(frame)
        cut = self._is_cut(sketch)
        due = time_ms >= self._next_ms
        gap = None if self._last_sample_ms is None else time_ms - self._last_sample_ms
        if not (due or (cut and (gap is None or gap >= MIN_CUT_GAP_MS))):
            if time_ms >= self._next_probe_ms:
                self._probe(frame, time_ms, sketch)
            return True
        if due:
            self._next_ms = (time_ms // SAMPLE_EVERY_MS + 1) * SAMPLE_EVERY_MS
        self._next_probe_ms = time_ms + PROBE_EVERY_MS
        self._last_sample_ms = time_ms
        self.sampled += 1
        if self.sampled > MAX_SAMPLED_FRAMES:
            self.truncated = True
            return False
        if self.sampled == 1:
            self.rotation = 90 * quarter_turns(frame.rotation)
        if self._hashed is not None and sketch.same_picture(self._hashed):
            self.unchanged += 1  # a frozen frame: its hash would be pruned
            return True
        self._hashed = sketch
        self._hash(frame, time_ms, cut)
        return True

    def _time_ms(self, frame: av.VideoFrame) -> int:
        """Milliseconds since the first frame; a frame without a time repeats the last."""
        seconds = frame.time
        if seconds is None:
            return self._last_ms
        if self._origin is None:
            self._origin = seconds
        self._last_ms = max(0, round((seconds - self._origin) * 1000))
        return self._last_ms

    def _is_cut(self, sketch: SceneSketch) -> bool:
        """Whether ``sketch`` starts a new shot; folds its difference into the recent level."""
        previous, self._sketch = self._sketch, sketch
        if previous is None:
            return False
        score, moved = sketch.difference(previous)
        level = self._level
        self._level = (
            score if level is None else (1 - _LEVEL_WEIGHT) * level + _LEVEL_WEIGHT * score
        )
        sudden = score >= CUT_RATIO * (level or 0.0) or moved >= CUT_HISTOGRAM
        cut = score >= CUT_SCORE and sudden
        self.cuts += cut
        return cut

    def _probe(self, frame: av.VideoFrame, time_ms: int, sketch: SceneSketch) -> None:
        """Hash a probe frame (looked up, never stored) unless the picture stood still."""
        anchor = self._last_sample_ms or 0  # probes keep their phase to the last sample
        self._next_probe_ms = anchor + ((time_ms - anchor) // PROBE_EVERY_MS + 1) * PROBE_EVERY_MS
        if len(self.probes) >= MAX_PROBE_FRAMES:
            return
        for seen in (self._hashed, self._probed):
            if seen is not None and sketch.same_picture(seen):
                return
        self._probed = sketch
        dihedral = dihedral_hashes_of_image(upright_working_luma(frame))
        if dihedral[0].quality >= PDQ_MIN_QUALITY:
            wanted = tuple(dihedral[_ORDER.index(name)] for name in PROBE_VARIANTS)
            self.probes.append(FrameHash(len(self.kept), time_ms, dihedral[0], wanted))

    def _hash(self, frame: av.VideoFrame, time_ms: int, cut: bool) -> None:
        """Hash a sampled frame; keep it unless poor or a repeat of the last kept one."""
        working = upright_working_luma(frame)
        # All eight variants from one DCT cost ~7 % more than one hash (see pdq.py).
        dihedral = tuple(dihedral_hashes_of_image(working))
        pdq = dihedral[0]
        if pdq.quality < PDQ_MIN_QUALITY:
            return
        if self.kept and self.kept[-1].pdq.distance(pdq) <= PRUNE_DISTANCE:
            return
        self.kept.append(FrameHash(len(self.kept), time_ms, pdq, dihedral))
        if len(self.kept) == 1 or cut:
            self._keyframe(time_ms, working)

    def _keyframe(self, time_ms: int, working: Image.Image) -> None:
        """Keep every ``_stride``-th keyframe candidate; halve the list when it grows long."""
        self._candidates += 1
        if (self._candidates - 1) % self._stride:
            return
        self.keyframes.append((time_ms, keyframe_jpeg(working)))
        if len(self.keyframes) >= 2 * MAX_KEYFRAMES:
            self.keyframes = self.keyframes[::2]
            self._stride *= 2

    def _spread_keyframes(self) -> None:
        """At most ``MAX_KEYFRAMES``, evenly spread over the candidates (the first kept)."""
        count = len(self.keyframes)
        if count > MAX_KEYFRAMES:
            picks = sorted(
                {round(i * (count - 1) / (MAX_KEYFRAMES - 1)) for i in range(MAX_KEYFRAMES)}
            )
            self.keyframes = [self.keyframes[i] for i in picks]
