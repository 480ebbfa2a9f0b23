"""Property-based tests of every documented operation, generated from the OpenAPI schema.

Schemathesis reads ``/openapi.json`` of the app in-process (no server) and sends generated
requests, valid and invalid, to every operation the app has, so routes added later are covered
without touching this file. Each response must be no server error and must conform to the
schema: a documented status code, a documented content type and headers, a body that matches
the response model; an operation must also refuse a request whose credentials are left out.

It runs once per kind of caller, each on a store of its own with a few benign images: an
all-scope API token of a certified investigator (what tools use); that investigator's session
cookie and CSRF header (what the web interface uses, and the only way into session-only routes
such as media); and the sessions of a certified agency administrator and of the system
administrator, who reach the administration routes (users, certification, agencies, audit).
Every check Schemathesis has runs; see :func:`test_every_operation_conforms_to_its_schema`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pyotp
import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import ASGIApp, Receive, Scope, Send

from sightline.api.app import create_app
from sightline.api.auth import CSRF_HEADER, SESSION_COOKIE
from sightline.config import Settings
from sightline.domain.access import Role
from sightline.services.access.users import create_admin
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext, initialise, open_context
from tests.support.api import (
    BASE_URL,
    PASSWORD,
    Person,
    add_person,
    bearer,
    sign_in,
    token_for,
)
from tests.support.corpus import TEST_REQUESTER, ingest_seeds

# Generated requests per operation and caller: 4 callers x ~40 operations in about a minute.
MAX_EXAMPLES = 6

CALLERS = ["investigator-token", "investigator-session", "admin-session", "sysadmin-session"]

CONTENT_RULES = {
    ("POST", "/api/v1/hashlists"): (
        "the uploaded file must be a CSV or ICSE hash list with a header row; JSON Schema "
        "describes a file part only as bytes, so a schema-valid upload is almost never a "
        "readable list, and its 422 naming the problem is the right answer"
    ),
}
"""Operations whose accepted input depends on the content of an uploaded file, a rule no
schema can state: ``positive_data_acceptance`` is waived for these only (every other check,
and that check on every other operation, still runs)."""

SESSION_ENDING = {("DELETE", "/api/v1/session")}
"""Operations the session run leaves out: signing out would end the run's own session, and
every later request would then (rightly) be refused. The token run covers them."""


@dataclass(frozen=True)
class Served:
    """What every generated request carries: a token, or a session cookie and CSRF header."""

    mode: str  # one of CALLERS
    headers: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)


class _RunningApp:
    """The app under test and its credentials, as the module-level schema sees them.

    Schemathesis binds the schema to one ASGI app when the tests are collected, before any
    store exists; the module fixture then points this stand-in at the app it started and at
    its credentials. The app's lifespan (store, indexes) runs once, in the fixture's
    ``TestClient``, so lifespan events are declined here, as an app without lifespan support
    declines them, instead of starting a second one.
    """

    def __init__(self) -> None:
        self.app: ASGIApp | None = None
        self.served: Served | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("the lifespan is run by the fixture's TestClient")
        assert self.app is not None, "requests are only sent while the fixture runs"
        await self.app(scope, receive, send)


def _seed(uri: str) -> str:
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return str(totp.secret)


def _documented_schema() -> dict[str, Any]:
    """The app's OpenAPI document; building the app touches no store (lifespan not run)."""
    unused = Settings(data_dir=Path("/nonexistent/sightline"), environment="development")
    return create_app(unused).openapi()


RUNNING = _RunningApp()
schema = schemathesis.openapi.from_dict(_documented_schema())
schema.app = RUNNING  # in-process ASGI transport for every request, probes included


@schema.hook("map_body").apply_to(operation_id="certify_user")  # type: ignore[attr-defined, untyped-decorator]
def _certification_within_the_limit(context: schemathesis.HookContext, body: Any) -> Any:
    """Give a generated certification an end inside the allowed window.

    The schema states the rule (a moment in the future, at most the configured number of days
    ahead) in words: JSON Schema compares no date with "now", so a generated ``until`` is
    almost always in the past or beyond the limit, and its 422 is right. Mapping it into the
    window lets ``positive_data_acceptance`` check the operation instead of being waived.
    """
    if isinstance(body, dict) and isinstance(body.get("until"), str):
        return {**body, "until": (datetime.now(UTC) + timedelta(days=30)).isoformat()}
    return body


@schema.auth()
class _FixtureCredentials:
    """Gives each generated request the running fixture's credentials, as configured auth.

    Configured auth (rather than headers passed to the call) lets the ``ignored_auth`` check
    strip or spoil the credentials and expect a refusal.
    """

    def get(self, case: schemathesis.Case[Any], context: schemathesis.AuthContext) -> _RunningApp:
        return RUNNING  # read at ``set`` time: a cached value must not outlive a fixture

    def set(
        self, case: schemathesis.Case[Any], data: _RunningApp, context: schemathesis.AuthContext
    ) -> None:
        if data.served is not None:  # None while pytest collects the tests
            case.headers.update(data.served.headers)
            case.cookies.update(data.served.cookies)


def _caller(ctx: AppContext, mode: str) -> Person:
    """The person a run speaks for; other users exist for the administrators to act on."""
    investigator = add_person(ctx, "TEST-DE", "fuzz.investigator")
    add_person(ctx, "TEST-DE", "fuzz.viewer", Role.VIEWER)
    if mode == "admin-session":
        return add_person(ctx, "TEST-DE", "fuzz.admin", Role.AGENCY_ADMIN)
    if mode == "sysadmin-session":
        add_agency(ctx, "TEST-SYS", "Operations", "DE", requester=TEST_REQUESTER)
        _, uri = create_admin(
            ctx, actor="test", agency_code="TEST-SYS", username="fuzz.root", password=PASSWORD
        )
        return Person("fuzz.root", _seed(uri))
    return investigator


@pytest.fixture(scope="module", params=CALLERS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    mode: str = request.param
    root = tmp_path_factory.mktemp(f"fuzz-{mode}")
    settings = Settings(data_dir=root / "var", environment="development")
    initialise(settings)
    ctx = open_context(settings)
    try:
        add_agency(ctx, "TEST-DE", "Test unit", "DE", requester=TEST_REQUESTER)
        ingest_seeds(ctx, root / "in", range(1, 4), agency="TEST-DE", case="AZ-1")
        person = _caller(ctx, mode)
        with TestClient(create_app(settings), base_url=BASE_URL) as client:
            if mode == "investigator-token":
                found = Served(mode, bearer(token_for(ctx, person.username)))
            else:
                csrf = sign_in(client, person)
                cookies = {SESSION_COOKIE: client.cookies[SESSION_COOKIE]}
                found = Served(mode, {CSRF_HEADER: csrf}, cookies)
            RUNNING.app, RUNNING.served = client.app, found
            yield found
            RUNNING.app = RUNNING.served = None
    finally:
        ctx.close()


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_every_operation_conforms_to_its_schema(
    case: schemathesis.Case[Any], served: Served
) -> None:
    if served.mode.endswith("-session") and (case.method.upper(), case.path) in SESSION_ENDING:
        return  # covered by the token run; see SESSION_ENDING
    waived: list[schemathesis.CheckFunction] = (
        [positive_data_acceptance] if (case.method.upper(), case.path) in CONTENT_RULES else []
    )
    case.call_and_validate(base_url=BASE_URL, excluded_checks=waived)
