"""Administration over the API: agencies, users, passwords, tokens and the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sightline.api.app import create_app
from sightline.api.auth import CSRF_HEADER
from sightline.config import DEFAULT_MAX_CERTIFICATION_DAYS, AccessSettings
from sightline.domain.access import Role
from sightline.services.access import audit, tokens, users
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from tests.support.api import BASE_URL, PASSWORD, Person, add_person, bearer, token_for
from tests.support.corpus import TEST_REQUESTER

NEW_PASSWORD = "another long password, benign"


@pytest.fixture
def app(sqlite_ctx: AppContext) -> Iterator[FastAPI]:
    for code in ("TEST-A", "TEST-B", "SYS"):
        add_agency(sqlite_ctx, code, f"Unit {code}", "DE", requester=TEST_REQUESTER)
    application = create_app(sqlite_ctx.settings)
    with TestClient(application, base_url=BASE_URL):
        yield application


def client(app: FastAPI) -> TestClient:
    """A client with its own cookie jar (the app's lifespan is already running)."""
    return TestClient(app, base_url=BASE_URL)


def sign_in(app: FastAPI, person: Person, *, step: int = 0, password: str = PASSWORD) -> TestClient:
    """A client signed in as ``person``; ``step`` picks a later TOTP step (codes are single-use)."""
    c = client(app)
    at = datetime.now(UTC) + timedelta(seconds=30 * step)
    body = {"username": person.username, "password": password, "totp_code": person.code(at)}
    response = c.post("/api/v1/session", json=body)
    assert response.status_code == 201, response.text
    c.headers[CSRF_HEADER] = response.json()["csrf_token"]
    return c


def system_admin(ctx: AppContext) -> Person:
    _, uri = users.create_admin(
        ctx, actor="test", agency_code="SYS", username="root.admin", password=PASSWORD
    )
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return Person("root.admin", totp.secret)


def test_agency_directory_is_open_but_only_a_system_admin_adds(
    app: FastAPI, sqlite_ctx: AppContext
) -> None:
    tool = client(app)
    add_person(sqlite_ctx, "TEST-A", "inv.a")
    tool.headers.update(bearer(token_for(sqlite_ctx, "inv.a")))
    listed = tool.get("/api/v1/agencies", params={"limit": 2})
    assert listed.status_code == 200
    assert [a["code"] for a in listed.json()["items"]] == ["TEST-A", "TEST-B"]
    after = listed.json()["next_after_id"]
    assert [a["code"] for a in tool.get(f"/api/v1/agencies?after_id={after}").json()["items"]] == [
        "SYS"
    ]
    assert tool.get("/api/v1/agencies/test-b").json()["name"] == "Unit TEST-B"
    assert tool.get("/api/v1/agencies/NOPE").status_code == 404
    body = {"code": "NL-NP", "name": "Politie", "country": "NL", "contact": "duty desk"}
    assert tool.post("/api/v1/agencies", json=body).status_code == 403
    admin_a = add_person(sqlite_ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN)
    assert sign_in(app, admin_a).post("/api/v1/agencies", json=body).status_code == 403
    root = sign_in(app, system_admin(sqlite_ctx))
    created = root.post("/api/v1/agencies", json=body)
    assert created.status_code == 201
    assert (created.json()["code"], created.json()["contact"]) == ("NL-NP", "duty desk")
    assert root.post("/api/v1/agencies", json=body).status_code == 409
    with sqlite_ctx.uow() as uow:
        assert [e.outcome for e in uow.audit.page(action="agency.add")][-3:] == [
            "denied",
            "denied",
            "allowed",
        ]


def test_agency_admin_administers_only_its_own_agency(app: FastAPI, sqlite_ctx: AppContext) -> None:
    admin_a = sign_in(app, add_person(sqlite_ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN))
    add_person(sqlite_ctx, "TEST-A", "inv.a")
    add_person(sqlite_ctx, "TEST-B", "inv.b")
    add_person(sqlite_ctx, "TEST-A", "coord.a", Role.COORDINATOR)
    mine = admin_a.get("/api/v1/users")
    assert {u["username"] for u in mine.json()["items"]} == {"admin.a", "inv.a", "coord.a"}
    assert admin_a.get("/api/v1/users", params={"agency": "TEST-B"}).status_code == 403
    until = {"until": (datetime.now(UTC) + timedelta(days=30)).isoformat()}
    assert admin_a.post("/api/v1/users/inv.b/certification", json=until).status_code == 404
    assert admin_a.post("/api/v1/users/inv.b/disable").status_code == 404
    assert admin_a.post("/api/v1/users/coord.a/disable").status_code == 403  # beyond its reach
    assert admin_a.post("/api/v1/users/admin.a/disable").status_code == 403  # not itself
    certified = admin_a.post("/api/v1/users/inv.a/certification", json=until)
    assert certified.status_code == 200
    assert certified.json()["certified_until"] is not None
    revoked = admin_a.delete("/api/v1/users/inv.a/certification")
    assert revoked.json()["certified_until"] is None


@pytest.mark.parametrize(
    ("agency", "role", "status"),
    [
        ("TEST-A", "viewer", 201),
        ("TEST-A", "agency-admin", 201),
        ("TEST-A", "coordinator", 403),
        ("TEST-A", "system-admin", 403),
        ("TEST-B", "viewer", 403),
    ],
)
def test_nobody_grants_beyond_their_reach(
    app: FastAPI, sqlite_ctx: AppContext, agency: str, role: str, status: int
) -> None:
    admin_a = sign_in(app, add_person(sqlite_ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN))
    body = {"agency": agency, "username": "new.user", "password": PASSWORD, "role": role}
    response = admin_a.post("/api/v1/users", json=body)
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["totp_uri"].startswith("otpauth://totp/")
        assert response.json()["user"]["role"] == role


def test_system_admin_creates_coordinators_anywhere(app: FastAPI, sqlite_ctx: AppContext) -> None:
    root = sign_in(app, system_admin(sqlite_ctx))
    body = {"agency": "TEST-B", "username": "coord.b", "password": PASSWORD, "role": "coordinator"}
    assert root.post("/api/v1/users", json=body).status_code == 201
    everyone = root.get("/api/v1/users").json()["items"]
    assert {"root.admin", "coord.b"} <= {u["username"] for u in everyone}


def test_disabling_a_user_ends_their_session_and_tokens_at_once(
    app: FastAPI, sqlite_ctx: AppContext
) -> None:
    admin_a = sign_in(app, add_person(sqlite_ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN))
    person = add_person(sqlite_ctx, "TEST-A", "inv.a")
    victim = sign_in(app, person)
    tool = client(app)
    tool.headers.update(bearer(token_for(sqlite_ctx, "inv.a")))
    assert victim.get("/api/v1/session").status_code == 200
    assert tool.get("/api/v1/session").status_code == 200
    disabled = admin_a.post("/api/v1/users/inv.a/disable")
    assert disabled.status_code == 200
    assert disabled.json() == {"user": disabled.json()["user"], "sessions_ended": 1}
    assert disabled.json()["user"]["disabled"] is True
    assert victim.get("/api/v1/session").status_code == 401
    assert tool.get("/api/v1/session").status_code == 401
    assert admin_a.post("/api/v1/users/inv.a/enable").json()["user"]["disabled"] is False
    assert tool.get("/api/v1/session").status_code == 200
    assert sign_in(app, person, step=1).get("/api/v1/session").status_code == 200


def test_password_change_ends_the_other_sessions(app: FastAPI, sqlite_ctx: AppContext) -> None:
    person = add_person(sqlite_ctx, "TEST-A", "inv.a")
    here, elsewhere = sign_in(app, person), sign_in(app, person, step=1)
    wrong = {"current_password": "not the password!", "new_password": NEW_PASSWORD}
    assert here.post("/api/v1/session/password", json=wrong).status_code == 403
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    changed = here.post("/api/v1/session/password", json=body)
    assert changed.status_code == 200
    assert changed.json() == {"sessions_ended": 1}
    assert here.get("/api/v1/session").status_code == 200
    assert elsewhere.get("/api/v1/session").status_code == 401
    with sqlite_ctx.uow() as uow:
        creds = uow.users.credentials("inv.a")
    assert creds is not None
    assert users.verify_password(creds.password_hash, NEW_PASSWORD)
    tool = client(app)
    tool.headers.update(bearer(token_for(sqlite_ctx, "inv.a")))
    assert tool.post("/api/v1/session/password", json=body).status_code == 403  # session only


def test_admin_password_reset_ends_every_session(app: FastAPI, sqlite_ctx: AppContext) -> None:
    admin_a = sign_in(app, add_person(sqlite_ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN))
    victim = sign_in(app, add_person(sqlite_ctx, "TEST-A", "inv.a"))
    reset = admin_a.post("/api/v1/users/inv.a/password", json={"new_password": NEW_PASSWORD})
    assert reset.json() == {"sessions_ended": 1}
    assert victim.get("/api/v1/session").status_code == 401


def test_tokens_are_issued_to_oneself_and_revoked_by_owner_or_admin(
    app: FastAPI, sqlite_ctx: AppContext
) -> None:
    me = sign_in(app, add_person(sqlite_ctx, "TEST-A", "inv.a"))
    issued = me.post("/api/v1/tokens", json={"name": "triage bot", "scopes": ["search"]})
    assert issued.status_code == 201
    secret, token_id = issued.json()["secret"], issued.json()["token"]["id"]
    tool = client(app)
    tool.headers.update(bearer(secret))
    assert tool.get("/api/v1/session").json()["username"] == "inv.a"
    bad = me.post("/api/v1/tokens", json={"name": "x", "scopes": ["everything"]})
    assert bad.status_code == 422
    again = tool.post("/api/v1/tokens", json={"name": "y", "scopes": ["search"]})
    assert again.status_code == 403  # a token does not mint tokens
    assert [t["id"] for t in me.get("/api/v1/tokens").json()["items"]] == [token_id]
    admin_b = sign_in(app, add_person(sqlite_ctx, "TEST-B", "admin.b", Role.AGENCY_ADMIN))
    assert admin_b.delete(f"/api/v1/tokens/{token_id}").status_code == 404
    admin_a = sign_in(app, add_person(sqlite_ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN))
    assert admin_a.delete(f"/api/v1/tokens/{token_id}").status_code == 204
    assert tool.get("/api/v1/session").status_code == 401
    assert me.delete(f"/api/v1/tokens/{token_id}").status_code == 409


def test_audit_trail_is_read_by_administrators_only_and_reads_are_audited(
    app: FastAPI, sqlite_ctx: AppContext
) -> None:
    a, b = (agency_id(sqlite_ctx, code) for code in ("TEST-A", "TEST-B"))
    admin_a = sign_in(app, add_person(sqlite_ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN))
    sign_in(app, add_person(sqlite_ctx, "TEST-B", "inv.b"))  # an event of agency B's actor
    seen = admin_a.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    assert seen
    assert {e["actor_agency_id"] for e in seen} == {a}
    root = sign_in(app, system_admin(sqlite_ctx))
    everything = root.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    assert {a, b} <= {e["actor_agency_id"] for e in everything}
    only = root.get("/api/v1/audit", params={"action": "audit.read"}).json()["items"]
    assert only
    assert all(e["action"] == "audit.read" for e in only)
    investigator = sign_in(app, add_person(sqlite_ctx, "TEST-A", "inv.a"), step=1)
    assert investigator.get("/api/v1/audit").status_code == 403
    tool = client(app)
    tool.headers.update(bearer(token_for(sqlite_ctx, "admin.a")))
    assert tool.get("/api/v1/audit").status_code == 403  # administration needs a second factor
    assert admin_a.get("/api/v1/audit/verify").status_code == 403
    verified = root.get("/api/v1/audit/verify")
    assert verified.status_code == 200
    assert verified.json()["ok"] is True
    assert verified.json()["head"]["id"] == verified.json()["checked"]
    with sqlite_ctx.uow() as uow:
        reads = uow.audit.page(action="audit.read", limit=100)
    assert [e.outcome for e in reads].count("denied") == 2
    assert [e.outcome for e in reads].count("allowed") >= 3


def agency_id(ctx: AppContext, code: str) -> int:
    with ctx.uow() as uow:
        return uow.agencies.get(code).id


def test_a_search_token_cannot_list_issue_or_revoke_its_users_tokens(
    app: FastAPI, sqlite_ctx: AppContext
) -> None:
    """Defect 10: a ``search``-only token listed the user's tokens and revoked the others."""
    me = sign_in(app, add_person(sqlite_ctx, "TEST-A", "inv.a"))
    other = me.post("/api/v1/tokens", json={"name": "forensic tool", "scopes": ["match"]})
    other_id = other.json()["token"]["id"]
    searcher = client(app)
    searcher.headers.update(bearer(token_for(sqlite_ctx, "inv.a", ["search"])))
    refused = [
        searcher.get("/api/v1/tokens"),
        searcher.post("/api/v1/tokens", json={"name": "more", "scopes": ["search"]}),
        searcher.delete(f"/api/v1/tokens/{other_id}"),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "insufficient_scope"
        assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    assert not any(t.revoked_at for t in tokens.list_tokens(sqlite_ctx, "inv.a"))
    denied = audit.show(sqlite_ctx, action="token.denied")
    assert [e.detail["reason"] for e in denied] == ["out_of_scope"] * 3

    manager = client(app)
    manager.headers.update(bearer(token_for(sqlite_ctx, "inv.a", ["tokens"])))
    listed = manager.get("/api/v1/tokens")
    assert listed.status_code == 200
    assert other_id in [t["id"] for t in listed.json()["items"]]
    minting = manager.post("/api/v1/tokens", json={"name": "more", "scopes": ["search"]})
    assert minting.status_code == 403  # still never a token that mints tokens
    assert minting.json()["error"]["code"] == "forbidden"
    assert manager.delete(f"/api/v1/tokens/{other_id}").status_code == 204
    assert me.get("/api/v1/tokens").status_code == 200  # the signed-in session manages too
    assert me.post("/api/v1/tokens", json={"name": "next", "scopes": ["search"]}).status_code == 201


def test_certification_periods_are_bounded(app: FastAPI, sqlite_ctx: AppContext) -> None:
    """A certification "until 3003" was accepted: it must end within the configured limit."""
    admin = sign_in(app, add_person(sqlite_ctx, "TEST-A", "admin.a", Role.AGENCY_ADMIN))
    add_person(sqlite_ctx, "TEST-A", "inv.a", certified=False)
    days = sqlite_ctx.settings.access.max_certification_days
    assert days == DEFAULT_MAX_CERTIFICATION_DAYS == 3 * 365 + 1
    far = admin.post("/api/v1/users/inv.a/certification", json={"until": "3003-01-01T00:00:00Z"})
    assert far.status_code == 422, far.text
    assert f"at most {days} days" in far.json()["error"]["message"]
    assert "SIGHTLINE_ACCESS__MAX_CERTIFICATION_DAYS" in far.json()["error"]["message"]
    just_over = datetime.now(UTC) + timedelta(days=days, minutes=5)
    refused = admin.post("/api/v1/users/inv.a/certification", json={"until": just_over.isoformat()})
    assert refused.status_code == 422
    within = datetime.now(UTC) + timedelta(days=days, minutes=-5)
    ok = admin.post("/api/v1/users/inv.a/certification", json={"until": within.isoformat()})
    assert ok.status_code == 200, ok.text
    stored = datetime.fromisoformat(ok.json()["certified_until"].replace("Z", "+00:00"))
    assert abs(stored - within) < timedelta(seconds=1)
    until = app.openapi()["components"]["schemas"]["Certification"]["properties"]["until"]
    assert f"at most {days} days" in until["description"]


def test_the_schema_states_the_configured_certification_limit(sqlite_ctx: AppContext) -> None:
    short = sqlite_ctx.settings.model_copy(
        update={"access": AccessSettings(max_certification_days=30)}
    )
    schema = create_app(short).openapi()
    until = schema["components"]["schemas"]["Certification"]["properties"]["until"]
    assert "at most 30 days" in until["description"]
    assert until["format"] == "date-time"
