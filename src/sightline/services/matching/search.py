"""Search: have we seen this image anywhere before?

A query file is hashed like an ingested one. Exact matches come from any of the three
digests; perceptual matches from PDQ within the threshold, where the query's eight
rotations and mirror images are searched too (PDQ itself is not invariant to them); hard
copies PDQ misses (crops, rotations, borders, captions, thumbnails) through the scene
signal, verified geometrically (:mod:`sightline.services.matching.scenes`). A scene search
(``scene=True``, or a region of the picture) also reports other pictures of the same place
or object.

What a requester sees of a match is decided by the access policy, in the database: the
sightings of cases it may view the metadata of come in full (agency, case, original path,
device); for cases it may only know a match exists in, the agency code and case reference
(whom to contact) and nothing else, not even the stored item's id or digest; a stored item
with neither is left out, so the result does not tell that anything matched there.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import ImageOps

from sightline.analyzers.base import Analyzer, MediaInput
from sightline.domain.access import Action
from sightline.domain.audit import Requester
from sightline.domain.disclosure import Visibility, disclose, match_visibility
from sightline.domain.models import MediaItem, SightingLocation
from sightline.domain.signals import (
    MEDIA_DIGESTS,
    MediaKind,
    Signal,
    SignalKind,
    ValueType,
    Variant,
)
from sightline.errors import AnalysisFailed, InvalidInputError, TruncatedMedia, UnsupportedMedia
from sightline.features.scene import LocalFeatures, decode
from sightline.services.access.audit import record_request
from sightline.services.context import AppContext
from sightline.services.matching.evidence import Evidence, Probe, lookup, sound_lookup
from sightline.services.matching.scenes import SceneQuery, scene_lookup, stored_features
from sightline.services.signals.indexes import IndexSet
from sightline.storage.repositories.media import MatchedCase
from sightline.storage.unit_of_work import UnitOfWork

FULL = Visibility.FULL.value
"""A match the requester may see the sightings of."""
SIGNAL_ONLY = Visibility.SIGNAL_ONLY.value
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
    # Where in the recordings they match: shares, aligned segments, sample frames.
    detail: Mapping[str, Any] | None = None

    @property
    def visibility(self) -> str:
        """``full`` or ``signal-only``."""
        seen = match_visibility(
            full_places=bool(self.locations), signal_places=bool(self.restricted)
        )
        return seen.value


@dataclass(frozen=True, slots=True)
class Query:
    """What is searched: digests (any may be missing) and binary-hash variants (may be none).

    A query built from a file carries every digest and every variant of each binary signal
    (for PDQ, its 8 rotations and mirrors); a forensic tool that cannot share the file sends
    only the hashes it has.
    """

    digests: Mapping[str, str | None]
    variants: tuple[Variant, ...]
    notes: tuple[str, ...] = ()
    # The binary kinds the query was built for (reported even when it has no value of one).
    kinds: tuple[str, ...] = ()
    # Artifacts verification reads (a scene kind's local features), by artifact name.
    artifacts: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def md5(self) -> str | None:
        """The MD5 digest, if known."""
        return self.digests.get("md5")

    @property
    def sha1(self) -> str | None:
        """The SHA-1 digest, if known."""
        return self.digests.get("sha1")

    @property
    def sha256(self) -> str | None:
        """The SHA-256 digest, if known."""
        return self.digests.get("sha256")

    def signal(self, kind: str) -> Signal | None:
        """The query's own value of a binary kind (its first variant), if any."""
        return next((v.signal for v in self.variants if v.signal.kind == kind), None)

    def without_variants(self, note: str) -> Query:
        """The same query with exact digests only, and a note saying why."""
        return Query(self.digests, (), (*self.notes, note), self.kinds, self.artifacts)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Everything a search found, plus what was computed from the query."""

    query: Query
    matches: tuple[SearchMatch, ...]
    elapsed_ms: float = field(default=0.0)


def _searchable(analyzer: Analyzer) -> bool:
    """Whether the analyzer emits what a search looks up: digests, binary hashes, sound."""
    return any(_searched(k) for k in analyzer.emits)


def _searched(kind: SignalKind) -> bool:
    """Whether a search looks values of ``kind`` up."""
    if kind.value_type is ValueType.FLOAT_VECTOR:
        return kind.features_artifact is not None  # verified candidates (scenes)
    return kind.value_type in (ValueType.DIGEST, ValueType.FINGERPRINT) or kind.value_type.binary


def query_from_file(ctx: AppContext, path: Path) -> Query:
    """Compute a file's signals the way ingest does, with every variant of each binary one."""
    media = MediaInput(path, max_pixels=ctx.settings.ingest.max_pixels)
    notes: list[str] = []
    digests: dict[str, str | None] = {}
    variants: list[Variant] = []
    artifacts: dict[str, bytes] = {}
    try:
        for analyzer in filter(_searchable, ctx.analyzers):
            try:
                made = _query_variants(analyzer, media)
            except AnalysisFailed as exc:
                notes += [f"no {k.search_label} search: {exc.message}" for k in _binary(analyzer)]
                continue
            wanted = {k.features_artifact for k in analyzer.emits if k.features_artifact}
            if wanted and made:
                made_artifacts = analyzer.artifacts({}, media)
                artifacts.update((n, b) for n, b in made_artifacts.items() if n in wanted)
            digests.update(
                (v.signal.kind, v.signal.value.hex())
                for v in made
                if v.signal.kind in MEDIA_DIGESTS
            )
            variants += [v for v in made if v.signal.kind not in MEDIA_DIGESTS]
    finally:
        media.close()
    kept = _usable(ctx.signal_kinds, variants, notes)
    kinds = tuple(k.name for k in ctx.binary_kinds())
    return Query(digests, tuple(kept), tuple(notes), kinds, artifacts)


