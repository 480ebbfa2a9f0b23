"""The access policy, checked against a hand-written table of every role, case and action.

The expected table below is written out by hand, one row per role and case position, and is
read with its own small interpreter: it is not computed by the policy it checks.
"""

from __future__ import annotations

import itertools
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sightline.domain.access import (
    Action,
    Actor,
    AgencyScope,
    CaseScope,
    Reason,
    Relation,
    Role,
    SharingLevel,
    allowed_actions,
    case_filter,
    decide,
    relation,
    require,
)
from sightline.errors import AccessDenied

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OWN_AGENCY = 7
OTHER_AGENCY = 564738
OTHER_CASE = 918273

# Cell codes: "-" never; "C" needs a valid certification; "M" needs MFA; "CM" needs both.
COLUMNS = (
    Action.VIEW_MEDIA,
    Action.VIEW_METADATA,
    Action.SEE_MATCH_EXISTS,
    Action.EDIT_CASE,
    Action.EXPORT,
    Action.ADMINISTER,
)
EXPECTED_TABLE = """
role          case           media  meta  match  edit  export  admin
viewer        own-private    CM     C     C      -     -       -
viewer        own-signals    CM     C     C      -     -       -
viewer        own-shared     CM     C     C      -     -       -
viewer        other-private  -      -     -      -     -       -
viewer        other-signals  -      -     C      -     -       -
viewer        other-shared   CM     C     C      -     -       -
investigator  own-private    CM     C     C      C     CM      -
investigator  own-signals    CM     C     C      C     CM      -
investigator  own-shared     CM     C     C      C     CM      -
investigator  other-private  -      -     -      -     -       -
investigator  other-signals  -      -     C      -     -       -
investigator  other-shared   CM     C     C      -     -       -
agency-admin  own-private    CM     C     C      C     CM      M
agency-admin  own-signals    CM     C     C      C     CM      M
agency-admin  own-shared     CM     C     C      C     CM      M
agency-admin  other-private  -      -     -      -     -       -
agency-admin  other-signals  -      -     C      -     -       -
agency-admin  other-shared   CM     C     C      -     -       -
coordinator   own-private    CM     C     C      C     CM      -
coordinator   own-signals    CM     C     C      C     CM      -
coordinator   own-shared     CM     C     C      C     CM      -
coordinator   other-private  -      -     C      -     -       -
coordinator   other-signals  -      -     C      -     -       -
coordinator   other-shared   CM     C     C      -     -       -
system-admin  own-private    -      -     -      -     -       M
system-admin  own-signals    -      -     -      -     -       M
system-admin  own-shared     -      -     -      -     -       M
system-admin  other-private  -      -     -      -     -       M
system-admin  other-signals  -      -     -      -     -       M
system-admin  other-shared   -      -     -      -     -       M
"""

CERTIFICATIONS = {
    "certified": NOW + timedelta(days=30),
    "expired": NOW - timedelta(days=1),
    "never": None,
}
GRANTED = {
    Reason.OWN_AGENCY,
    Reason.SHARED_CASE,
    Reason.SIGNALS_CASE,
    Reason.COORDINATOR,
    Reason.SYSTEM_ADMIN,
}
STRUCTURAL = {
    Reason.SYSTEM_ADMIN_NO_CONTENT,
    Reason.ROLE_CANNOT_EDIT,
    Reason.ROLE_CANNOT_EXPORT,
    Reason.ROLE_CANNOT_ADMINISTER,
    Reason.OTHER_AGENCY,
    Reason.OTHER_AGENCY_PRIVATE,
    Reason.SIGNALS_ONLY,
}


def _parse_table() -> dict[tuple[str, str], dict[Action, str]]:
    lines = EXPECTED_TABLE.strip().splitlines()[1:]
    table: dict[tuple[str, str], dict[Action, str]] = {}
    for line in lines:
        role, case, *cells = line.split()
        assert len(cells) == len(COLUMNS), line
        assert (role, case) not in table, line
        table[(role, case)] = dict(zip(COLUMNS, cells, strict=True))
    return table


TABLE = _parse_table()


