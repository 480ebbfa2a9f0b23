"""Real-time matching: every new sighting against all stored material and every hash list.

For each item sighted in a case, the engine finds
- hash-list entries with the same MD5, SHA-1 or SHA-256 (exact), or a PDQ hash within the
  list's own threshold (perceptual); quarantined entries and disabled lists are ignored;
- other media items within the PDQ threshold (near-duplicates), and other cases where the
  very same file was sighted.
It records the matches (signal, distance, threshold), the item's triage status in its case
(known-identified / known / new) with its duplicate stack, and an alert to both agencies when
material in one agency's case matches material in another agency's case.

Negative lists exist to stop false positives of perceptual hashes (logos, stock images): an
item that hits a negative list gets no perceptual matches at all; exact matches stand.
"""

from __future__ import annotations

import functools
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from sightline.domain.access import CaseScope, agency_may_know
from sightline.domain.models import (
    CaseTriage,
    ListEntryRef,
    ListKind,
    TriageStatus,
)
from sightline.domain.signals import MEDIA_DIGESTS
from sightline.services.context import AppContext
from sightline.services.matching.evidence import Evidence, Fresh, Probe, lookup, sound_lookup
from sightline.services.matching.scenes import (
    VERIFY_AT_INGEST,
    SceneQuery,
    artifact_features,
    scene_lookup,
    stored_features,
)
from sightline.services.signals.indexes import IndexSet, SignalIndexService
from sightline.storage.repositories.matching import NewAlert, NewMatch
from sightline.storage.unit_of_work import UnitOfWork

# Flood protection: an entry that has matched more than FLOOD_FACTOR times the median of its
# list's matching entries, and at least FLOOD_MIN_MATCHES times, is quarantined: a hash that
# suddenly matches everything is far more likely a bad entry (a blank frame, a logo) than
# a real series.
FLOOD_FACTOR = 10
FLOOD_MIN_MATCHES = 20
# The widest per-list threshold searched in the list index (the multi-index bound).
MAX_LIST_THRESHOLD = 31


@dataclass(frozen=True, slots=True)
class Sighted:
    """One item sighted in one case: what matching needs to know about it.

    ``queries`` holds, per binary signal kind, the codes to search: every variant of the
    item's values where they are known (at ingest: PDQ's 8 rotations and mirrors; every
    sampled frame of a video, with its time), else the stored values themselves.
    """

    case_id: int
    media_id: int
    md5: str
    sha1: str
    sha256: str
    new_media: bool
    queries: Mapping[str, tuple[Probe, ...]] = field(default_factory=dict)


@dataclass
class ItemMatches:
    """What one item matched."""

    lists: list[tuple[ListEntryRef, str, int]] = field(default_factory=list)
    # (other media id, stored signal kind) -> why they match
    near_by: dict[tuple[int, str], Evidence] = field(default_factory=dict)
    negative: bool = False

    @property
    def near(self) -> list[tuple[int, str, int]]:
        """(other media id, signal kind, distance) of every near-duplicate."""
        return [(other, kind, e.distance) for (other, kind), e in self.near_by.items()]

    @property
    def near_ids(self) -> set[int]:
        """The other media items it matches, by any signal (copies, scenes, sound)."""
        return {other for other, _, _ in self.near}

    @property
    def copy_ids(self) -> set[int]:
        """The other media items it is a copy of: what makes it known and stacks it.

        A scene match that is another photo of the same place, or a recording that shares
        only its soundtrack, links the two (an alert) but is new material, never hidden.
        """
        return {other for (other, _), e in self.near_by.items() if e.copy}


