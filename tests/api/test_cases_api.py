"""``/api/v1/cases`` and alerts over HTTP: what each agency's users list, read and change.

TEST-DE holds a private case (AZ-1) and a signals case (AZ-2); TEST-GB a shared case (GB-1)
with the same benign image as AZ-1, so each agency has an overlap alert. The DE investigator
uses a signed-in session (CSRF header on changes); the others use API tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sightline.api.app import create_app
from sightline.api.auth import CSRF_HEADER
from sightline.domain.access import Role, SharingLevel
from sightline.services.catalog import add_agency, add_case
from sightline.services.context import AppContext
from tests.support.api import BASE_URL, add_person, bearer, sign_in, token_for
from tests.support.corpus import TEST_REQUESTER, ingest_seeds

DE, GB = "TEST-DE", "TEST-GB"


@dataclass
class Api:
    """The client (signed in as DE's investigator) and the tokens of the other users."""

    client: TestClient
    ctx: AppContext
    gb: dict[str, str]
    de_viewer: dict[str, str]
    de_token: dict[str, str]


@pytest.fixture
def api(sqlite_ctx: AppContext, tmp_path: Path) -> Iterator[Api]:
    ctx = sqlite_ctx
    for code in (DE, GB):
        add_agency(ctx, code, "unit", code[-2:], requester=TEST_REQUESTER)
    add_case(ctx, DE, "AZ-1", "first", requester=TEST_REQUESTER)
    add_case(ctx, DE, "AZ-2", "second", requester=TEST_REQUESTER, sharing=SharingLevel.SIGNALS)
    add_case(ctx, GB, "GB-1", "third", requester=TEST_REQUESTER, sharing=SharingLevel.SHARED)
    ingest_seeds(ctx, tmp_path / "de", [1], agency=DE, case="AZ-1")
    ingest_seeds(ctx, tmp_path / "gb", [1], agency=GB, case="GB-1")
    investigator = add_person(ctx, DE, "de-investigator")
    add_person(ctx, DE, "de-viewer", Role.VIEWER)
    add_person(ctx, GB, "gb-investigator")
    with TestClient(create_app(ctx.settings), base_url=BASE_URL) as client:
        sign_in(client, investigator)
        yield Api(
            client,
            ctx,
            gb=bearer(token_for(ctx, "gb-investigator")),
            de_viewer=bearer(token_for(ctx, "de-viewer")),
            de_token=bearer(token_for(ctx, "de-investigator")),
        )


def _references(api: Api, headers: dict[str, str] | None = None, **params: str) -> list[str]:
    response = api.client.get("/api/v1/cases", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [item["reference"] for item in response.json()["items"]]


def _case_id(api: Api, reference: str) -> int:
    items = api.client.get("/api/v1/cases", params={"limit": 500}).json()["items"]
    return next(int(item["id"]) for item in items if item["reference"] == reference)


def test_each_agency_lists_the_cases_it_may_see(api: Api) -> None:
    assert _references(api) == ["AZ-1", "AZ-2", "GB-1"]
    assert _references(api, api.de_viewer) == ["AZ-1", "AZ-2", "GB-1"]
    assert _references(api, api.gb) == ["GB-1"]  # DE's private and signals cases: hidden
    assert _references(api, agency=GB) == ["GB-1"]
    first = api.client.get("/api/v1/cases", params={"limit": 2}).json()
    assert [c["reference"] for c in first["items"]] == ["AZ-1", "AZ-2"]
    rest = api.client.get(
        "/api/v1/cases", params={"limit": 2, "after_id": first["next_after_id"]}
    ).json()
    assert rest == {"items": [rest["items"][0]], "next_after_id": None}
    assert rest["items"][0]["sharing"] == "shared"
    assert api.client.get("/api/v1/cases", params={"agency": "NOPE"}).status_code == 404


def test_reading_a_case_hidden_from_the_reader_is_not_found(api: Api) -> None:
    private, signals = _case_id(api, "AZ-1"), _case_id(api, "AZ-2")
    hidden = api.client.get(f"/api/v1/cases/{private}", headers=api.gb)
    missing = api.client.get("/api/v1/cases/9999", headers=api.gb)
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert api.client.get(f"/api/v1/cases/{signals}", headers=api.gb).status_code == 403
    own = api.client.get(f"/api/v1/cases/{private}").json()
    assert {k: own[k] for k in ("agency", "reference", "title", "sharing")} == {
        "agency": DE,
        "reference": "AZ-1",
        "title": "first",
        "sharing": "private",
    }


def test_creating_a_case_in_the_own_agency(api: Api) -> None:
    body = {"agency": DE, "reference": "AZ-3", "title": "new", "sharing": "signals"}
    created = api.client.post("/api/v1/cases", json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["reference"], created.json()["sharing"]) == ("AZ-3", "signals")
    assert api.client.post("/api/v1/cases", json=body).status_code == 409
    other = api.client.post("/api/v1/cases", json={**body, "agency": GB, "reference": "X"})
    assert other.status_code == 403
    viewer = api.client.post(
        "/api/v1/cases", json={**body, "reference": "Y"}, headers=api.de_viewer
    )
    assert viewer.status_code == 403
    by_token = api.client.post(
        "/api/v1/cases", json={**body, "reference": "Z"}, headers=api.de_token
    )
    assert by_token.status_code == 201  # editing needs certification, not a second factor
    bad = api.client.post("/api/v1/cases", json={**body, "reference": "W", "sharing": "public"})
    assert bad.status_code == 422
    del api.client.headers[CSRF_HEADER]
    assert api.client.post("/api/v1/cases", json={**body, "reference": "V"}).status_code == 403


def test_changing_the_sharing_level(api: Api) -> None:
    private, shared = _case_id(api, "AZ-1"), _case_id(api, "GB-1")
    changed = api.client.patch(f"/api/v1/cases/{private}", json={"sharing": "shared"})
    assert changed.json()["sharing"] == "shared"
    assert _references(api, api.gb) == ["AZ-1", "GB-1"]
    assert (
        api.client.patch(f"/api/v1/cases/{shared}", json={"sharing": "private"}).status_code == 403
    )
    viewer = api.client.patch(
        f"/api/v1/cases/{private}", json={"sharing": "private"}, headers=api.de_viewer
    )
    assert viewer.status_code == 403
    renamed = api.client.patch(f"/api/v1/cases/{private}", json={"title": "Operation Hill"})
    assert (renamed.json()["title"], renamed.json()["sharing"]) == ("Operation Hill", "shared")
    with api.ctx.uow() as uow:
        events = [e for e in uow.audit.page(0, 500) if e.action == "case.update"]
    assert [(e.outcome, e.resource, e.detail) for e in events] == [
        ("allowed", f"case:{private}", {"sharing_old": "private", "sharing_new": "shared"}),
        ("denied", f"case:{shared}", {"reason": "other_agency"}),
        ("denied", f"case:{private}", {"reason": "role_cannot_edit"}),
        ("allowed", f"case:{private}", {"title_changed": True}),  # never the title itself
    ]


def test_alerts_are_read_and_acknowledged_by_their_agency(api: Api) -> None:
    [alert] = api.client.get(f"/api/v1/agencies/{DE}/alerts").json()["items"]
    assert (alert["case"], alert["other_agency"], alert["other_case"]) == ("AZ-1", GB, "GB-1")
    assert (alert["visibility"], alert["other_title"], alert["acknowledged"]) == (
        "full",
        "third",
        False,
    )
    theirs = api.client.get(f"/api/v1/agencies/{GB}/alerts", headers=api.gb).json()
    assert theirs == {"items": [], "next_after_id": None}  # about DE's private case: hidden
    assert api.client.get(f"/api/v1/agencies/{GB}/alerts").status_code == 404
    ack = f"/api/v1/agencies/{DE}/alerts/{alert['id']}/ack"
    assert api.client.post(ack, headers=api.gb).status_code == 404
    assert api.client.post(ack, headers=api.de_viewer).status_code == 403
    assert api.client.post(ack).status_code == 204
    [read] = api.client.get(f"/api/v1/agencies/{DE}/alerts").json()["items"]
    assert read["acknowledged"] is True
    with api.ctx.uow() as uow:
        events = [e for e in uow.audit.page(0, 500) if e.action == "alert.acknowledge"]
    assert [(e.outcome, e.detail.get("reason")) for e in events] == [
        ("denied", "other_agency"),
        ("denied", "role_cannot_edit"),
        ("allowed", None),
    ]


def test_cases_operations_are_documented(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "list_cases",
        "create_case",
        "get_case",
        "update_case",
        "case_triage",
        "agency_alerts",
        "acknowledge_alert",
    } <= ids
    case_read = schema["components"]["schemas"]["CaseRead"]["properties"]
    assert case_read["reference"]["examples"] == ["AZ-1"]
