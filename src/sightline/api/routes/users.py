"""Accounts over the API: users, certification, disabling, passwords and API tokens.

Administering users needs :attr:`~sightline.domain.access.Action.ADMINISTER` on their agency
and a role within the administrator's reach (``services/access/accounts.py``); administering needs a
second factor, so only a signed-in session does it, never a tool's token. Every change is
audited by the services.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from sightline.api.auth import AdminRequester, AnyRequester, TokensManager
from sightline.api.deps import ContextDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.pagination import AfterId, Limit, Page, page_of
from sightline.api.params import JSON_INTEGER, IdPath
from sightline.config import DEFAULT_MAX_CERTIFICATION_DAYS, Settings
from sightline.domain.access import Role, Scope
from sightline.domain.users import ApiToken, User
from sightline.errors import AccessDenied
from sightline.services.access import accounts
from sightline.services.access.tokens import MAX_TOKEN_TTL

router = APIRouter(prefix="/api/v1", tags=["users"])

_USER_ERRORS: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    404: {"description": "No such user, or one you may not administer."},
}


class UserRead(BaseModel):
    """A user account (never its secrets)."""

    id: int = Field(examples=[12])
    username: str = Field(examples=["a.investigator"])
    display_name: str = Field(examples=["A. Investigator"])
    agency_id: int = Field(examples=[3])
    role: Role = Field(examples=[Role.INVESTIGATOR])
    certified_until: datetime | None = Field(examples=["2027-06-30T00:00:00Z"])
    disabled: bool = Field(examples=[False])


class UserCreate(BaseModel):
    """A new account; the password is the first one, to be changed by its user."""

    agency: str = Field(min_length=2, max_length=32, examples=["DE-BKA"])
    username: str = Field(
        min_length=3,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$",
        description="Letters, digits, '.', '_' and '-' (stored in lower case).",
        examples=["b.viewer"],
    )
    password: str = Field(
        min_length=12,
        max_length=1024,
        description="12 to 1024 characters, not the username.",
        examples=["a long first password"],
    )
    role: Role = Field(examples=[Role.VIEWER])
    display_name: str = Field(default="", max_length=200, examples=["B. Viewer"])


class UserCreated(BaseModel):
    """The new user and its TOTP enrolment URI: shown this once, put it in the user's app."""

    user: UserRead
    totp_uri: str = Field(examples=["otpauth://totp/Sightline:b.viewer?secret=...&issuer=..."])


CERTIFICATION_RULE = (
    "A timezone-aware moment in the future, at most {days} days from now "
    "(`SIGHTLINE_ACCESS__MAX_CERTIFICATION_DAYS`); a later or past end gets 422."
)
"""How a certification's end is described in the schema; ``{days}`` is the configured limit."""


class Certification(BaseModel):
    """Until when the user may handle case material."""

    until: AwareDatetime = Field(
        examples=["2027-06-30T00:00:00Z"],
        description=CERTIFICATION_RULE.format(days=DEFAULT_MAX_CERTIFICATION_DAYS),
    )


class AccountChange(BaseModel):
    """The account after a change, and how many of its sessions ended."""

    user: UserRead
    sessions_ended: int = Field(examples=[2])


class PasswordReset(BaseModel):
    """A new password set by an administrator; the user's sessions all end."""

    new_password: str = Field(min_length=12, max_length=1024, examples=["a new long password"])


class PasswordChange(BaseModel):
    """The signed-in user's current password and the new one."""

    current_password: str = Field(min_length=1, max_length=1024, examples=["the old password"])
    new_password: str = Field(min_length=12, max_length=1024, examples=["a new long password"])


class SessionsEnded(BaseModel):
    """How many sessions a password change or reset ended."""

    sessions_ended: int = Field(examples=[1])


class TokenCreate(BaseModel):
    """A token for one of your tools: what it may do and for how long."""

    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$",
        examples=["triage-bot"],
    )
    scopes: list[Scope] = Field(min_length=1, examples=[[Scope.SEARCH, Scope.CASES_READ]])
    days: Annotated[int, Field(ge=1, le=MAX_TOKEN_TTL.days, examples=[90]), JSON_INTEGER] = 90


class TokenRead(BaseModel):
    """An API token (its secret is never shown again)."""

    id: int = Field(examples=[5])
    name: str = Field(examples=["triage-bot"])
    scopes: list[str] = Field(examples=[["search", "cases:read"]])
    expires_at: datetime = Field(examples=["2027-03-01T00:00:00Z"])
    revoked: bool = Field(examples=[False])
    last_used_at: datetime | None = Field(examples=[None])


class TokenCreated(BaseModel):
    """The new token: keep ``secret`` now, it is shown once."""

    token: TokenRead
    secret: str = Field(examples=["slt_..."])


