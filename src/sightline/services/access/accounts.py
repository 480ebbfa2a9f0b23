"""Administering accounts over the API: agencies, users, certification, passwords, tokens.

Each function takes the :class:`~sightline.domain.audit.Requester` and asks the policy module
(:func:`~sightline.domain.access.decide_role_administration` and friends) before it acts; a
refusal is audited (``outcome="denied"``) and raised. The work itself is done by
:mod:`sightline.services.access.users`, :mod:`sightline.services.access.tokens` and
:mod:`sightline.services.catalog`, which audit every change with the requester as actor.

Rules about the target user, which the policy table cannot express, live here:

* An administrator reaches a user only if it may administer the user's agency **and** hand out
  the user's role (an agency administrator cannot disable its agency's coordinator).
* A user of an agency the administrator cannot administer is *not found*, so usernames of other
  agencies are not confirmed.
* Nobody certifies, disables or resets themself: those need a second person (a password change
  of one's own, which needs the current password, is :func:`change_own_password`).
* Disabling a user or resetting a password ends every session of the user at once; changing
  one's own password ends every other session.

The local operator (``requester.access is None``, the command line on the server) is trusted
with everything, as elsewhere (ADR 0007).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sightline.domain.access import (
    Action,
    AgencyScope,
    Decision,
    Role,
    decide,
    decide_role_administration,
    decide_system_administration,
)
from sightline.domain.audit import AuditOutcome, Requester
from sightline.domain.models import Agency
from sightline.domain.users import ApiToken, User
from sightline.errors import AccessDenied, InvalidInputError, NotFoundError
from sightline.services import catalog
from sightline.services.access import tokens, users
from sightline.services.access.audit import record_denied, record_request
from sightline.services.access.sessions import revoke_user_sessions
from sightline.services.context import AppContext

SELF = "self_administration"
"""Audit reason: an administrator acted on their own account where a second person is needed."""

BAD_PASSWORD = "bad_password"  # noqa: S105 - an audit reason code, not a password


def create_agency(
    ctx: AppContext,
    requester: Requester,
    *,
    code: str,
    name: str,
    country: str,
    contact: str = "",
) -> Agency:
    """Register a member agency (system administrators only; audited ``agency.add``).

    Raises:
        AccessDenied: the requester is not a system administrator with a second factor.
        InvalidInputError, ConflictError: as :func:`sightline.services.catalog.add_agency`.
    """
    _require_system(ctx, requester, "agency.add", "agency:new")
    return catalog.add_agency(ctx, code, name, country, requester=requester, contact=contact)


def list_users(ctx: AppContext, requester: Requester, agency_code: str | None) -> list[User]:
    """Users of one agency (its own by default), or of every agency for a system administrator.

    Raises:
        NotFoundError: no such agency.
        AccessDenied: the requester may not administer that agency.
    """
    actor = requester.access
    if agency_code is None:
        if actor is None or decide_system_administration(actor, now=_now()).allowed:
            return sorted(users.list_users(ctx), key=lambda u: u.id)
        agency_id = actor.agency_id
    else:
        with ctx.uow() as uow:
            agency_id = uow.agencies.get(agency_code.strip().upper()).id
    if actor is not None:
        decision = decide(actor, Action.ADMINISTER, AgencyScope(agency_id), now=_now())
        _refuse_unless(ctx, requester, decision, "user.list", f"agency:{agency_id}")
    with ctx.uow() as uow:
        return sorted(uow.users.list(agency_id), key=lambda u: u.id)


def create_user(
    ctx: AppContext,
    requester: Requester,
    *,
    agency_code: str,
    username: str,
    password: str,
    role: Role,
    display_name: str = "",
) -> tuple[User, str]:
    """Create a user; returns it and the TOTP provisioning URI (to show once).

    Raises:
        NotFoundError: no such agency.
        AccessDenied: the requester may not administer the agency or give ``role``.
        ConflictError, InvalidInputError: as :func:`sightline.services.access.users.create_user`.
    """
    with ctx.uow() as uow:
        agency = uow.agencies.get(agency_code.strip().upper())
    if requester.access is not None:
        decision = decide_role_administration(requester.access, agency.id, role, now=_now())
        _refuse_unless(ctx, requester, decision, "user.create", f"agency:{agency.id}")
    return users.create_user(
        ctx,
        actor=requester.actor,
        agency_code=agency.code,
        username=username,
        password=password,
        role=role,
        display_name=display_name,
        source=requester.source,
    )


def certify(ctx: AppContext, requester: Requester, username: str, until: datetime) -> User:
    """Certify a user until ``until`` (timezone-aware, in the future).

    Raises:
        NotFoundError: no such user, or one the requester may not administer.
        AccessDenied: the user's role is beyond the requester, or it is the requester.
        InvalidInputError: ``until`` is naive or not in the future.
    """
    if until.tzinfo is None or until.utcoffset() is None or until <= _now():
        raise InvalidInputError("until: a timezone-aware moment in the future")
    target = _target(ctx, requester, username, "user.certify")
    return users.certify(
        ctx, actor=requester.actor, username=target.username, until=until, source=requester.source
    )


def revoke_certification(ctx: AppContext, requester: Requester, username: str) -> User:
    """Withdraw a user's certification at once (see :func:`certify` for the errors)."""
    target = _target(ctx, requester, username, "user.certification_revoke")
    return users.revoke_certification(
        ctx, actor=requester.actor, username=target.username, source=requester.source
    )


