"""Search: have we seen this image anywhere before?

A query file is hashed like an ingested one. Exact matches come from any of the three
digests; perceptual matches from PDQ within the threshold, where the query's eight
rotations and mirror images are searched too (PDQ itself is not invariant to them).

What a requester sees of a match is decided by the access policy, in the database: the
sightings of cases it may view the metadata of come in full (agency, case, original path,
device); for cases it may only know a match exists in, the agency code and case reference
(whom to contact) and nothing else, not even the stored item's id or digest; a stored item
with neither is left out, so the result does not tell that anything matched there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sightline.analyzers.base import MediaInput
from sightline.analyzers.crypto import file_digests
from sightline.analyzers.pdq import DIHEDRAL_ORDER, dihedral_hashes
from sightline.domain.access import Action
from sightline.domain.audit import Requester
from sightline.domain.models import MediaItem, SightingLocation
from sightline.errors import AnalysisFailed
from sightline.features.hashes import PdqHash
from sightline.services.audit import record_request
from sightline.services.context import AppContext
from sightline.services.signal_index import SignalIndexService
from sightline.storage.repositories.media import MatchedCase
from sightline.storage.unit_of_work import UnitOfWork

FULL = "full"
"""A match the requester may see the sightings of."""
SIGNAL_ONLY = "signal-only"
"""A match the requester may only know exists: agency code and case reference, nothing else."""


@dataclass(frozen=True, slots=True)
class SearchMatch:
    """One stored media item that matches the query, with the evidence.

    ``locations`` are the sightings the requester may see in full; ``restricted`` the cases
    it may only know the item was seen in. An item with only restricted cases is
    ``signal-only``: its id, digest, distance and transform are not shown.
    """

    media: MediaItem
    signals: tuple[str, ...]
    distance: int
    threshold: int | None
    transform: str | None
    locations: tuple[SightingLocation, ...]
    restricted: tuple[MatchedCase, ...] = ()

    @property
    def visibility(self) -> str:
        """``full`` or ``signal-only``."""
        return FULL if self.locations or not self.restricted else SIGNAL_ONLY


@dataclass(frozen=True, slots=True)
class Query:
    """What is searched: digests (any may be missing) and PDQ variants (may be empty).

    A query built from a file carries all three digests and the 8 dihedral PDQ variants; a
    forensic tool that cannot share the file sends only the hashes it has.
    """

    md5: str | None
    sha1: str | None
    sha256: str | None
    variants: tuple[PdqHash, ...]
    notes: tuple[str, ...] = ()

    @property
    def digests(self) -> dict[str, str | None]:
        """The digests by name."""
        return {"md5": self.md5, "sha1": self.sha1, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Everything a search found, plus what was computed from the query."""

    query: Query
    matches: tuple[SearchMatch, ...]
    elapsed_ms: float = field(default=0.0)

    @property
    def pdq(self) -> PdqHash | None:
        """The query's own PDQ hash (the first variant), if any."""
        return self.query.variants[0] if self.query.variants else None


def query_from_file(ctx: AppContext, path: Path) -> Query:
    """Hash a file the way ingest does, plus the 8 rotations and mirrors of its PDQ."""
    digests = file_digests(path)
    notes: list[str] = []
    variants: list[PdqHash] = []
    media = MediaInput(path, max_pixels=ctx.settings.ingest.max_pixels)
    try:
        variants = dihedral_hashes(media)
    except AnalysisFailed as exc:
        notes.append(f"no perceptual search: {exc.message}")
    finally:
        media.close()
    min_quality = ctx.settings.match.pdq_min_quality
    if variants and variants[0].quality < min_quality:
        notes.append(
            f"no perceptual search: PDQ quality {variants[0].quality} is below {min_quality}"
        )
        variants = []
    return Query(digests["md5"], digests["sha1"], digests["sha256"], tuple(variants), tuple(notes))


def search_file(
    ctx: AppContext, index: SignalIndexService, path: Path, *, requester: Requester
) -> SearchResult:
    """Search the store for the file at ``path`` (audited as a search)."""
    started = time.perf_counter()
    query = query_from_file(ctx, path)
    return search_query(ctx, index, query, requester=requester, started=started)


def search_query(
    ctx: AppContext,
    index: SignalIndexService,
    query: Query,
    *,
    requester: Requester,
    started: float | None = None,
    action: str = "search",
    detail: Mapping[str, int] | None = None,
) -> SearchResult:
    """Exact and perceptual matches of ``query`` among stored media.

    Only what ``requester`` may see is returned (see the module docstring). Every search is
    written to the audit trail (who, from where, how many matches were returned; never the
    query's hashes).
    """
    started = time.perf_counter() if started is None else started
    threshold = ctx.settings.match.pdq_threshold
    perceptual = _perceptual(index, query.variants, threshold)
    matches = _assemble(ctx, query.digests, perceptual, threshold, requester)
    restricted = sum(1 for m in matches if m.visibility == SIGNAL_ONLY)
    with ctx.uow() as uow:
        counts = {"media_matches": len(matches), **(detail or {})}
        if restricted:
            counts["signal_only"] = restricted
        record_request(uow, requester, action, "store", detail=counts)
        uow.commit()
    return SearchResult(query, matches, (time.perf_counter() - started) * 1000)


