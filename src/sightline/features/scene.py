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
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["DESCRIPTOR_BYTES", "MAX_KEYPOINTS", "LocalFeatures", "extract", "rootsift"]

# The strongest keypoints kept per picture (by SIFT's response): bounds storage (~140 bytes a
# keypoint) and matching time.
MAX_KEYPOINTS = 1000
DESCRIPTOR_BYTES = 128


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