def set_disabled(
    ctx: AppContext, requester: Requester, username: str, *, disabled: bool
) -> tuple[User, int]:
    """Disable (ending every session and refusing every token) or enable a user.

    Returns the user and how many live sessions were ended.

    Raises:
        NotFoundError: no such user, or one the requester may not administer.
        AccessDenied: the user's role is beyond the requester, or it is the requester.
    """
    action = "user.disable" if disabled else "user.enable"
    target = _target(ctx, requester, username, action)
    now = _now()
    with ctx.uow() as uow:
        user = uow.users.set_disabled(target.id, disabled)
        ended = revoke_user_sessions(uow, user.id, now) if disabled else 0
        record_request(uow, requester, action, f"user:{user.id}", detail={"sessions_ended": ended})
        uow.commit()
    return user, ended


def reset_password(ctx: AppContext, requester: Requester, username: str, password: str) -> int:
    """Set a user's password for them; every session of the user ends. Returns how many.

    Raises:
        NotFoundError: no such user, or one the requester may not administer.
        AccessDenied: the user's role is beyond the requester, or it is the requester.
        InvalidInputError: the password breaks the rules.
    """
    target = _target(ctx, requester, username, "user.password_reset")
    users.check_password(target.username, password)
    with ctx.uow() as uow:
        uow.users.set_password_hash(target.id, users.hash_password(password))
        ended = revoke_user_sessions(uow, target.id, _now())
        detail = {"sessions_ended": ended}
        record_request(uow, requester, "user.password_reset", f"user:{target.id}", detail=detail)
        uow.commit()
    return ended


def change_own_password(
    ctx: AppContext, requester: Requester, *, current: str, new: str, session_id: int
) -> int:
    """Change the requester's own password; every other session ends. Returns how many.

    Raises:
        AccessDenied: ``current`` is not the password (audited, ``bad_password``).
        InvalidInputError: the new password breaks the rules or equals the current one.
    """
    user_id = _user_id(requester)
    with ctx.uow() as uow:
        username = uow.users.get_by_id(user_id).username
        creds = uow.users.credentials(username)
        if creds is None or not users.verify_password(creds.password_hash, current):
            record_request(
                uow,
                requester,
                "user.password_change",
                f"user:{user_id}",
                outcome=AuditOutcome.DENIED,
                detail={"reason": BAD_PASSWORD},
            )
            uow.commit()
            raise AccessDenied(BAD_PASSWORD, "the current password is not right")
        if new == current:
            raise InvalidInputError("new_password: must differ from the current password")
        users.check_password(username, new)
        uow.users.set_password_hash(user_id, users.hash_password(new))
        ended = uow.accounts.revoke_other_sessions(user_id, session_id, _now())
        detail = {"sessions_ended": ended}
        record_request(uow, requester, "user.password_change", f"user:{user_id}", detail=detail)
        uow.commit()
    return ended


