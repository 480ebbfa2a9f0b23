"""Web sessions: sign-in opens one, it ends by sign-out, idleness, age or a disabled account."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sightline.domain.access import Action, CaseScope, SharingLevel, decide
from sightline.domain.audit import Requester
from sightline.errors import AuthenticationFailed
from sightline.services import catalog
from sightline.services.access import audit, sessions, users
from sightline.services.context import AppContext
from sightline.storage.orm import WebSessionRow
from tests.support.api import PASSWORD, Person, add_person
from tests.support.corpus import TEST_REQUESTER

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def alice(ctx: AppContext) -> Person:
    catalog.add_agency(ctx, "UK-NCA", "National Crime Agency", "GB", requester=TEST_REQUESTER)
    person = add_person(ctx, "UK-NCA", "alice", certified=False)
    users.certify(ctx, actor="test", username="alice", until=T0 + timedelta(days=30))
    return person


def _open(ctx: AppContext, person: Person, at: datetime = T0) -> sessions.NewSession:
    return sessions.sign_in(
        ctx,
        username=person.username,
        password=PASSWORD,
        totp_code=person.code(at),
        source="127.0.0.1",
        now=at,
    )


def _resolve(
    ctx: AppContext, opened: sessions.NewSession, at: datetime, *, csrf: str | None = None
) -> sessions.SessionActor:
    return sessions.resolve_session(
        ctx, opened.secret, csrf_token=csrf, needs_csrf=csrf is not None, source="t", now=at
    )


def _denial_reasons(ctx: AppContext) -> list[object]:
    return [
        e.detail.get("reason") for e in audit.show(ctx, limit=1000) if e.action == "session.denied"
    ]


def test_only_hashes_of_the_secrets_are_stored(ctx: AppContext, alice: Person) -> None:
    opened = _open(ctx, alice)
    with Session(ctx.engine) as db:
        row = db.scalars(select(WebSessionRow)).one()
    assert row.token_hash == hashlib.sha256(opened.secret.encode()).hexdigest()
    assert row.csrf_hash == hashlib.sha256(opened.csrf_token.encode()).hexdigest()
    assert opened.secret not in repr(opened) and opened.csrf_token not in repr(opened)
    found = _resolve(ctx, opened, T0 + timedelta(minutes=1))
    assert found.actor.mfa_verified and found.user.username == "alice"


def test_changes_need_the_csrf_token(ctx: AppContext, alice: Person) -> None:
    opened = _open(ctx, alice)
    with pytest.raises(sessions.CsrfRefused) as refused:
        _resolve(ctx, opened, T0, csrf="not-the-token")
    assert (refused.value.http_status, refused.value.code) == (403, "csrf_failed")
    assert _resolve(ctx, opened, T0, csrf=opened.csrf_token).session_id == opened.id
    assert _denial_reasons(ctx) == ["csrf"]


def test_a_session_ends_when_idle_when_old_and_at_sign_out(ctx: AppContext, alice: Person) -> None:
    idle = _open(ctx, alice)
    with pytest.raises(AuthenticationFailed):
        _resolve(ctx, idle, T0 + sessions.SESSION_IDLE)
    busy = _open(ctx, alice, T0 + timedelta(seconds=30))
    at = T0 + timedelta(seconds=30)
    while at < T0 + sessions.SESSION_LIFETIME - timedelta(minutes=20):
        at += timedelta(minutes=20)  # used every 20 minutes: never idle
        _resolve(ctx, busy, at)
    with pytest.raises(AuthenticationFailed):
        _resolve(ctx, busy, T0 + sessions.SESSION_LIFETIME + timedelta(seconds=30))
    third = _open(ctx, alice, T0 + timedelta(seconds=60))
    me = Requester("user:1", "127.0.0.1", None)
    sessions.sign_out(ctx, third.id, requester=me, now=T0 + timedelta(seconds=61))
    with pytest.raises(AuthenticationFailed) as copied:
        _resolve(ctx, third, T0 + timedelta(seconds=62))
    assert copied.value.message == sessions.SESSION_REFUSED
    assert _denial_reasons(ctx) == ["idle", "expired", "revoked"]


def test_account_changes_reach_a_live_session_at_once(ctx: AppContext, alice: Person) -> None:
    opened = _open(ctx, alice)
    case = CaseScope(case_id=1, agency_id=1, sharing=SharingLevel.PRIVATE)
    assert decide(_resolve(ctx, opened, T0).actor, Action.VIEW_MEDIA, case, now=T0).allowed
    users.revoke_certification(ctx, actor="test", username="alice")
    actor = _resolve(ctx, opened, T0 + timedelta(seconds=1)).actor
    assert not decide(actor, Action.VIEW_MEDIA, case, now=T0).allowed
    with ctx.uow() as uow:
        uow.users.set_disabled(uow.users.get("alice").id, True)
        uow.commit()
    with pytest.raises(AuthenticationFailed):
        _resolve(ctx, opened, T0 + timedelta(seconds=2))
    with ctx.uow() as uow:
        assert sessions.revoke_user_sessions(uow, uow.users.get("alice").id, T0) == 1
        uow.commit()
    assert _denial_reasons(ctx) == ["disabled"]