def _actor(role: str, certification: str, mfa: bool) -> Actor:
    return Actor(
        user_id=1,
        agency_id=OWN_AGENCY,
        role=Role(role),
        certified_until=CERTIFICATIONS[certification],
        mfa_verified=mfa,
    )


def _case(position: str) -> CaseScope:
    side, level = position.split("-")
    agency = OWN_AGENCY if side == "own" else OTHER_AGENCY
    return CaseScope(case_id=OTHER_CASE, agency_id=agency, sharing=SharingLevel(level))


def _expected(cell: str, certification: str, mfa: bool) -> bool:
    if cell == "-":
        return False
    cert_ok = "C" not in cell or certification == "certified"
    mfa_ok = "M" not in cell or mfa
    return cert_ok and mfa_ok


def _expected_reason(cell: str, certification: str) -> set[Reason]:
    """The reasons a denial may give: structural first, then certification, then MFA."""
    if cell == "-":
        return STRUCTURAL
    if "C" in cell and certification == "expired":
        return {Reason.CERTIFICATION_EXPIRED}
    if "C" in cell and certification == "never":
        return {Reason.NOT_CERTIFIED}
    return {Reason.MFA_REQUIRED}


MATRIX = [
    pytest.param(
        role,
        position,
        action,
        certification,
        mfa,
        id=f"{role}-{position}-{action}-{certification}-{'mfa' if mfa else 'nomfa'}",
    )
    for (role, position), action, certification, mfa in itertools.product(
        TABLE, COLUMNS, CERTIFICATIONS, (True, False)
    )
]


def test_table_covers_every_role_sharing_level_and_side() -> None:
    positions = {f"{side}-{level}" for side in ("own", "other") for level in SharingLevel}
    assert set(TABLE) == set(itertools.product((r.value for r in Role), positions))
    assert set(COLUMNS) == set(Action)
    assert len(MATRIX) == 5 * 6 * 6 * 3 * 2


@pytest.mark.parametrize(("role", "position", "action", "certification", "mfa"), MATRIX)
def test_matrix(role: str, position: str, action: Action, certification: str, mfa: bool) -> None:
    cell = TABLE[(role, position)][action]
    decision = decide(_actor(role, certification, mfa), action, _case(position), now=NOW)
    assert decision.allowed is _expected(cell, certification, mfa)
    if decision.allowed:
        assert decision.reason in GRANTED
    else:
        assert decision.reason in _expected_reason(cell, certification)


@pytest.mark.parametrize(
    ("role", "position", "action", "reason"),
    [
        ("viewer", "own-shared", Action.EDIT_CASE, Reason.ROLE_CANNOT_EDIT),
        ("viewer", "own-shared", Action.EXPORT, Reason.ROLE_CANNOT_EXPORT),
        ("investigator", "own-private", Action.ADMINISTER, Reason.ROLE_CANNOT_ADMINISTER),
        ("coordinator", "own-private", Action.ADMINISTER, Reason.ROLE_CANNOT_ADMINISTER),
        ("agency-admin", "other-shared", Action.ADMINISTER, Reason.OTHER_AGENCY),
        ("investigator", "other-shared", Action.EDIT_CASE, Reason.OTHER_AGENCY),
        ("investigator", "other-shared", Action.EXPORT, Reason.OTHER_AGENCY),
        ("investigator", "other-private", Action.SEE_MATCH_EXISTS, Reason.OTHER_AGENCY_PRIVATE),
        ("coordinator", "other-private", Action.VIEW_METADATA, Reason.OTHER_AGENCY_PRIVATE),
        ("viewer", "other-signals", Action.VIEW_METADATA, Reason.SIGNALS_ONLY),
        ("coordinator", "other-signals", Action.VIEW_MEDIA, Reason.SIGNALS_ONLY),
        ("system-admin", "own-shared", Action.VIEW_MEDIA, Reason.SYSTEM_ADMIN_NO_CONTENT),
        ("system-admin", "other-shared", Action.SEE_MATCH_EXISTS, Reason.SYSTEM_ADMIN_NO_CONTENT),
    ],
)
def test_structural_reasons(role: str, position: str, action: Action, reason: Reason) -> None:
    # Certified with MFA, so the structural reason is the only one left.
    decision = decide(_actor(role, "certified", True), action, _case(position), now=NOW)
    assert decision == decide(_actor(role, "never", False), action, _case(position), now=NOW)
    assert not decision.allowed
    assert decision.reason is reason


