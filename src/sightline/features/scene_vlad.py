"""A global scene descriptor for candidate retrieval: VLAD over RootSIFT, PCA-whitened.

Local features (:mod:`sightline.features.scene`) say precisely whether two pictures show the
same scene, but comparing them pair by pair is far too slow to search a collection. VLAD
(Jegou et al., 2010) turns a picture's descriptors into one vector that a float index can
search: each RootSIFT descriptor is assigned to its nearest *visual word* (one of ``k``
centroids learnt by k-means on benign pictures, :class:`Vocabulary`) and the residuals
``descriptor - centroid`` are summed per word, a ``k * 128`` vector. Then, following
Arandjelovic and Zisserman ("All about VLAD", 2013) and Jegou and Chum (2012):

1. signed square root of every component (repeated structures, *bursts*, stop dominating),
2. per-word L2 normalisation (intra-normalisation: each word counts the same),
3. global L2 normalisation,
4. PCA to ``dims`` components with whitening (each component divided by the square root of
   its variance, with a floor so that near-empty directions are not blown up into noise):
   co-occurring words are decorrelated, which is where most of the accuracy gain lies,
5. L2 normalisation again, so the inner product of two vectors is their cosine.

Regions. A whole-picture vector dilutes an object that fills a quarter of the frame, so
:func:`region_vectors` also describes ``REGION_GRID``: windows of half the width and half the
height at a stride of a quarter (3 x 3 = 9) besides the whole picture. A region query (a
rectangle of a query picture: :func:`~sightline.features.scene.subset`, then :func:`vlad`) is
compared with every stored region vector. Each descriptor is assigned once and its residual
computed once; the ten regions are then one matrix product (a ``(regions * k, n)`` weight
matrix times the ``(n, 128)`` residuals).

Measured on this 2-core machine (OpenCV 5.1, numpy 2.4, k = 64, dims = 256, the provisional
vocabulary), 12 pictures of 512 x 384 (390 keypoints on average): ``extract`` 43-46 ms median
(75 ms max), ``region_vectors`` 3.5-4 ms median (7 ms max). Under CPU contention a
multi-threaded BLAS made the small matrix products of ``region_vectors`` take 80-290 ms; with
``OPENBLAS_NUM_THREADS=1`` they stayed at 4-16 ms, so worker processes should run BLAS on one
thread. Cosines, a picture against its copy rotated by 15 degrees, scaled by 0.8 and
re-encoded as JPEG quality 60: 41 held-out 640 x 480 pictures, copies 0.28 to 0.78 (mean
0.47), unrelated pairs mean 0.00, 99th percentile 0.16, maximum 0.61 (two textures of the
same kind), each copy ranked first among the 41; in the tests (512 x 384) landscapes 0.14 to
0.45 against unrelated -0.03 to 0.08, textures 0.45 to 0.58 against -0.11 to 0.03. These
vectors only propose candidates: geometric verification of local features decides.

Nothing here is hand-written beyond the arithmetic of the steps above: assignment is a numpy
matrix product (exact nearest centroid; 64 centroids need no index), k-means and PCA live in
:mod:`sightline.features.scene_training`.
"""

from __future__ import annotations

import functools
import io
import os
import zipfile
from dataclasses import dataclass
from importlib import resources
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from sightline.errors import InvalidInputError
from sightline.features.scene import DESCRIPTOR_BYTES, LocalFeatures, rootsift

__all__ = [
    "MIN_VLAD_KEYPOINTS",
    "REGION_GRID",
    "VOCABULARY_FILE",
    "Box",
    "Vocabulary",
    "aggregate",
    "default_vocabulary",
    "region_vectors",
    "regions",
    "vlad",
]

