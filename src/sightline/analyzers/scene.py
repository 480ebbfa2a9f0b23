"""The scene analyzer: local features and region descriptors of a picture.

Two pictures of the same room, bedspread, wallpaper, toy or shop sign share local features
(:mod:`sightline.features.scene`), and so do a picture and its hard copies (crops, rotations,
borders, captions, thumbnails) that PDQ misses. Per still image, from the same working luma
PDQ reads (one decode for both), shrunk to ``SCENE_SIDE`` pixels a side:

- the **local features** (SIFT, the strongest ``MAX_KEYPOINTS``), stored as an encrypted
  artifact (``scene.features``) beside the original: geometric verification reads them back;
- a **region descriptor** per window of ``REGION_GRID`` (the whole picture and nine
  half-size windows): VLAD over RootSIFT, PCA-whitened with the packaged vocabulary, one
  float vector each, stored as the ``scene`` signal kind (position = the window's number) in
  the float index. A search looks its own windows up, so a copy cropped to a quarter, or an
  object filling part of a stored picture, still meets a stored window like it.

Candidates from the index are verified geometrically before they count
(:mod:`sightline.services.matching.scenes`): a vector's nearness alone is never a match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from sightline.analyzers.base import WORKING_RESAMPLING, WORKING_SIDE, Analyzer, MediaInput
from sightline.domain.signals import CostClass, MediaKind, Signal, SignalKind, ValueType
from sightline.errors import AnalyzerSkipped, UnsupportedMedia
from sightline.features.scene import MAX_KEYPOINTS, LocalFeatures, encode, extract
from sightline.features.scene_vlad import default_vocabulary, region_vectors

__all__ = [
    "FEATURES_ARTIFACT",
    "SCENE_KIND",
    "SCENE_SIGNAL",
    "SceneAnalyzer",
    "scene_features",
]

SCENE_KIND = "scene"
FEATURES_ARTIFACT = "scene.features"
# Where ``analyze`` leaves the features and the window vectors for ``signals``/``artifacts``.
_FEATURES_KEY = "scene.features"
_VECTORS_KEY = "scene.vectors"
# Fewer keypoints than this and a picture has no scene to speak of (a flat or tiny image).
MIN_KEYPOINTS = 16
# SIFT reads the working luma shrunk to this longest side. Measured on generated rooms
# (1024 x 768, one core): SIFT took 83 ms at 512, 58 ms at 448 and 48 ms at 384, and every
# side verified the same 16/16 other-viewpoint and 16/16 occluded pairs and the same 4/24
# object regions: 384 keeps the scene tier within 60 ms of CPU per 1 MP picture.
SCENE_SIDE = 384

SCENE_SIGNAL = SignalKind(
    name=SCENE_KIND,
    value_type=ValueType.FLOAT_VECTOR,
    label="scene",
    dims=default_vocabulary().dims,
    metric="ip",
    search_label="scene",
    features_artifact=FEATURES_ARTIFACT,
)
"""Region descriptors (L2-normalised, compared by inner product = cosine), one per window."""


def scene_features(media: MediaInput) -> LocalFeatures:
    """The local features of a still's working luma shrunk to ``SCENE_SIDE`` (cached)."""
    cached = media.derived.get(_FEATURES_KEY)
    if isinstance(cached, LocalFeatures):
        return cached
    luma = media.working_luma()
    if max(luma.size) > SCENE_SIDE:
        luma = luma.copy()
        luma.thumbnail((SCENE_SIDE, SCENE_SIDE), WORKING_RESAMPLING)
    features = extract(np.asarray(luma), MAX_KEYPOINTS)
    media.derived[_FEATURES_KEY] = features
    return features


class SceneAnalyzer(Analyzer):
    """SIFT local features and VLAD region descriptors of still images."""

    name: ClassVar[str] = "scene"
    version: ClassVar[str] = "1"
    media_kinds: ClassVar[frozenset[str]] = frozenset({MediaKind.IMAGE})
    emits: ClassVar[tuple[SignalKind, ...]] = (SCENE_SIGNAL,)
    cost: ClassVar[CostClass] = CostClass.EXPENSIVE

    def params(self) -> Mapping[str, Any]:
        """The working size, keypoint cap and vocabulary version."""
        return {
            "working_side": WORKING_SIDE,
            "scene_side": SCENE_SIDE,
            "max_keypoints": MAX_KEYPOINTS,
            "vocabulary": default_vocabulary().version,
        }

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Extract the features; return their count, the picture size and the windows.

        Raises:
            UnsupportedMedia: the file is not a still image.
            AnalyzerSkipped: the picture has fewer than ``MIN_KEYPOINTS`` keypoints.
            AnalysisFailed: the image cannot be decoded.
        """
        if media.kind is not MediaKind.IMAGE:
            raise UnsupportedMedia(f"not a still image ({media.kind} content)")
        features = scene_features(media)
        if len(features) < MIN_KEYPOINTS:
            raise AnalyzerSkipped(
                f"{len(features)} keypoints, fewer than the {MIN_KEYPOINTS} a scene needs"
            )
        vocabulary = default_vocabulary()
        windows = region_vectors(features, vocabulary)
        media.derived[_VECTORS_KEY] = windows
        return {
            "keypoints": len(features),
            "width": features.width,
            "height": features.height,
            "windows": [_window(i, box) for i, (box, _) in enumerate(windows)],
            "vocabulary": vocabulary.version,
        }

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """One float vector per window, at the window's position."""
        windows = media.derived.get(_VECTORS_KEY, [])
        return tuple(
            Signal(SCENE_KIND, np.asarray(vector, dtype="<f4").tobytes(), position=i)
            for i, (_, vector) in enumerate(windows)
        )

    def artifacts(self, value: Mapping[str, Any], media: MediaInput) -> Mapping[str, bytes]:
        """The local features, for geometric verification."""
        del value
        features = media.derived.get(_FEATURES_KEY)
        return {FEATURES_ARTIFACT: encode(features)} if features is not None else {}


def _window(n: int, box: Sequence[float]) -> dict[str, Any]:
    x, y, w, h = (round(float(v), 1) for v in box)
    return {"n": n, "box": [x, y, w, h]}