@pytest.mark.parametrize(
    ("role", "position", "action", "reason"),
    [
        ("viewer", "own-private", Action.VIEW_MEDIA, Reason.OWN_AGENCY),
        ("viewer", "other-shared", Action.VIEW_MEDIA, Reason.SHARED_CASE),
        ("viewer", "other-signals", Action.SEE_MATCH_EXISTS, Reason.SIGNALS_CASE),
        ("coordinator", "other-private", Action.SEE_MATCH_EXISTS, Reason.COORDINATOR),
        ("agency-admin", "own-private", Action.ADMINISTER, Reason.OWN_AGENCY),
        ("system-admin", "own-private", Action.ADMINISTER, Reason.SYSTEM_ADMIN),
        ("system-admin", "other-private", Action.ADMINISTER, Reason.SYSTEM_ADMIN),
    ],
)
def test_grant_reasons(role: str, position: str, action: Action, reason: Reason) -> None:
    decision = decide(_actor(role, "certified", True), action, _case(position), now=NOW)
    assert decision.allowed
    assert decision.reason is reason


def test_certification_ending_exactly_now_has_expired() -> None:
    actor = Actor(1, OWN_AGENCY, Role.VIEWER, certified_until=NOW, mfa_verified=True)
    decision = decide(actor, Action.VIEW_METADATA, _case("own-private"), now=NOW)
    assert decision == decide(actor, Action.VIEW_METADATA, _case("own-private"), now=NOW)
    assert not decision.allowed
    assert decision.reason is Reason.CERTIFICATION_EXPIRED
    assert not actor.is_certified(NOW)


def test_expiry_cuts_access_at_once() -> None:
    actor = Actor(1, OWN_AGENCY, Role.INVESTIGATOR, certified_until=NOW, mfa_verified=True)
    before = NOW - timedelta(microseconds=1)
    assert decide(actor, Action.VIEW_MEDIA, _case("own-private"), now=before).allowed
    assert not decide(actor, Action.VIEW_MEDIA, _case("own-private"), now=NOW).allowed