class MatchingEngine:
    """Matches sightings against the binary indexes of every enabled signal kind."""

    def __init__(self, ctx: AppContext, indexes: IndexSet) -> None:
        self._ctx = ctx
        self.indexes = indexes

    def refresh(self) -> None:
        """Catch every index up with what other writers committed."""
        self.indexes.refresh()

    def match_sightings(self, sighted: Sequence[Sighted]) -> int:
        """Match, triage and alert a batch of sightings in one transaction; returns alerts."""
        with self._ctx.uow() as uow:
            alerts = self.match_in(uow, sighted)
            uow.commit()
        return alerts

    def match_in(
        self,
        uow: UnitOfWork,
        sighted: Sequence[Sighted],
        fresh: Fresh | None = None,
    ) -> int:
        """Match, triage and alert ``sighted`` inside the caller's transaction; returns alerts.

        Ingest records a batch's media, sightings and item states and matches them in one
        transaction, so a kill loses all of a batch or none of it: an item is never *done*
        without its matches, triage and alerts (the resumed run processes it again).

        Args:
            uow: The open unit of work; the caller commits.
            sighted: The sightings to match.
            fresh: per signal kind, the codes (with their times) of media inserted in this
                uncommitted transaction, by media id. The indexes only see committed
                signals, so near-duplicates within the batch are found by comparing against
                these.
        """
        if not sighted:
            return 0
        self.indexes.refresh()  # other processes' writes too: ingest matches against all
        found = self._list_hits(uow, sighted)
        self._perceptual_media_hits(uow, sighted, found, fresh)
        self._record_matches(uow, sighted, found)
        self._triage(uow, sighted, found)
        return self._alert(uow, sighted, found)

    def rematch_lists(self, media_ids: Iterable[int]) -> RematchReport:
        """Re-match stored items against every enabled list (retro-hunt).

        New list matches are recorded and the items' triage in every case they were sighted
        in is raised to known or known-identified; a status is never lowered here.
        """
        wanted = sorted(set(media_ids))
        if not wanted:
            return RematchReport(0, 0, 0)
        spaces = {
            k.match_space
            for k in self._ctx.binary_kinds()
            if self.indexes.lists(k.name) is not None
        }
        listed = [k.name for k in self._ctx.binary_kinds() if k.match_space in spaces]
        with self._ctx.uow() as uow:
            media = uow.media.get_many(wanted)
            codes = {kind: uow.signals.probes_of(kind, wanted) for kind in listed}
            cases = uow.triage.cases_of(wanted)
        sighted = [
            Sighted(
                0,
                m.id,
                m.md5,
                m.sha1,
                m.sha256,
                new_media=False,
                queries={
                    k: tuple(Probe(code, time_ms) for code, time_ms in c[m.id])
                    for k, c in codes.items()
                    if m.id in c
                },
            )
            for m in media.values()
        ]
        with self._ctx.uow() as uow:
            found = self._list_hits(uow, sighted)
            new_matches = self._record_matches(uow, sighted, found)
            changed = self._raise_triage(uow, cases, found)
            uow.commit()
        return RematchReport(len(sighted), new_matches, changed)

    def _raise_triage(
        self, uow: UnitOfWork, cases: dict[int, set[int]], found: dict[int, ItemMatches]
    ) -> int:
        rows: list[CaseTriage] = []
        for media_id, item in found.items():
            status, reason = _list_status(item)
            if status is None:
                continue
            for case_id in cases.get(media_id, set()):
                current = uow.triage.get_many(case_id, [media_id]).get(media_id)
                if _upgrade(current, status):
                    stack = current.stack_media_id if current else media_id
                    rows.append(CaseTriage(case_id, media_id, status, stack, reason))
        uow.triage.put(rows)
        return len(rows)

    # -- finding --------------------------------------------------------------------------

    def _list_hits(self, uow: UnitOfWork, sighted: Sequence[Sighted]) -> dict[int, ItemMatches]:
        """Exact and perceptual hash-list hits, filtered (see ``_filter_list_hits``)."""
        found = {s.media_id: ItemMatches() for s in sighted}
        exact = uow.hashlists.by_digest_sets([(s.md5, s.sha1, s.sha256) for s in sighted])
        for s in sighted:
            hits = exact[(s.md5, s.sha1, s.sha256)]
            found[s.media_id].lists.extend((ref, signal, 0) for ref, signal in hits)
        self._perceptual_list_hits(uow, sighted, found)
        for item in found.values():
            _filter_list_hits(item)
        return found

    def _perceptual_list_hits(
        self, uow: UnitOfWork, sighted: Sequence[Sighted], found: dict[int, ItemMatches]
    ) -> None:
        kinds = self._ctx.binary_kinds()
        for kind in kinds:
            index = self.indexes.lists(kind.name)
            if index is None:
                continue
            # Every kind of the list kind's space: a video's frames against listed stills.
            same = [k.name for k in kinds if k.match_space == kind.match_space]
            best = _search_best(index, same, sighted, MAX_LIST_THRESHOLD)
            refs = uow.hashlists.refs(e for hits in best.values() for e in hits)
            for media_id, hits in best.items():
                for entry_id, distance in hits.items():
                    ref = refs.get(entry_id)
                    if ref is not None and distance <= ref.threshold:
                        found[media_id].lists.append((ref, kind.name, distance))

    def _perceptual_media_hits(
        self,
        uow: UnitOfWork,
        sighted: Sequence[Sighted],
        found: dict[int, ItemMatches],
        fresh: Fresh | None,
    ) -> None:
        candidates = {s.media_id: s.queries for s in sighted if not found[s.media_id].negative}
        evidence = lookup(uow, self.indexes, self._ctx.binary_kinds(), candidates, fresh)
        sounds = sound_lookup(uow, self.indexes, self._ctx.sound_kinds(), candidates, fresh)
        for media_id, matched in sounds.items():
            evidence.setdefault(media_id, {}).update(matched)
        hashed = {m: {other for other, _ in matched} for m, matched in evidence.items()}
        for media_id, matched in self._scene_hits(uow, sighted, found, fresh, hashed).items():
            evidence.setdefault(media_id, {}).update(matched)
        for media_id, matched in evidence.items():
            found[media_id].near_by.update(
                (key, e) for key, e in matched.items() if key[0] != media_id
            )

    def _scene_hits(
        self,
        uow: UnitOfWork,
        sighted: Sequence[Sighted],
        found: dict[int, ItemMatches],
        fresh: Fresh | None,
        hashed: Mapping[int, set[int]],
    ) -> dict[int, dict[tuple[int, str], Evidence]]:
        """Verified scene matches of each item, except with items a hash already matched."""
        kinds = self._ctx.scene_kinds()
        if not kinds:
            return {}
        blobs = self._ctx.blobs
        queries = {
            s.media_id: SceneQuery(
                {k.name: [p.code for p in s.queries.get(k.name, ())] for k in kinds},
                functools.partial(artifact_features, blobs, s.sha256),
            )
            for s in sighted
            if not found[s.media_id].negative and any(s.queries.get(k.name) for k in kinds)
        }
        return scene_lookup(
            uow,
            self.indexes,
            kinds,
            queries,
            stored_features(uow, blobs),
            fresh,
            verify_at_most=VERIFY_AT_INGEST,
            exclude={m: {m, *hashed.get(m, ())} for m in queries},
        )

    # -- recording ------------------------------------------------------------------------

    def _record_matches(
        self, uow: UnitOfWork, sighted: Sequence[Sighted], found: dict[int, ItemMatches]
    ) -> int:
        matches: list[NewMatch] = []
        kinds = {k.name: k for k in self._ctx.binary_kinds()}
        for s in sighted:
            item = found[s.media_id]
            for ref, signal, distance in item.lists:
                limit = ref.threshold if signal in kinds else None
                matches.append(NewMatch(s.media_id, signal, distance, limit, entry_id=ref.id))
            for (other, signal), evidence in item.near_by.items():
                # One record per pair, from the newer item to the older one.
                if other < s.media_id:
                    matches.append(
                        NewMatch(
                            s.media_id,
                            signal,
                            evidence.distance,
                            evidence.threshold,
                            target_media_id=other,
                            detail=evidence.detail(),
                        )
                    )
        new = uow.matches.add_many(matches)
        entry_ids = [m.entry_id for m in new if m.entry_id is not None]
        uow.hashlists.count_matches(entry_ids)
        self._flood_check(uow, {ref.list_id for item in found.values() for ref, _, _ in item.lists})
        return len(new)

    def _flood_check(self, uow: UnitOfWork, list_ids: Iterable[int]) -> None:
        for list_id in list_ids:
            counts = uow.hashlists.match_counts(list_id)
            if not counts:
                continue
            median = statistics.median(n for _, n in counts)
            limit = max(FLOOD_MIN_MATCHES, FLOOD_FACTOR * median)
            uow.hashlists.quarantine(entry for entry, n in counts if n > limit)

    def _triage(
        self, uow: UnitOfWork, sighted: Sequence[Sighted], found: dict[int, ItemMatches]
    ) -> None:
        near_ids = {other for item in found.values() for other in item.near_ids}
        cases = uow.triage.cases_of(near_ids | {s.media_id for s in sighted if not s.new_media})
        scopes = uow.cases.scopes({c for cs in cases.values() for c in cs} | _case_ids(sighted))
        rows: list[CaseTriage] = []
        for s in sighted:
            item = found[s.media_id]
            older = [other for other in item.copy_ids if other < s.media_id]
            status, reason = _list_status(item)
            if status is None and self._known_to(s, older, cases, scopes):
                status, reason = TriageStatus.KNOWN, "matches stored material"
            if status is None:
                status = TriageStatus.NEW
            in_case = [other for other in item.copy_ids if s.case_id in cases.get(other, set())]
            stack = min([s.media_id, *in_case])
            rows.append(CaseTriage(s.case_id, s.media_id, status, stack, reason))
        uow.triage.put(rows)

    @staticmethod
    def _known_to(
        s: Sighted,
        older: Iterable[int],
        cases: Mapping[int, set[int]],
        scopes: Mapping[int, CaseScope],
    ) -> bool:
        """Whether the item or an older near-duplicate is stored where its agency may know.

        The item's own earlier sightings count except the case being triaged (which holds it
        now); older near-duplicates count wherever they are. A match only in another agency's
        private case leaves the item *new*: *known* would tell this agency that the other one
        holds the material.
        """
        agency_id = scopes[s.case_id].agency_id
        places = [c for m in older for c in cases.get(m, ())]
        if not s.new_media:
            places += [c for c in cases.get(s.media_id, ()) if c != s.case_id]
        return any(agency_may_know(agency_id, scopes[c]) for c in places)

    def _alert(
        self, uow: UnitOfWork, sighted: Sequence[Sighted], found: dict[int, ItemMatches]
    ) -> int:
        pairs: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
        for s in sighted:
            pairs[s.media_id].append((s.media_id, "sha256", 0))  # the same file elsewhere
            pairs[s.media_id].extend(found[s.media_id].near)
        cases = uow.triage.cases_of({m for v in pairs.values() for m, _, _ in v})
        owner = uow.cases.owners(
            {s.case_id for s in sighted} | {c for cs in cases.values() for c in cs}
        )
        alerts: list[NewAlert] = []
        for s in sighted:
            mine = owner[s.case_id]
            for other_media, signal, distance in pairs[s.media_id]:
                for other_case in cases.get(other_media, set()):
                    theirs = owner[other_case]
                    if theirs == mine:
                        continue
                    alerts += [
                        NewAlert(
                            mine,
                            s.case_id,
                            s.media_id,
                            "overlap",
                            theirs,
                            other_case,
                            other_media,
                            None,
                            signal,
                            distance,
                        ),
                        NewAlert(
                            theirs,
                            other_case,
                            other_media,
                            "overlap",
                            mine,
                            s.case_id,
                            s.media_id,
                            None,
                            signal,
                            distance,
                        ),
                    ]
        return uow.alerts.add_many(alerts)


