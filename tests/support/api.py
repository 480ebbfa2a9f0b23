"""People and credentials for API tests: users of an agency, tokens and signed-in sessions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from fastapi.testclient import TestClient

from sightline.api.auth import CSRF_HEADER
from sightline.domain.access import Role, Scope
from sightline.services.access import tokens, users
from sightline.services.context import AppContext

PASSWORD = "a long test password, benign"
ALL_SCOPES = [scope.value for scope in Scope]
BASE_URL = "https://testserver"  # the session cookie is Secure: tests speak https


@dataclass(frozen=True)
class Person:
    """A test user: the username and the TOTP seed to sign in with."""

    username: str
    seed: str

    def code(self, at: datetime | None = None) -> str:
        """The one-time code for ``at`` (now by default)."""
        return pyotp.TOTP(self.seed).at(at or datetime.now(UTC))


def add_person(
    ctx: AppContext,
    agency_code: str,
    username: str,
    role: Role = Role.INVESTIGATOR,
    *,
    certified: bool = True,
) -> Person:
    """Create a user of ``agency_code``, certified for a year unless ``certified`` is false."""
    _, uri = users.create_user(
        ctx,
        actor="test",
        agency_code=agency_code,
        username=username,
        password=PASSWORD,
        role=role,
    )
    if certified:
        until = datetime.now(UTC) + timedelta(days=365)
        users.certify(ctx, actor="test", username=username, until=until)
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return Person(username, totp.secret)


def token_for(ctx: AppContext, username: str, scopes: list[str] | None = None) -> str:
    """A fresh API token of ``username`` with ``scopes`` (all by default)."""
    _, secret = tokens.create_token(
        ctx,
        actor="test",
        username=username,
        name="test-tool",
        scopes=scopes or ALL_SCOPES,
        ttl=timedelta(days=1),
    )
    return secret


def bearer(secret: str) -> dict[str, str]:
    """The Authorization header for an API token."""
    return {"Authorization": f"Bearer {secret}"}


def sign_in(client: TestClient, person: Person, at: datetime | None = None) -> str:
    """Sign ``person`` in on ``client`` (the cookie stays in its jar); returns the CSRF token.

    A one-time code signs in once: a second sign-in of the same person within 30 seconds
    needs ``at`` one step (30 s) later.
    """
    response = client.post(
        "/api/v1/session",
        json={"username": person.username, "password": PASSWORD, "totp_code": person.code(at)},
    )
    assert response.status_code == 201, response.text
    csrf: str = response.json()["csrf_token"]
    client.headers[CSRF_HEADER] = csrf
    return csrf


def authenticated_client(client: TestClient, ctx: AppContext, agency_code: str) -> TestClient:
    """Give ``client`` the token of a new certified investigator of ``agency_code``."""
    add_person(ctx, agency_code, f"tool-{agency_code.lower()}")
    client.headers.update(bearer(token_for(ctx, f"tool-{agency_code.lower()}")))
    return client


def wait_for_job(client: TestClient, job_id: str) -> dict[str, Any]:
    """Poll ``GET /api/v1/ingest/{job_id}`` until the upload job is done or failed."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/ingest/{job_id}").json()
        if body["status"] in {"done", "failed", "cancelled"}:
            return body
        time.sleep(0.1)
    raise AssertionError("the ingest job did not finish")


def wait_for_jobs(ctx: AppContext, timeout_s: float = 120) -> None:
    """Wait until no durable job is queued or running (the embedded worker ran them all)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with ctx.uow() as uow:
            if uow.jobs.unfinished() == 0:
                return
        time.sleep(0.05)
    raise AssertionError("durable jobs did not finish")
