"""``match``: what a forensic tool asks before it shows an investigator a file.

Like search, plus every enabled hash list, with each match explained (signal, distance,
threshold, the list or the case), and the triage status the file would get: known-identified,
known or new. A tool that cannot share the file sends its hashes only (the digests, and any
enabled binary hash by its kind's name, such as ``pdq``); a hash sent alone is matched as given
(its rotations cannot be derived from a hash).

Stored-media matches are filtered for the requester like a search (full, signal-only or left
out; see :mod:`sightline.services.matching.search`), and the status only counts what the
requester is shown, so ``known`` never hints at a case it may not know of. Hash-list matches
are not case content: every requester allowed to match sees them.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from sightline.domain.audit import Requester
from sightline.domain.models import ListEntryRef, ListKind, TriageStatus
from sightline.domain.signals import MEDIA_DIGESTS, Signal, Variant
from sightline.errors import InvalidInputError
from sightline.features.hashes import normalize_digest
from sightline.services.context import AppContext
from sightline.services.matching.engine import MAX_LIST_THRESHOLD, MatchingEngine
from sightline.services.matching.search import Query, SearchResult, result_as_dict, search_query

# The quality given to a hash sent without one: it was computed by the sender, who chose
# to search with it.
_SENT_QUALITY = 100
# Most frame hashes one request may send: five and a half hours at one frame a second.
MAX_SENT_FRAMES = 20_000


@dataclass(frozen=True, slots=True)
class SentFrame:
    """One frame hash a tool sends instead of the video: the hash, its time, its quality."""

    hash: str
    time_ms: int
    quality: int | None = None


@dataclass(frozen=True, slots=True)
class ListMatch:
    """A hash-list entry the query matched."""

    entry: ListEntryRef
    signal: str
    distance: int
    threshold: int | None


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Media matches, list matches and the resulting triage status."""

    search: SearchResult
    lists: tuple[ListMatch, ...]
    status: TriageStatus
    suppressed_by_negative_list: bool


def query_from_hashes(
    ctx: AppContext, frames: Sequence[SentFrame] = (), **hashes: str | None
) -> Query:
    """Validate hashes sent by a tool into a query: digests and enabled binary kinds by name.

    A binary hash sent alone is matched as given (its rotations cannot be derived from it).
    ``frames`` are a video's frame hashes with their times: they are searched as the enabled
    frame-sequence kind of their space (``vpdq`` for PDQ frames), so the clip's matching
    seconds are found without the video ever being sent.

    Raises:
        InvalidInputError: no hash given, an unknown name, or a malformed value (the message
            says which).
    """
    binary = {k.name: k for k in ctx.binary_kinds()}
    unknown = sorted(set(hashes) - set(MEDIA_DIGESTS) - set(binary))
    if unknown:
        raise InvalidInputError(
            f"unknown hash {unknown[0]!r}; valid: {', '.join([*MEDIA_DIGESTS, *binary])}"
        )
    digests = {
        kind: normalize_digest(kind, value) if (value := hashes.get(kind)) else None
        for kind in MEDIA_DIGESTS
    }
    variants = tuple(
        Variant(Signal(name, kind.parse_hex(value), _SENT_QUALITY))
        for name, kind in binary.items()
        if (value := hashes.get(name))
    )
    variants += _frame_variants(ctx, frames)
    if not any(digests.values()) and not variants:
        raise InvalidInputError(f"send at least one of {', '.join([*MEDIA_DIGESTS, *binary])}")
    return Query(digests, variants, (), tuple(binary))


def _frame_variants(ctx: AppContext, frames: Sequence[SentFrame]) -> tuple[Variant, ...]:
    """Sent frame hashes as values of the enabled frame-sequence kind.

    Raises:
        InvalidInputError: too many frames, no enabled sequence kind, a malformed hash or time.
    """
    if not frames:
        return ()
    if len(frames) > MAX_SENT_FRAMES:
        raise InvalidInputError(f"at most {MAX_SENT_FRAMES} frame hashes per request")
    sequence = next((k for k in ctx.binary_kinds() if k.sequence), None)
    if sequence is None:
        raise InvalidInputError("frame hashes need a video analyzer enabled (vpdq)")
    out: list[Variant] = []
    for position, frame in enumerate(frames):
        if frame.time_ms < 0:
            raise InvalidInputError(f"frame {position}: time_ms must not be negative")
        quality = _SENT_QUALITY if frame.quality is None else frame.quality
        signal = Signal(
            sequence.name, sequence.parse_hex(frame.hash), quality, position, frame.time_ms
        )
        out.append(Variant(signal))
    return tuple(out)


