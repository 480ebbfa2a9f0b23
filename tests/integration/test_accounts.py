"""Account administration services on both databases: reach, self-service, sessions, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sightline.domain.access import (
    Actor,
    Reason,
    Role,
    decide_audit_read,
    decide_role_administration,
    decide_system_administration,
)
from sightline.domain.audit import Requester
from sightline.errors import AccessDenied, InvalidInputError, NotFoundError
from sightline.services.access import accounts, audit_read, sessions
from sightline.services.access.users import actor_for
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from tests.support.api import PASSWORD, Person, add_person
from tests.support.corpus import TEST_REQUESTER

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
OTHER_PASSWORD = "yet another long password"


def requester_of(ctx: AppContext, username: str, *, mfa: bool = True) -> Requester:
    with ctx.uow() as uow:
        user = uow.users.get(username)
    return Requester(
        f"user:{user.id}", "127.0.0.1", user.agency_id, actor_for(user, mfa_verified=mfa)
    )


def open_session(ctx: AppContext, person: Person, step: int = 0) -> int:
    at = datetime.now(UTC) + timedelta(seconds=30 * step)
    opened = sessions.sign_in(
        ctx, username=person.username, password=PASSWORD, totp_code=person.code(at), source="t"
    )
    return opened.id


def live_sessions(ctx: AppContext, username: str) -> int:
    with ctx.uow() as uow:
        user = uow.users.get(username)
        # revoke_all returns how many were live; roll back so nothing changes
        count = uow.web_sessions.revoke_all(user.id, datetime.now(UTC))
        uow.rollback()
    return count


@pytest.fixture
def agencies(ctx: AppContext) -> AppContext:
    for code in ("TEST-A", "TEST-B"):
        add_agency(ctx, code, f"Unit {code}", "DE", requester=TEST_REQUESTER)
    return ctx


def test_policy_additions() -> None:
    def actor(role: Role, agency: int = 1, mfa: bool = True) -> Actor:
        return Actor(user_id=1, agency_id=agency, role=role, certified_until=None, mfa_verified=mfa)

    assert decide_system_administration(actor(Role.SYSTEM_ADMIN), now=NOW).allowed
    assert decide_system_administration(actor(Role.SYSTEM_ADMIN, mfa=False), now=NOW).reason == (
        Reason.MFA_REQUIRED
    )
    assert not decide_system_administration(actor(Role.AGENCY_ADMIN), now=NOW).allowed
    admin = actor(Role.AGENCY_ADMIN)
    assert decide_role_administration(admin, 1, Role.INVESTIGATOR, now=NOW).allowed
    assert not decide_role_administration(admin, 1, Role.COORDINATOR, now=NOW).allowed
    assert not decide_role_administration(admin, 2, Role.VIEWER, now=NOW).allowed
    assert decide_role_administration(
        actor(Role.SYSTEM_ADMIN), 2, Role.SYSTEM_ADMIN, now=NOW
    ).allowed
    assert not decide_audit_read(actor(Role.INVESTIGATOR), now=NOW).allowed
    assert not decide_audit_read(actor(Role.AGENCY_ADMIN, mfa=False), now=NOW).allowed


def test_disable_ends_sessions_and_is_audited(agencies: AppContext) -> None:
    ctx = agencies
    add_person(ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN)
    person = add_person(ctx, "TEST-A", "inv.a")
    open_session(ctx, person)
    open_session(ctx, person, step=1)
    admin = requester_of(ctx, "admin.a")
    user, ended = accounts.set_disabled(ctx, admin, "inv.a", disabled=True)
    assert (user.disabled, ended) == (True, 2)
    assert live_sessions(ctx, "inv.a") == 0
    with ctx.uow() as uow:
        [event] = uow.audit.page(action="user.disable")
    assert (event.actor, event.resource, dict(event.detail)) == (
        admin.actor,
        f"user:{user.id}",
        {"sessions_ended": 2},
    )
    assert not accounts.set_disabled(ctx, admin, "inv.a", disabled=False)[0].disabled


def test_reach_is_checked_and_refusals_audited(agencies: AppContext) -> None:
    ctx = agencies
    add_person(ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN)
    add_person(ctx, "TEST-B", "inv.b")
    admin = requester_of(ctx, "admin.a")
    with pytest.raises(NotFoundError):
        accounts.set_disabled(ctx, admin, "inv.b", disabled=True)
    with pytest.raises(AccessDenied):
        accounts.set_disabled(ctx, admin, "admin.a", disabled=True)
    token_less = requester_of(ctx, "admin.a", mfa=False)
    with pytest.raises(AccessDenied):
        accounts.list_users(ctx, token_less, None)
    with ctx.uow() as uow:
        outcomes = [(e.action, e.outcome) for e in uow.audit.page(limit=500)]
    assert ("user.disable", "denied") in outcomes
    assert ("user.list", "denied") in outcomes
    operator = Requester("cli:test", "cli")
    assert accounts.set_disabled(ctx, operator, "inv.b", disabled=True)[0].disabled


def test_own_password_change_keeps_only_this_session(agencies: AppContext) -> None:
    ctx = agencies
    person = add_person(ctx, "TEST-A", "inv.a")
    here = open_session(ctx, person)
    open_session(ctx, person, step=1)
    me = requester_of(ctx, "inv.a")
    with pytest.raises(AccessDenied):
        accounts.change_own_password(
            ctx, me, current="wrong password!", new=OTHER_PASSWORD, session_id=here
        )
    with pytest.raises(InvalidInputError):
        accounts.change_own_password(ctx, me, current=PASSWORD, new="short", session_id=here)
    ended = accounts.change_own_password(
        ctx, me, current=PASSWORD, new=OTHER_PASSWORD, session_id=here
    )
    assert ended == 1
    assert live_sessions(ctx, "inv.a") == 1


def test_audit_reads_are_scoped_to_the_agency(agencies: AppContext) -> None:
    ctx = agencies
    add_person(ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN)
    add_person(ctx, "TEST-B", "admin.b", Role.AGENCY_ADMIN)
    admin_a, admin_b = requester_of(ctx, "admin.a"), requester_of(ctx, "admin.b")
    audit_read.read_events(ctx, admin_b)  # an event of agency B's actor
    events = audit_read.read_events(ctx, admin_a, limit=500)
    assert events
    assert {e.actor_agency_id for e in events} == {admin_a.agency_id}
    with pytest.raises(AccessDenied):
        audit_read.verify_chain(ctx, admin_a)
    assert audit_read.verify_chain(ctx, Requester("cli:test", "cli")).report.ok
