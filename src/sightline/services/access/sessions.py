"""Web sessions: sign in with password and TOTP, a cookie for the browser, sign out.

A session is a 256-bit random secret in an HttpOnly, Secure, SameSite=Strict cookie; the
database keeps only its SHA-256, so a database dump holds no usable session. Each session also
has a CSRF token, returned once at sign-in, that the client echoes in a header on every request
that changes something (double submit against a server-side hash: SameSite already stops
cross-site posts in current browsers; the token covers older ones and same-site subdomains).

A session ends at the first of: sign-out, :data:`SESSION_IDLE` without a request,
:data:`SESSION_LIFETIME` after sign-in, a password change or a disabled account. The user is
read afresh on every request, so a withdrawn certification cuts access at once. Refusals share
one message and are audited as ``session.denied`` with the real reason.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sightline.domain.access import Actor
from sightline.domain.audit import Requester
from sightline.domain.users import User, WebSession
from sightline.errors import AccessDenied, AuthenticationFailed
from sightline.services.access.audit import record, record_credential_refusal, record_request
from sightline.services.access.users import actor_for, authenticate
from sightline.services.context import AppContext
from sightline.storage.unit_of_work import UnitOfWork

SESSION_IDLE = timedelta(minutes=30)
"""A session unused this long ends: a workstation left open does not stay signed in."""

SESSION_LIFETIME = timedelta(hours=12)
"""A session ends this long after sign-in whatever its use: one working day."""

TOUCH_EVERY = timedelta(seconds=60)
"""``last_seen_at`` is written at most this often: no database write on every request."""

SESSION_REFUSED = "not signed in, or the session has ended"


class CsrfRefused(AccessDenied):
    """A cookie-authenticated request that changes something came without the CSRF token."""

    code = "csrf_failed"


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened: the two secrets go to the client once, never stored in clear."""

    id: int
    user: User
    expires_at: datetime
    secret: str = field(repr=False)
    csrf_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SessionActor:
    """Who a presented session cookie speaks for."""

    session_id: int
    user: User
    actor: Actor


def sign_in(
    ctx: AppContext,
    *,
    username: str,
    password: str,
    totp_code: str,
    source: str,
    now: datetime | None = None,
) -> NewSession:
    """Check the password and the one-time code, then open a session.

    Raises:
        AuthenticationFailed: one message whatever went wrong (see
            :func:`~sightline.services.access.users.authenticate`).
    """
    now = now or datetime.now(UTC)
    actor = authenticate(
        ctx, username=username, password=password, totp_code=totp_code, source=source, now=now
    )
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with ctx.uow() as uow:
        user = uow.users.get_by_id(actor.user_id)
        session_id = uow.web_sessions.add(
            user_id=user.id,
            token_hash=_hash(secret),
            csrf_hash=_hash(csrf),
            source=source[:100],
            now=now,
            expires_at=now + SESSION_LIFETIME,
        )
        record(
            uow,
            actor=f"user:{user.id}",
            action="session.open",
            resource=f"session:{session_id}",
            source=source,
            agency_id=user.agency_id,
        )
        uow.commit()
    return NewSession(session_id, user, now + SESSION_LIFETIME, secret, csrf)


def resolve_session(
    ctx: AppContext,
    secret: str,
    *,
    csrf_token: str | None,
    needs_csrf: bool,
    source: str,
    now: datetime | None = None,
) -> SessionActor:
    """The user a session cookie speaks for, if the session is live.

    Args:
        ctx: The store.
        secret: The cookie's value.
        csrf_token: The CSRF header's value, if any.
        needs_csrf: The request changes something (POST, PUT, PATCH, DELETE).
        source: The client address, for the audit trail.
        now: The current time.

    Raises:
        AuthenticationFailed: unknown, ended or revoked session, or a disabled user.
        CsrfRefused: ``needs_csrf`` and the token is missing or wrong.
    """
    now = now or datetime.now(UTC)
    with ctx.uow() as uow:
        found = uow.web_sessions.find_by_hash(_hash(secret))
        user = None if found is None else uow.users.get_by_id(found.user_id)
        reason = _refusal(found, user, now)
        if reason is None and needs_csrf and not _csrf_ok(found, csrf_token):
            reason = "csrf"
        if reason is not None or found is None or user is None:
            resource = "session:unknown" if found is None else f"session:{found.id}"
            record_credential_refusal(uow, "session.denied", resource, source=source, reason=reason)
            if reason == "csrf":
                raise CsrfRefused("csrf", "missing or wrong CSRF token")
            raise AuthenticationFailed(reason or "unknown_session", SESSION_REFUSED)
        if now - found.last_seen_at >= TOUCH_EVERY:
            uow.web_sessions.touch(found.id, now)
            uow.commit()
    return SessionActor(found.id, user, actor_for(user, mfa_verified=True))


def sign_out(
    ctx: AppContext, session_id: int, *, requester: Requester, now: datetime | None = None
) -> None:
    """End a session at once: its cookie is refused from now on, even if it was copied."""
    with ctx.uow() as uow:
        uow.web_sessions.revoke(session_id, now or datetime.now(UTC))
        record_request(uow, requester, "session.close", f"session:{session_id}")
        uow.commit()


def revoke_user_sessions(uow: UnitOfWork, user_id: int, now: datetime) -> int:
    """End every live session of a user (password change, disabled account); how many."""
    return uow.web_sessions.revoke_all(user_id, now)


def _refusal(found: WebSession | None, user: User | None, now: datetime) -> str | None:
    if found is None or user is None:
        return "unknown_session"
    if found.revoked_at is not None:
        return "revoked"
    if found.expires_at <= now:
        return "expired"
    if now - found.last_seen_at >= SESSION_IDLE:
        return "idle"
    if user.disabled:
        return "disabled"
    return None


def _csrf_ok(found: WebSession | None, csrf_token: str | None) -> bool:
    if found is None or csrf_token is None:
        return False
    return secrets.compare_digest(_hash(csrf_token), found.csrf_hash)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
