"""The demo dataset: three agencies, one case per sharing level, overlaps that show each."""

from __future__ import annotations

from collections import Counter

from sightline.domain.access import Role
from sightline.domain.audit import Requester
from sightline.domain.models import TriageStatus
from sightline.jobs.inline import InlineRunner
from sightline.services.access import users
from sightline.services.context import AppContext
from sightline.services.demo import AGENCIES, DEMO, is_loaded, load_demo
from sightline.services.matching.triage import agency_alerts, case_triage
from tests.support.api import add_person

SMALL = (256, 192)


def _requester(ctx: AppContext, agency_code: str) -> Requester:
    add_person(ctx, agency_code, f"inv-{agency_code.lower()}", Role.INVESTIGATOR)
    with ctx.uow() as uow:
        user = uow.users.get(f"inv-{agency_code.lower()}")
    actor = users.actor_for(user, mfa_verified=True)
    return Requester(f"user:{user.id}", "test", user.agency_id, actor)


def test_demo_shows_every_sharing_level(sqlite_ctx: AppContext) -> None:
    ctx = sqlite_ctx
    reports = load_demo(ctx, InlineRunner(), size=SMALL)
    assert is_loaded(ctx)
    assert [len(r.failures) for r in reports] == [
        0,
        0,
        1,
    ]  # JP's notes.txt, reported, batch went on
    gb, de, jp = AGENCIES
    statuses = {
        a.code: Counter(
            stack.representative.status
            for stack in case_triage(ctx, a.code, a.case, requester=DEMO).stacks
        )
        for a in AGENCIES
    }
    # The JP hash list names two GB images, one of an identified series.
    assert statuses[gb.code] == Counter(
        {TriageStatus.NEW: 10, TriageStatus.KNOWN: 1, TriageStatus.KNOWN_IDENTIFIED: 1}
    )
    assert statuses[de.code][TriageStatus.KNOWN] == 8  # every overlap with the shared GB case
    # Copies, a rotation and a mirror of shared GB images; at this small size one may be missed.
    assert statuses[jp.code][TriageStatus.KNOWN] >= 3
    # GB's investigator: DE's case is signals-only, JP's case private (its alerts are hidden).
    gb_lines = agency_alerts(ctx, gb.code, requester=_requester(ctx, gb.code), limit=500)
    assert {(line.other_agency, line.visibility) for line in gb_lines} == {(de.code, "signal-only")}
    # JP's investigator: the shared GB case in full, the DE case as a signal only.
    jp_lines = agency_alerts(ctx, jp.code, requester=_requester(ctx, jp.code), limit=500)
    assert {(line.other_agency, line.visibility) for line in jp_lines} == {
        (gb.code, "full"),
        (de.code, "signal-only"),
    }
