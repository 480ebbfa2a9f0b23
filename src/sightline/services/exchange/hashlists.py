"""Hash lists (banks): import, configure, vote, report, and retro-hunt.

Lists are imported from CSV or the ICSE-style semicolon export, streamed, so a list of
millions of rows never sits in memory. Rows that cannot be parsed are reported with their line
number and the rest of the list is imported. After an import, or when a list's threshold or
state changes, everything already stored is re-matched against it (retro-hunt).

Who may do what (the operator at the command line may do everything):

* importing, configuring and deleting a list is administering its owning agency
  (``administer``: that agency's administrator or the system administrator, with a second
  factor, so never with an API token);
* voting needs a certified member of an agency who may see its own cases' metadata, and the
  vote is in the name of that agency; the media voted on must be one the voter may see;
* the owner report is for members of the owning agency who may see its cases' metadata, or
  those who administer it;
* listing lists needs nothing more than being signed in (a list is not case content).

Every change, every report read and every refusal is audited; a retro-hunt is recorded as an
action of ``system`` with its counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, NoReturn

import numpy as np

from sightline.domain.access import (
    Action,
    Actor,
    AgencyScope,
    CaseScope,
    Decision,
    Reason,
    SharingLevel,
    decide,
)
from sightline.domain.audit import Requester
from sightline.domain.models import HashList, HashListEntryData, ListKind
from sightline.errors import AccessDenied, InvalidInputError, NotFoundError
from sightline.features.hashes import PDQ_KIND, PDQ_MATCH_THRESHOLD
from sightline.services.access.audit import record, record_denied
from sightline.services.context import AppContext
from sightline.services.exchange.formats import ParseError, detect_format, parse
from sightline.services.matching.engine import MatchingEngine, RematchReport
from sightline.services.signals.indexes import ListSignals
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
    """Create a list owned by agency ``owner`` and import ``stream`` into it.

    Raises:
        NotFoundError: no such agency.
        AccessDenied: the requester does not administer ``owner``.
    """
    _check_threshold(threshold)
    if fmt is None:
        fmt = detect_format(stream.read(4096))
        stream.seek(0)
    errors: list[ParseError] = []
    rejected = imported = 0
    with ctx.uow() as uow:
        agency = uow.agencies.get(owner.strip().upper())
    _require_admin(ctx, requester, agency.id, "hashlist.import", f"agency:{agency.id}")
    with ctx.uow() as uow:
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
    """Enable or disable a list or change its PDQ threshold (administering its owner)."""
    if threshold is not None:
        _check_threshold(threshold)
    _require_list_admin(ctx, requester, list_id, "hashlist.configure")
    with ctx.uow() as uow:
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
    the list raised stay as they are: a status is never lowered automatically. Needs
    ``administer`` on the list's owner.
    """
    _require_list_admin(ctx, requester, list_id, "hashlist.delete")
    with ctx.uow() as uow:
        hash_list = uow.hashlists.get(list_id)
        removed = uow.hashlists.delete(list_id)
        uow.signals.record_removals(ListSignals(PDQ_KIND).name, removed)
        _audit(uow, requester, "hashlist.delete", list_id, entries=hash_list.entry_count)
        uow.commit()
    return hash_list.entry_count


def retro_hunt(ctx: AppContext, engine: MatchingEngine, list_id: int) -> RematchReport:
    """Re-match every stored item that may match the list (exact digests, then PDQ).

    It runs on behalf of whoever changed the list, often in the background: it is recorded
    as an action of ``system`` with its counts.
    """
    with ctx.uow() as uow:
        hash_list = uow.hashlists.get(list_id)
        candidates = set(uow.hashlists.media_matching_digests(list_id))
        entries = uow.hashlists.pdq_entries(list_id)
    if entries:
        codes = np.frombuffer(b"".join(c for _, c in entries), dtype=np.uint8)
        kind = ctx.signal_kinds[PDQ_KIND]  # the perceptual hash lists carry
        radius = min(hash_list.pdq_threshold, kind.threshold or 0)
        hits = engine.indexes.media(kind.name).search(codes.reshape(len(entries), -1), radius)
        with ctx.uow() as uow:
            owners = uow.signals.media_ids(h.id for row in hits for h in row)
        candidates.update(owners.values())
    engine.refresh()
    report = engine.rematch_lists(candidates)
    with ctx.uow() as uow:
        record(
            uow,
            actor="system",
            action="hashlist.retro_hunt",
            resource=f"hashlist:{list_id}",
            source="system",
            detail={
                "items": report.items,
                "new_matches": report.new_matches,
                "triage_changed": report.triage_changed,
            },
        )
        uow.commit()
    return report