def match_query(
    ctx: AppContext,
    engine: MatchingEngine,
    query: Query,
    *,
    requester: Requester,
    list_ids: Collection[int] | None = None,
) -> MatchResult:
    """Match a query against stored media and the enabled lists (optionally some of them).

    Stored-media matches are only those ``requester`` may know of (audited as ``match``).
    """
    started = time.perf_counter()
    hits = _list_hits(ctx, engine, query)
    hits = [
        h
        for h in hits
        if h.entry.list_enabled
        and not h.entry.quarantined
        and (list_ids is None or h.entry.list_id in list_ids)
    ]
    negative = any(h.entry.list_kind is ListKind.NEGATIVE for h in hits)
    if negative:  # exact (digest) hits stand; perceptual ones go
        hits = [h for h in hits if h.signal in MEDIA_DIGESTS]
        query = query.without_variants(_SUPPRESSED)
    result = search_query(
        ctx,
        engine.indexes,
        query,
        requester=requester,
        started=started,
        action="match",
        detail={"list_matches": len(hits)},
    )
    positive = [h for h in hits if h.entry.list_kind is ListKind.POSITIVE]
    if any(h.entry.victim_identified for h in positive):
        status = TriageStatus.KNOWN_IDENTIFIED
    elif positive or result.matches:
        status = TriageStatus.KNOWN
    else:
        status = TriageStatus.NEW
    return MatchResult(result, tuple(hits), status, negative)


_SUPPRESSED = "perceptual matches suppressed: the file is on a negative list"


def _list_hits(ctx: AppContext, engine: MatchingEngine, query: Query) -> list[ListMatch]:
    out: list[ListMatch] = []
    with ctx.uow() as uow:
        for exact, signal in uow.hashlists.by_digests(query.md5, query.sha1, query.sha256):
            out.append(ListMatch(exact, signal, 0, None))
        kinds = ctx.binary_kinds()
        for kind in kinds:
            index = engine.indexes.lists(kind.name)
            # Every value of the list kind's space: a video's frames against listed stills.
            same = {k.name for k in kinds if k.match_space == kind.match_space}
            mine = [v.signal.value for v in query.variants if v.signal.kind in same]
            if index is None or not mine:
                continue
            codes = np.frombuffer(b"".join(mine), dtype=np.uint8).reshape(len(mine), -1)
            best: dict[int, int] = {}
            for hits in index.search(codes, MAX_LIST_THRESHOLD):
                for hit in hits:
                    best[hit.id] = min(hit.distance, best.get(hit.id, hit.distance))
            refs = uow.hashlists.refs(best)
            for entry_id, distance in sorted(best.items(), key=lambda kv: kv[1]):
                ref = refs.get(entry_id)  # None: deleted since this index last caught up
                if ref is not None and distance <= ref.threshold:
                    out.append(ListMatch(ref, kind.name, distance, ref.threshold))
    return out


def match_as_dict(result: MatchResult) -> dict[str, object]:
    """A JSON-ready view (CLI --json and the API)."""
    data = result_as_dict(result.search)
    data["status"] = result.status.value
    data["suppressed_by_negative_list"] = result.suppressed_by_negative_list
    data["list_matches"] = [
        {
            "list_id": h.entry.list_id,
            "list": h.entry.list_name,
            "list_kind": h.entry.list_kind.value,
            "entry_id": h.entry.id,
            "external_id": h.entry.external_id,
            "series": h.entry.series,
            "victim_identified": h.entry.victim_identified,
            "signal": h.signal,
            "distance": h.distance,
            "threshold": h.threshold,
        }
        for h in result.lists
    ]
    data["lists_hit"] = sorted({h.entry.list_id for h in result.lists})
    return data
