"""API tokens for tools: scoped, expiring, revocable, stored as a SHA-256 of the secret.

A token carries the rights of its user minus the second factor (a tool has no phone), so
:func:`resolve_token` returns an actor with ``mfa_verified=False`` and media stays out of a
tool's reach. The secret is 256 random bits, shown once; since it cannot be guessed, a fast
hash suffices and lookup stays an index seek (a slow hash would need a second lookup key).

Refusals of the credential (unknown, expired, revoked, user disabled) share one message (401)
and are audited as ``token.denied`` with the real reason. A live token that lacks the scope an
operation needs is refused with 403 ``insufficient_scope`` (RFC 6750): the credential is good,
the request is beyond it. It is audited as ``token.denied`` with reason ``out_of_scope``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from sightline.domain.access import Actor, Scope
from sightline.domain.users import ApiToken, User
from sightline.errors import (
    AuthenticationFailed,
    ConflictError,
    InsufficientScope,
    InvalidInputError,
)
from sightline.services.access.audit import record, record_credential_refusal
from sightline.services.access.users import actor_for
from sightline.services.context import AppContext

TOKEN_PREFIX = "slt_"  # noqa: S105 - a public marker, not a secret
"""Marks a Sightline token, so secret scanners and people recognise a leaked one."""

TOUCH_EVERY = timedelta(seconds=60)
"""``last_used_at`` is written at most this often: a read-only request then writes nothing."""

MAX_TOKEN_TTL = timedelta(days=366)
"""Tokens must expire; a year is the longest a forgotten tool keeps access."""


OUT_OF_SCOPE = "out_of_scope"
"""Audit reason of a live token used outside its scopes."""

_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")


def create_token(
    ctx: AppContext,
    *,
    actor: str,
    username: str,
    name: str,
    scopes: list[str],
    ttl: timedelta,
    now: datetime | None = None,
) -> tuple[int, str]:
    """Issue an API token; returns its id and its secret, which is shown this once only.

    Raises:
        InvalidInputError: bad name, no or malformed scopes, or a lifetime outside
            (0, :data:`MAX_TOKEN_TTL`].
        NotFoundError: no such user.
    """
    now = now or datetime.now(UTC)
    wanted = sorted(set(scopes))
    if not _TOKEN_NAME.match(name):
        raise InvalidInputError("token name: 1-100 letters, digits, spaces, '.', '_' or '-'")
    known = {scope.value for scope in Scope}
    if not wanted or not set(wanted) <= known:
        raise InvalidInputError(f"scopes: at least one of {', '.join(sorted(known))}")
    if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
        raise InvalidInputError(f"lifetime: more than 0 and at most {MAX_TOKEN_TTL.days} days")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with ctx.uow() as uow:
        user = uow.users.get(username.strip().lower())
        token = uow.tokens.add(
            user_id=user.id,
            name=name,
            token_hash=_token_hash(secret),
            scopes=wanted,
            expires_at=now + ttl,
        )
        record(
            uow,
            actor=actor,
            action="token.create",
            resource=f"user:{user.id}",
            agency_id=user.agency_id,
            detail={"token_id": token.id, "scopes": wanted, "days": ttl.days},
        )
        uow.commit()
    return token.id, secret


def resolve_token(
    ctx: AppContext,
    secret: str,
    *,
    scope: str | None,
    now: datetime | None = None,
    source: str = "api",
) -> tuple[Actor, ApiToken]:
    """The actor a token speaks for, if it is known, live and holds ``scope``, and the token.

    ``scope=None`` accepts any live token (for "who am I").

    Token actors never count as MFA-verified, so media stays out of a tool's reach. The user
    is read afresh, so a withdrawn certification or a disabled account takes effect at once.

    Raises:
        AuthenticationFailed: unknown, expired, revoked, or its user is disabled (the same
            message for all; the audit trail records which).
        AccessDenied: a live token without ``scope`` (``insufficient_scope``, HTTP 403).
    """
    now = now or datetime.now(UTC)
    with ctx.uow() as uow:
        token = uow.tokens.find_by_hash(_token_hash(secret))
        user = None if token is None else uow.users.get_by_id(token.user_id)
        reason = _token_refusal(token, user, scope, now)
        if reason is not None or token is None or user is None:
            resource = "token:unknown" if token is None else f"token:{token.id}"
            record_credential_refusal(uow, "token.denied", resource, source=source, reason=reason)
            if reason == OUT_OF_SCOPE:
                raise InsufficientScope(reason, f"this API token lacks the {scope!r} scope")
            raise AuthenticationFailed(reason or "unknown_token", "invalid or expired token")
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
            uow.tokens.touch(token.id, now)
            uow.commit()
    return actor_for(user, mfa_verified=False), token


def revoke_token(
    ctx: AppContext, *, actor: str, token_id: int, now: datetime | None = None
) -> ApiToken:
    """Revoke a token at once.

    Raises:
        NotFoundError: no such token.
        ConflictError: it was revoked already.
    """
    now = now or datetime.now(UTC)
    with ctx.uow() as uow:
        if uow.tokens.get(token_id).revoked_at is not None:
            raise ConflictError(f"API token {token_id} is revoked already")
        token = uow.tokens.revoke(token_id, now)
        user = uow.users.get_by_id(token.user_id)
        record(
            uow,
            actor=actor,
            action="token.revoke",
            resource=f"user:{user.id}",
            agency_id=user.agency_id,
            detail={"token_id": token_id},
        )
        uow.commit()
    return token


def list_tokens(ctx: AppContext, username: str | None = None) -> list[ApiToken]:
    """Tokens (never their secrets), optionally of one user."""
    with ctx.uow() as uow:
        user_id = uow.users.get(username.strip().lower()).id if username else None
        return uow.tokens.list(user_id)


def _token_refusal(
    token: ApiToken | None, user: User | None, scope: str | None, now: datetime
) -> str | None:
    if token is None or user is None:
        return "unknown_token"
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    if user.disabled:
        return "disabled"
    if scope is not None and scope not in token.scopes:
        return OUT_OF_SCOPE  # last: only a live credential learns that its scope falls short
    return None


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
