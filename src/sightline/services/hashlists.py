"""Hash lists (banks): import, configure, vote, report, and retro-hunt.

Lists are imported from CSV or the ICSE-style semicolon export, streamed, so a list of
millions of rows never sits in memory. Rows that cannot be parsed are reported with their line
number and the rest of the list is imported. After an import, or when a list's threshold or
state changes, everything already stored is re-matched against it (retro-hunt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from sightline.domain.audit import Requester
from sightline.domain.models import HashList, HashListEntryData, ListKind
from sightline.errors import InvalidInputError, NotFoundError
from sightline.features.hashes import PDQ_MATCH_THRESHOLD
from sightline.services.audit import record
from sightline.services.context import AppContext
from sightline.services.hashlist_formats import ParseError, detect_format, parse
from sightline.services.matching import MatchingEngine, RematchReport
from sightline.services.pdq_index import ListSignals
from sightline.storage.unit_of_work import UnitOfWork

_BATCH = 5_000
# How many parse errors an import report lists in full (the count is always exact).
MAX_REPORTED_ERRORS = 100
VERDICTS = ("confirm", "reject")


@dataclass(frozen=True, slots=True)
class ImportReport:
    """Outcome of one import."""

    hash_list: HashList
    imported: int
    rejected: int
    errors: list[ParseError]


@dataclass(frozen=True, slots=True)
class EntryReport:
    """What the owner of a list learns about one entry."""

    entry_id: int
    external_id: str | None
    matches: int
    confirmed: int
    rejected: int
    quarantined: bool


def import_list(
    ctx: AppContext,
    stream: BinaryIO,
    *,
    requester: Requester,
    owner: str,
    name: str,
    kind: ListKind = ListKind.POSITIVE,
    threshold: int = PDQ_MATCH_THRESHOLD,
    fmt: str | None = None,
) -> ImportReport:
    """Create a list owned by agency ``owner`` and import ``stream`` into it."""
    _check_threshold(threshold)
    if fmt is None:
        fmt = detect_format(stream.read(4096))
        stream.seek(0)
    errors: list[ParseError] = []
    rejected = imported = 0
    with ctx.uow() as uow:
        agency = uow.agencies.get(owner.upper())
        hash_list = uow.hashlists.create(agency.id, name.strip(), kind, threshold)
        batch: list[HashListEntryData] = []
        for row in parse(stream, fmt):
            if isinstance(row, ParseError):
                rejected += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(row)
                continue
            batch.append(row)
            if len(batch) >= _BATCH:
                uow.hashlists.add_entries(hash_list.id, batch)
                imported, batch = imported + len(batch), []
        uow.hashlists.add_entries(hash_list.id, batch)
        imported += len(batch)
        _audit(
            uow, requester, "hashlist.import", hash_list.id, imported=imported, rejected=rejected
        )
        uow.commit()
        hash_list = uow.hashlists.get(hash_list.id)
    return ImportReport(hash_list, imported, rejected, errors)


def list_lists(ctx: AppContext) -> list[HashList]:
    """Every hash list."""
    with ctx.uow() as uow:
        return uow.hashlists.all()


def configure(
    ctx: AppContext,
    list_id: int,
    *,
    requester: Requester,
    enabled: bool | None = None,
    threshold: int | None = None,
) -> HashList:
    """Enable or disable a list or change its PDQ threshold."""
    if threshold is not None:
        _check_threshold(threshold)
    with ctx.uow() as uow:
        uow.hashlists.get(list_id)
        uow.hashlists.update(list_id, enabled=enabled, threshold=threshold)
        changes = {"enabled": enabled, "threshold": threshold}
        _audit(
            uow,
            requester,
            "hashlist.configure",
            list_id,
            **{k: v for k, v in changes.items() if v is not None},
        )
        uow.commit()
        return uow.hashlists.get(list_id)


def delete_list(ctx: AppContext, list_id: int, *, requester: Requester) -> int:
    """Delete a list, its entries and everything recorded against them; returns entries.

    Its PDQ hashes leave every process's list index through the removal log. Triage statuses
    the list raised stay as they are: a status is never lowered automatically.
    """
    with ctx.uow() as uow:
        hash_list = uow.hashlists.get(list_id)
        removed = uow.hashlists.delete(list_id)
        uow.signals.record_removals(ListSignals.name, removed)
        _audit(uow, requester, "hashlist.delete", list_id, entries=hash_list.entry_count)
        uow.commit()
    return hash_list.entry_count


def retro_hunt(ctx: AppContext, engine: MatchingEngine, list_id: int) -> RematchReport:
    """Re-match every stored item that may match the list (exact digests, then PDQ)."""
    with ctx.uow() as uow:
        hash_list = uow.hashlists.get(list_id)
        candidates = set(uow.hashlists.media_matching_digests(list_id))
        entries = uow.hashlists.pdq_entries(list_id)
    if entries:
        codes = np.frombuffer(b"".join(c for _, c in entries), dtype=np.uint8)
        radius = min(hash_list.pdq_threshold, ctx.settings.match.pdq_threshold)
        hits = engine.media_index.search(codes.reshape(len(entries), -1), radius)
        with ctx.uow() as uow:
            owners = uow.signals.media_ids(h.id for row in hits for h in row)
        candidates.update(owners.values())
    engine.list_index.refresh()
    return engine.rematch_lists(candidates)


def vote(
    ctx: AppContext,
    *,
    requester: Requester,
    entry_id: int,
    media_id: int,
    agency: str,
    reviewer: str,
    verdict: str,
    list_id: int | None = None,
) -> None:
    """Record a reviewer's confirm or reject verdict on a match against a list entry."""
    if verdict not in VERDICTS:
        raise InvalidInputError(f"verdict must be one of: {', '.join(VERDICTS)}")
    if not reviewer.strip():
        raise InvalidInputError("the reviewer must be named")
    with ctx.uow() as uow:
        voter = uow.agencies.get(agency.upper())
        entry = uow.hashlists.refs([entry_id]).get(entry_id)
        if entry is None or (list_id is not None and entry.list_id != list_id):
            raise NotFoundError(f"no entry {entry_id} in that list")
        matched = [m for m in uow.matches.for_media([media_id]) if m.entry_id == entry_id]
        if not matched:
            raise InvalidInputError(f"media {media_id} has no match against entry {entry_id}")
        uow.hashlists.vote(entry_id, media_id, voter.id, reviewer.strip(), verdict)
        _audit(uow, requester, "hashlist.vote", entry.list_id, entry=entry_id, verdict=verdict)
        uow.commit()


def owner_report(ctx: AppContext, list_id: int) -> list[EntryReport]:
    """Matches and votes per entry of a list, for its owner."""
    with ctx.uow() as uow:
        uow.hashlists.get(list_id)
        return [EntryReport(*row) for row in uow.hashlists.vote_report(list_id)]


def _audit(
    uow: UnitOfWork, requester: Requester, action: str, list_id: int, **detail: object
) -> None:
    record(
        uow,
        actor=requester.actor,
        action=action,
        resource=f"hashlist:{list_id}",
        source=requester.source,
        agency_id=requester.agency_id,
        detail=detail,
    )


def _check_threshold(threshold: int) -> None:
    if not 0 <= threshold <= PDQ_MATCH_THRESHOLD:
        raise InvalidInputError(
            f"a list's PDQ threshold is between 0 and {PDQ_MATCH_THRESHOLD} "
            "(the index is exact up to 31)"
        )
