"""Search: have we seen this image anywhere before?

A query file is hashed like an ingested one. Exact matches come from any of the three
digests; perceptual matches from PDQ within the threshold, where the query's eight
rotations and mirror images are searched too (PDQ itself is not invariant to them).
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
from sightline.domain.audit import Requester
from sightline.domain.models import MediaItem, SightingLocation
from sightline.errors import AnalysisFailed
from sightline.features.hashes import PdqHash
from sightline.services.audit import record
from sightline.services.context import AppContext
from sightline.services.pdq_index import PdqIndexService


@dataclass(frozen=True, slots=True)
class SearchMatch:
    """One stored media item that matches the query, with the evidence."""

    media: MediaItem
    signals: tuple[str, ...]
    distance: int
    threshold: int | None
    transform: str | None
    locations: tuple[SightingLocation, ...]


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
    ctx: AppContext, index: PdqIndexService, path: Path, *, requester: Requester
) -> SearchResult:
    """Search the store for the file at ``path`` (audited as a search)."""
    started = time.perf_counter()
    query = query_from_file(ctx, path)
    return search_query(ctx, index, query, requester=requester, started=started)


def search_query(
    ctx: AppContext,
    index: PdqIndexService,
    query: Query,
    *,
    requester: Requester,
    started: float | None = None,
    action: str = "search",
    detail: Mapping[str, int] | None = None,
) -> SearchResult:
    """Exact and perceptual matches of ``query`` among stored media.

    Every search is written to the audit trail (who, from where, how many matches; never the
    query's hashes) in the same transaction that reads the matches.
    """
    started = time.perf_counter() if started is None else started
    threshold = ctx.settings.match.pdq_threshold
    perceptual = _perceptual(index, query.variants, threshold)
    matches = _assemble(ctx, query.digests, perceptual, threshold)
    with ctx.uow() as uow:
        record(
            uow,
            actor=requester.actor,
            action=action,
            resource="store",
            source=requester.source,
            agency_id=requester.agency_id,
            detail={"media_matches": len(matches), **(detail or {})},
        )
        uow.commit()
    return SearchResult(query, matches, (time.perf_counter() - started) * 1000)


def _perceptual(
    index: PdqIndexService, variants: Sequence[PdqHash], threshold: int
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
) -> tuple[SearchMatch, ...]:
    with ctx.uow() as uow:
        exact = uow.media.by_digests(**digests)
        signal_media = uow.signals.media_ids(perceptual)
        by_media: dict[int, tuple[int, str]] = {}
        for signal_id, (distance, variant) in perceptual.items():
            media_id = signal_media[signal_id]
            if media_id not in by_media or distance < by_media[media_id][0]:
                by_media[media_id] = (distance, variant)
        items = uow.media.get_many([m.id for m in exact] + list(by_media))
        locations = uow.sightings.locations(items)
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
            )
        )
    matches.sort(key=lambda m: (m.distance, m.media.id))
    return tuple(matches)


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
        "matches": [
            {
                "media_id": m.media.id,
                "sha256": m.media.sha256,
                "signals": list(m.signals),
                "distance": m.distance,
                "threshold": m.threshold,
                "transform": m.transform,
                "sightings": [
                    {
                        "agency": loc.agency_code,
                        "case": loc.case_reference,
                        "original_path": loc.original_path,
                        "device": loc.device_label,
                    }
                    for loc in m.locations
                ],
            }
            for m in result.matches
        ],
    }
