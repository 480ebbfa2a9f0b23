"""Scene matches: candidates from the float index, verified geometrically.

A kind whose signal kind names a ``features_artifact`` (the ``scene`` kind: region
descriptors over local features) is searched in two steps, as image retrieval does:

1. **Candidates.** Every window vector of the query is looked up in the kind's float index
   (k nearest by cosine); a stored item's candidate score is its best window's similarity.
   The batch's own new items (``fresh``), not yet in the index, are compared directly.
   Candidates under ``MIN_SIMILARITY`` are dropped, the rest ranked, and at most
   ``verify_at_most`` go on.
2. **Verification.** The query's local features are matched with each candidate's (read
   back from its encrypted artifact) and the geometry is fitted
   (:func:`sightline.features.geometry.verify`); only an accepted verdict is evidence. A
   verdict that maps one picture onto (part of) the other by a near-similarity is a *copy*
   (:func:`describe_copy`: cropped, turned, scaled, bordered) and counts as known material
   like a PDQ copy; any other accepted verdict is the *same scene* (another photo of the
   place or object): a lead, never hidden as known.

The evidence's ``distance`` ranks scene matches among themselves (lower is better: 100
times the rule's threshold over the score, so 100 is just accepted, 25 four times over it);
its explanation holds the real figures (inliers, ratio, spread, the transform, a sample of
the matched keypoints, the projected outline).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sightline.domain.signals import SignalKind
from sightline.features.geometry import Verdict, describe_copy, verify
from sightline.features.scene import LocalFeatures, decode
from sightline.services.matching.evidence import Evidence, Fresh
from sightline.services.signals.indexes import IndexSet
from sightline.storage.blobs.base import BlobStore
from sightline.storage.unit_of_work import UnitOfWork

__all__ = [
    "MIN_SIMILARITY",
    "SceneQuery",
    "artifact_features",
    "scene_evidence",
    "scene_lookup",
    "stored_features",
]

# Nearest stored windows looked up per query window.
NEAREST_PER_WINDOW = 32
# A candidate whose best window is less similar than this (cosine) is not verified.
MIN_SIMILARITY = 0.15
# Candidates verified per query: a search (an investigator waits) and ingest (per new item).
VERIFY_AT_SEARCH = 24
VERIFY_AT_INGEST = 8


@dataclass(frozen=True, slots=True)
class SceneQuery:
    """What one query searches with through a scene kind.

    Attributes:
        vectors: per scene kind, the query's window descriptors (float32 bytes).
        features: its local features, or a function that reads them, given the kind's
            features artifact, when first needed (at ingest they lie in the blob store;
            most items never need them).
        region: the rectangle (x, y, w, h, in the features' pixels) a region query
            searched, so each hit shows where in it the region was found.
    """

    vectors: Mapping[str, Sequence[bytes]]
    features: LocalFeatures | Callable[[str], LocalFeatures | None] | None
    region: tuple[float, float, float, float] | None = None

    def local_features(self, artifact: str) -> LocalFeatures | None:
        """The query's local features (read if they come from a function)."""
        if callable(self.features):
            return self.features(artifact)
        return self.features


FeaturesOf = Callable[[str, Iterable[int]], Mapping[int, LocalFeatures]]
"""(Features artifact, media ids) -> their stored local features (those that have them)."""


def stored_features(uow: UnitOfWork, blobs: BlobStore) -> FeaturesOf:
    """A reader of stored items' local features: their artifact, decrypted and decoded."""

    def read(artifact: str, media_ids: Iterable[int]) -> dict[int, LocalFeatures]:
        out: dict[int, LocalFeatures] = {}
        for media_id, item in uow.media.get_many(media_ids).items():
            features = artifact_features(blobs, item.sha256, artifact)
            if features is not None:
                out[media_id] = features
        return out

    return read


def artifact_features(blobs: BlobStore, sha256: str, artifact: str) -> LocalFeatures | None:
    """The local features stored as ``artifact`` of the file ``sha256``; None if there are none."""
    blob_id = blobs.blob_id_for(sha256, artifact)
    return decode(blobs.read_bytes(blob_id)) if blobs.exists(blob_id) else None


def scene_lookup(
    uow: UnitOfWork,
    indexes: IndexSet,
    kinds: Sequence[SignalKind],
    queries: Mapping[int, SceneQuery],
    features_of: FeaturesOf,
    fresh: Fresh | None = None,
    *,
    verify_at_most: int = VERIFY_AT_SEARCH,
    exclude: Mapping[int, Collection[int]] | None = None,
) -> dict[int, dict[tuple[int, str], Evidence]]:
    """Query key -> {(stored media id, kind): evidence} for every verified scene match.

    Args:
        uow: an open unit of work (to place stored vectors in their items).
        indexes: the float indexes.
        kinds: the scene kinds to search (each has a float index and a features artifact).
        queries: per query key, what it searches with.
        features_of: reads stored items' local features.
        fresh: per kind, vectors of media not yet in the index (the batch being ingested).
        verify_at_most: candidates verified per query.
        exclude: query key -> media ids not to verify: the query item itself, and items
            it already matches by a hash (a copy PDQ found needs no geometry, and its
            verification would only cost time).
    """
    fresh = fresh or {}
    found: dict[int, dict[tuple[int, str], Evidence]] = defaultdict(dict)
    for kind in kinds:
        ranked = _candidates(uow, indexes, kind, queries, fresh.get(kind.name, {}))
        for owner, scores in ranked.items():
            excluded = (exclude or {}).get(owner, ())
            best = sorted(
                ((s, m) for m, s in scores.items() if m not in excluded and s >= MIN_SIMILARITY),
                reverse=True,
            )[:verify_at_most]
            if not best:
                continue
            query = queries[owner].local_features(kind.features_artifact or "")
            if query is None:
                continue
            stored = features_of(kind.features_artifact or "", [m for _, m in best])
            for similarity, media_id in best:
                other = stored.get(media_id)
                if other is None:
                    continue
                verdict = verify(query, other, region=queries[owner].region)
                if verdict.accepted:
                    found[owner][(media_id, kind.name)] = scene_evidence(
                        kind, verdict, query, other, similarity
                    )
    return found


def _candidates(
    uow: UnitOfWork,
    indexes: IndexSet,
    kind: SignalKind,
    queries: Mapping[int, SceneQuery],
    fresh: Mapping[int, Sequence[tuple[bytes, int | None]]],
) -> dict[int, dict[int, float]]:
    """Query key -> stored media id -> best window similarity (index and fresh items)."""
    rows = [(owner, v) for owner, q in queries.items() for v in q.vectors.get(kind.name, ())]
    out: dict[int, dict[int, float]] = defaultdict(dict)
    if not rows:
        return out
    matrix = _rows(v for _, v in rows)
    hits = indexes.vectors(kind.name).nearest(matrix, NEAREST_PER_WINDOW)
    places = uow.signals.locate(h.id for row in hits for h in row)
    for (owner, _), row in zip(rows, hits, strict=True):
        scores = out[owner]
        for hit in row:
            place = places.get(hit.id)
            if place is not None:
                scores[place[0]] = max(hit.score, scores.get(place[0], -1.0))
    if fresh:
        owners = [m for m, values in fresh.items() for _ in values]
        stored = _rows(v for values in fresh.values() for v, _ in values)
        similarity = matrix @ stored.T
        for (owner, _), row in zip(rows, similarity, strict=True):
            scores = out[owner]
            for index in np.flatnonzero(row >= MIN_SIMILARITY):
                media_id = owners[index]
                scores[media_id] = max(float(row[index]), scores.get(media_id, -1.0))
    return out


def _rows(values: Iterable[bytes]) -> npt.NDArray[np.float32]:
    data = [np.frombuffer(v, dtype="<f4") for v in values]
    return np.vstack(data).astype(np.float32) if data else np.zeros((0, 0), np.float32)


def scene_evidence(
    kind: SignalKind,
    verdict: Verdict,
    query: LocalFeatures,
    stored: LocalFeatures,
    similarity: float,
) -> Evidence:
    """An accepted verdict as evidence: a copy (with its transform) or the same scene."""
    copy = describe_copy(verdict, (query.width, query.height), (stored.width, stored.height))
    explanation: dict[str, Any] = {
        **verdict.as_dict(),
        "similarity": round(similarity, 4),
        "query_size": [query.width, query.height],
        "stored_size": [stored.width, stored.height],
        "copy": None if copy is None else _copy_as_dict(copy),
    }
    distance = round(100 * verdict.threshold / max(verdict.score, 1e-9))
    return Evidence(
        kind.name,
        min(distance, 100),
        100,
        copy.label if copy is not None else "same scene",
        explanation=explanation,
        copy=copy is not None,
    )


def _copy_as_dict(copy: Any) -> dict[str, Any]:
    return {
        "label": copy.label,
        "scale": round(float(copy.scale), 4),
        "rotation_deg": round(float(copy.rotation_deg), 2),
        "covered_stored": round(float(copy.covered_stored), 4),
        "covered_query": round(float(copy.covered_query), 4),
    }
