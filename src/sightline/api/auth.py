"""Who is asking: the authentication dependencies every ``/api/v1`` route declares.

A request authenticates with either an API token (``Authorization: Bearer slt_...``, for
tools; checked against the route's :class:`~sightline.domain.access.Scope`) or the session
cookie of a signed-in user (for the web interface; any scope, and the CSRF header on every
request that changes something). Both resolve to a
:class:`~sightline.domain.audit.Requester` whose ``access`` is the user as the policy sees
them, read afresh on every request: what the user may see is then decided by
``domain/access.py`` in the services and repositories, never here.

Routes use the ``Annotated`` aliases below (``SearchRequester``...), so a route without one is
visible in review, and a test walks the OpenAPI schema to check every route but health and
sign-in declares a security requirement.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from sightline.api.deps import ContextDep, client_address
from sightline.domain.access import Scope
from sightline.domain.audit import Requester
from sightline.errors import AuthenticationFailed
from sightline.services.access.sessions import resolve_session
from sightline.services.access.tokens import TOKEN_PREFIX, resolve_token

SESSION_COOKIE = "sightline_session"
"""The session cookie's name (HttpOnly, Secure, SameSite=Strict)."""

CSRF_HEADER = "X-CSRF-Token"
"""The header a session-authenticated request that changes something must carry."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(
    auto_error=False, description="An API token from `sightline token create` (`slt_...`)."
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description=f"The session cookie set by `POST /api/v1/session`; send `{CSRF_HEADER}` too "
    "on POST, PUT, PATCH and DELETE.",
)

BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
CookieDep = Annotated[str | None, Depends(_cookie)]


class Authenticated:
    """A dependency that authenticates the request for one scope and returns the requester.

    ``scope=None`` accepts a token of any scope (for "who am I").
    """

    def __init__(self, scope: Scope | None) -> None:
        self.scope = scope

    def __call__(
        self, request: Request, ctx: ContextDep, bearer: BearerDep, cookie: CookieDep
    ) -> Requester:
        """Resolve the token or the session; raise 401 (or 403 for CSRF or scope) otherwise."""
        source = client_address(request)
        if bearer is not None:
            if not bearer.credentials.startswith(TOKEN_PREFIX):
                raise AuthenticationFailed("malformed_token", "invalid or expired token")
            actor, token = resolve_token(
                ctx,
                bearer.credentials,
                scope=None if self.scope is None else self.scope.value,
                source=source,
            )
            request.state.auth = ("token", token.id)
            return Requester(f"token:{token.id}", source, actor.agency_id, actor)
        if cookie is not None:
            found = resolve_session(
                ctx,
                cookie,
                csrf_token=request.headers.get(CSRF_HEADER),
                needs_csrf=request.method not in SAFE_METHODS,
                source=source,
            )
            request.state.auth = ("session", found.session_id)
            return Requester(f"user:{found.user.id}", source, found.user.agency_id, found.actor)
        raise AuthenticationFailed("no_credentials", "sign in or send an API token")


AnyRequester = Annotated[Requester, Depends(Authenticated(None))]
SearchRequester = Annotated[Requester, Depends(Authenticated(Scope.SEARCH))]
MatchRequester = Annotated[Requester, Depends(Authenticated(Scope.MATCH))]
CasesReader = Annotated[Requester, Depends(Authenticated(Scope.CASES_READ))]
CasesWriter = Annotated[Requester, Depends(Authenticated(Scope.CASES_WRITE))]
IngestRequester = Annotated[Requester, Depends(Authenticated(Scope.INGEST))]
MediaReader = Annotated[Requester, Depends(Authenticated(Scope.MEDIA_READ))]
HashlistsReader = Annotated[Requester, Depends(Authenticated(Scope.HASHLISTS_READ))]
HashlistsWriter = Annotated[Requester, Depends(Authenticated(Scope.HASHLISTS_WRITE))]
AlertsReader = Annotated[Requester, Depends(Authenticated(Scope.ALERTS_READ))]
AuditReader = Annotated[Requester, Depends(Authenticated(Scope.AUDIT_READ))]
AdminRequester = Annotated[Requester, Depends(Authenticated(Scope.ADMIN))]
TokensManager = Annotated[Requester, Depends(Authenticated(Scope.TOKENS))]
"""Managing one's own API tokens: a session, or a token holding the ``tokens`` scope."""