# Fewer keypoints than this describe too little of a picture for its VLAD to mean anything.
MIN_VLAD_KEYPOINTS = 8
# (x, y, w, h) of each region as fractions of the picture: the whole, then half-size windows
# at a stride of a quarter, row by row.
REGION_GRID: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, 1.0, 1.0),
    *((x / 4, y / 4, 0.5, 0.5) for y in range(3) for x in range(3)),
)
VOCABULARY_FILE = "scene-vocabulary-v1.npz"
_FILE_FORMAT = "sightline-scene-vocabulary"

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Visual words and the PCA-whitening that turn descriptors into a VLAD vector.

    Attributes:
        version: names the training run; stored features record it, and vectors made with
            different versions must never be compared.
        centroids: ``(k, 128)`` float32, k-means centroids of RootSIFT descriptors.
        mean: ``(k * 128,)`` float32, mean of the normalised training VLADs.
        projection: ``(k * 128, dims)`` float32, principal directions divided by the square
            root of their (floored) variance: PCA and whitening in one product.
        dims: length of the final vectors.
    """

    version: str
    centroids: npt.NDArray[np.float32]
    mean: npt.NDArray[np.float32]
    projection: npt.NDArray[np.float32]
    dims: int

    def __post_init__(self) -> None:
        """Reject arrays whose shapes or types do not fit together."""
        k = self.centroids.shape[0] if self.centroids.ndim == 2 else 0
        expected = {
            "centroids": (k, DESCRIPTOR_BYTES),
            "mean": (k * DESCRIPTOR_BYTES,),
            "projection": (k * DESCRIPTOR_BYTES, self.dims),
        }
        for name, shape in expected.items():
            array = getattr(self, name)
            if array.dtype != np.float32 or array.shape != shape or k == 0:
                raise InvalidInputError(
                    f"vocabulary {name} is {array.dtype}{array.shape}, expected float32{shape}"
                )
            if not np.all(np.isfinite(array)):
                raise InvalidInputError(f"vocabulary {name} holds values that are not finite")
        if not self.version or self.dims < 1:
            raise InvalidInputError("a vocabulary needs a version and at least one dimension")

    @property
    def k(self) -> int:
        """The number of visual words."""
        return int(self.centroids.shape[0])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary as a compressed ``.npz`` (projection stored as float16).

        float16 halves the file; its relative error (under 0.05 %) moves the final cosines
        by less than 0.001.
        """
        with open(path, "wb") as out:
            np.savez_compressed(
                out,
                format=np.array(_FILE_FORMAT),
                version=np.array(self.version),
                centroids=self.centroids,
                mean=self.mean,
                projection=self.projection.astype(np.float16),
            )

    @classmethod
    def load(cls, source: str | os.PathLike[str] | IO[bytes]) -> Vocabulary:
        """Read a vocabulary written by :meth:`save` (never unpickles anything).

        Raises:
            InvalidInputError: the file is not such a vocabulary, or its arrays do not fit.
        """
        try:
            loaded = np.load(source, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise InvalidInputError("a scene vocabulary is an .npz archive")
            with loaded as data:
                if str(data["format"]) != _FILE_FORMAT:
                    raise InvalidInputError(f"not a scene vocabulary (format {data['format']})")
                arrays = {name: data[name] for name in ("centroids", "mean", "projection")}
                version = str(data["version"])
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise InvalidInputError(f"unreadable scene vocabulary: {exc}") from exc
        projection = arrays["projection"]
        return cls(
            version=version,
            centroids=arrays["centroids"],
            mean=arrays["mean"],
            projection=projection.astype(np.float32),
            dims=int(projection.shape[1]) if projection.ndim == 2 else 0,
        )


@functools.cache
def default_vocabulary() -> Vocabulary:
    """The vocabulary shipped with the package (``sightline/data/scene-vocabulary-v1.npz``)."""
    data = resources.files("sightline").joinpath("data", VOCABULARY_FILE).read_bytes()
    return Vocabulary.load(io.BytesIO(data))


def regions(width: int, height: int) -> list[Box]:
    """The ``REGION_GRID`` boxes of a ``width`` x ``height`` picture, in pixels."""
    return [(x * width, y * height, w * width, h * height) for x, y, w, h in REGION_GRID]


def vlad(
    descriptors: npt.NDArray[np.uint8], vocabulary: Vocabulary
) -> npt.NDArray[np.float32] | None:
    """The ``(dims,)`` unit-length VLAD vector of SIFT descriptors.

    Args:
        descriptors: ``(n, 128)`` uint8 SIFT descriptors (RootSIFT is applied here).
        vocabulary: the visual words and PCA-whitening.

    Returns:
        The vector, or ``None`` with fewer than ``MIN_VLAD_KEYPOINTS`` descriptors.
    """
    if len(descriptors) < MIN_VLAD_KEYPOINTS:
        return None
    residuals, words = _residuals(descriptors, vocabulary.centroids)
    raw = _sum_by_word(residuals, words, np.ones((1, len(words)), np.float32), vocabulary.k)
    vector: npt.NDArray[np.float32] = _project(_normalise(raw, vocabulary.k), vocabulary)[0]
    return vector


def region_vectors(
    features: LocalFeatures, vocabulary: Vocabulary
) -> list[tuple[Box, npt.NDArray[np.float32]]]:
    """VLAD vectors of the whole picture and of its ``REGION_GRID`` windows.

    Regions holding fewer than ``MIN_VLAD_KEYPOINTS`` keypoints are left out.
    """
    boxes = regions(features.width, features.height)
    px, py = features.xy[:, 0], features.xy[:, 1]
    membership = np.stack(
        [(px >= x) & (px < x + w) & (py >= y) & (py < y + h) for x, y, w, h in boxes]
    )
    kept = np.flatnonzero(membership.sum(axis=1) >= MIN_VLAD_KEYPOINTS)
    if kept.size == 0:
        return []
    residuals, words = _residuals(features.descriptors, vocabulary.centroids)
    raw = _sum_by_word(residuals, words, membership[kept].astype(np.float32), vocabulary.k)
    vectors = _project(_normalise(raw, vocabulary.k), vocabulary)
    return [(boxes[i], vectors[row]) for row, i in enumerate(kept)]


def aggregate(
    descriptors: npt.NDArray[np.uint8], centroids: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """The normalised VLAD before PCA (steps 1 to 3), ``(k * 128,)``: what PCA is learnt on."""
    residuals, words = _residuals(descriptors, centroids)
    k = int(centroids.shape[0])
    raw = _sum_by_word(residuals, words, np.ones((1, len(words)), np.float32), k)
    vector: npt.NDArray[np.float32] = _normalise(raw, k)[0]
    return vector


def _residuals(
    descriptors: npt.NDArray[np.uint8], centroids: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.intp]]:
    """Each RootSIFT descriptor's nearest centroid and its residual to it."""
    points = rootsift(descriptors)
    # Unit-length points: the nearest centroid maximises x.c - |c|^2 / 2.
    scores = points @ centroids.T - 0.5 * np.einsum("kd,kd->k", centroids, centroids)
    words = np.argmax(scores, axis=1)
    return points - centroids[words], words


def _sum_by_word(
    residuals: npt.NDArray[np.float32],
    words: npt.NDArray[np.intp],
    membership: npt.NDArray[np.float32],
    k: int,
) -> npt.NDArray[np.float32]:
    """``(regions, k * 128)`` residual sums per word, one row per region of ``membership``."""
    count = residuals.shape[0]
    weights = np.zeros((membership.shape[0], k, count), np.float32)
    weights[:, words, np.arange(count)] = membership
    sums = weights.reshape(-1, count) @ residuals
    return sums.reshape(membership.shape[0], k * DESCRIPTOR_BYTES).astype(np.float32)


def _normalise(raw: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.float32]:
    """Signed square root, per-word L2, global L2 (rows are regions)."""
    values = np.sign(raw) * np.sqrt(np.abs(raw))
    per_word = values.reshape(raw.shape[0], k, DESCRIPTOR_BYTES)
    norms = np.linalg.norm(per_word, axis=2, keepdims=True)
    per_word = per_word / np.maximum(norms, 1e-12)
    flat = per_word.reshape(raw.shape[0], -1)
    return _unit_rows(flat)


def _project(
    normalised: npt.NDArray[np.float32], vocabulary: Vocabulary
) -> npt.NDArray[np.float32]:
    """PCA-whitening, then L2 again."""
    return _unit_rows((normalised - vocabulary.mean) @ vocabulary.projection)


def _unit_rows(values: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = (values / np.maximum(norms, 1e-12)).astype(np.float32)
    return out