def issue_own_token(
    ctx: AppContext, requester: Requester, *, name: str, scopes: list[str], days: int
) -> tuple[int, str]:
    """Issue an API token for the requester; returns its id and secret (shown once).

    Raises:
        InvalidInputError: as :func:`sightline.services.access.tokens.create_token`.
    """
    with ctx.uow() as uow:
        username = uow.users.get_by_id(_user_id(requester)).username
    return tokens.create_token(
        ctx,
        actor=requester.actor,
        username=username,
        name=name,
        scopes=scopes,
        ttl=timedelta(days=days),
    )


def own_tokens(ctx: AppContext, requester: Requester) -> list[ApiToken]:
    """The requester's tokens (never their secrets), by id."""
    with ctx.uow() as uow:
        return uow.tokens.list(_user_id(requester))


def revoke_token(ctx: AppContext, requester: Requester, token_id: int) -> ApiToken:
    """Revoke a token of one's own, or of a user of an agency one administers.

    Raises:
        NotFoundError: no such token, or one the requester may not revoke.
        ConflictError: it was revoked already.
    """
    actor = requester.access
    with ctx.uow() as uow:
        token = uow.tokens.get(token_id)
        owner = uow.users.get_by_id(token.user_id)
    if actor is not None and owner.id != actor.user_id:
        decision = decide(actor, Action.ADMINISTER, AgencyScope(owner.agency_id), now=_now())
        if not decision.allowed:
            record_denied(ctx, requester, "token.revoke", f"token:{token_id}", decision.reason)
            raise NotFoundError(f"no API token with id {token_id}")
    return tokens.revoke_token(ctx, actor=requester.actor, token_id=token_id)


def _target(ctx: AppContext, requester: Requester, username: str, action: str) -> User:
    """The user ``username``, if the requester may administer them (else audited refusal)."""
    with ctx.uow() as uow:
        target = uow.users.get(username.strip().lower())
    actor = requester.access
    if actor is None:
        return target
    resource = f"user:{target.id}"
    reach = decide(actor, Action.ADMINISTER, AgencyScope(target.agency_id), now=_now())
    if not reach.allowed and target.agency_id != actor.agency_id:
        record_denied(ctx, requester, action, resource, reach.reason)
        raise NotFoundError(f"no user {username!r}")
    decision = decide_role_administration(actor, target.agency_id, target.role, now=_now())
    _refuse_unless(ctx, requester, decision, action, resource)
    if target.id == actor.user_id:
        record_denied(ctx, requester, action, resource, SELF)
        raise AccessDenied(SELF, "ask another administrator to change your own account")
    return target


def _require_system(ctx: AppContext, requester: Requester, action: str, resource: str) -> None:
    if requester.access is not None:
        decision = decide_system_administration(requester.access, now=_now())
        _refuse_unless(ctx, requester, decision, action, resource)


def _refuse_unless(
    ctx: AppContext, requester: Requester, decision: Decision, action: str, resource: str
) -> None:
    if not decision.allowed:
        record_denied(ctx, requester, action, resource, decision.reason)
        raise AccessDenied(decision.reason)


def _user_id(requester: Requester) -> int:
    if requester.access is None:
        raise InvalidInputError("this needs a signed-in user, not the local operator")
    return requester.access.user_id


def _now() -> datetime:
    return datetime.now(UTC)
