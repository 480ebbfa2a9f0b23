"""How two items match, from the pairs of codes that lie within the threshold.

Every binary kind is searched the same way: each code of the query (a still's PDQ and its
eight rotations and mirrors, or every sampled frame of a video with its variants) is looked up
in the index of every kind of the same *space* (a still's PDQ and a frame's PDQ are both
``pdq``), so a still finds the video it was taken from and a video finds its stills. The hits
of one query against one stored item are then weighed here:

- a still on either side: any hit is a match; the distance is the best one, and the frames
  of the recording it matched are listed with their times;
- two recordings: the hits are frame pairs with a time on each side. vPDQ's rule gives the
  share of each side matched (a frame counts when a frame of the other lies within the
  threshold); a robust alignment (:mod:`sightline.features.alignment`) turns the pairs into
  aligned segments, each with its time ranges on both sides, offset and speed ratio. The two
  match when a segment is supported by ``MIN_SEGMENT_PAIRS`` frame pairs, or when at least
  ``MIN_SHARE`` of either side matches (a short or static recording has few frames). Pairs
  that fit no segment are chance hits (a dark frame, a logo) and do not make a match alone.

The variant (original, mirror, rotation) that explains most pairs is the transform reported;
only its pairs are aligned, so a mirrored copy's frames are not mixed with chance hits of
other variants.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sightline.domain.signals import SignalKind
from sightline.features.alignment import Pair, Segment, align, share_matched
from sightline.features.fingerprint import SharedStretch, shared_stretches
from sightline.services.signals.indexes import IndexSet
from sightline.storage.unit_of_work import UnitOfWork

# A segment this well supported (three seconds of frames at one a second) is a match.
MIN_SEGMENT_PAIRS = 3
# Or this share of either recording matched (vPDQ's percentage rule), for short recordings.
MIN_SHARE = 0.5
# Matched frame pairs kept with a match to show where it lies.
SAMPLE_PAIRS = 24


@dataclass(frozen=True, slots=True)
class Probe:
    """One code a query looks up: a value or a variant, with its time in the recording."""

    code: bytes
    time_ms: int | None = None
    transform: str = "original"
    probe_only: bool = False  # looked up, not stored: not one of the frames shares count


@dataclass(frozen=True, slots=True)
class Hit:
    """One query code within the threshold of one stored code."""

    query_ms: int | None
    stored_ms: int | None
    distance: int
    transform: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a query matches one stored item through one stored signal kind.

    Attributes:
        kind: the stored item's signal kind that matched.
        distance: the best distance (stills), or the mean distance of the best segment's
            frame pairs (recordings), rounded.
        threshold: the kind's match distance.
        transform: what turns the query into the stored item (``original``, ``mirror``...).
        share_query: share of the query's frames matched (recordings only).
        share_stored: share of the stored item's frames matched (recordings only).
        segments: aligned segments, best supported first (recordings only).
        frames: a sample of matched pairs: (query time, stored time, distance); a still's
            time is None.
    """

    kind: str
    distance: int
    threshold: int
    transform: str
    share_query: float | None = None
    share_stored: float | None = None
    segments: tuple[Segment, ...] = ()
    frames: tuple[tuple[int | None, int | None, int], ...] = field(default=())
    # Soundtracks: the best shared stretch's similarity and the rule's floor.
    similarity: tuple[float, float] | None = None
    # Scenes: the geometric verification's figures (inliers, transform, keypoint pairs).
    explanation: Mapping[str, Any] | None = None
    # Whether the query is a copy of the stored item (or of part of it), so known material:
    # every hash match is; a scene match only when the geometry says so.
    copy: bool = True

    def detail(self) -> dict[str, Any] | None:
        """The JSON-ready explanation stored with a match; None for two stills' hashes."""
        if self.explanation is not None:
            return {"scene": dict(self.explanation)}
        timed = any(q is not None or s is not None for q, s, _ in self.frames)
        if not timed and self.share_query is None:
            return None
        out: dict[str, Any] = {"frames": [list(f) for f in self.frames]}
        if self.share_query is not None and self.share_stored is not None:
            out["share_query"] = round(self.share_query, 4)
            out["share_stored"] = round(self.share_stored, 4)
            out["segments"] = [segment_as_dict(s) for s in self.segments]
        if self.similarity is not None:
            out["similarity"] = round(self.similarity[0], 4)
            out["similarity_threshold"] = round(self.similarity[1], 4)
        return out