def vote(
    ctx: AppContext,
    *,
    requester: Requester,
    entry_id: int,
    media_id: int,
    reviewer: str,
    verdict: str,
    agency: str | None = None,
    list_id: int | None = None,
) -> None:
    """Record a reviewer's confirm or reject verdict on a match against a list entry.

    A signed-in requester votes in the name of its own agency (``agency``, if given, must be
    it); the operator names the agency.

    Raises:
        InvalidInputError: bad verdict or reviewer, no agency named by the operator, or no
            match of that media (that the requester may see) against the entry.
        NotFoundError: no such entry (in that list).
        AccessDenied: the requester may not vote, or names another agency.
    """
    if verdict not in VERDICTS:
        raise InvalidInputError(f"verdict must be one of: {', '.join(VERDICTS)}")
    if not reviewer.strip():
        raise InvalidInputError("the reviewer must be named")
    voter_id = _voter(ctx, requester, agency)
    with ctx.uow() as uow:
        entry = uow.hashlists.refs([entry_id]).get(entry_id)
        if entry is None or (list_id is not None and entry.list_id != list_id):
            raise NotFoundError(f"no entry {entry_id} in that list")
        matched = [m for m in uow.matches.for_media([media_id]) if m.entry_id == entry_id]
        scope = requester.scope(Action.VIEW_METADATA)
        if not matched or not uow.sightings.locations([media_id], scope=scope):
            raise InvalidInputError(f"media {media_id} has no match against entry {entry_id}")
        uow.hashlists.vote(entry_id, media_id, voter_id, reviewer.strip(), verdict)
        _audit(uow, requester, "hashlist.vote", entry.list_id, entry=entry_id, verdict=verdict)
        uow.commit()


def owner_report(ctx: AppContext, list_id: int, *, requester: Requester) -> list[EntryReport]:
    """Matches and votes per entry of a list, for its owner (audited as ``hashlist.report``).

    Raises:
        NotFoundError: no such list.
        AccessDenied: the requester neither works the owner's cases nor administers it.
    """
    with ctx.uow() as uow:
        owner = uow.hashlists.get(list_id).owner_agency_id
    actor = requester.access
    if actor is not None:
        now = datetime.now(UTC)
        member = decide(actor, Action.VIEW_METADATA, _own_case(owner), now=now)
        admin = decide(actor, Action.ADMINISTER, AgencyScope(owner), now=now)
        if not member.allowed and not admin.allowed:
            _deny(ctx, requester, "hashlist.report", f"hashlist:{list_id}", member)
    with ctx.uow() as uow:
        rows = [EntryReport(*row) for row in uow.hashlists.vote_report(list_id)]
        _audit(uow, requester, "hashlist.report", list_id, entries=len(rows))
        uow.commit()
    return rows


def _voter(ctx: AppContext, requester: Requester, agency: str | None) -> int:
    """The id of the agency a vote is cast for; refusals are audited."""
    actor = requester.access
    with ctx.uow() as uow:
        named = None if agency is None else uow.agencies.get(agency.strip().upper())
    if actor is None:
        if named is None:
            raise InvalidInputError("name the reviewer's agency")
        return named.id
    resource = f"agency:{actor.agency_id}"
    if named is not None and named.id != actor.agency_id:
        _deny(ctx, requester, "hashlist.vote", resource, Decision(False, Reason.OTHER_AGENCY))
    member = decide(actor, Action.VIEW_METADATA, _own_case(actor.agency_id), now=_now())
    if not member.allowed:
        _deny(ctx, requester, "hashlist.vote", resource, member)
    return actor.agency_id


def _require_list_admin(ctx: AppContext, requester: Requester, list_id: int, action: str) -> None:
    with ctx.uow() as uow:
        owner = uow.hashlists.get(list_id).owner_agency_id
    _require_admin(ctx, requester, owner, action, f"hashlist:{list_id}")


def _require_admin(
    ctx: AppContext, requester: Requester, agency_id: int, action: str, resource: str
) -> None:
    """``administer`` on the agency, or an audited refusal (the operator may do anything)."""
    actor: Actor | None = requester.access
    if actor is None:
        return
    decision = decide(actor, Action.ADMINISTER, AgencyScope(agency_id), now=_now())
    if not decision.allowed:
        _deny(ctx, requester, action, resource, decision)


def _deny(
    ctx: AppContext, requester: Requester, action: str, resource: str, decision: Decision
) -> NoReturn:
    record_denied(ctx, requester, action, resource, decision.reason)
    raise AccessDenied(decision.reason)


def _own_case(agency_id: int) -> CaseScope:
    """Any case of the agency: what "may see its own cases' metadata" is decided on."""
    return CaseScope(case_id=0, agency_id=agency_id, sharing=SharingLevel.PRIVATE)


def _now() -> datetime:
    return datetime.now(UTC)


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
