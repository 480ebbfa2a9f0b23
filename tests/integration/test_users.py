"""Users, certification, sign-in with a second factor, lock-out and API tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sightline.domain.access import Action, Actor, CaseScope, Reason, Role, SharingLevel, decide
from sightline.domain.models import Agency
from sightline.errors import (
    AccessDenied,
    AuthenticationFailed,
    ConflictError,
    InvalidInputError,
)
from sightline.services import catalog
from sightline.services.access import audit, tokens, users
from sightline.services.context import AppContext
from sightline.storage.orm import ApiTokenRow, UserRow
from tests.support.corpus import TEST_REQUESTER

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
ACTOR = "cli:tester"


@pytest.fixture
def agency(ctx: AppContext) -> Agency:
    return catalog.add_agency(
        ctx, "UK-NCA", "National Crime Agency", "GB", requester=TEST_REQUESTER
    )


def _investigator(ctx: AppContext, name: str = "alice") -> str:
    """Create an investigator; return the TOTP seed read back from the enrolment URI."""
    _, uri = users.create_user(
        ctx,
        actor=ACTOR,
        agency_code="UK-NCA",
        username=name,
        password=PASSWORD,
        role=Role.INVESTIGATOR,
    )
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return totp.secret


def _login(ctx: AppContext, seed: str, *, at: datetime = T0, password: str = PASSWORD) -> Actor:
    code = pyotp.TOTP(seed).at(at)
    return users.authenticate(
        ctx, username="alice", password=password, totp_code=code, source="127.0.0.1", now=at
    )


def _denied_message(excinfo: pytest.ExceptionInfo[AccessDenied]) -> str:
    return excinfo.value.message


def _actions(ctx: AppContext) -> list[str]:
    return [e.action for e in audit.show(ctx, limit=1000)]


def test_create_admin_runs_once(ctx: AppContext, agency: Agency) -> None:
    admin, uri = users.create_admin(
        ctx, actor=ACTOR, agency_code="uk-nca", username="Root.Admin", password=PASSWORD
    )
    assert admin.role is Role.SYSTEM_ADMIN and admin.username == "root.admin"
    assert uri.startswith("otpauth://totp/")
    with pytest.raises(ConflictError):
        users.create_admin(
            ctx, actor=ACTOR, agency_code="UK-NCA", username="other", password=PASSWORD
        )


def test_only_an_argon2id_hash_and_a_sealed_seed_are_stored(
    ctx: AppContext, agency: Agency
) -> None:
    seed = _investigator(ctx)
    with Session(ctx.engine) as session:  # the raw row, as a database dump shows it
        row = session.scalars(select(UserRow)).one()
        stored_hash, sealed = row.password_hash, row.totp_secret
    assert stored_hash.startswith("$argon2id$")
    assert PASSWORD not in stored_hash
    assert sealed is not None and seed.encode() not in sealed


@pytest.mark.parametrize(
    ("username", "password"),
    [("bob", "short"), ("bobby.user12", "bobby.user12"), ("x", PASSWORD), ("a/b", PASSWORD)],
)
def test_bad_usernames_and_passwords_are_refused(
    ctx: AppContext, agency: Agency, username: str, password: str
) -> None:
    with pytest.raises(InvalidInputError):
        users.create_user(
            ctx,
            actor=ACTOR,
            agency_code="UK-NCA",
            username=username,
            password=password,
            role=Role.VIEWER,
        )


def test_sign_in_needs_the_password_and_a_current_code(ctx: AppContext, agency: Agency) -> None:
    seed = _investigator(ctx)
    actor = _login(ctx, seed)
    assert actor.role is Role.INVESTIGATOR and actor.agency_id == agency.id
    assert actor.mfa_verified
    with pytest.raises(AccessDenied) as bad_code:
        users.authenticate(ctx, username="alice", password=PASSWORD, totp_code="000000", now=T0)
    assert _denied_message(bad_code) == users.LOGIN_FAILED


def test_unknown_user_and_wrong_password_look_the_same(ctx: AppContext, agency: Agency) -> None:
    seed = _investigator(ctx)
    code = pyotp.TOTP(seed).at(T0)
    with pytest.raises(AuthenticationFailed) as unknown:
        users.authenticate(ctx, username="mallory", password=PASSWORD, totp_code=code, now=T0)
    assert (unknown.value.http_status, unknown.value.code) == (401, "unauthenticated")
    with pytest.raises(AccessDenied) as wrong:
        users.authenticate(ctx, username="alice", password=PASSWORD + "x", totp_code=code, now=T0)
    assert str(unknown.value) == str(wrong.value) == users.LOGIN_FAILED
    assert unknown.value.code == wrong.value.code


def test_five_failures_lock_the_account_until_the_lock_expires(
    ctx: AppContext, agency: Agency
) -> None:
    seed = _investigator(ctx)
    for i in range(users.MAX_FAILED_LOGINS):
        with pytest.raises(AccessDenied):
            _login(ctx, seed, at=T0 + timedelta(seconds=i), password="not the password!")
    during = T0 + users.LOCKOUT - timedelta(minutes=1)
    with pytest.raises(AccessDenied) as locked:
        _login(ctx, seed, at=during)  # the right password and code, still refused
    assert _denied_message(locked) == users.LOGIN_FAILED
    assert locked.value.reason == "locked"
    after = T0 + users.LOCKOUT + timedelta(minutes=1)
    assert _login(ctx, seed, at=after).mfa_verified
    with ctx.uow() as uow:
        assert uow.users.get("alice").failed_logins == 0
    assert _actions(ctx).count("login.locked") == 1


def test_failures_below_the_limit_are_forgotten_after_a_success(
    ctx: AppContext, agency: Agency
) -> None:
    seed = _investigator(ctx)
    for _ in range(users.MAX_FAILED_LOGINS - 1):
        with pytest.raises(AccessDenied):
            _login(ctx, seed, password="not the password!")
    _login(ctx, seed)
    with pytest.raises(AccessDenied):
        _login(ctx, seed, password="not the password!")
    # one failure after a success does not lock (a new code: the first one was used)
    assert _login(ctx, seed, at=T0 + timedelta(seconds=60)).mfa_verified


def test_a_one_time_code_signs_in_once(ctx: AppContext, agency: Agency) -> None:
    seed = _investigator(ctx)
    _login(ctx, seed)
    with pytest.raises(AuthenticationFailed) as replayed:
        _login(ctx, seed, at=T0 + timedelta(seconds=5))  # same 30-second step, same code
    assert replayed.value.reason == "totp_replayed"
    older = pyotp.TOTP(seed).at(T0 - timedelta(seconds=30))
    with pytest.raises(AuthenticationFailed):  # the previous step's code is older still
        users.authenticate(
            ctx, username="alice", password=PASSWORD, totp_code=older, now=T0 + timedelta(seconds=5)
        )
    assert _login(ctx, seed, at=T0 + timedelta(seconds=30)).mfa_verified  # the next step's


def test_an_expired_certification_cuts_media(ctx: AppContext, agency: Agency) -> None:
    seed = _investigator(ctx)
    case = CaseScope(case_id=1, agency_id=agency.id, sharing=SharingLevel.PRIVATE)
    users.certify(ctx, actor=ACTOR, username="alice", until=T0 + timedelta(days=1))
    fresh = _login(ctx, seed)
    assert decide(fresh, Action.VIEW_MEDIA, case, now=T0).allowed
    later = T0 + timedelta(days=2)
    stale = _login(ctx, seed, at=later)
    assert stale.certified_until is not None and stale.certified_until < later
    decision = decide(stale, Action.VIEW_MEDIA, case, now=later)
    assert not decision.allowed and decision.reason is Reason.CERTIFICATION_EXPIRED
    users.revoke_certification(ctx, actor=ACTOR, username="alice")
    withdrawn = _login(ctx, seed, at=later + timedelta(minutes=1))
    assert decide(withdrawn, Action.VIEW_MEDIA, case, now=T0).reason is Reason.NOT_CERTIFIED


def test_tokens_are_shown_once_stored_hashed_and_refused_when_dead(
    ctx: AppContext, agency: Agency
) -> None:
    _investigator(ctx)
    users.certify(ctx, actor=ACTOR, username="alice", until=T0 + timedelta(days=365))
    token_id, secret = tokens.create_token(
        ctx,
        actor=ACTOR,
        username="alice",
        name="triage-bot",
        scopes=["search"],
        ttl=timedelta(days=30),
        now=T0,
    )
    assert secret.startswith(tokens.TOKEN_PREFIX)
    with Session(ctx.engine) as session:
        row = session.get(ApiTokenRow, token_id)
        assert row is not None
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr(vars(row))
    actor, token = tokens.resolve_token(ctx, secret, scope="search", now=T0)
    assert token.id == token_id
    for at in (T0 + timedelta(seconds=10), T0 + tokens.TOUCH_EVERY + timedelta(seconds=1)):
        tokens.resolve_token(ctx, secret, scope="search", now=at)
        with ctx.uow() as uow:  # last use is written at most once a minute
            seen = uow.tokens.get(token_id).last_used_at
        assert seen == (T0 if at == T0 + timedelta(seconds=10) else at)
    assert actor.role is Role.INVESTIGATOR and not actor.mfa_verified
    case = CaseScope(case_id=1, agency_id=agency.id, sharing=SharingLevel.PRIVATE)
    assert decide(actor, Action.VIEW_MEDIA, case, now=T0).reason is Reason.MFA_REQUIRED
    assert decide(actor, Action.VIEW_METADATA, case, now=T0).allowed
    refusals = [
        (secret, "media:export", T0),  # out of scope
        (secret, "search", T0 + timedelta(days=30)),  # expired (at the moment it ends)
        (secret + "x", "search", T0),  # unknown
    ]
    for presented, scope, at in refusals:
        with pytest.raises(AccessDenied):
            tokens.resolve_token(ctx, presented, scope=scope, now=at)
    tokens.revoke_token(ctx, actor=ACTOR, token_id=token_id, now=T0)
    with pytest.raises(AccessDenied):
        tokens.resolve_token(ctx, secret, scope="search", now=T0)
    with pytest.raises(ConflictError):
        tokens.revoke_token(ctx, actor=ACTOR, token_id=token_id, now=T0)


def test_token_requests_are_checked(ctx: AppContext, agency: Agency) -> None:
    _investigator(ctx)
    bad: list[tuple[list[str], timedelta]] = [
        ([], timedelta(days=1)),
        (["Search/All"], timedelta(days=1)),
        (["search"], timedelta(0)),
        (["search"], tokens.MAX_TOKEN_TTL + timedelta(days=1)),
    ]
    for scopes, ttl in bad:
        with pytest.raises(InvalidInputError):
            tokens.create_token(
                ctx, actor=ACTOR, username="alice", name="bot", scopes=scopes, ttl=ttl
            )


def test_every_change_and_failure_is_in_an_intact_audit_trail(
    ctx: AppContext, agency: Agency
) -> None:
    users.create_admin(ctx, actor=ACTOR, agency_code="UK-NCA", username="root", password=PASSWORD)
    seed = _investigator(ctx)
    users.certify(ctx, actor=ACTOR, username="alice", until=T0 + timedelta(days=1))
    users.revoke_certification(ctx, actor=ACTOR, username="alice")
    for _ in range(users.MAX_FAILED_LOGINS):
        with pytest.raises(AccessDenied):
            _login(ctx, seed, password="not the password!")
    with pytest.raises(AccessDenied):
        users.authenticate(ctx, username="nobody", password=PASSWORD, totp_code="1", now=T0)
    token_id, secret = tokens.create_token(
        ctx, actor=ACTOR, username="alice", name="bot", scopes=["search"], ttl=timedelta(days=1)
    )
    tokens.revoke_token(ctx, actor=ACTOR, token_id=token_id)
    with pytest.raises(AccessDenied):
        tokens.resolve_token(ctx, secret, scope="search")
    actions = _actions(ctx)
    for action in (
        "user.create",
        "user.certify",
        "user.certification_revoke",
        "token.create",
        "token.revoke",
        "login.locked",
        "token.denied",
    ):
        assert action in actions, action
    assert actions.count("user.create") == 2
    assert actions.count("login.failed") == users.MAX_FAILED_LOGINS + 1
    events = audit.show(ctx, limit=1000)
    assert all(e.outcome == "denied" for e in events if e.action.startswith(("login.", "token.d")))
    assert all(secret not in str(e.detail) and PASSWORD not in str(e.detail) for e in events)
    with ctx.uow() as uow:
        assert uow.audit.verify().ok
