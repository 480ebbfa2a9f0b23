"""Search: have we seen this image anywhere before?

A query file is hashed like an ingested one. Exact matches come from any of the three
digests; perceptual matches from PDQ within the threshold, where the query's eight
rotations and mirror images are searched too (PDQ itself is not invariant to them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sightline.analyzers.base import MediaInput
from sightline.analyzers.crypto import file_digests
from sightline.analyzers.pdq import DIHEDRAL_ORDER, dihedral_hashes
from sightline.domain.models import MediaItem, SightingLocation
from sightline.errors import AnalysisFailed
from sightline.features.hashes import PdqHash
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
class SearchResult:
    """Everything a search found, plus what was computed from the query."""

    md5: str
    sha1: str
    sha256: str
    pdq: str | None
    pdq_quality: int | None
    notes: tuple[str, ...]
    matches: tuple[SearchMatch, ...]
    elapsed_ms: float = field(default=0.0)


def search_file(ctx: AppContext, index: PdqIndexService, path: Path) -> SearchResult:
    """Search the store for the file at ``path``."""
    started = time.perf_counter()
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
    threshold = ctx.settings.match.pdq_threshold
    min_quality = ctx.settings.match.pdq_min_quality
    if variants and variants[0].quality < min_quality:
        notes.append(
            f"no perceptual search: PDQ quality {variants[0].quality} is below {min_quality}"
        )
        variants = []
    perceptual = _perceptual(index, variants, threshold)
    matches = _assemble(ctx, digests, perceptual, threshold)
    return SearchResult(
        md5=digests["md5"],
        sha1=digests["sha1"],
        sha256=digests["sha256"],
        pdq=variants[0].hex if variants else None,
        pdq_quality=variants[0].quality if variants else None,
        notes=tuple(notes),
        matches=matches,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def _perceptual(
    index: PdqIndexService, variants: Sequence[PdqHash], threshold: int
) -> dict[int, tuple[int, str]]:
    """Signal id -> (best distance, variant name)."""
    if not variants:
        return {}
    codes = np.stack([v.to_array() for v in variants])
    best: dict[int, tuple[int, str]] = {}
    for name, hits in zip(DIHEDRAL_ORDER, index.search(codes, threshold), strict=True):
        for hit in hits:
            if hit.id not in best or hit.distance < best[hit.id][0]:
                best[hit.id] = (hit.distance, name)
    return best


def _assemble(
    ctx: AppContext,
    digests: dict[str, str],
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
            "md5": result.md5,
            "sha1": result.sha1,
            "sha256": result.sha256,
            "pdq": result.pdq,
            "pdq_quality": result.pdq_quality,
        },
        "notes": list(result.notes),
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
