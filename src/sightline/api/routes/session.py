"""Signing in and out of the web interface: ``/api/v1/session``."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from sightline.api.auth import CSRF_HEADER, SESSION_COOKIE, AnyRequester
from sightline.api.deps import ContextDep, client_address
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.throttle import LoginThrottle
from sightline.domain.users import User
from sightline.errors import AuthenticationFailed
from sightline.services.access.sessions import SESSION_LIFETIME, sign_in, sign_out

router = APIRouter(prefix="/api/v1", tags=["session"])


class SignIn(BaseModel):
    """A password and the current one-time code of the user's authenticator app."""

    username: str = Field(min_length=1, max_length=64, examples=["a.investigator"])
    password: str = Field(min_length=1, max_length=1024, examples=["correct horse battery"])
    totp_code: str = Field(min_length=6, max_length=8, examples=["123456"])


class Me(BaseModel):
    """The signed-in user (or a token's user), as the access policy sees them."""

    user_id: int
    username: str
    display_name: str
    agency_id: int
    role: str
    certified_until: datetime | None
    mfa_verified: bool = Field(description="False for API tokens: media needs a session.")


class SessionOpened(BaseModel):
    """A session was opened; the cookie is set. Keep ``csrf_token``: it is shown once."""

    me: Me
    csrf_token: str = Field(description=f"Send it as `{CSRF_HEADER}` on every change.")
    expires_at: datetime


def _me(user: User, *, mfa_verified: bool) -> Me:
    return Me(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        agency_id=user.agency_id,
        role=user.role.value,
        certified_until=user.certified_until,
        mfa_verified=mfa_verified,
    )


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


@router.post(
    "/session",
    operation_id="session_open",
    status_code=201,
    response_model=SessionOpened,
    responses={
        **ERROR_RESPONSES,
        401: {"description": "Wrong username, password or code (one message for all)."},
        429: {"description": "Too many failed sign-ins from this address."},
    },
)
def open_session(
    body: SignIn, request: Request, response: Response, ctx: ContextDep
) -> SessionOpened:
    """Sign in with password and one-time code; sets the session cookie."""
    address = client_address(request)
    throttle = _throttle(request)
    throttle.check(address)
    try:
        opened = sign_in(
            ctx,
            username=body.username,
            password=body.password,
            totp_code=body.totp_code,
            source=address,
        )
    except AuthenticationFailed:
        throttle.failed(address)
        raise
    response.set_cookie(
        SESSION_COOKIE,
        opened.secret,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return SessionOpened(
        me=_me(opened.user, mfa_verified=True),
        csrf_token=opened.csrf_token,
        expires_at=opened.expires_at,
    )


@router.get("/session", operation_id="session_me", response_model=Me, responses=ERROR_RESPONSES)
def who_am_i(requester: AnyRequester, ctx: ContextDep) -> Me:
    """Who the session cookie or the API token speaks for."""
    assert requester.access is not None  # the API never runs as the local operator
    with ctx.uow() as uow:
        user = uow.users.get_by_id(requester.access.user_id)
    return _me(user, mfa_verified=requester.access.mfa_verified)


@router.delete("/session", operation_id="session_close", status_code=204, responses=ERROR_RESPONSES)
def close_session(request: Request, requester: AnyRequester, ctx: ContextDep) -> Response:
    """Sign out: the session ends on the server, so a copied cookie is refused from now on."""
    kind, session_id = request.state.auth
    if kind != "session":
        raise AuthenticationFailed("not_a_session", "sign-out needs the session cookie")
    sign_out(ctx, session_id, requester=requester)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response