def _binary(analyzer: Analyzer) -> list[SignalKind]:
    return [k for k in analyzer.emits if k.value_type.binary]


def _query_variants(analyzer: Analyzer, media: MediaInput) -> Sequence[Variant]:
    """Every variant the analyzer gives the query, whatever its quality (checked after).

    Raises:
        AnalysisFailed: the analyzer cannot read this file (its kind is not one it reads,
            or the content is unreadable).
    """
    if not analyzer.accepts(media.kind):
        accepted = ", ".join(sorted(analyzer.media_kinds))
        raise AnalysisFailed(f"{analyzer.name} reads {accepted} files, not {media.kind} files")
    return analyzer.query(media)


def _usable(
    kinds: Mapping[str, SignalKind], variants: Sequence[Variant], notes: list[str]
) -> list[Variant]:
    """Variants whose kind is searched and whose quality reaches the kind's minimum."""
    kept: list[Variant] = []
    for name in dict.fromkeys(v.signal.kind for v in variants):
        kind = kinds.get(name)
        mine = [v for v in variants if v.signal.kind == name]
        if kind is None or not (kind.value_type.binary or _searched(kind)):
            continue
        floor = kind.min_quality
        good = [
            v
            for v in mine
            if floor is None or v.signal.quality is None or v.signal.quality >= floor
        ]
        if not good:
            quality = max(v.signal.quality or 0 for v in mine)
            notes.append(
                f"no {kind.search_label} search: {kind.label} quality {quality} is below {floor}"
            )
            continue
        kept += good
    return kept


def search_file(
    ctx: AppContext,
    indexes: IndexSet,
    path: Path,
    *,
    requester: Requester,
    scene: bool = False,
    region: Region | None = None,
) -> SearchResult:
    """Search the store for the file at ``path`` (audited as a search).

    Args:
        ctx: the store.
        indexes: the process's indexes.
        path: the query file.
        requester: who asks (what they may see; audited).
        scene: also report other pictures of the same scene or object, not only copies.
        region: search only this rectangle of the picture (x, y, width, height in its
            pixels): an object, a logo, a patch of wallpaper. Implies ``scene``.
    """
    started = time.perf_counter()
    if region is None:
        query = query_from_file(ctx, path)
    else:
        with tempfile.TemporaryDirectory(prefix="sightline-region-") as tmp:
            try:
                crop = crop_region(ctx, path, region, Path(tmp))
            except AnalysisFailed as exc:  # not a readable still: nothing to search, said why
                kinds = tuple(k.name for k in ctx.binary_kinds())
                query = Query({}, (), (f"no region search: {exc.message}",), kinds)
            else:
                query = dataclasses.replace(query_from_file(ctx, crop), digests={})
    return search_query(
        ctx,
        indexes,
        query,
        requester=requester,
        started=started,
        scene=scene or region is not None,
    )


Region = tuple[int, int, int, int]
"""A rectangle of a picture: x, y, width, height in pixels."""