def describe_configured_limits(app: FastAPI, settings: Settings) -> None:
    """Make the schema state the configured certification limit, not the default."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()  # FastAPI caches it in app.openapi_schema
            until = schema["components"]["schemas"]["Certification"]["properties"]["until"]
            until["description"] = CERTIFICATION_RULE.format(
                days=settings.access.max_certification_days
            )
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _user(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        agency_id=user.agency_id,
        role=user.role,
        certified_until=user.certified_until,
        disabled=user.disabled,
    )


def _token(token: ApiToken) -> TokenRead:
    return TokenRead(
        id=token.id,
        name=token.name,
        scopes=list(token.scopes),
        expires_at=token.expires_at,
        revoked=token.revoked_at is not None,
        last_used_at=token.last_used_at,
    )


def _session_id(request: Request) -> int:
    kind, session_id = request.state.auth
    if kind != "session":
        raise AccessDenied("session_required", "this needs a signed-in session, not a token")
    return int(session_id)


@router.get(
    "/users", operation_id="list_users", response_model=Page[UserRead], responses=_USER_ERRORS
)
def list_users(
    requester: AdminRequester,
    ctx: ContextDep,
    agency: Annotated[str | None, Query(max_length=32, examples=["DE-BKA"])] = None,
    after_id: AfterId = 0,
    limit: Limit = 100,
) -> Page[UserRead]:
    """Users of an agency you administer (your own by default; all for a system admin)."""
    found = accounts.list_users(ctx, requester, agency)
    return page_of([_user(u) for u in found], lambda u: u.id, after_id, limit)


@router.post(
    "/users",
    operation_id="create_user",
    status_code=201,
    response_model=UserCreated,
    responses={**_USER_ERRORS, 409: {"description": "The username is taken."}},
)
def create_user(body: UserCreate, requester: AdminRequester, ctx: ContextDep) -> UserCreated:
    """Create a user of an agency you administer, with a role within your reach."""
    user, uri = accounts.create_user(
        ctx,
        requester,
        agency_code=body.agency,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
    )
    return UserCreated(user=_user(user), totp_uri=uri)


@router.post(
    "/users/{username}/certification",
    operation_id="certify_user",
    response_model=UserRead,
    responses=_USER_ERRORS,
)
def certify(
    username: str, body: Certification, requester: AdminRequester, ctx: ContextDep
) -> UserRead:
    """Certify a user to handle case material until a moment in the future."""
    return _user(accounts.certify(ctx, requester, username, body.until))


@router.delete(
    "/users/{username}/certification",
    operation_id="revoke_user_certification",
    response_model=UserRead,
    responses=_USER_ERRORS,
)
def revoke_certification(username: str, requester: AdminRequester, ctx: ContextDep) -> UserRead:
    """Withdraw a user's certification: case material is out of reach at once."""
    return _user(accounts.revoke_certification(ctx, requester, username))


@router.post(
    "/users/{username}/disable",
    operation_id="disable_user",
    response_model=AccountChange,
    responses=_USER_ERRORS,
)
def disable(username: str, requester: AdminRequester, ctx: ContextDep) -> AccountChange:
    """Switch an account off: its sessions end and its tokens are refused, at once."""
    user, ended = accounts.set_disabled(ctx, requester, username, disabled=True)
    return AccountChange(user=_user(user), sessions_ended=ended)


@router.post(
    "/users/{username}/enable",
    operation_id="enable_user",
    response_model=AccountChange,
    responses=_USER_ERRORS,
)
def enable(username: str, requester: AdminRequester, ctx: ContextDep) -> AccountChange:
    """Switch an account on again (the user signs in anew)."""
    user, ended = accounts.set_disabled(ctx, requester, username, disabled=False)
    return AccountChange(user=_user(user), sessions_ended=ended)


@router.post(
    "/users/{username}/password",
    operation_id="reset_user_password",
    response_model=SessionsEnded,
    responses=_USER_ERRORS,
)
def reset_password(
    username: str, body: PasswordReset, requester: AdminRequester, ctx: ContextDep
) -> SessionsEnded:
    """Set a user's password for them; every session of the user ends."""
    ended = accounts.reset_password(ctx, requester, username, body.new_password)
    return SessionsEnded(sessions_ended=ended)


@router.post(
    "/session/password",
    operation_id="change_own_password",
    response_model=SessionsEnded,
    responses=ERROR_RESPONSES,
)
def change_password(
    body: PasswordChange, request: Request, requester: AnyRequester, ctx: ContextDep
) -> SessionsEnded:
    """Change your own password (session only); your other sessions end."""
    ended = accounts.change_own_password(
        ctx,
        requester,
        current=body.current_password,
        new=body.new_password,
        session_id=_session_id(request),
    )
    return SessionsEnded(sessions_ended=ended)


@router.post(
    "/tokens",
    operation_id="create_token",
    status_code=201,
    response_model=TokenCreated,
    responses=ERROR_RESPONSES,
)
def create_token(
    body: TokenCreate, request: Request, requester: TokensManager, ctx: ContextDep
) -> TokenCreated:
    """Issue a token for one of your tools (session only; the secret is shown once).

    A token never issues tokens, whatever its scopes: it could grant itself every scope.
    """
    _session_id(request)
    token_id, secret = accounts.issue_own_token(
        ctx, requester, name=body.name, scopes=[s.value for s in body.scopes], days=body.days
    )
    [token] = [t for t in accounts.own_tokens(ctx, requester) if t.id == token_id]
    return TokenCreated(token=_token(token), secret=secret)


@router.get(
    "/tokens", operation_id="list_tokens", response_model=Page[TokenRead], responses=ERROR_RESPONSES
)
def list_tokens(
    requester: TokensManager, ctx: ContextDep, after_id: AfterId = 0, limit: Limit = 100
) -> Page[TokenRead]:
    """Your own tokens, revoked and expired ones included (session, or the `tokens` scope)."""
    mine = [_token(t) for t in accounts.own_tokens(ctx, requester)]
    return page_of(mine, lambda t: t.id, after_id, limit)


@router.delete(
    "/tokens/{token_id}",
    operation_id="revoke_token",
    status_code=204,
    responses={
        **ERROR_RESPONSES,
        404: {"description": "No such token you may revoke."},
        409: {"description": "The token is revoked already."},
    },
)
def revoke_token(token_id: IdPath, requester: TokensManager, ctx: ContextDep) -> None:
    """Revoke one of your tokens (session, or the `tokens` scope).

    From a signed-in session, an administrator also revokes a token of a user of an agency they
    administer.
    """
    accounts.revoke_token(ctx, requester, token_id)