def _perceptual(
    index: SignalIndexService, variants: Sequence[PdqHash], threshold: int
) -> dict[int, tuple[int, str]]:
    """Signal id -> (best distance, variant name)."""
    if not variants:
        return {}
    codes = np.stack([v.to_array() for v in variants])
    best: dict[int, tuple[int, str]] = {}
    # A hashes-only query has one variant (the hash as sent); a file query has all eight.
    for name, hits in zip(DIHEDRAL_ORDER, index.search(codes, threshold), strict=False):
        for hit in hits:
            if hit.id not in best or hit.distance < best[hit.id][0]:
                best[hit.id] = (hit.distance, name)
    return best


def _assemble(
    ctx: AppContext,
    digests: dict[str, str | None],
    perceptual: dict[int, tuple[int, str]],
    threshold: int,
    requester: Requester,
) -> tuple[SearchMatch, ...]:
    with ctx.uow() as uow:
        exact = uow.media.by_digests(**digests)
        signal_media = uow.signals.media_ids(perceptual)
        by_media: dict[int, tuple[int, str]] = {}
        for signal_id, (distance, variant) in perceptual.items():
            media_id = signal_media[signal_id]
            if media_id not in by_media or distance < by_media[media_id][0]:
                by_media[media_id] = (distance, variant)
        candidates = {m.id for m in exact} | set(by_media)
        locations, restricted = _visible(uow, candidates, requester)
        if requester.access is not None:  # an item seen nowhere the requester may know of
            candidates = set(locations) | set(restricted)
        items = uow.media.get_many(candidates)
    matches: list[SearchMatch] = []
    exact_ids = {m.id for m in exact}
    for media_id, media in items.items():
        signals = tuple(k for k in ("sha256", "sha1", "md5") if getattr(media, k) == digests[k])
        if media_id in by_media:
            signals += ("pdq",)
        distance, variant = by_media.get(media_id, (0, "original"))
        matches.append(
            SearchMatch(
                media=media,
                signals=signals,
                distance=0 if media_id in exact_ids else distance,
                threshold=threshold if "pdq" in signals else None,
                transform=None if media_id in exact_ids or variant == "original" else variant,
                locations=tuple(locations.get(media_id, [])),
                restricted=tuple(restricted.get(media_id, [])),
            )
        )
    matches.sort(key=lambda m: (m.visibility != FULL, m.distance, m.media.id))
    return tuple(matches)


def _visible(
    uow: UnitOfWork, media_ids: set[int], requester: Requester
) -> tuple[dict[int, list[SightingLocation]], dict[int, list[MatchedCase]]]:
    """Sightings shown in full, and cases only known to hold a match, filtered in SQL."""
    full = requester.scope(Action.VIEW_METADATA)
    locations = uow.sightings.locations(media_ids, scope=full)
    signal = requester.scope(Action.SEE_MATCH_EXISTS)
    if signal is None:  # the local operator sees every sighting in full
        return locations, {}
    return locations, uow.sightings.matched_cases(media_ids, scope=signal, exclude=full)


def result_as_dict(result: SearchResult) -> dict[str, object]:
    """A JSON-ready view of a search result (used by the CLI's --json and the API)."""
    return {
        "query": {
            **result.query.digests,
            "pdq": result.pdq.hex if result.pdq else None,
            "pdq_quality": result.pdq.quality if result.pdq else None,
        },
        "notes": list(result.query.notes),
        "elapsed_ms": round(result.elapsed_ms, 3),
        "matches": [_match_as_dict(m) for m in result.matches],
    }


def _match_as_dict(match: SearchMatch) -> dict[str, object]:
    full = match.visibility == FULL
    return {
        "visibility": match.visibility,
        "media_id": match.media.id if full else None,
        "sha256": match.media.sha256 if full else None,
        "signals": list(match.signals),
        "distance": match.distance if full else None,
        "threshold": match.threshold if full else None,
        "transform": match.transform if full else None,
        "sightings": [
            {
                "visibility": FULL,
                "agency": loc.agency_code,
                "case": loc.case_reference,
                "original_path": loc.original_path,
                "device": loc.device_label,
            }
            for loc in match.locations
        ]
        + [
            {
                "visibility": SIGNAL_ONLY,
                "agency": case.agency_code,
                "case": case.case_reference,
                "original_path": None,
                "device": None,
            }
            for case in match.restricted
        ],
    }
