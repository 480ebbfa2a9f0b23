"""Need-to-know on real reads: search, match, triage, alerts and cases, per role and sharing.

Three agencies hold the same benign image in a case each: TEST-GB's is private, TEST-DE's
shares match signals, TEST-JP's is shared. TEST-GB also holds an image nobody else has (in its
private case), and TEST-DE one in its signals case. Each test asks as users of each role and
checks exactly what comes back: the sighting in full, only the agency and case reference
(signal-only), or nothing at all; and that refusals are in the audit trail with their reason.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sightline.domain.access import Actor, Role, SharingLevel
from sightline.domain.audit import AuditEvent, Requester
from sightline.errors import AccessDenied, InvalidInputError, NotFoundError
from sightline.jobs.inline import InlineRunner
from sightline.services import catalog
from sightline.services.context import AppContext
from sightline.services.exchange import hashlists
from sightline.services.ingest.run import ingest
from sightline.services.matching.engine import MatchingEngine
from sightline.services.matching.match import match_query, query_from_hashes
from sightline.services.matching.search import result_as_dict, search_file
from sightline.services.matching.triage import agency_alerts, case_triage
from tests.support.corpus import TEST_REQUESTER, write_landscape
from tests.support.indexes import pdq_indexes

GB, DE, JP = "TEST-GB", "TEST-DE", "TEST-JP"
CASES = {GB: ("GB-P", SharingLevel.PRIVATE), DE: ("DE-S", SharingLevel.SIGNALS)}
CASES[JP] = ("JP-H", SharingLevel.SHARED)
COMMON, GB_ONLY, DE_ONLY = 1, 2, 3  # landscape seeds

_ids = itertools.count(100)


@dataclass
class World:
    """The store, the files ingested, and a way to make requesters of any agency and role."""

    ctx: AppContext
    files: dict[int, Path]
    agency_ids: dict[str, int]

    def who(
        self,
        agency: str,
        role: Role = Role.INVESTIGATOR,
        *,
        certified: bool = True,
        expired: bool = False,
        mfa: bool = True,
    ) -> Requester:
        """A requester as the API builds one (a session with ``mfa``, a token without)."""
        now = datetime.now(UTC)
        until = now - timedelta(days=1) if expired else now + timedelta(days=30)
        user_id = next(_ids)
        actor = Actor(
            user_id=user_id,
            agency_id=self.agency_ids[agency],
            role=role,
            certified_until=until if certified or expired else None,
            mfa_verified=mfa,
        )
        return Requester(f"user:{user_id}", "198.51.100.7", actor.agency_id, actor)


@pytest.fixture
def world(ctx: AppContext, tmp_path: Path) -> World:
    files = {seed: write_landscape(tmp_path / f"src/{seed}.jpg", seed) for seed in (1, 2, 3)}
    holdings = {GB: (COMMON, GB_ONLY), DE: (COMMON, DE_ONLY), JP: (COMMON,)}
    for code, (reference, sharing) in CASES.items():
        catalog.add_agency(ctx, code, f"{code} unit", code[-2:], requester=TEST_REQUESTER)
        catalog.add_case(
            ctx, code, reference, f"{code} title", requester=TEST_REQUESTER, sharing=sharing
        )
        folder = tmp_path / code
        folder.mkdir()
        for seed in holdings[code]:
            (folder / f"{seed}.jpg").write_bytes(files[seed].read_bytes())
        ingest(
            ctx,
            [folder],
            agency_code=code,
            case_reference=reference,
            runner=InlineRunner(),
            requester=TEST_REQUESTER,
        )
    with ctx.uow() as uow:
        ids = {code: uow.agencies.get(code).id for code in CASES}
    return World(ctx, files, ids)


def _search(world: World, seed: int, requester: Requester) -> list[dict[str, object]]:
    index = pdq_indexes(world.ctx)
    result = search_file(world.ctx, index, world.files[seed], requester=requester)
    matches = result_as_dict(result)["matches"]
    assert isinstance(matches, list)
    return matches


def _seen(match: dict[str, object]) -> set[tuple[object, ...]]:
    """(agency, case, visibility, whether a path is shown) of each sighting of a match."""
    sightings = match["sightings"]
    assert isinstance(sightings, list)
    return {
        (s["agency"], s["case"], s["visibility"], s["original_path"] is not None) for s in sightings
    }


def _events(ctx: AppContext, action: str) -> list[AuditEvent]:
    with ctx.uow() as uow:
        return [e for e in uow.audit.page(0, 1000) if e.action == action]


FULL_GB = (GB, "GB-P", "full", True)
FULL_DE = (DE, "DE-S", "full", True)
FULL_JP = (JP, "JP-H", "full", True)
SIGNAL_GB = (GB, "GB-P", "signal-only", False)
SIGNAL_DE = (DE, "DE-S", "signal-only", False)


@pytest.mark.parametrize(
    ("agency", "role", "expected"),
    [
        (GB, Role.INVESTIGATOR, {FULL_GB, SIGNAL_DE, FULL_JP}),
        (DE, Role.INVESTIGATOR, {FULL_DE, FULL_JP}),  # GB's private case: not a trace
        (JP, Role.VIEWER, {SIGNAL_DE, FULL_JP}),
        (JP, Role.COORDINATOR, {SIGNAL_GB, SIGNAL_DE, FULL_JP}),
        (GB, Role.AGENCY_ADMIN, {FULL_GB, SIGNAL_DE, FULL_JP}),
    ],
)
def test_search_shows_each_case_by_its_sharing_level(
    world: World, agency: str, role: Role, expected: set[tuple[object, ...]]
) -> None:
    [match] = _search(world, COMMON, world.who(agency, role))
    assert _seen(match) == expected
    assert match["visibility"] == "full" and isinstance(match["media_id"], int)


def test_an_item_seen_only_in_hidden_cases_is_left_out(world: World) -> None:
    de = world.who(DE)
    assert _search(world, GB_ONLY, de) == []
    [event] = [e for e in _events(world.ctx, "search") if e.actor == de.actor]
    assert (event.outcome, event.detail) == ("allowed", {"media_matches": 0})


def test_a_signal_only_match_names_whom_to_contact_and_nothing_else(world: World) -> None:
    gb = world.who(GB)
    [match] = _search(world, DE_ONLY, gb)
    assert match == {
        "visibility": "signal-only",
        "media_id": None,
        "sha256": None,
        "signals": ["sha256", "sha1", "md5", "pdq"],
        "distance": None,
        "threshold": None,
        "transform": None,
        "detail": None,
        "sightings": [
            {
                "visibility": "signal-only",
                "agency": DE,
                "case": "DE-S",
                "original_path": None,
                "device": None,
            }
        ],
    }
    [event] = [e for e in _events(world.ctx, "search") if e.actor == gb.actor]
    assert event.detail == {"media_matches": 1, "signal_only": 1}


@pytest.mark.parametrize(
    "make",
    [
        lambda w: w.who(GB, expired=True),
        lambda w: w.who(GB, certified=False),
        lambda w: w.who(GB, Role.SYSTEM_ADMIN),
        lambda w: w.who(JP, Role.COORDINATOR, expired=True),
    ],
    ids=["expired", "never-certified", "system-admin", "expired-coordinator"],
)
def test_without_a_valid_certification_or_content_role_nothing_matches(
    world: World, make: Callable[[World], Requester]
) -> None:
    requester = make(world)
    for seed in (COMMON, GB_ONLY, DE_ONLY):
        assert _search(world, seed, requester) == []


def test_a_token_without_second_factor_still_sees_metadata(world: World) -> None:
    [match] = _search(world, COMMON, world.who(GB, mfa=False))
    assert _seen(match) == {FULL_GB, SIGNAL_DE, FULL_JP}


def test_match_status_counts_only_what_the_requester_may_know(world: World) -> None:
    engine = MatchingEngine(world.ctx, pdq_indexes(world.ctx))

    def status(seed: int, requester: Requester) -> tuple[str, int]:
        sha256 = hashlib.sha256(world.files[seed].read_bytes()).hexdigest()
        result = match_query(
            world.ctx, engine, query_from_hashes(world.ctx, sha256=sha256), requester=requester
        )
        return result.status.value, len(result.search.matches)

    assert status(GB_ONLY, world.who(DE)) == ("new", 0)  # private elsewhere: not even "known"
    assert status(GB_ONLY, world.who(JP, Role.COORDINATOR)) == ("known", 1)
    assert status(DE_ONLY, world.who(GB)) == ("known", 1)
    assert status(COMMON, world.who(GB, Role.SYSTEM_ADMIN)) == ("new", 0)
    assert status(GB_ONLY, TEST_REQUESTER) == ("known", 1)  # the operator sees everything


def test_triage_needs_the_case_metadata(world: World) -> None:
    ctx = world.ctx
    assert case_triage(ctx, GB, "GB-P", requester=world.who(GB)).counts["new"] == 2
    assert case_triage(ctx, JP, "JP-H", requester=world.who(DE)).case == "JP-H"  # shared
    with pytest.raises(NotFoundError) as hidden:
        case_triage(ctx, GB, "GB-P", requester=world.who(DE))
    with pytest.raises(NotFoundError) as missing:
        case_triage(ctx, GB, "NO-SUCH", requester=world.who(DE))
    assert hidden.value.message.replace("GB-P", "X") == missing.value.message.replace(
        "NO-SUCH", "X"
    )
    refused = [
        (DE, "DE-S", world.who(GB)),  # signals only: it knows the case exists, so 403
        (GB, "GB-P", world.who(JP, Role.COORDINATOR)),
        (GB, "GB-P", world.who(GB, Role.SYSTEM_ADMIN)),
        (GB, "GB-P", world.who(GB, expired=True)),
    ]
    for agency, reference, requester in refused:
        with pytest.raises(AccessDenied):
            case_triage(ctx, agency, reference, requester=requester)
    events = _events(ctx, "triage.read")
    assert [(e.outcome, e.detail.get("reason")) for e in events] == [
        ("allowed", None),
        ("allowed", None),
        ("denied", "other_agency_private"),
        ("denied", "signals_only"),
        ("denied", "other_agency_private"),
        ("denied", "system_admin_no_content"),
        ("denied", "certification_expired"),
    ]
    assert events[0].detail == {"items": 2}


def _alerts(world: World, agency: str, requester: Requester) -> set[tuple[object, ...]]:
    lines = agency_alerts(world.ctx, agency, requester=requester)
    for line in lines:
        shown = (line.other_title, line.other_media_id, line.distance)
        assert (None not in shown) == (line.visibility == "full")
    return {(line.case, line.other_agency, line.other_case, line.visibility) for line in lines}


def test_alerts_show_each_counterpart_by_its_sharing_level(world: World) -> None:
    assert _alerts(world, GB, world.who(GB, Role.VIEWER)) == {
        ("GB-P", DE, "DE-S", "signal-only"),
        ("GB-P", JP, "JP-H", "full"),
    }
    assert _alerts(world, DE, world.who(DE)) == {("DE-S", JP, "JP-H", "full")}
    assert _alerts(world, JP, world.who(JP, Role.COORDINATOR)) == {
        ("JP-H", GB, "GB-P", "signal-only"),
        ("JP-H", DE, "DE-S", "signal-only"),
    }
    assert _alerts(world, JP, world.who(JP)) == {("JP-H", DE, "DE-S", "signal-only")}
    assert _alerts(world, GB, TEST_REQUESTER) == {
        ("GB-P", DE, "DE-S", "full"),
        ("GB-P", JP, "JP-H", "full"),
    }
    counts = [e.detail["alerts"] for e in _events(world.ctx, "alerts.read")]
    assert counts == [2, 1, 2, 1, 2]


def test_alerts_are_for_their_agency_members_only(world: World) -> None:
    with pytest.raises(NotFoundError):
        agency_alerts(world.ctx, GB, requester=world.who(DE))
    with pytest.raises(NotFoundError):
        agency_alerts(world.ctx, GB, requester=world.who(JP, Role.COORDINATOR))
    for requester in (world.who(GB, Role.SYSTEM_ADMIN), world.who(GB, expired=True)):
        with pytest.raises(AccessDenied):
            agency_alerts(world.ctx, GB, requester=requester)
    events = _events(world.ctx, "alerts.read")
    assert [(e.outcome, e.resource, e.detail["reason"]) for e in events] == [
        ("denied", f"agency:{world.agency_ids[GB]}", "other_agency"),
        ("denied", f"agency:{world.agency_ids[GB]}", "other_agency"),
        ("denied", f"agency:{world.agency_ids[GB]}", "system_admin_no_content"),
        ("denied", f"agency:{world.agency_ids[GB]}", "certification_expired"),
    ]


def _references(world: World, requester: Requester) -> list[str]:
    return [case.reference for case, _ in catalog.list_cases(world.ctx, requester=requester)]


def test_case_lists_and_reads_follow_view_metadata(world: World) -> None:
    assert _references(world, world.who(GB)) == ["GB-P", "JP-H"]
    assert _references(world, world.who(DE, mfa=False)) == ["DE-S", "JP-H"]
    assert _references(world, world.who(JP, Role.COORDINATOR)) == ["JP-H"]
    assert _references(world, world.who(GB, Role.SYSTEM_ADMIN)) == []
    assert _references(world, world.who(GB, expired=True)) == []
    assert _references(world, TEST_REQUESTER) == ["GB-P", "DE-S", "JP-H"]
    gb_case = catalog.list_cases(world.ctx, GB, requester=TEST_REQUESTER)[0][0]
    with pytest.raises(NotFoundError) as hidden:
        catalog.get_case(world.ctx, gb_case.id, requester=world.who(DE))
    with pytest.raises(NotFoundError) as missing:
        catalog.get_case(world.ctx, 999, requester=world.who(DE))
    assert hidden.value.message == f"no case with id {gb_case.id}"
    assert missing.value.message == "no case with id 999"
    case, agency = catalog.get_case(world.ctx, gb_case.id, requester=world.who(GB))
    assert (case.reference, agency.code) == ("GB-P", GB)


def test_creating_and_sharing_cases_needs_edit_rights(world: World) -> None:
    ctx = world.ctx
    gb = world.who(GB)
    created = catalog.add_case(ctx, GB, "GB-2", requester=gb, sharing=SharingLevel.SIGNALS)
    assert created.sharing is SharingLevel.SIGNALS
    for agency, requester in (
        (DE, gb),  # another agency's case file
        (GB, world.who(GB, Role.VIEWER)),
        (GB, world.who(GB, Role.SYSTEM_ADMIN)),
    ):
        with pytest.raises(AccessDenied):
            catalog.add_case(ctx, agency, "X-1", requester=requester)
    denied = [e for e in _events(ctx, "case.create") if e.outcome == "denied"]
    assert [e.detail["reason"] for e in denied] == [
        "other_agency_private",
        "role_cannot_edit",
        "system_admin_no_content",
    ]
    jp_case = catalog.list_cases(ctx, JP, requester=TEST_REQUESTER)[0][0]
    with pytest.raises(AccessDenied):  # shared lends viewing, never custody
        catalog.update_case(ctx, jp_case.id, requester=gb, sharing=SharingLevel.PRIVATE)


def test_a_new_sharing_level_applies_to_the_next_read(world: World) -> None:
    ctx, de = world.ctx, world.who(DE)
    assert _search(world, GB_ONLY, de) == []
    catalog.share_case(ctx, GB, "GB-P", SharingLevel.SIGNALS, requester=world.who(GB))
    [match] = _search(world, GB_ONLY, de)
    assert _seen(match) == {SIGNAL_GB}
    catalog.share_case(ctx, GB, "GB-P", SharingLevel.SHARED, requester=TEST_REQUESTER)
    [match] = _search(world, GB_ONLY, de)
    assert _seen(match) == {FULL_GB}
    assert [e.detail for e in _events(ctx, "case.update")] == [
        {"sharing_old": "private", "sharing_new": "signals"},
        {"sharing_old": "signals", "sharing_new": "shared"},
    ]


def _list_of(world: World, *seeds: int) -> io.BytesIO:
    rows = [hashlib.md5(world.files[s].read_bytes()).hexdigest() for s in seeds]
    return io.BytesIO(
        ("md5,id\n" + "".join(f"{md5},E-{i}\n" for i, md5 in enumerate(rows))).encode()
    )


def test_hash_lists_are_administered_by_their_owner(world: World) -> None:
    ctx = world.ctx
    refused = [
        (world.who(GB, Role.AGENCY_ADMIN, mfa=False), "mfa_required"),
        (world.who(GB), "role_cannot_administer"),
        (world.who(DE, Role.AGENCY_ADMIN), "other_agency"),
    ]
    for requester, _ in refused:
        with pytest.raises(AccessDenied):
            hashlists.import_list(ctx, _list_of(world, 1), requester=requester, owner=GB, name="n")
    report = hashlists.import_list(
        ctx, _list_of(world, 1), requester=world.who(GB, Role.AGENCY_ADMIN), owner=GB, name="n"
    )
    list_id = report.hash_list.id
    hashlists.configure(ctx, list_id, requester=world.who(GB, Role.SYSTEM_ADMIN), enabled=False)
    with pytest.raises(AccessDenied):
        hashlists.delete_list(ctx, list_id, requester=world.who(DE, Role.SYSTEM_ADMIN, mfa=False))
    denied = [e for e in _events(ctx, "hashlist.import") if e.outcome == "denied"]
    assert [e.detail["reason"] for e in denied] == [reason for _, reason in refused]
    [configured] = _events(ctx, "hashlist.configure")
    assert configured.detail == {"enabled": False}
    assert [e.detail["reason"] for e in _events(ctx, "hashlist.delete")] == ["mfa_required"]


def test_votes_and_the_owner_report(world: World) -> None:
    ctx = world.ctx
    engine = MatchingEngine(ctx, pdq_indexes(ctx))
    admin = world.who(GB, Role.AGENCY_ADMIN)
    list_id = hashlists.import_list(
        ctx, _list_of(world, COMMON, GB_ONLY), requester=admin, owner=GB, name="n"
    ).hash_list.id
    hunted = hashlists.retro_hunt(ctx, engine, list_id)
    [hunt] = _events(ctx, "hashlist.retro_hunt")
    assert (hunt.actor, hunt.detail["new_matches"]) == ("system", hunted.new_matches)
    with ctx.uow() as uow:
        entries = uow.hashlists.entry_ids(list_id)
        media = {
            seed: uow.media.by_sha256(hashlib.sha256(world.files[seed].read_bytes()).hexdigest())
            for seed in (COMMON, GB_ONLY)
        }
    common, gb_only = (m.id for m in media.values() if m is not None)
    jp = world.who(JP)

    def vote(requester: Requester, entry: int, media_id: int, agency: str | None = None) -> None:
        hashlists.vote(
            ctx,
            requester=requester,
            entry_id=entry,
            media_id=media_id,
            reviewer="R. One",
            verdict="confirm",
            agency=agency,
        )

    vote(jp, entries[0], common)  # in the name of TEST-JP
    with pytest.raises(AccessDenied):
        vote(jp, entries[0], common, agency=GB)
    with pytest.raises(AccessDenied):
        vote(world.who(JP, expired=True), entries[0], common)
    with pytest.raises(InvalidInputError):  # DE may not know of GB's private item
        vote(world.who(DE), entries[1], gb_only)
    rows = hashlists.owner_report(ctx, list_id, requester=world.who(GB, Role.VIEWER))
    assert [(r.matches, r.confirmed, r.rejected) for r in rows] == [(1, 1, 0), (1, 0, 0)]
    assert hashlists.owner_report(ctx, list_id, requester=world.who(GB, Role.SYSTEM_ADMIN))
    with pytest.raises(AccessDenied):
        hashlists.owner_report(ctx, list_id, requester=world.who(DE))
    reports = _events(ctx, "hashlist.report")
    assert [(e.outcome, e.detail.get("reason")) for e in reports] == [
        ("allowed", None),
        ("allowed", None),
        ("denied", "other_agency_private"),
    ]
    votes = _events(ctx, "hashlist.vote")
    assert [(e.outcome, e.actor_agency_id) for e in votes] == [
        ("allowed", world.agency_ids[JP]),
        ("denied", world.agency_ids[JP]),
        ("denied", world.agency_ids[JP]),
    ]
