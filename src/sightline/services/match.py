"""``match``: what a forensic tool asks before it shows an investigator a file.

Like search, plus every enabled hash list, with each match explained (signal, distance,
threshold, the list or the case), and the triage status the file would get: known-identified,
known or new. A tool that cannot share the file sends its hashes only (MD5, SHA-1, SHA-256,
PDQ); a PDQ sent alone is matched as given (its rotations cannot be derived from a hash).

Stored-media matches are filtered for the requester like a search (full, signal-only or left
out; see :mod:`sightline.services.search`), and the status only counts what the requester is
shown, so ``known`` never hints at a case it may not know of. Hash-list matches are not case
content: every requester allowed to match sees them.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from sightline.domain.audit import Requester
from sightline.domain.models import ListEntryRef, ListKind, TriageStatus
from sightline.errors import InvalidInputError
from sightline.features.hashes import PdqHash, normalize_digest
from sightline.services.context import AppContext
from sightline.services.matching import MAX_LIST_THRESHOLD, MatchingEngine
from sightline.services.search import Query, SearchResult, result_as_dict, search_query


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
    *,
    md5: str | None = None,
    sha1: str | None = None,
    sha256: str | None = None,
    pdq: str | None = None,
) -> Query:
    """Validate hashes sent by a tool into a query.

    Raises:
        InvalidInputError: no hash given, or one is malformed (the message says which).
    """
    digests = {
        kind: normalize_digest(kind, value) if value else None
        for kind, value in (("md5", md5), ("sha1", sha1), ("sha256", sha256))
    }
    variants = (PdqHash(pdq.strip(), 100),) if pdq else ()
    if not any(digests.values()) and not variants:
        raise InvalidInputError("send at least one of md5, sha1, sha256, pdq")
    return Query(digests["md5"], digests["sha1"], digests["sha256"], variants)


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
    if negative:
        hits = [h for h in hits if h.signal != "pdq"]
        query = Query(query.md5, query.sha1, query.sha256, (), (*query.notes, _SUPPRESSED))
    result = search_query(
        ctx,
        engine.media_index,
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
        if query.variants:
            codes = np.stack([v.to_array() for v in query.variants])
            best: dict[int, int] = {}
            for hits in engine.list_index.search(codes, MAX_LIST_THRESHOLD):
                for hit in hits:
                    best[hit.id] = min(hit.distance, best.get(hit.id, hit.distance))
            refs = uow.hashlists.refs(best)
            for entry_id, distance in sorted(best.items(), key=lambda kv: kv[1]):
                ref = refs.get(entry_id)  # None: deleted since this index last caught up
                if ref is not None and distance <= ref.pdq_threshold:
                    out.append(ListMatch(ref, "pdq", distance, ref.pdq_threshold))
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