def segment_as_dict(segment: Segment) -> dict[str, Any]:
    """A segment as JSON: both time ranges in ms, offset in ms, speed, pairs, distance."""
    return {
        "query_start_ms": segment.a_start_ms,
        "query_end_ms": segment.a_end_ms,
        "stored_start_ms": segment.b_start_ms,
        "stored_end_ms": segment.b_end_ms,
        "offset_ms": segment.offset_ms,
        "speed": round(segment.speed, 4),
        "pairs": segment.pairs,
        "mean_distance": round(segment.mean_distance, 2),
    }


def flip_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A stored explanation seen from the other item: query and stored sides swapped."""
    out = dict(detail)
    out["frames"] = [[s, q, d] for q, s, d in detail.get("frames", [])]
    if "share_query" in detail:
        out["share_query"], out["share_stored"] = detail["share_stored"], detail["share_query"]
    segments = []
    for seg in detail.get("segments", []):
        speed = seg["speed"] or 1.0
        segments.append(
            {
                **seg,
                "query_start_ms": seg["stored_start_ms"],
                "query_end_ms": seg["stored_end_ms"],
                "stored_start_ms": seg["query_start_ms"],
                "stored_end_ms": seg["query_end_ms"],
                "offset_ms": -seg["offset_ms"],
                "speed": round(1 / speed, 4),
            }
        )
    if "segments" in detail:
        out["segments"] = segments
    return out


def weigh(
    kind: SignalKind,
    hits: Sequence[Hit],
    query_times: Sequence[int | None],
    stored_times: Sequence[int | None],
    probe_times: Sequence[int | None] = (),
) -> Evidence | None:
    """The evidence ``hits`` give that a query matches one stored item; None: no match.

    Args:
        kind: the stored item's kind (its threshold).
        hits: every query code within the threshold of one of the item's codes.
        query_times: the times of the query's own values (not its variants).
        stored_times: the times of the stored item's values of ``kind``.
        probe_times: the times of the query's probe-only frames: their pairs place the
            stored item's frames (its share matched) but are not the query's frames.
    """
    if not hits:
        return None
    transform = _dominant_transform(hits)
    best: dict[tuple[int | None, int | None], int] = {}
    for hit in hits:
        if hit.transform == transform:
            key = (hit.query_ms, hit.stored_ms)
            best[key] = min(hit.distance, best.get(key, hit.distance))
    frames = sorted((q, s, d) for (q, s), d in best.items())
    threshold = kind.threshold or 0
    sample = tuple(_sample(frames, SAMPLE_PAIRS))
    mine = [t for t in query_times if t is not None]
    theirs = [t for t in stored_times if t is not None]
    pairs = [Pair(q, s, float(d)) for q, s, d in frames if q is not None and s is not None]
    if len(mine) < 2 or len(theirs) < 2 or len(pairs) < len(frames):  # a still on a side
        closest = min(d for _, _, d in frames)
        return Evidence(kind.name, closest, threshold, transform, frames=sample)
    segments = tuple(align(pairs))
    share_query = share_matched(mine, theirs, pairs)[0]
    probed = [t for t in probe_times if t is not None]
    share_stored = share_matched(mine + probed, theirs, pairs)[1]
    strong = [s for s in segments if s.pairs >= MIN_SEGMENT_PAIRS]
    if not strong and max(share_query, share_stored) < MIN_SHARE:
        return None
    distance = round(strong[0].mean_distance) if strong else min(d for _, _, d in frames)
    return Evidence(
        kind.name,
        distance,
        threshold,
        transform,
        share_query,
        share_stored,
        tuple(strong) or segments,
        sample,
    )


def _dominant_transform(hits: Sequence[Hit]) -> str:
    """The variant that explains the most distinct query codes (ties: the closer one)."""
    matched: dict[str, set[int | None]] = defaultdict(set)
    total: Counter[str] = Counter()
    for hit in hits:
        matched[hit.transform].add(hit.query_ms)
        total[hit.transform] += hit.distance
    return min(
        matched,
        key=lambda t: (-len(matched[t]), total[t] / max(len(matched[t]), 1), t != "original"),
    )


def _sample(
    frames: Sequence[tuple[int | None, int | None, int]], limit: int
) -> Iterable[tuple[int | None, int | None, int]]:
    """At most ``limit`` pairs spread evenly over ``frames`` (which are in time order)."""
    if len(frames) <= limit:
        return frames
    picks = np.linspace(0, len(frames) - 1, limit).round().astype(int)
    return [frames[i] for i in sorted(set(picks.tolist()))]


# -- looking up -------------------------------------------------------------------------------

Fresh = Mapping[str, Mapping[int, Sequence[tuple[bytes, int | None]]]]
"""Per signal kind, the codes (with times) of media not yet visible to the indexes, by id."""


def lookup(
    uow: UnitOfWork,
    indexes: IndexSet,
    kinds: Sequence[SignalKind],
    probes: Mapping[int, Mapping[str, Sequence[Probe]]],
    fresh: Fresh | None = None,
) -> dict[int, dict[tuple[int, str], Evidence]]:
    """Query id -> {(stored media id, stored kind): evidence} for every item that matches.

    Args:
        uow: an open unit of work (to place stored codes in their items and recordings).
        indexes: the media indexes of every binary kind.
        kinds: the enabled binary kinds, with their effective thresholds.
        probes: per query (a media id at ingest, any key for a search), per kind, the codes
            to look up.
        fresh: codes of media not yet in the indexes (the batch being ingested).
    """
    fresh = fresh or {}
    hits: dict[tuple[int, int, str], list[Hit]] = defaultdict(list)
    for stored in kinds:
        rows = [
            (owner, probe)
            for owner, by_kind in probes.items()
            for query_kind in kinds
            if query_kind.match_space == stored.match_space
            for probe in by_kind.get(query_kind.name, ())
        ]
        if not rows:
            continue
        radius = stored.threshold or 0
        _index_hits(uow, indexes, stored, rows, radius, hits)
        _fresh_hits(stored, rows, fresh.get(stored.name, {}), radius, hits)
    times = _stored_times(uow, hits, fresh)
    found: dict[int, dict[tuple[int, str], Evidence]] = defaultdict(dict)
    by_name = {k.name: k for k in kinds}
    for (owner, other, kind_name), item_hits in hits.items():
        own = [
            p
            for kind in kinds
            if kind.match_space == by_name[kind_name].match_space
            for p in probes[owner].get(kind.name, ())
            if p.transform == "original"
        ]
        evidence = weigh(
            by_name[kind_name],
            item_hits,
            [p.time_ms for p in own if not p.probe_only],
            times.get((other, kind_name), [None]),
            [p.time_ms for p in own if p.probe_only],
        )
        if evidence is not None:
            found[owner][(other, kind_name)] = evidence
    return found


def _index_hits(
    uow: UnitOfWork,
    indexes: IndexSet,
    stored: SignalKind,
    rows: Sequence[tuple[int, Probe]],
    radius: int,
    hits: dict[tuple[int, int, str], list[Hit]],
) -> None:
    codes = np.frombuffer(b"".join(p.code for _, p in rows), dtype=np.uint8)
    results = indexes.media(stored.name).search(codes.reshape(len(rows), -1), radius)
    places = uow.signals.locate(h.id for row in results for h in row)
    for (owner, probe), row in zip(rows, results, strict=True):
        for hit in row:
            place = places.get(hit.id)
            if place is not None:  # None: removed since the index last caught up
                other, time_ms = place
                hits[(owner, other, stored.name)].append(
                    Hit(probe.time_ms, time_ms, hit.distance, probe.transform)
                )


def _fresh_hits(
    stored: SignalKind,
    rows: Sequence[tuple[int, Probe]],
    fresh: Mapping[int, Sequence[tuple[bytes, int | None]]],
    radius: int,
    hits: dict[tuple[int, int, str], list[Hit]],
) -> None:
    """Hits among a batch's own new codes, by brute force.

    A batch holds at most a few thousand new codes (a few videos' frames), so comparing every
    query code with every one of them (a popcount of their XOR) stays in milliseconds.
    """
    owners = [(media_id, time_ms) for media_id, codes in fresh.items() for _, time_ms in codes]
    if not rows or not owners:
        return
    word = np.dtype(np.uint64 if stored.bits is not None and stored.bits % 64 == 0 else np.uint8)
    packed = b"".join(code for codes in fresh.values() for code, _ in codes)
    stored_codes: npt.NDArray[np.unsignedinteger[Any]] = np.frombuffer(packed, dtype=word)
    stored_codes = stored_codes.reshape(len(owners), -1)
    queries: npt.NDArray[np.unsignedinteger[Any]] = np.frombuffer(
        b"".join(p.code for _, p in rows), dtype=word
    )
    queries = queries.reshape(len(rows), -1)
    # Bounded memory: a block of queries against every fresh code is at most 4 M words (32 MB).
    step = max(1, (1 << 22) // (stored_codes.shape[0] * stored_codes.shape[1]))
    for start in range(0, len(rows), step):
        block = queries[start : start + step]
        xor = block[:, None, :] ^ stored_codes[None, :, :]
        distances = np.bitwise_count(xor).sum(axis=2, dtype=np.int64)
        for offset, row in enumerate(distances):
            owner, probe = rows[start + offset]
            for index in np.flatnonzero(row <= radius):
                other, time_ms = owners[index]
                hits[(owner, other, stored.name)].append(
                    Hit(probe.time_ms, time_ms, int(row[index]), probe.transform)
                )


def _stored_times(
    uow: UnitOfWork, hits: Mapping[tuple[int, int, str], list[Hit]], fresh: Fresh
) -> dict[tuple[int, str], list[int | None]]:
    """(Stored media id, kind) -> the times of all its values of that kind."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for _, other, kind in hits:
        wanted[kind].add(other)
    out: dict[tuple[int, str], list[int | None]] = {}
    for kind, media_ids in wanted.items():
        for media_id, times in uow.signals.times_of(kind, media_ids).items():
            out[(media_id, kind)] = times
        for media_id, codes in fresh.get(kind, {}).items():
            if media_id in media_ids:
                out[(media_id, kind)] = [t for _, t in codes]
    return out


# -- soundtracks ------------------------------------------------------------------------------


def sound_lookup(
    uow: UnitOfWork,
    indexes: IndexSet,
    kinds: Sequence[SignalKind],
    probes: Mapping[int, Mapping[str, Sequence[Probe]]],
    fresh: Fresh | None = None,
) -> dict[int, dict[tuple[int, str], Evidence]]:
    """Query id -> {(stored media id, kind): evidence} for recordings that share sound.

    A query's fingerprint chunks (``probes`` of a fingerprint kind, in time order) are joined
    and searched in the kind's index; every hit is a verified shared stretch (the rule of
    :mod:`sightline.features.fingerprint`). The batch's own new recordings (``fresh``) are
    compared directly.
    """
    del uow  # the index holds whole recordings under their media ids
    fresh = fresh or {}
    found: dict[int, dict[tuple[int, str], Evidence]] = defaultdict(dict)
    for kind in kinds:
        if kind.name not in indexes.sound_kinds:
            continue
        service = indexes.sounds(kind.name)
        batch = {m: _joined(codes) for m, codes in fresh.get(kind.name, {}).items()}
        for owner, by_kind in probes.items():
            chunks = by_kind.get(kind.name, ())
            if not chunks:
                continue
            query = _joined([(p.code, p.time_ms) for p in chunks if p.transform == "original"])
            hits = [(h.key, list(h.stretches)) for h in service.search(query)]
            hits += [
                (other, found_here)
                for other, stored in batch.items()
                if (found_here := shared_stretches(query, stored, rule=service.rule))
            ]
            for other, stretches in hits:
                stored_len = len(batch[other]) if other in batch else service.length(other)
                found[owner][(other, kind.name)] = _sound_evidence(
                    kind, stretches, len(query), stored_len, service.rule.similarity
                )
    return found


def _joined(chunks: Iterable[tuple[bytes, int | None]]) -> npt.NDArray[np.uint32]:
    """A recording's fingerprint from its chunks, in time order."""
    ordered = sorted(chunks, key=lambda c: c[1] or 0)
    return np.frombuffer(b"".join(c for c, _ in ordered), dtype="<u4").astype(np.uint32)


def _sound_evidence(
    kind: SignalKind,
    stretches: Sequence[SharedStretch],
    query_items: int,
    stored_items: int,
    floor: float,
) -> Evidence:
    """Shared stretches as evidence: segments at speed 1, shares of each side, similarity."""
    best = max(stretches, key=lambda s: s.similarity)
    segments = tuple(
        Segment(
            s.a_start_ms,
            s.a_end_ms,
            s.b_start_ms,
            s.b_end_ms,
            1.0,
            s.offset_ms,
            s.items,
            32 * (1 - s.similarity),
        )
        for s in sorted(stretches, key=lambda s: -s.items)
    )
    shared = sum(s.items for s in stretches)
    return Evidence(
        kind.name,
        round(100 * (1 - best.similarity)),
        round(100 * (1 - floor)),
        "original",
        min(1.0, shared / max(query_items, 1)),
        min(1.0, shared / max(stored_items, 1)),
        segments,
        similarity=(best.similarity, floor),
        copy=False,  # shared sound over other pictures is a lead, not known material
    )
