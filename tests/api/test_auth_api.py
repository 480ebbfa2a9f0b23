"""Authentication properties of the whole API, checked on every route the app has.

The route tests walk ``app.routes`` and the OpenAPI schema instead of listing paths, so a
route added later is covered the day it lands: it must refuse anonymous callers, declare its
security requirement, check its token scope, and keep tokens (never MFA-verified) away from
media bytes and administration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response

from sightline.api.app import create_app
from sightline.api.auth import CSRF_HEADER, SESSION_COOKIE, Authenticated
from sightline.api.throttle import MAX_FAILURES_PER_ADDRESS
from sightline.domain.access import Role, Scope
from sightline.services.access import audit, tokens
from sightline.services.access.users import MAX_FAILED_LOGINS
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from tests.support.api import (
    ALL_SCOPES,
    BASE_URL,
    PASSWORD,
    Person,
    add_person,
    bearer,
    sign_in,
    token_for,
)
from tests.support.corpus import TEST_REQUESTER, ingest_seeds

AGENCY, CASE = "TEST-DE", "AZ-1"
SIGN_IN = ("POST", "/api/v1/session")
# Tokens are never MFA-verified, so routes of these scopes must refuse every token.
SESSION_ONLY_SCOPES = {Scope.MEDIA_READ, Scope.ADMIN}


@dataclass(frozen=True)
class Operation:
    """One method of one API route, with what the tests need to call it."""

    method: str
    path: str
    route: RouteContext

    @property
    def has_body(self) -> bool:
        return self.route.body_field is not None

    @property
    def scope(self) -> Scope | None:
        """The token scope the route's ``Authenticated`` dependency demands."""
        guard = authentication_of(self.route)
        assert guard is not None, f"{self} has no Authenticated dependency"
        return guard.scope

    def url(self, schema: dict[str, Any]) -> str:
        """The path with syntactically plausible values for its parameters."""
        declared = schema["paths"].get(self.path, {}).get(self.method.lower(), {})
        types = {p["name"]: p.get("schema", {}).get("type") for p in declared.get("parameters", [])}
        return re.sub(r"{(\w+)(?::\w+)?}", lambda m: _plausible(m[1], types.get(m[1])), self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _plausible(name: str, kind: str | None) -> str:
    if kind == "integer" or name.endswith("_id") or name == "id":
        return "1"
    if "agency" in name:
        return AGENCY
    return CASE if "case" in name else "1"


def authentication_of(route: RouteContext) -> Authenticated | None:
    """The route's ``Authenticated`` dependency, however deeply it is nested."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, Authenticated):
            return dependant.call
        stack.extend(dependant.dependencies)
    return None


def protected_operations(app: FastAPI) -> list[Operation]:
    """Every ``/api/`` route and method but sign-in, the ones that need credentials."""
    found = [
        Operation(method, route.path or "", route)
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute) and (route.path or "").startswith("/api/")
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"})
    ]
    return [op for op in found if (op.method, op.path) != SIGN_IN]


@pytest.fixture
def client(sqlite_ctx: AppContext, tmp_path: Path) -> Iterator[TestClient]:
    add_agency(sqlite_ctx, AGENCY, "Test unit", "DE", requester=TEST_REQUESTER)
    ingest_seeds(sqlite_ctx, tmp_path / "in", range(1, 3), agency=AGENCY, case=CASE)
    with TestClient(create_app(sqlite_ctx.settings), base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def person(sqlite_ctx: AppContext) -> Person:
    return add_person(sqlite_ctx, AGENCY, "a.investigator")


def _fresh(client: TestClient) -> TestClient:
    """Another client of the same running app, with an empty cookie jar and no headers.

    A server error comes back as a 500 response instead of an exception: these tests are about
    authentication, and a route's own failure (found by the Schemathesis test) must not hide
    how the other routes answer.
    """
    return TestClient(client.app, base_url=BASE_URL, raise_server_exceptions=False)


def _schema(client: TestClient) -> dict[str, Any]:
    schema: dict[str, Any] = client.get("/openapi.json").json()
    return schema


def _assert_refused(response: Response, what: str) -> None:
    assert response.status_code == 401, f"{what}: {response.status_code} {response.text}"
    assert response.json()["error"]["code"] == "unauthenticated", what
    assert response.headers["WWW-Authenticate"] == "Bearer", what


def _assert_out_of_scope(response: Response, what: str) -> None:
    """A live token beyond its scopes: 403 ``insufficient_scope`` (RFC 6750), not 401."""
    assert response.status_code == 403, f"{what}: {response.status_code} {response.text}"
    assert response.json()["error"]["code"] == "insufficient_scope", what
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"', what


def _search(client: TestClient, tmp_path: Path, headers: dict[str, str] | None = None) -> Response:
    data = (tmp_path / "in/1.jpg").read_bytes()
    files = {"file": ("q.jpg", data, "image/jpeg")}
    return client.post("/api/v1/search", files=files, headers=headers)


def _sign_in_body(person: Person, password: str = PASSWORD, code: str = "") -> dict[str, str]:
    return {"username": person.username, "password": password, "totp_code": code or person.code()}


# --- every route ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        bearer("slt_" + "A" * 43),  # well-formed, unknown
        {"Authorization": "Bearer not-a-sightline-token"},
        {"Cookie": f"{SESSION_COOKIE}=forged-session-value"},
    ],
    ids=["none", "unknown-token", "malformed-token", "forged-cookie"],
)
def test_every_api_route_refuses_requests_without_valid_credentials(
    client: TestClient, credentials: dict[str, str]
) -> None:
    operations = protected_operations(client.app)  # type: ignore[arg-type]
    assert {"GET /api/v1/session", "POST /api/v1/search"} <= {str(op) for op in operations}
    schema, anonymous = _schema(client), _fresh(client)
    for op in operations:
        response = anonymous.request(op.method, op.url(schema), headers=credentials)
        _assert_refused(response, str(op))


def test_every_api_route_has_one_authentication_dependency(client: TestClient) -> None:
    for op in protected_operations(client.app):  # type: ignore[arg-type]
        assert authentication_of(op.route) is not None, f"{op} is not authenticated"


def test_the_schema_declares_security_on_every_protected_operation(client: TestClient) -> None:
    schema = _schema(client)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {**schemes["HTTPBearer"], "type": "http", "scheme": "bearer"}
    assert schemes["APIKeyCookie"]["name"] == SESSION_COOKIE
    assert schemes["APIKeyCookie"]["in"] == "cookie"
    checked = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if path.startswith("/health/") or (method.upper(), path) == SIGN_IN:
                assert "security" not in operation, f"{method} {path} should be public"
                continue
            assert path.startswith("/api/v1/"), f"{path} is outside /api/v1 and /health"
            required = {name for entry in operation.get("security", []) for name in entry}
            assert required == {"HTTPBearer", "APIKeyCookie"}, f"{method} {path}: {required}"
            checked += 1
    assert checked == len(protected_operations(client.app))  # type: ignore[arg-type]


# --- tokens --------------------------------------------------------------------------------


def test_a_token_is_refused_outside_its_scope_and_accepted_within(
    client: TestClient, sqlite_ctx: AppContext, person: Person
) -> None:
    schema, caller = _schema(client), _fresh(client)
    for op in protected_operations(client.app):  # type: ignore[arg-type]
        scope = op.scope
        if scope is None:  # "who am I": any live token
            continue
        others = [s for s in ALL_SCOPES if s != scope.value]
        outside = caller.request(
            op.method,
            op.url(schema),
            headers=bearer(token_for(sqlite_ctx, person.username, others)),
        )
        _assert_out_of_scope(outside, f"{op} with a token lacking {scope.value}")
        within = caller.request(
            op.method,
            op.url(schema),
            headers=bearer(token_for(sqlite_ctx, person.username, [scope.value])),
        )
        assert within.status_code != 401, f"{op} refused a token holding {scope.value}"
        assert "insufficient_scope" not in within.text, f"{op} refused {scope.value} as a scope"


def test_search_needs_the_search_scope(
    client: TestClient, sqlite_ctx: AppContext, person: Person, tmp_path: Path
) -> None:
    reader = bearer(token_for(sqlite_ctx, person.username, [Scope.CASES_READ.value]))
    _assert_out_of_scope(_search(client, tmp_path, reader), "cases:read token")
    searcher = bearer(token_for(sqlite_ctx, person.username, [Scope.SEARCH.value]))
    found = _search(client, tmp_path, searcher)
    assert found.status_code == 200
    assert found.json()["matches"][0]["signals"]


def test_expired_and_revoked_tokens_are_refused(
    client: TestClient, sqlite_ctx: AppContext, person: Person
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=3)
    _, expired = tokens.create_token(
        sqlite_ctx,
        actor="test",
        username=person.username,
        name="old",
        scopes=ALL_SCOPES,
        ttl=timedelta(days=1),
        now=long_ago,
    )
    revoked_id, revoked = tokens.create_token(
        sqlite_ctx,
        actor="test",
        username=person.username,
        name="gone",
        scopes=ALL_SCOPES,
        ttl=timedelta(days=1),
    )
    assert client.get("/api/v1/session", headers=bearer(revoked)).status_code == 200
    tokens.revoke_token(sqlite_ctx, actor="test", token_id=revoked_id)
    _assert_refused(client.get("/api/v1/session", headers=bearer(expired)), "expired")
    _assert_refused(client.get("/api/v1/session", headers=bearer(revoked)), "revoked")
    denied = audit.show(sqlite_ctx, action="token.denied")
    assert [event.detail["reason"] for event in denied] == ["expired", "revoked"]


def test_tokens_never_reach_media_bytes_or_administration(
    client: TestClient, sqlite_ctx: AppContext
) -> None:
    schema, caller = _schema(client), _fresh(client)
    session_only = [
        op
        for op in protected_operations(client.app)  # type: ignore[arg-type]
        if op.scope in SESSION_ONLY_SCOPES and not op.has_body
    ]
    for role in (Role.INVESTIGATOR, Role.AGENCY_ADMIN, Role.SYSTEM_ADMIN):
        username = f"tool-{role.value}"
        add_person(sqlite_ctx, AGENCY, username, role)
        token = bearer(token_for(sqlite_ctx, username))  # every scope, media and admin included
        for op in session_only:
            response = caller.request(op.method, op.url(schema), headers=token)
            assert response.status_code in {403, 404}, f"{op} gave {role} token {response}"
            assert response.headers["content-type"] == "application/json", str(op)
        me = client.get("/api/v1/session", headers=token).json()
        assert me["mfa_verified"] is False  # what keeps the policy from granting media


# --- sign-in ---------------------------------------------------------------------------------


def test_the_account_locks_after_repeated_failures(client: TestClient, person: Person) -> None:
    for _ in range(MAX_FAILED_LOGINS):
        wrong = client.post("/api/v1/session", json=_sign_in_body(person, "wrong password!!"))
        _assert_refused(wrong, "wrong password")
    right = client.post("/api/v1/session", json=_sign_in_body(person))
    _assert_refused(right, "right credentials on a locked account")
    assert right.json() == wrong.json()  # one message: the lock is not revealed


def test_one_address_is_throttled_across_usernames(client: TestClient, person: Person) -> None:
    for i in range(MAX_FAILURES_PER_ADDRESS):
        body = {"username": f"guess-{i}", "password": PASSWORD, "totp_code": "000000"}
        _assert_refused(client.post("/api/v1/session", json=body), f"guess {i}")
    refused = client.post("/api/v1/session", json=_sign_in_body(person))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(refused.headers["Retry-After"]) <= 300


def test_a_totp_code_cannot_be_replayed(client: TestClient, person: Person) -> None:
    code = person.code()
    assert client.post("/api/v1/session", json=_sign_in_body(person, code=code)).status_code == 201
    again = _fresh(client).post("/api/v1/session", json=_sign_in_body(person, code=code))
    _assert_refused(again, "replayed code")


# --- sessions --------------------------------------------------------------------------------


def test_session_cookies_are_secure_httponly_and_same_site_strict(
    client: TestClient, person: Person
) -> None:
    opened = client.post("/api/v1/session", json=_sign_in_body(person))
    assert opened.status_code == 201
    cookie = opened.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert {"secure", "httponly", "path"} <= attributes.keys()
    assert attributes["samesite"].strip().lower() == "samesite=strict"
    assert client.cookies[SESSION_COOKIE] not in opened.text  # the secret is never in a body
    client.headers[CSRF_HEADER] = opened.json()["csrf_token"]
    closed = client.delete("/api/v1/session")
    assert closed.status_code == 204
    cleared = closed.headers["set-cookie"].lower()
    assert "max-age=0" in cleared
    assert {"secure", "httponly", "samesite=strict"} <= {p.strip() for p in cleared.split(";")}


def test_a_copied_cookie_is_refused_after_sign_out(client: TestClient, person: Person) -> None:
    sign_in(client, person)
    stolen = {"Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"}
    assert _fresh(client).get("/api/v1/session", headers=stolen).status_code == 200
    assert client.delete("/api/v1/session").status_code == 204
    _assert_refused(_fresh(client).get("/api/v1/session", headers=stolen), "cookie after logout")


def test_a_session_without_the_csrf_header_can_read_but_not_change(
    client: TestClient, person: Person, tmp_path: Path
) -> None:
    csrf = sign_in(client, person)
    del client.headers[CSRF_HEADER]
    assert client.get("/api/v1/session").json()["mfa_verified"] is True
    for headers in ({}, {CSRF_HEADER: "a-guessed-token"}):
        refused = _search(client, tmp_path, headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
        assert client.delete("/api/v1/session", headers=headers).status_code == 403
    assert _search(client, tmp_path, {CSRF_HEADER: csrf}).status_code == 200
    assert client.delete("/api/v1/session", headers={CSRF_HEADER: csrf}).status_code == 204


def test_a_token_cannot_mint_tokens(
    client: TestClient, sqlite_ctx: AppContext, person: Person
) -> None:
    schema, caller = _schema(client), _fresh(client)
    token = bearer(token_for(sqlite_ctx, person.username, [Scope.SEARCH.value]))
    wanted = {"name": "escalated", "scopes": ALL_SCOPES, "days": 1}
    minting = [
        (method, path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if operation.get("operationId") == "create_token"
    ]
    for method, path in minting:  # a token may only be issued from a signed-in session
        response = caller.request(method.upper(), path, headers=token, json=wanted)
        assert response.status_code in {401, 403}, response.text
    assert [t.name for t in tokens.list_tokens(sqlite_ctx, person.username)] == ["test-tool"]