def parse_region(text: str) -> Region:
    """``"x,y,w,h"`` as a region.

    Raises:
        InvalidInputError: not four non-negative integers with a positive width and height.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise InvalidInputError("a region is four integers: x,y,width,height (pixels)")
    x, y, width, height = (int(p) for p in parts)
    if width <= 0 or height <= 0:
        raise InvalidInputError("a region needs a positive width and height")
    return x, y, width, height


def crop_region(ctx: AppContext, path: Path, region: Region, folder: Path) -> Path:
    """The ``region`` of the picture at ``path``, as a PNG in ``folder``.

    The picture is opened with the same guards as ingest (a decompression bomb is refused
    before any pixel is decoded) and turned upright as ingest turns it.

    Raises:
        InvalidInputError: the rectangle is empty or lies outside the picture.
        AnalysisFailed: the file is not a readable still image.
    """
    x, y, width, height = region
    media = MediaInput(path, max_pixels=ctx.settings.ingest.max_pixels)
    try:
        if media.kind is not MediaKind.IMAGE:
            raise UnsupportedMedia(
                f"a region can only be searched in a still image, not {media.kind}"
            )
        picture = ImageOps.exif_transpose(media.image_header())
        if width <= 0 or height <= 0 or x < 0 or y < 0:
            raise InvalidInputError("the region needs x, y >= 0 and a positive size")
        if x + width > picture.width or y + height > picture.height:
            raise InvalidInputError(
                f"the region {x},{y},{width},{height} lies outside the "
                f"{picture.width}x{picture.height} picture"
            )
        out = folder / "region.png"
        picture.crop((x, y, x + width, y + height)).convert("RGB").save(out, format="PNG")
        return out
    except (OSError, ValueError) as exc:
        raise TruncatedMedia("the picture could not be decoded") from exc
    finally:
        media.close()


def search_query(
    ctx: AppContext,
    indexes: IndexSet,
    query: Query,
    *,
    requester: Requester,
    started: float | None = None,
    action: str = "search",
    detail: Mapping[str, int] | None = None,
    scene: bool = False,
) -> SearchResult:
    """Exact and perceptual matches of ``query`` among stored media.

    Only what ``requester`` may see is returned (see the module docstring). Every search is
    written to the audit trail (who, from where, how many matches were returned; never the
    query's hashes). Scene matches that are copies are always reported; other pictures of
    the same scene or object only when ``scene`` is asked.
    """
    started = time.perf_counter() if started is None else started
    with ctx.uow() as uow:
        exact = {m.id for m in uow.media.by_digests(**_digests(query.digests))}
        evidence = _perceptual(uow, ctx, indexes, query, exact, scene=scene)
    matches = _assemble(ctx, query.digests, exact, evidence, requester)
    restricted = sum(1 for m in matches if m.visibility == SIGNAL_ONLY)
    with ctx.uow() as uow:
        counts = {"media_matches": len(matches), **(detail or {})}
        if restricted:
            counts["signal_only"] = restricted
        record_request(uow, requester, action, "store", detail=counts)
        uow.commit()
    return SearchResult(query, matches, (time.perf_counter() - started) * 1000)


_QUERY = 0
"""The key of the one query a search looks up."""


def _perceptual(
    uow: UnitOfWork,
    ctx: AppContext,
    indexes: IndexSet,
    query: Query,
    exact: set[int],
    *,
    scene: bool,
) -> dict[int, list[Evidence]]:
    """Stored media id -> the evidence of each of its kinds that matched, best first.

    ``exact`` (items with the query's digests) and items a hash matched are not verified
    through the scene kinds: they are known already.
    """
    probes: dict[str, list[Probe]] = {}
    for v in query.variants:
        probes.setdefault(v.signal.kind, []).append(
            Probe(v.signal.value, v.signal.time_ms, v.transform, v.probe_only)
        )
    kinds = ctx.binary_kinds()
    found = lookup(uow, indexes, kinds, {_QUERY: probes}).get(_QUERY, {})
    sounds = ctx.sound_kinds()
    found.update(sound_lookup(uow, indexes, sounds, {_QUERY: probes}).get(_QUERY, {}))
    scenes = ctx.scene_kinds()
    if scenes:
        wanted = SceneQuery(
            {k.name: [p.code for p in probes.get(k.name, ())] for k in scenes},
            functools.partial(_query_features, query),
        )
        reader = stored_features(uow, ctx.blobs)
        known = {_QUERY: exact | {media_id for media_id, _ in found}}
        matched = scene_lookup(uow, indexes, scenes, {_QUERY: wanted}, reader, exclude=known).get(
            _QUERY, {}
        )
        found.update((key, e) for key, e in matched.items() if scene or e.copy)
    out: dict[int, list[Evidence]] = {}
    for (media_id, _), evidence in found.items():
        out.setdefault(media_id, []).append(evidence)
    order = {k.name: i for i, k in enumerate((*kinds, *sounds, *scenes))}
    return {
        m: sorted(hits, key=lambda e: (order.get(e.kind, 0), e.distance)) for m, hits in out.items()
    }


def _query_features(query: Query, artifact: str) -> LocalFeatures | None:
    data = query.artifacts.get(artifact)
    return decode(data) if data is not None else None


def _digests(digests: Mapping[str, str | None]) -> dict[str, str | None]:
    return {k: digests.get(k) for k in MEDIA_DIGESTS}


def _assemble(
    ctx: AppContext,
    digests: Mapping[str, str | None],
    exact_ids: set[int],
    by_media: dict[int, list[Evidence]],
    requester: Requester,
) -> tuple[SearchMatch, ...]:
    with ctx.uow() as uow:
        candidates = exact_ids | set(by_media)
        locations, restricted = _visible(uow, candidates, requester)
        if requester.access is not None:  # an item seen nowhere the requester may know of
            candidates = set(locations) | set(restricted)
        items = uow.media.get_many(candidates)
    matches: list[SearchMatch] = []
    for media_id, media in items.items():
        signals = tuple(
            k for k in reversed(MEDIA_DIGESTS) if digests.get(k) and getattr(media, k) == digests[k]
        )
        hits = by_media.get(media_id, [])
        signals += tuple(h.kind for h in hits)
        first = hits[0] if hits else None
        matches.append(
            SearchMatch(
                media=media,
                signals=signals,
                distance=0 if media_id in exact_ids or first is None else first.distance,
                threshold=first.threshold if first is not None else None,
                transform=_transform(media_id in exact_ids, first),
                locations=tuple(locations.get(media_id, [])),
                restricted=tuple(restricted.get(media_id, [])),
                detail=_detail(hits),
            )
        )
    matches.sort(key=lambda m: (m.visibility != FULL, m.distance, m.media.id))
    return tuple(matches)


def _detail(hits: Sequence[Evidence]) -> dict[str, Any] | None:
    """Where the recordings match, from the first kind that says (a frame sequence)."""
    return next((d for h in hits if (d := h.detail()) is not None), None)


def _transform(exact: bool, hit: Evidence | None) -> str | None:
    if exact or hit is None or hit.transform == "original":
        return None
    return hit.transform


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
    """A JSON-ready view of a search result (used by the CLI's --json and the API).

    The query shows each digest and, per binary kind, its hash and quality under the kind's
    name (``pdq``, ``pdq_quality``).
    """
    query: dict[str, object] = {k: result.query.digests.get(k) for k in MEDIA_DIGESTS}
    for kind in result.query.kinds:  # binary kinds: one hash each (not vectors or chunks)
        own = result.query.signal(kind)
        query[kind] = own.value.hex() if own is not None else None
        query[f"{kind}_quality"] = own.quality if own is not None else None
    query["frames"] = sum(
        1
        for v in result.query.variants
        if v.transform == "original" and v.signal.time_ms is not None and not v.probe_only
    )
    return {
        "query": query,
        "notes": list(result.query.notes),
        "elapsed_ms": round(result.elapsed_ms, 3),
        "matches": [_match_as_dict(m) for m in result.matches],
    }


def _match_as_dict(match: SearchMatch) -> dict[str, object]:
    visibility = Visibility(match.visibility)
    shown = disclose(
        visibility,
        {
            "visibility": match.visibility,
            "media_id": match.media.id,
            "sha256": match.media.sha256,
            "signals": list(match.signals),
            "distance": match.distance,
            "threshold": match.threshold,
            "transform": match.transform,
            "detail": dict(match.detail) if match.detail is not None else None,
        },
    )
    sightings = [
        disclose(
            Visibility.FULL,
            {
                "visibility": FULL,
                "agency": loc.agency_code,
                "case": loc.case_reference,
                "original_path": loc.original_path,
                "device": loc.device_label,
            },
        )
        for loc in match.locations
    ] + [
        disclose(
            Visibility.SIGNAL_ONLY,
            {
                "visibility": SIGNAL_ONLY,
                "agency": case.agency_code,
                "case": case.case_reference,
                "original_path": None,
                "device": None,
            },
        )
        for case in match.restricted
    ]
    return {**shown, "sightings": sightings}