def _search_best(
    index: SignalIndexService, kinds: Sequence[str], sighted: Sequence[Sighted], radius: int
) -> dict[int, dict[int, int]]:
    """Media id -> {stored id: smallest distance over the item's codes of ``kinds``}."""
    rows = [(s.media_id, p.code) for s in sighted for k in kinds for p in s.queries.get(k, ())]
    if not rows:
        return {}
    codes = np.frombuffer(b"".join(code for _, code in rows), dtype=np.uint8)
    results = index.search(codes.reshape(len(rows), -1), radius)
    best: dict[int, dict[int, int]] = defaultdict(dict)
    for (media_id, _), hits in zip(rows, results, strict=True):
        for hit in hits:
            known = best[media_id].get(hit.id)
            best[media_id][hit.id] = hit.distance if known is None else min(known, hit.distance)
    return best


def _filter_list_hits(item: ItemMatches) -> None:
    """Drop disabled lists and quarantined entries; a negative hit drops perceptual ones."""
    item.lists = [h for h in item.lists if h[0].list_enabled and not h[0].quarantined]
    item.negative = any(h[0].list_kind is ListKind.NEGATIVE for h in item.lists)
    if item.negative:  # exact (digest) hits stand; perceptual ones go
        item.lists = [h for h in item.lists if h[1] in MEDIA_DIGESTS]


def _case_ids(sighted: Sequence[Sighted]) -> set[int]:
    return {s.case_id for s in sighted}


def _list_status(item: ItemMatches) -> tuple[TriageStatus | None, str | None]:
    """The status positive list hits give an item, with the reason; None without any."""
    positive = [h for h in item.lists if h[0].list_kind is ListKind.POSITIVE]
    if any(ref.victim_identified for ref, _, _ in positive):
        return TriageStatus.KNOWN_IDENTIFIED, "hash list: victim identified"
    if positive:
        return TriageStatus.KNOWN, f"hash list {positive[0][0].list_name!r}"
    return None, None


@dataclass(frozen=True, slots=True)
class RematchReport:
    """Outcome of re-matching stored items against the hash lists."""

    items: int
    new_matches: int
    triage_changed: int


def _upgrade(current: CaseTriage | None, status: TriageStatus) -> bool:
    """Whether a list hit should raise the item's status (never lowers one)."""
    order = [TriageStatus.NEW, TriageStatus.KNOWN, TriageStatus.KNOWN_IDENTIFIED]
    return current is None or order.index(status) > order.index(current.status)