def test_certification_compares_instants_across_time_zones() -> None:
    plus_two = timezone(timedelta(hours=2))
    until = datetime(2026, 11, 25, 13, 30, tzinfo=plus_two)  # 11:30 UTC, before NOW
    actor = Actor(1, OWN_AGENCY, Role.VIEWER, certified_until=until, mfa_verified=True)
    decision = decide(actor, Action.VIEW_METADATA, _case("own-private"), now=NOW)
    assert decision.reason is Reason.CERTIFICATION_EXPIRED


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2026, 11, 25, 12, 0)
    actor = _actor("viewer", "certified", True)
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(actor, Action.VIEW_MEDIA, _case("own-private"), now=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        case_filter(actor, Action.VIEW_MEDIA, now=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        actor.is_certified(naive)
    with pytest.raises(ValueError, match="certified_until"):
        Actor(1, OWN_AGENCY, Role.VIEWER, certified_until=naive, mfa_verified=True)


def test_require_raises_access_denied_with_the_reason() -> None:
    actor = _actor("viewer", "certified", True)
    with pytest.raises(AccessDenied) as caught:
        require(actor, Action.VIEW_MEDIA, _case("other-private"), now=NOW)
    error = caught.value
    assert error.reason == Reason.OTHER_AGENCY_PRIVATE
    assert (error.code, error.http_status, error.exit_code) == ("forbidden", 403, 9)
    assert error.message == "access denied"
    again = pickle.loads(pickle.dumps(error))
    assert (again.reason, again.message) == (error.reason, error.message)


def test_require_returns_the_decision_when_allowed() -> None:
    actor = _actor("viewer", "certified", True)
    decision = require(actor, Action.VIEW_MEDIA, _case("other-shared"), now=NOW)
    assert decision.allowed
    assert decision.reason is Reason.SHARED_CASE


def test_denials_never_disclose_ids_or_case_content() -> None:
    messages = set()
    for (role, position), action, certification, mfa in itertools.product(
        TABLE, COLUMNS, CERTIFICATIONS, (True, False)
    ):
        actor = _actor(role, certification, mfa)
        decision = decide(actor, action, _case(position), now=NOW)
        assert isinstance(decision.reason, Reason)
        assert not any(ch.isdigit() for ch in decision.reason)
        if not decision.allowed:
            with pytest.raises(AccessDenied) as caught:
                require(actor, action, _case(position), now=NOW)
            messages.add(str(caught.value))
    assert messages == {"access denied"}


@pytest.mark.parametrize(
    ("role", "agency", "mfa", "allowed", "reason"),
    [
        ("agency-admin", OWN_AGENCY, True, True, Reason.OWN_AGENCY),
        ("agency-admin", OWN_AGENCY, False, False, Reason.MFA_REQUIRED),
        ("agency-admin", OTHER_AGENCY, True, False, Reason.OTHER_AGENCY),
        ("system-admin", OTHER_AGENCY, True, True, Reason.SYSTEM_ADMIN),
        ("coordinator", OTHER_AGENCY, True, False, Reason.ROLE_CANNOT_ADMINISTER),
        ("investigator", OWN_AGENCY, True, False, Reason.ROLE_CANNOT_ADMINISTER),
    ],
)
def test_administer_an_agency(
    role: str, agency: int, mfa: bool, allowed: bool, reason: Reason
) -> None:
    # Administering needs no certification: it grants access without showing material.
    actor = _actor(role, "never", mfa)
    decision = decide(actor, Action.ADMINISTER, AgencyScope(agency), now=NOW)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_an_agency_is_only_a_target_for_administer() -> None:
    actor = _actor("agency-admin", "certified", True)
    with pytest.raises(ValueError, match="needs a case"):
        decide(actor, Action.VIEW_METADATA, AgencyScope(OWN_AGENCY), now=NOW)


@pytest.mark.parametrize(
    ("role", "certification", "mfa"),
    list(itertools.product([r.value for r in Role], CERTIFICATIONS, (True, False))),
)
def test_case_filter_agrees_with_decide(role: str, certification: str, mfa: bool) -> None:
    actor = _actor(role, certification, mfa)
    for action in Action:
        scope = case_filter(actor, action, now=NOW)
        for position in (f"{s}-{level}" for s in ("own", "other") for level in SharingLevel):
            case = _case(position)
            assert scope.allows(case) is decide(actor, action, case, now=NOW).allowed


def test_case_filter_shapes() -> None:
    coordinator = _actor("coordinator", "certified", False)
    assert case_filter(coordinator, Action.SEE_MATCH_EXISTS, now=NOW).everything
    viewer = case_filter(_actor("viewer", "certified", True), Action.VIEW_MEDIA, now=NOW)
    assert viewer.own_agency
    assert viewer.other_levels == {SharingLevel.SHARED}
    assert not viewer.everything
    assert not viewer.nothing
    signals = case_filter(_actor("viewer", "certified", True), Action.SEE_MATCH_EXISTS, now=NOW)
    assert signals.other_levels == {SharingLevel.SIGNALS, SharingLevel.SHARED}
    assert case_filter(
        _actor("investigator", "expired", True), Action.VIEW_METADATA, now=NOW
    ).nothing
    admin = case_filter(_actor("system-admin", "never", True), Action.ADMINISTER, now=NOW)
    assert admin.everything


def test_allowed_actions_describe_an_alert_counterpart() -> None:
    viewer = _actor("viewer", "certified", True)
    assert allowed_actions(viewer, _case("other-private"), now=NOW) == frozenset()
    assert allowed_actions(viewer, _case("other-signals"), now=NOW) == {Action.SEE_MATCH_EXISTS}
    assert allowed_actions(viewer, _case("other-shared"), now=NOW) == {
        Action.SEE_MATCH_EXISTS,
        Action.VIEW_METADATA,
        Action.VIEW_MEDIA,
    }


def test_relation() -> None:
    actor = _actor("viewer", "certified", True)
    assert relation(actor, _case("own-signals")) is Relation.OWN
    assert relation(actor, _case("other-signals")) is Relation.OTHER_SIGNALS
    assert relation(actor, AgencyScope(OTHER_AGENCY)) is Relation.OTHER_PRIVATE
