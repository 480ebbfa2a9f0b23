r"""Training the scene vocabulary: k-means visual words, then PCA-whitening of VLADs.

:func:`train` takes the SIFT descriptors of training pictures (one ``(n, 128)`` uint8 array a
picture) and learns, in this order:

1. **Visual words**: ``faiss.Kmeans`` (``k`` centroids, 25 iterations, seeded) on a random
   sample of at most 500,000 RootSIFT descriptors drawn from all the pictures.
2. **PCA-whitening**: the normalised VLAD (:func:`~sightline.features.scene_vlad.aggregate`)
   of every training picture, centred. With ``d = k * 128 = 8192`` far above the number of
   pictures ``n``, the principal directions come from the ``n x n`` Gram matrix (its
   eigenvectors ``u`` give the directions ``X^T u / sqrt(lambda)``), never from a
   ``d x d`` covariance (256 MiB and an 8192-cube decomposition). Each kept direction is
   divided by ``sqrt(variance + floor)``, the floor being ``WHITENING_FLOOR`` (0.01) times
   the largest variance. Measured on 41 held-out pictures and their copies (rotated 15
   degrees, scaled 0.8, JPEG 60) with the provisional training set: floors of 0, 0.01, 0.1
   and 1 give the same weakest copy cosine (0.28) but unrelated pairs at a 99th percentile
   of 0.158, 0.160, 0.195 and 0.282: full whitening is best here, and the small floor only
   guards against near-zero variances when a training set is small or redundant.

Training pictures come from the command in :mod:`sightline.services.scene_vocabulary` (the
package layers keep picture generators, which are services, out of this module)::

    python -m sightline.services.scene_vocabulary --images 1600 --seed 0 --source scenes \
        --version 1 --out src/sightline/data/scene-vocabulary-v1.npz

The committed ``scene-vocabulary-v1.npz`` was made with exactly that command: 1,600 pictures
of 640 x 480 from ``sightline.services.scenes.training_images`` (generated rooms from many
viewpoints, objects and distractors; seeds from 10,000,000, disjoint from every picture the
benchmark evaluates on), 1,273,407 descriptors of which k-means used a sample of 500,000,
k = 64, dims = 256, whitening floor 0.01. It took 4 min 10 s on the 2-core machine (SIFT 239
s, k-means + VLADs + PCA 10 s); 3.95 MB (projection stored as float16).
"""

from __future__ import annotations

from collections.abc import Iterable

import faiss
import numpy as np
import numpy.typing as npt

from sightline.errors import InvalidInputError
from sightline.features.scene import DESCRIPTOR_BYTES, rootsift
from sightline.features.scene_vlad import MIN_VLAD_KEYPOINTS, Vocabulary, aggregate

__all__ = ["KMEANS_SAMPLE", "WHITENING_FLOOR", "train"]

KMEANS_SAMPLE = 500_000
KMEANS_ITERATIONS = 25
# Variance floor for whitening, relative to the largest variance kept.
WHITENING_FLOOR = 0.01


def train(
    descriptor_batches: Iterable[npt.NDArray[np.uint8]],
    *,
    k: int = 64,
    dims: int = 256,
    seed: int = 0,
    version: str = "1",
) -> Vocabulary:
    """Learn a :class:`~sightline.features.scene_vlad.Vocabulary` from training pictures.

    Args:
        descriptor_batches: the SIFT descriptors of each training picture, ``(n, 128)`` uint8;
            pictures with fewer than ``MIN_VLAD_KEYPOINTS`` are skipped.
        k: number of visual words.
        dims: length of the final vectors; needs more than ``dims`` usable pictures.
        seed: seeds the descriptor sample and k-means, so a run can be repeated.
        version: recorded in the vocabulary.

    Raises:
        InvalidInputError: too few pictures or descriptors for ``k`` and ``dims``.
    """
    batches = [np.asarray(b, np.uint8) for b in descriptor_batches]
    batches = [b for b in batches if b.ndim == 2 and len(b) >= MIN_VLAD_KEYPOINTS]
    if len(batches) <= dims:
        raise InvalidInputError(
            f"{len(batches)} usable training pictures; dims={dims} needs more than {dims}"
        )
    centroids = _visual_words(batches, k, seed)
    training = np.stack([aggregate(b, centroids) for b in batches])
    mean, projection = _pca_whitening(training, dims)
    return Vocabulary(version, centroids, mean, projection, dims)


def _visual_words(
    batches: list[npt.NDArray[np.uint8]], k: int, seed: int
) -> npt.NDArray[np.float32]:
    """k-means centroids of a seeded sample of RootSIFT descriptors."""
    every = np.concatenate(batches)
    if len(every) < k:
        raise InvalidInputError(f"{len(every)} training descriptors cannot make k={k} words")
    rng = np.random.default_rng(seed)
    if len(every) > KMEANS_SAMPLE:
        every = every[np.sort(rng.choice(len(every), KMEANS_SAMPLE, replace=False))]
    points = np.ascontiguousarray(rootsift(every))
    # faiss subsamples to 256 points a centroid unless told otherwise: use the whole sample.
    kmeans = faiss.Kmeans(
        DESCRIPTOR_BYTES,
        k,
        niter=KMEANS_ITERATIONS,
        seed=seed,
        max_points_per_centroid=len(points) // k + 1,
        verbose=False,
    )
    kmeans.train(points)
    centroids: npt.NDArray[np.float32] = np.ascontiguousarray(kmeans.centroids, np.float32)
    return centroids


def _pca_whitening(
    training: npt.NDArray[np.float32], dims: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Mean and whitening projection ``(d, dims)`` from the ``n x n`` Gram matrix."""
    mean = training.mean(axis=0)
    centred = (training - mean).astype(np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)
    top = np.argsort(eigenvalues)[::-1][:dims]
    eigenvalues = np.maximum(eigenvalues[top], 1e-12)
    directions = centred.T @ (eigenvectors[:, top] / np.sqrt(eigenvalues))
    variances = eigenvalues / max(len(training) - 1, 1)
    scale = 1.0 / np.sqrt(variances + WHITENING_FLOOR * variances[0])
    return mean.astype(np.float32), (directions * scale).astype(np.float32)
