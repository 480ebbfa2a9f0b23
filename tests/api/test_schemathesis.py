"""Property-based tests of every documented operation, generated from the OpenAPI schema.

Schemathesis reads ``/openapi.json`` of the app in-process (no server) and sends generated
requests, valid and invalid, to every operation the app has, so routes added later are covered
without touching this file. Each response must be no server error and must conform to the
schema: a documented status code, a documented content type and headers, a body that matches
the response model; an operation must also refuse a request whose credentials are left out.

It runs twice: once with an all-scope API token of a certified investigator (what tools use)
and once with that investigator's session cookie and CSRF header (what the web interface uses,
and the only way into session-only routes such as media), on a store with a few benign images.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    negative_data_rejection,
    positive_data_acceptance,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from sightline.api.app import create_app
from sightline.api.auth import CSRF_HEADER, SESSION_COOKIE
from sightline.config import Settings
from sightline.services.catalog import add_agency
from sightline.services.context import initialise, open_context
from tests.support.api import BASE_URL, add_person, bearer, sign_in, token_for
from tests.support.corpus import TEST_REQUESTER, ingest_seeds

# Generated requests per operation and mode: 2 modes x ~40 operations in about a minute.
MAX_EXAMPLES = 6

SESSION_ENDING = {("DELETE", "/api/v1/session")}
"""Operations the session run leaves out: signing out would end the run's own session, and
every later request would then (rightly) be refused. The token run covers them."""


@dataclass(frozen=True)
class Served:
    """What every generated request carries: a token, or a session cookie and CSRF header."""

    mode: str  # "token" or "session"
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


def _documented_schema() -> dict[str, Any]:
    """The app's OpenAPI document; building the app touches no store (lifespan not run)."""
    unused = Settings(data_dir=Path("/nonexistent/sightline"), environment="development")
    return create_app(unused).openapi()


RUNNING = _RunningApp()
schema = schemathesis.openapi.from_dict(_documented_schema())
schema.app = RUNNING  # in-process ASGI transport for every request, probes included


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


@pytest.fixture(scope="module", params=["token", "session"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    settings = Settings(data_dir=root / "var", environment="development")
    initialise(settings)
    ctx = open_context(settings)
    try:
        add_agency(ctx, "TEST-DE", "Test unit", "DE", requester=TEST_REQUESTER)
        ingest_seeds(ctx, root / "in", range(1, 4), agency="TEST-DE", case="AZ-1")
        person = add_person(ctx, "TEST-DE", "fuzz.investigator")
        with TestClient(create_app(settings), base_url=BASE_URL) as client:
            if request.param == "token":
                found = Served("token", bearer(token_for(ctx, person.username)))
            else:
                csrf = sign_in(client, person)
                cookies = {SESSION_COOKIE: client.cookies[SESSION_COOKIE]}
                found = Served("session", {CSRF_HEADER: csrf}, cookies)
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
    if served.mode == "session" and (case.method.upper(), case.path) in SESSION_ENDING:
        return  # covered by the token run; see SESSION_ENDING
    # positive_data_acceptance expects every schema-valid request to succeed, but the services
    # enforce rules a schema cannot state (a certification ends in the future, a referenced
    # entry exists and belongs to the list): their 422 is the right answer, not a defect.
    # allow_header_conformance wants a 405's Allow to list every method of the path; Starlette
    # builds it from the first route that matches the path alone, and FastAPI makes one route
    # per method, so a path with several methods lists one (a framework limitation).
    excluded: list[schemathesis.CheckFunction] = [
        positive_data_acceptance,
        allow_header_conformance,
    ]
    if case.media_type == "multipart/form-data":
        # A file part is bytes whatever it holds: "a file that became a JSON object" is still a
        # valid upload, so negative_data_rejection reports uploads that were rightly accepted.
        excluded.append(negative_data_rejection)
    case.call_and_validate(base_url=BASE_URL, excluded_checks=excluded)
