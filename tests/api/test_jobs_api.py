"""Durable jobs over the API: scoped by the access policy, and documented in the schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sightline.api.app import create_app
from sightline.domain.access import Role
from sightline.services import synthetic
from sightline.services.catalog import add_agency, add_case
from sightline.services.context import AppContext
from tests.support.api import BASE_URL, add_person, bearer, token_for, wait_for_job
from tests.support.corpus import SMALL, TEST_REQUESTER


@pytest.fixture
def app(sqlite_ctx: AppContext) -> Iterator[tuple[FastAPI, int]]:
    for code in ("TEST-A", "TEST-B"):
        add_agency(sqlite_ctx, code, f"Unit {code}", "DE", requester=TEST_REQUESTER)
    case = add_case(sqlite_ctx, "TEST-A", "AZ-JOBS", requester=TEST_REQUESTER)
    application = create_app(sqlite_ctx.settings)
    with TestClient(application, base_url=BASE_URL):
        yield application, case.id


def _client(
    app: FastAPI,
    ctx: AppContext,
    agency: str,
    name: str,
    role: Role = Role.INVESTIGATOR,
    **kw: bool,
) -> TestClient:
    add_person(ctx, agency, name, role, **kw)
    client = TestClient(app, base_url=BASE_URL)
    client.headers.update(bearer(token_for(ctx, name)))
    return client


def test_jobs_are_seen_by_their_requester_and_agency_only(
    app: tuple[FastAPI, int], sqlite_ctx: AppContext
) -> None:
    application, case_id = app
    owner = _client(application, sqlite_ctx, "TEST-A", "inv.a")
    colleague = _client(application, sqlite_ctx, "TEST-A", "inv.a2")
    uncertified = _client(application, sqlite_ctx, "TEST-A", "inv.a3", certified=False)
    foreign = _client(application, sqlite_ctx, "TEST-B", "inv.b")
    admin = _client(application, sqlite_ctx, "TEST-B", "sys", Role.SYSTEM_ADMIN)
    image = synthetic.encode(synthetic.landscape(3, SMALL))
    upload = owner.post(
        f"/api/v1/cases/{case_id}/ingest", files=[("files", ("a.jpg", image, "image/jpeg"))]
    )
    wait_for_job(owner, upload.json()["job_id"])

    [listed] = owner.get("/api/v1/jobs").json()["items"]
    job_id = listed["id"]
    mine = owner.get(f"/api/v1/jobs/{job_id}").json()
    assert (mine["kind"], mine["state"], mine["attempts"]) == ("ingest.upload", "succeeded", 1)
    assert mine["payload"]["case"] == case_id and mine["result"]["stored"] == 1
    assert mine["resource"] == f"ingest:{mine['payload']['ingest_job']}"
    assert colleague.get(f"/api/v1/jobs/{job_id}").json()["payload"] == mine["payload"]

    for stranger in (uncertified, foreign):
        assert stranger.get(f"/api/v1/jobs/{job_id}").status_code == 404
        assert stranger.get("/api/v1/jobs").json()["items"] == []
    operated = admin.get(f"/api/v1/jobs/{job_id}").json()
    assert (operated["state"], operated["payload"], operated["result"], operated["resource"]) == (
        "succeeded",
        None,
        None,
        None,
    )
    assert owner.get("/api/v1/jobs/999999").status_code == 404
    assert owner.get("/api/v1/jobs?state=failed").json()["items"] == []
    assert owner.get("/api/v1/jobs?state=bogus").status_code == 422


def test_jobs_routes_are_in_the_schema_and_need_credentials(
    app: tuple[FastAPI, int],
) -> None:
    application, _ = app
    client = TestClient(application, base_url=BASE_URL)
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/jobs", "/api/v1/jobs/{job_id}"} <= set(paths)
    assert paths["/api/v1/jobs/{job_id}"]["get"]["operationId"] == "get_job"
    assert client.get("/api/v1/jobs/1").status_code == 401
