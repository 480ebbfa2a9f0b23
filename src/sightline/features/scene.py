"""Local features of a picture for scene and object search: SIFT keypoints, stored compactly.

A scene or an object seen again (the same room from elsewhere, the same toy, a crop of a
photo) shares *local features* with the first picture: small patches around corners and
blobs, each described by a 128-number SIFT descriptor that survives changes of scale,
rotation, light and moderate viewpoint. OpenCV's SIFT detects and describes them; nothing is
hand-written here but the storage layout.

Descriptors are kept as OpenCV makes them (integers 0-255 in float32) in ``uint8``, 128 bytes
a keypoint, losslessly; RootSIFT (Arandjelovic and Zisserman, 2012: L1-normalise, square
root) is computed when they are compared, which matches and aggregates better than raw SIFT
under the Euclidean distance.

Storage (:func:`encode`, :func:`decode`) is a versioned little-endian layout, 136 bytes a
keypoint plus an 18-byte header (``SLKP``, version, width, height, count), columns one after
the other:

- ``xy``: ``uint16`` fixed point in units of ``max(width, height) / 65535`` px, so the rounding
  error is at most half of that: 0.016 px for a 2048 px picture, 0.1 px up to 13,107 px.
  (``float16`` would not do: its step is 1 px between 1024 and 2048.)
- ``scale``: ``float16`` (relative error under 0.05 %), ``angle``: ``uint16`` in units of
  360 / 65536 degrees (0.0055 degrees).
- ``descriptors``: ``uint8``, 128 a keypoint, exact.

:func:`decode` treats its input as untrusted: it checks the magic, the version, the sizes and
that the length is exactly what the header announces before it reads any column, so it never
allocates more than the data itself, and it rejects values the encoder cannot produce.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from sightline.errors import InvalidInputError

__all__ = [
    "BYTES_PER_KEYPOINT",
    "DESCRIPTOR_BYTES",
    "FORMAT_VERSION",
    "MAX_KEYPOINTS",
    "MAX_SIDE",
    "LocalFeatures",
    "decode",
    "encode",
    "extract",
    "rootsift",
    "subset",
]

# The strongest keypoints kept per picture (by SIFT's response): bounds storage (136 bytes a
# keypoint, see `encode`) and matching time.
MAX_KEYPOINTS = 1000
DESCRIPTOR_BYTES = 128

FORMAT_VERSION = 1
_MAGIC = b"SLKP"
# magic, version, width, height, keypoint count
_HEADER = struct.Struct("<4sHIII")
_FIXED = 65535  # xy fixed point: 0..65535 spans 0..max(width, height)
_ANGLE_UNITS = 65536 / 360.0
_MAX_FLOAT16 = 65504.0
BYTES_PER_KEYPOINT = 2 * 2 + 2 + 2 + DESCRIPTOR_BYTES
# Sizes beyond these are no picture we analyse: decode rejects them as malformed.
MAX_SIDE = 65535
_MAX_DECODED_KEYPOINTS = 1_000_000


@dataclass(frozen=True, slots=True)
class LocalFeatures:
    """The keypoints of one picture.

    Attributes:
        width: width of the analysed picture in pixels.
        height: its height.
        xy: keypoint positions, ``(n, 2)`` float32, in pixels of the analysed picture.
        scale: keypoint sizes (diameter of the described patch), ``(n,)`` float32.
        angle: keypoint orientations in degrees, ``(n,)`` float32.
        descriptors: SIFT descriptors, ``(n, 128)`` uint8.
    """

    width: int
    height: int
    xy: npt.NDArray[np.float32]
    scale: npt.NDArray[np.float32]
    angle: npt.NDArray[np.float32]
    descriptors: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return int(self.xy.shape[0])


def extract(
    luma: npt.NDArray[np.uint8],
    max_keypoints: int = MAX_KEYPOINTS,
    mask: npt.NDArray[np.uint8] | None = None,
) -> LocalFeatures:
    """SIFT keypoints of an 8-bit greyscale picture, the strongest ``max_keypoints`` first.

    Args:
        luma: ``(height, width)`` uint8 pixels.
        max_keypoints: keep at most this many (SIFT's own cap, by response).
        mask: optional ``(height, width)`` uint8, non-zero where keypoints may lie.
    """
    height, width = luma.shape[:2]
    sift = cv2.SIFT.create(nfeatures=max_keypoints)
    keypoints, descriptors = sift.detectAndCompute(luma, mask)
    if descriptors is None or not keypoints:
        return _empty(width, height)
    order = np.argsort([-k.response for k in keypoints], kind="stable")[:max_keypoints]
    kept = [keypoints[i] for i in order]
    return LocalFeatures(
        width,
        height,
        np.array([k.pt for k in kept], dtype=np.float32).reshape(-1, 2),
        np.array([k.size for k in kept], dtype=np.float32),
        np.array([k.angle for k in kept], dtype=np.float32),
        np.clip(np.asarray(descriptors)[order], 0, 255).astype(np.uint8),
    )


def _empty(width: int, height: int) -> LocalFeatures:
    return LocalFeatures(
        width,
        height,
        np.zeros((0, 2), np.float32),
        np.zeros(0, np.float32),
        np.zeros(0, np.float32),
        np.zeros((0, DESCRIPTOR_BYTES), np.uint8),
    )


def rootsift(descriptors: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """RootSIFT: each descriptor L1-normalised, then square-rooted (so its L2 norm is 1)."""
    values = descriptors.astype(np.float32)
    sums = values.sum(axis=1, keepdims=True)
    np.maximum(sums, 1e-12, out=sums)
    out: npt.NDArray[np.float32] = np.sqrt(values / sums).astype(np.float32)
    return out


def subset(features: LocalFeatures, box: tuple[float, float, float, float]) -> LocalFeatures:
    """The keypoints inside a rectangle, coordinates unchanged (for region queries).

    Args:
        features: the keypoints of the whole picture.
        box: ``(x, y, w, h)`` in pixels of the analysed picture; left and top edges included,
            right and bottom excluded.
    """
    x, y, w, h = box
    px, py = features.xy[:, 0], features.xy[:, 1]
    inside = (px >= x) & (px < x + w) & (py >= y) & (py < y + h)
    return LocalFeatures(
        features.width,
        features.height,
        features.xy[inside],
        features.scale[inside],
        features.angle[inside],
        features.descriptors[inside],
    )


def encode(features: LocalFeatures) -> bytes:
    """Serialise keypoints in the compact layout described in the module docstring.

    Raises:
        InvalidInputError: the picture's size is outside ``1..MAX_SIDE`` or a scale is not a
            finite positive number a ``float16`` can hold.
    """
    width, height, count = features.width, features.height, len(features)
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise InvalidInputError(f"picture size {width}x{height} is outside 1..{MAX_SIDE}")
    unit = _FIXED / max(width, height)
    limits = np.array([width, height], np.float64)
    xy = np.rint(np.clip(features.xy, 0.0, limits) * unit).astype("<u2")
    if not np.all((features.scale > 0) & (features.scale <= _MAX_FLOAT16)):
        raise InvalidInputError(f"keypoint scales must lie in (0, {_MAX_FLOAT16}]")
    scale = features.scale.astype("<f2")
    angle = np.rint(np.mod(features.angle, 360.0) * _ANGLE_UNITS).astype(np.int64) % 65536
    parts = (
        _HEADER.pack(_MAGIC, FORMAT_VERSION, width, height, count),
        xy.tobytes(),
        scale.tobytes(),
        angle.astype("<u2").tobytes(),
        np.ascontiguousarray(features.descriptors, np.uint8).tobytes(),
    )
    return b"".join(parts)


def decode(data: bytes) -> LocalFeatures:
    """Read keypoints written by :func:`encode`.

    Raises:
        InvalidInputError: wrong magic or version, truncated or trailing data, a size or a
            count out of range, or values the encoder never writes.
    """
    width, height, count = _read_header(data)
    offset = _HEADER.size
    columns = []
    for dtype, per_row in (("<u2", 2), ("<f2", 1), ("<u2", 1), ("u1", DESCRIPTOR_BYTES)):
        items = count * per_row
        column = np.frombuffer(data, dtype=dtype, count=items, offset=offset)
        columns.append(column.reshape(count, per_row) if per_row > 1 else column)
        offset += items * np.dtype(dtype).itemsize
    xy16, scale16, angle16, descriptors = columns
    xy = (xy16.astype(np.float32) * np.float32(max(width, height) / _FIXED)).astype(np.float32)
    scale = scale16.astype(np.float32)
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise InvalidInputError("keypoint data holds a scale that is not a positive number")
    if count and (xy[:, 0].max() > width + 0.5 or xy[:, 1].max() > height + 0.5):
        raise InvalidInputError("keypoint data holds a position outside the picture")
    angle = (angle16.astype(np.float32) / np.float32(_ANGLE_UNITS)).astype(np.float32)
    return LocalFeatures(width, height, xy, scale, angle, descriptors.copy())


def _read_header(data: bytes) -> tuple[int, int, int]:
    """Check the header and that the length is exactly what it announces."""
    if len(data) < _HEADER.size:
        raise InvalidInputError(f"keypoint data is {len(data)} bytes, shorter than its header")
    magic, version, width, height, count = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise InvalidInputError(f"keypoint data starts with {magic!r}, expected {_MAGIC!r}")
    if version != FORMAT_VERSION:
        raise InvalidInputError(
            f"keypoint data version {version} is not supported (valid: {FORMAT_VERSION})"
        )
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise InvalidInputError(f"keypoint data declares a {width}x{height} picture")
    if count > _MAX_DECODED_KEYPOINTS:
        raise InvalidInputError(f"keypoint data declares {count} keypoints")
    expected = _HEADER.size + count * BYTES_PER_KEYPOINT
    if len(data) != expected:
        raise InvalidInputError(
            f"keypoint data is {len(data)} bytes; {count} keypoints need {expected}"
        )
    return width, height, count
