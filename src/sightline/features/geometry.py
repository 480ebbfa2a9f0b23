"""Geometric verification: does a candidate picture show the same physical scene or object?

Retrieval proposes pictures that *look* similar; verification asks whether the local features
the two pictures share are arranged as one physical thing seen twice. The method is the
textbook one, all from OpenCV:

1. **Correspondences** (:func:`correspond`): RootSIFT descriptors, each query keypoint's two
   nearest stored keypoints (``cv2.BFMatcher``, L2), Lowe's ratio test (the nearest must be
   clearly nearer than the second: a repeated pattern such as wallpaper, whose tiles look
   alike, fails it, so a shared pattern alone gives few correspondences), then one-to-one (a
   stored keypoint claimed by several query keypoints keeps its best).
2. **Two models**, both fitted by MAGSAC++ (``cv2.USAC_MAGSAC``): a *homography* explains a
   plane (a poster, a sign, a bedspread laid flat) and every copy of a picture (crop,
   rotation, resize, border); a *fundamental matrix* explains a 3-D scene seen from another
   place. F is much looser (a pair fits if the stored point lies near a *line*), so it must
   gather more inliers before it is believed.
3. **The accept rule** (:class:`AcceptRule`): enough inliers, a large enough share of the
   correspondences, spread over enough of the pictures (the convex hull of the inliers:
   ``cv2.convexHull`` + ``cv2.contourArea``; and the grid cells they fall in), not on a
   line, and a homography that could be a camera (positive orientation, the projected
   outline convex, scale change within 1/8-8, bounded perspective). Every failed condition
   is a reason in the :class:`Verdict`, whose raw numbers let a benchmark calibrate the rule.
4. **Copies** (:func:`describe_copy`): a homography that is nearly a similarity and maps most
   of one picture inside the other says the query is a copy of the stored picture, with its
   scale, rotation, crop and border.

A raw inlier count is not a verdict: two unrelated real photos gave 62 RANSAC inliers with
uncapped SIFT and no ratio test, and here unrelated generated pictures that print the same
words in the same font reach 24 homography inliers (a homography fits two or three clusters
of true word matches by chance). Measured with ``python -m benchmarks.geometry`` on
generated pictures (shapes and words, 640 x 480, up to 1000 keypoints; wallpaper rooms;
landscapes), p50 / p99 / max:

=================  ====================  =====================================
                   200 unrelated pairs   60 related pairs (copies, warps,
                                         occlusions, 3-D corner), all min
=================  ====================  =====================================
inliers            9 / 21 / 24           44
inlier ratio       0.18 / 0.72 / 0.88    0.53
larger spread      0.14 / 0.40 / 0.53    0.28
grid cells (8x8)   4 / 6 / 12            23
=================  ====================  =====================================

No gate separates the two alone, but :data:`DEFAULT_RULE` rejects every unrelated pair on
at least two gates (7 had too few correspondences to fit anything) and accepts every
related pair. Time of :func:`verify` (which runs :func:`correspond`) on two 1000-keypoint
pictures: ~22 ms of CPU with one OpenCV thread (matching ~17 ms, the two MAGSAC fits
~5 ms); 35-100 ms wall on the busy 2-core development machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from sightline.features.scene import LocalFeatures, rootsift

__all__ = [
    "DEFAULT_RULE",
    "MAX_PAIRS",
    "AcceptRule",
    "CopyTransform",
    "Correspondences",
    "Verdict",
    "correspond",
    "describe_copy",
    "project",
    "verify",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Region = tuple[float, float, float, float]

# Inlier pairs kept in a verdict, to draw and to explain; the strongest (smallest descriptor
# distance) first.
MAX_PAIRS = 50
# MAGSAC++ settings: its answers are deterministic (OpenCV seeds its own generator).
_CONFIDENCE = 0.999
_MAX_ITERATIONS = 2000
# The fewest correspondences each model is fitted from (4 for H; 8 rather than F's minimal 7,
# so the fitted F is a single solution).
_MIN_FOR_HOMOGRAPHY = 4
_MIN_FOR_FUNDAMENTAL = 8


@dataclass(frozen=True, slots=True)
class Correspondences:
    """Putative keypoint pairs between a query and a stored picture, one-to-one.

    Attributes:
        query_xy: ``(n, 2)`` float32 positions in the query picture.
        stored_xy: ``(n, 2)`` float32 positions in the stored picture.
        distance: ``(n,)`` float32 RootSIFT distances (0 identical, at most 2).
        query_index: ``(n,)`` int32 indices into the query's keypoints.
        stored_index: ``(n,)`` int32 indices into the stored picture's keypoints.
    """

    query_xy: F32
    stored_xy: F32
    distance: F32
    query_index: npt.NDArray[np.int32]
    stored_index: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.distance.shape[0])


def correspond(
    query: LocalFeatures, stored: LocalFeatures, *, ratio: float = 0.8
) -> Correspondences:
    """Pair the query's keypoints with the stored picture's: ratio test, then one-to-one.

    Args:
        query: the query picture's keypoints.
        stored: the candidate's keypoints.
        ratio: Lowe's ratio; a pair is kept when its distance is below ``ratio`` times the
            distance to the query keypoint's second-nearest stored keypoint.
    """
    if len(query) == 0 or len(stored) < 2:  # the ratio test needs two neighbours
        return _select(query, stored, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    knn = matcher.knnMatch(rootsift(query.descriptors), rootsift(stored.descriptors), k=2)
    good = [pair[0] for pair in knn if pair[0].distance < ratio * pair[1].distance]
    q = np.array([m.queryIdx for m in good], np.int32)
    s = np.array([m.trainIdx for m in good], np.int32)
    d = np.array([m.distance for m in good], np.float32)
    order = np.lexsort((q, d))  # best first; ties by query index, so the result is stable
    _, first = np.unique(s[order], return_index=True)
    keep = np.sort(order[first])
    return _select(query, stored, q[keep], s[keep], d[keep])


def _select(
    query: LocalFeatures,
    stored: LocalFeatures,
    q: npt.NDArray[np.int32],
    s: npt.NDArray[np.int32],
    distance: npt.NDArray[Any],
) -> Correspondences:
    return Correspondences(
        query.xy[q].reshape(-1, 2).astype(np.float32),
        stored.xy[s].reshape(-1, 2).astype(np.float32),
        distance.astype(np.float32),
        q.astype(np.int32),
        s.astype(np.int32),
    )


@dataclass(frozen=True, slots=True)
class AcceptRule:
    """When a fitted model means "the same physical scene or object".

    Provisional values (:data:`DEFAULT_RULE`); the benchmark calibrates them on unrelated
    pairs. Counts and ratios are of the chosen model's inliers.

    Attributes:
        ratio: Lowe's ratio for :func:`correspond`.
        min_inliers: homography inliers needed (the verdict's threshold for a homography).
        min_inlier_ratio: homography inliers as a share of the correspondences.
        min_inliers_fundamental: fundamental-matrix inliers needed (its threshold); higher,
            since any pair near an epipolar line fits F.
        min_inlier_ratio_fundamental: F inliers as a share of the correspondences.
        min_spread: the larger of the two spreads (share of the query, or region, and of the
            stored picture covered by the inliers' convex hull) must reach this: a whole
            scene matched, or an object matched over its extent inside a larger picture.
        min_spread_each: the smaller spread must reach this (not all inliers in one spot).
        min_elongation: the inliers' spatial spread across their main axis over along it
            (ratio of the standard deviations): below it they lie on a line.
        min_cells: the inliers must fall in at least this many cells of a ``grid`` x ``grid``
            division of the query outline, or of the stored picture (whichever has more).
            The same word or logo in two unrelated pictures gives a few tight clusters of
            true matches, and one homography can fit two or three such clusters by chance:
            many inliers, a wide hull, few cells.
        grid: cells per side for ``min_cells``.
        max_scale: the homography may change scale (area ratio, square-rooted) by at most
            this factor either way.
        max_perspective: over the projected outline, the largest projective depth (the
            homography's third coordinate) over the smallest; a camera turning more than
            this is implausible, a degenerate fit is likely.
        homography_px: MAGSAC threshold for the homography, in stored pixels, multiplied by
            the scale between the pictures when the stored one is larger (a thumbnail's
            keypoints are placed less precisely in the original's pixels).
        fundamental_px: the same for the fundamental matrix (distance to epipolar lines).
    """

    ratio: float = 0.8
    min_inliers: int = 15
    min_inlier_ratio: float = 0.25
    min_inliers_fundamental: int = 40
    min_inlier_ratio_fundamental: float = 0.5
    min_spread: float = 0.05
    min_spread_each: float = 0.005
    min_elongation: float = 0.1
    min_cells: int = 8
    grid: int = 8
    max_scale: float = 8.0
    max_perspective: float = 4.0
    homography_px: float = 4.0
    fundamental_px: float = 2.0


# Provisional (see the table in the module docstring); to be calibrated on real photos.
DEFAULT_RULE = AcceptRule()


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a candidate shows the same scene or object, and why.

    Attributes:
        accepted: the rule accepted the chosen model.
        score: the chosen model's inlier count, compared with ``threshold``.
        threshold: the rule's minimum for that model.
        model: ``"homography"``, ``"fundamental"`` or None when nothing could be fitted.
            The homography is chosen when accepted, else an accepted F, else the model
            nearest its threshold.
        inliers: inliers of the chosen model.
        inlier_ratio: inliers over correspondences.
        correspondences: the putative pairs after the ratio test and one-to-one.
        spread_query: share of the query (or of the region) covered by the inliers' hull.
        spread_stored: share of the stored picture covered by it.
        cells: grid cells holding inliers (see :attr:`AcceptRule.min_cells`).
        homography: 3 x 3, query -> stored pixels, when the model is a homography.
        pairs: up to :data:`MAX_PAIRS` inlier pairs ``(qx, qy, sx, sy)``, strongest first.
        quad: the query region (or whole query) outline projected into the stored picture,
            when the model is a homography.
        reasons: why it was rejected; empty when accepted.
    """

    accepted: bool
    score: float
    threshold: float
    model: str | None
    inliers: int
    inlier_ratio: float
    correspondences: int
    spread_query: float
    spread_stored: float
    cells: int
    homography: tuple[tuple[float, ...], ...] | None
    pairs: tuple[tuple[float, float, float, float], ...]
    quad: tuple[tuple[float, float], ...] | None
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready values (lists, floats, strings)."""
        return {
            "accepted": self.accepted,
            "score": self.score,
            "threshold": self.threshold,
            "model": self.model,
            "inliers": self.inliers,
            "inlier_ratio": self.inlier_ratio,
            "correspondences": self.correspondences,
            "spread_query": self.spread_query,
            "spread_stored": self.spread_stored,
            "cells": self.cells,
            "homography": None if self.homography is None else [list(r) for r in self.homography],
            "pairs": [list(p) for p in self.pairs],
            "quad": None if self.quad is None else [list(p) for p in self.quad],
            "reasons": list(self.reasons),
        }


def project(homography: npt.ArrayLike, points: npt.ArrayLike) -> F64:
    """Map ``(n, 2)`` points through a 3 x 3 homography (``cv2.perspectiveTransform``)."""
    h = np.asarray(homography, np.float64).reshape(3, 3)
    pts = np.asarray(points, np.float64).reshape(1, -1, 2)
    if pts.shape[1] == 0:
        return np.zeros((0, 2), np.float64)
    return np.asarray(cv2.perspectiveTransform(pts, h), np.float64).reshape(-1, 2)


def verify(
    query: LocalFeatures,
    stored: LocalFeatures,
    *,
    rule: AcceptRule = DEFAULT_RULE,
    region: Region | None = None,
) -> Verdict:
    """Decide whether ``stored`` shows the query's scene or object, and explain it.

    Never raises on poor inputs (no keypoints, a handful, all in one spot): those give a
    rejected verdict with its reasons.

    Args:
        query: the query picture's keypoints.
        stored: the candidate's keypoints.
        rule: the accept rule.
        region: ``(x, y, width, height)`` of the query picture to look for (an object, a
            sign); only its keypoints are matched and its outline is projected. Clipped to
            the picture.

    Raises:
        ValueError: the region has no area inside the query picture.
    """
    outline = _outline(query, region)
    if region is not None:
        query = _inside(query, outline)
    corr = correspond(query, stored, ratio=rule.ratio)
    outlines = (outline, _rectangle(stored.width, stored.height))
    factor = _scale_factor(query, stored, corr, rule.max_scale)
    fits = [
        fit
        for fit in (
            _fit_homography(corr, outlines, rule, factor),
            _fit_fundamental(corr, outlines, rule, factor),
        )
        if fit is not None
    ]
    if not fits:
        return _unfitted(corr, rule)
    accepted = [fit for fit in fits if not fit.reasons]
    chosen = accepted[0] if accepted else max(fits, key=lambda f: f.inliers / f.threshold)
    return _verdict(chosen, corr, outline)


@dataclass(frozen=True, slots=True)
class _Fit:
    model: str
    matrix: F64
    inlier: npt.NDArray[np.bool_]
    threshold: int
    inliers: int
    inlier_ratio: float
    spread_query: float
    spread_stored: float
    cells: int
    reasons: tuple[str, ...]


def _outline(query: LocalFeatures, region: Region | None) -> F64:
    """The corners (clockwise on screen) of the region, or of the whole query picture."""
    x0, y0, x1, y1 = 0.0, 0.0, float(query.width), float(query.height)
    if region is not None:
        x, y, w, h = region
        x0, y0 = max(x0, x), max(y0, y)
        x1, y1 = min(x1, x + w), min(y1, y + h)
        if x1 <= x0 or y1 <= y0:
            msg = f"region {region} has no area inside the {query.width}x{query.height} query"
            raise ValueError(msg)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _inside(features: LocalFeatures, outline: F64) -> LocalFeatures:
    (x0, y0), (x1, y1) = outline[0], outline[2]
    x, y = features.xy[:, 0], features.xy[:, 1]
    keep = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
    return LocalFeatures(
        features.width,
        features.height,
        features.xy[keep],
        features.scale[keep],
        features.angle[keep],
        features.descriptors[keep],
    )


def _area(polygon: npt.NDArray[Any]) -> float:
    if len(polygon) < 3:
        return 0.0
    return float(cv2.contourArea(np.asarray(polygon, np.float32).reshape(-1, 1, 2)))


def _spread(points: F32, area: float) -> float:
    """Share of ``area`` covered by the convex hull of ``points``."""
    if len(points) < 3 or area <= 0:
        return 0.0
    return min(1.0, _area(cv2.convexHull(points.reshape(-1, 1, 2)).reshape(-1, 2)) / area)


def _elongation(points: F32) -> float:
    """Spread across the points' main axis over spread along it (0: on a line)."""
    if len(points) < 3:
        return 0.0
    sv = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    return float(sv[1] / sv[0]) if sv[0] > 0 else 0.0


def _cells(points: F32, outline: F64, grid: int) -> int:
    """How many cells of a ``grid`` x ``grid`` division of the outline's box hold points."""
    low, high = outline[0], outline[2]
    cell = np.floor((points - low) / np.maximum(high - low, 1e-9) * grid).astype(np.int64)
    cell = np.clip(cell, 0, grid - 1)
    return int(np.unique(cell[:, 0] * grid + cell[:, 1]).size)


def _scale_factor(
    query: LocalFeatures, stored: LocalFeatures, corr: Correspondences, max_scale: float
) -> float:
    """How much larger the stored picture shows things (SIFT sizes), at least 1."""
    if len(corr) == 0:
        return 1.0
    ratios = stored.scale[corr.stored_index] / np.maximum(query.scale[corr.query_index], 1e-6)
    return float(np.clip(np.median(ratios), 1.0, max_scale))


def _fit_homography(
    corr: Correspondences,
    outlines: tuple[F64, F64],
    rule: AcceptRule,
    factor: float,
) -> _Fit | None:
    if len(corr) < _MIN_FOR_HOMOGRAPHY:
        return None
    try:
        h, mask = cv2.findHomography(
            corr.query_xy,
            corr.stored_xy,
            cv2.USAC_MAGSAC,
            rule.homography_px * factor,
            maxIters=_MAX_ITERATIONS,
            confidence=_CONFIDENCE,
        )
    except cv2.error:  # USAC asserts on some degenerate samples instead of returning nothing
        return None
    if h is None or mask is None:
        return None
    sane = _homography_reasons(np.asarray(h, np.float64), outlines[0], rule)
    return _measure("homography", h, mask, corr, outlines, rule.min_inliers, rule, sane)


def _fit_fundamental(
    corr: Correspondences, outlines: tuple[F64, F64], rule: AcceptRule, factor: float
) -> _Fit | None:
    if len(corr) < _MIN_FOR_FUNDAMENTAL:
        return None
    try:
        f, mask = cv2.findFundamentalMat(
            corr.query_xy,
            corr.stored_xy,
            cv2.USAC_MAGSAC,
            rule.fundamental_px * factor,
            _CONFIDENCE,
            _MAX_ITERATIONS,
        )
    except cv2.error:  # e.g. every pair fits one homography: F is then undetermined
        return None
    if f is None or mask is None or np.asarray(f).shape[0] < 3:
        return None
    threshold = rule.min_inliers_fundamental
    return _measure("fundamental", np.asarray(f)[:3], mask, corr, outlines, threshold, rule, [])


def _measure(
    model: str,
    matrix: npt.NDArray[Any],
    mask: npt.NDArray[Any],
    corr: Correspondences,
    outlines: tuple[F64, F64],
    threshold: int,
    rule: AcceptRule,
    reasons: list[str],
) -> _Fit:
    """The fit's inliers against the rule: counts first, then their layout, then ``reasons``."""
    inlier = np.asarray(mask).ravel().astype(bool)
    count = int(inlier.sum())
    ratio = count / len(corr)
    is_h = model == "homography"
    min_ratio = rule.min_inlier_ratio if is_h else rule.min_inlier_ratio_fundamental
    found: list[str] = []
    if count < threshold:
        found.append(f"{count} {model} inliers, fewer than {threshold}")
    if ratio < min_ratio:
        found.append(f"inlier ratio {ratio:.2f} of {len(corr)} pairs, below {min_ratio:.2f}")
    q, s = corr.query_xy[inlier], corr.stored_xy[inlier]
    spreads = (_spread(q, _area(outlines[0])), _spread(s, _area(outlines[1])))
    cells = max(_cells(q, outlines[0], rule.grid), _cells(s, outlines[1], rule.grid))
    found += _layout_reasons(spreads, cells, min(_elongation(q), _elongation(s)), rule)
    matrix = np.asarray(matrix, np.float64)
    return _Fit(model, matrix, inlier, threshold, count, ratio, *spreads, cells, (*found, *reasons))


def _layout_reasons(
    spreads: tuple[float, float], cells: int, elongation: float, rule: AcceptRule
) -> list[str]:
    """Why the inliers are laid out too tightly to be one scene (empty when they are not)."""
    found = []
    if max(spreads) < rule.min_spread:
        found.append(f"inliers cover {max(spreads):.1%} of a picture, below {rule.min_spread:.0%}")
    if min(spreads) < rule.min_spread_each:
        found.append(f"inliers bunched in {min(spreads):.2%} of a picture")
    if elongation < rule.min_elongation:
        found.append("inliers lie along a line")
    if cells < rule.min_cells:
        cells_in = rule.grid * rule.grid
        found.append(f"inliers in {cells} of {cells_in} cells, fewer than {rule.min_cells}")
    return found


def _homography_reasons(h: F64, outline: F64, rule: AcceptRule) -> list[str]:
    """Why ``h`` cannot be a camera seeing the same plane again (empty when it can)."""
    depth = np.c_[outline, np.ones(4)] @ h[2]
    if not (np.all(depth > 0) or np.all(depth < 0)):
        return ["the homography folds the query outline through infinity"]
    reasons = []
    if np.abs(depth).max() > rule.max_perspective * np.abs(depth).min():
        reasons.append("too much perspective in the homography")
    quad = project(h, outline)
    if not _same_turns(outline, quad):
        return [*reasons, "the projected outline is mirrored, twisted or not convex"]
    scale = math.sqrt(_area(quad) / max(_area(outline), 1e-9))
    if not 1 / rule.max_scale <= scale <= rule.max_scale:
        reasons.append(f"scale change {scale:.3g} outside 1/{rule.max_scale:g}-{rule.max_scale:g}")
    return reasons


def _same_turns(outline: F64, quad: F64) -> bool:
    """Whether ``quad`` turns the same way as ``outline`` at every corner (convex, unmirrored)."""

    def turns(p: F64) -> F64:
        edges = np.roll(p, -1, axis=0) - p
        nxt = np.roll(edges, -1, axis=0)
        out: F64 = edges[:, 0] * nxt[:, 1] - edges[:, 1] * nxt[:, 0]
        return out

    return bool(np.all(np.sign(turns(quad)) == np.sign(turns(outline))))


def _unfitted(corr: Correspondences, rule: AcceptRule) -> Verdict:
    reason = f"{len(corr)} correspondences: too few to fit a homography (needs 4)"
    return Verdict(
        False, 0.0, float(rule.min_inliers), None, 0, 0.0, len(corr), 0.0, 0.0, 0, None, (), None,
        (reason,),
    )  # fmt: skip


def _verdict(fit: _Fit, corr: Correspondences, outline: F64) -> Verdict:
    index = np.flatnonzero(fit.inlier)
    index = index[np.argsort(corr.distance[index], kind="stable")][:MAX_PAIRS]
    pairs = tuple(
        (float(q[0]), float(q[1]), float(s[0]), float(s[1]))
        for q, s in zip(corr.query_xy[index], corr.stored_xy[index], strict=True)
    )
    is_h = fit.model == "homography"
    matrix = fit.matrix / fit.matrix[2, 2] if is_h and fit.matrix[2, 2] != 0 else fit.matrix
    return Verdict(
        accepted=not fit.reasons,
        score=float(fit.inliers),
        threshold=float(fit.threshold),
        model=fit.model,
        inliers=fit.inliers,
        inlier_ratio=fit.inlier_ratio,
        correspondences=len(corr),
        spread_query=fit.spread_query,
        spread_stored=fit.spread_stored,
        cells=fit.cells,
        homography=tuple(tuple(float(v) for v in row) for row in matrix) if is_h else None,
        pairs=pairs,
        quad=tuple((float(x), float(y)) for x, y in project(matrix, outline)) if is_h else None,
        reasons=fit.reasons,
    )


@dataclass(frozen=True, slots=True)
class CopyTransform:
    """How a query that is a copy of the stored picture (or of part of it) was made from it.

    Attributes:
        scale: the query's size over the stored picture's, for the same content (0.25: the
            copy is a quarter-size thumbnail).
        rotation_deg: the rotation turning the stored picture into the query, in degrees
            counter-clockwise as seen on screen (Pillow's ``Image.rotate`` convention).
        covered_stored: share of the stored picture that appears in the query (below 1:
            cropped).
        covered_query: share of the query made of the stored picture (below 1: a border,
            caption or padding was added, or the corners of a rotation).
        label: the changes seen, joined by ``+`` in the order rotation, crop, border,
            resize; ``"copy"`` when none.
    """

    scale: float
    rotation_deg: float
    covered_stored: float
    covered_query: float
    label: str


# A copy's homography is a similarity: the query's corners land within this share of the
# projected diagonal of where the best-fitting similarity puts them. Measured: crops, borders,
# rotations and JPEG copies miss by < 0.03 %, 180-pixel thumbnails by < 0.09 %; random 15 %
# perspective warps by 3-17 %, and a mild one (corners moved by <= 11 %) by 0.9 %.
_COPY_RESIDUAL = 0.005
# "Most of one picture inside the other", and the inliers spread over a good part of that
# overlap (a poster seen in two rooms gives a homography of the poster only).
_COPY_MIN_COVER = 0.5
_COPY_MIN_SUPPORT = 0.3
# Below these, a change is not reported in the label.
_LABEL_DEGREES = 2.0
_LABEL_COVER = 0.9
_LABEL_SCALE = 1.1


def describe_copy(
    verdict: Verdict, query_size: tuple[int, int], stored_size: tuple[int, int]
) -> CopyTransform | None:
    """Describe the query as a copy of the stored picture, or None when it is not one.

    For verdicts on whole pictures (no region). None when the verdict is rejected or not a
    homography, when the homography is not nearly a similarity (the same scene from another
    viewpoint), or when neither picture lies mostly inside the other.

    Args:
        verdict: the accepted verdict of :func:`verify`.
        query_size: the query picture's ``(width, height)``.
        stored_size: the stored picture's ``(width, height)``.
    """
    if not verdict.accepted or verdict.homography is None:
        return None
    h = np.asarray(verdict.homography, np.float64)
    query_rect, stored_rect = _rectangle(*query_size), _rectangle(*stored_size)
    depth = np.c_[query_rect, np.ones(4)] @ h[2]
    if depth.min() <= 0:
        return None
    factor, residual = _similarity(query_rect, project(h, query_rect))
    if residual > _COPY_RESIDUAL:
        return None
    covered_stored = _overlap(project(h, query_rect), stored_rect)
    covered_query = _overlap(project(np.linalg.inv(h).astype(np.float64), stored_rect), query_rect)
    if max(covered_stored, covered_query) < _COPY_MIN_COVER or (
        verdict.spread_stored < _COPY_MIN_SUPPORT * covered_stored
        or verdict.spread_query < _COPY_MIN_SUPPORT * covered_query
    ):
        return None
    # In y-down pixels a positive angle of the query -> stored map turns clockwise on screen,
    # so the stored -> query map turns counter-clockwise by the same angle.
    scale, rotation = 1.0 / abs(factor), math.degrees(np.angle(factor))
    label = _copy_label(scale, rotation, covered_stored, covered_query)
    return CopyTransform(scale, rotation, covered_stored, covered_query, label)


def _rectangle(width: float, height: float) -> F64:
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)


def _similarity(source: F64, target: F64) -> tuple[complex, float]:
    """Least-squares similarity ``target ~ factor * source + shift`` (points as complex numbers).

    Returns the complex factor (its modulus the scale, its argument the rotation) and the
    largest miss relative to the target's diagonal. Closed form, hand-written: OpenCV's
    ``estimateAffinePartial2D`` is robust (RANSAC/LMedS), not least squares on four corners.
    """
    z, w = source @ [1, 1j], target @ [1, 1j]
    dz, dw = z - z.mean(), w - w.mean()
    factor = complex(np.vdot(dz, dw) / max(float(np.vdot(dz, dz).real), 1e-12))
    miss = np.abs(factor * dz - dw).max()
    return factor, float(miss / max(abs(factor) * np.abs(dz).max() * 2, 1e-12))


def _overlap(polygon: F64, rectangle: F64) -> float:
    """Share of ``rectangle`` covered by the convex ``polygon`` (``cv2.intersectConvexConvex``)."""
    area, _ = cv2.intersectConvexConvex(polygon.astype(np.float32), rectangle.astype(np.float32))
    return float(min(1.0, max(0.0, area) / max(_area(rectangle), 1e-9)))


def _copy_label(scale: float, rotation: float, stored: float, query: float) -> str:
    parts = [
        name
        for name, present in (
            ("rotation", abs(rotation) >= _LABEL_DEGREES),
            ("crop", stored < _LABEL_COVER),
            ("border", query < _LABEL_COVER),
            ("resize", not 1 / _LABEL_SCALE <= scale <= _LABEL_SCALE),
        )
        if present
    ]
    return "+".join(parts) or "copy"
