"""Ingest over the API: upload into a case, follow the job, find the media afterwards."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sightline.api.app import create_app
from sightline.jobs.local import ProcessPoolRunner
from sightline.services import synthetic
from sightline.services.catalog import add_agency, add_case
from sightline.services.context import AppContext
from tests.support.api import BASE_URL, add_person, bearer, token_for
from tests.support.api import wait_for_job as wait_for
from tests.support.corpus import SMALL, TEST_REQUESTER


@pytest.fixture
def app(sqlite_ctx: AppContext) -> Iterator[tuple[FastAPI, int]]:
    for code in ("TEST-A", "TEST-B"):
        add_agency(sqlite_ctx, code, f"Unit {code}", "DE", requester=TEST_REQUESTER)
    case = add_case(sqlite_ctx, "TEST-A", "AZ-UP", requester=TEST_REQUESTER)
    application = create_app(sqlite_ctx.settings)
    with TestClient(application, base_url=BASE_URL):
        yield application, case.id


def tool(app: FastAPI, ctx: AppContext, agency: str, username: str) -> TestClient:
    add_person(ctx, agency, username)
    client = TestClient(app, base_url=BASE_URL)
    client.headers.update(bearer(token_for(ctx, username)))
    return client


def jpeg(seed: int) -> bytes:
    return synthetic.encode(synthetic.landscape(seed, SMALL))


def test_upload_runs_to_done_reports_bad_files_and_is_searchable(
    app: tuple[FastAPI, int], sqlite_ctx: AppContext
) -> None:
    application, case_id = app
    client = tool(application, sqlite_ctx, "TEST-A", "inv.a")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner/13.jpg", jpeg(13))
    good = jpeg(11)
    files = [
        ("files", ("holiday 11.jpg", good, "image/jpeg")),
        ("files", ("12.jpg", jpeg(12), "image/jpeg")),
        ("files", ("broken-scan.jpg", jpeg(14)[:900], "image/jpeg")),
        ("files", ("bundle.zip", archive.getvalue(), "application/zip")),
    ]
    response = client.post(f"/api/v1/cases/{case_id}/ingest", files=files)
    assert response.status_code == 202, response.text
    assert response.json()["status"] in {"queued", "running", "done"}
    job = wait_for(client, response.json()["job_id"])
    assert job["status"] == "done"
    assert (job["files_total"], job["done"], job["failed"], job["media_new"]) == (4, 3, 1, 3)
    assert job["failures"] == [{"name": "broken-scan.jpg", "reason": "truncated"}]
    found = client.post("/api/v1/search", files={"file": ("q.jpg", good, "image/jpeg")})
    assert found.status_code == 200
    [match] = found.json()["matches"]
    media = client.get(f"/api/v1/media/{match['media_id']}").json()
    assert [s["original_path"] for s in media["sightings"]] == ["holiday 11.jpg"]
    scratch = sqlite_ctx.settings.data_dir / "scratch"
    assert not [p for p in scratch.iterdir() if p.name.startswith("upload-")]
    with sqlite_ctx.uow() as uow:
        events = uow.audit.page(limit=1000)
    [run] = [e for e in events if e.action == "ingest.run"]
    assert (run.resource, run.actor_agency_id) == (f"case:{case_id}", media_agency(sqlite_ctx))
    trail = json.dumps([dict(e.detail) for e in events]) + " ".join(e.resource for e in events)
    assert "broken-scan" not in trail
    assert "holiday" not in trail


def media_agency(ctx: AppContext) -> int:
    with ctx.uow() as uow:
        return uow.agencies.get("TEST-A").id


def test_only_the_case_owner_uploads_and_reads_the_job(
    app: tuple[FastAPI, int], sqlite_ctx: AppContext
) -> None:
    application, case_id = app
    other = tool(application, sqlite_ctx, "TEST-B", "inv.b")
    files = [("files", ("a.jpg", jpeg(21), "image/jpeg"))]
    assert other.post(f"/api/v1/cases/{case_id}/ingest", files=files).status_code == 404
    owner = tool(application, sqlite_ctx, "TEST-A", "inv.a")
    colleague = tool(application, sqlite_ctx, "TEST-A", "inv.a2")
    files = [("files", ("x.jpg", b"not an image at all", "image/jpeg"))]
    job_id = owner.post(f"/api/v1/cases/{case_id}/ingest", files=files).json()["job_id"]
    assert wait_for(owner, job_id)["failures"] == [{"name": "x.jpg", "reason": "not_media"}]
    assert wait_for(colleague, job_id)["failures"] == [{"name": None, "reason": "not_media"}]
    assert other.get(f"/api/v1/ingest/{job_id}").status_code == 404
    assert other.get("/api/v1/ingest/no-such-job").status_code == 404


def test_oversized_uploads_are_refused(app: tuple[FastAPI, int], sqlite_ctx: AppContext) -> None:
    application, case_id = app
    sqlite_ctx.settings.server.max_upload_bytes = 1000
    client = tool(application, sqlite_ctx, "TEST-A", "inv.a")
    files = [("files", ("big.jpg", jpeg(31), "image/jpeg"))]
    response = client.post(f"/api/v1/cases/{case_id}/ingest", files=files)
    assert response.status_code == 413
    scratch = sqlite_ctx.settings.data_dir / "scratch"
    assert not [p for p in scratch.iterdir() if p.name.startswith("upload-")]


def test_uploads_run_on_the_process_pool_that_serve_passes(sqlite_ctx: AppContext) -> None:
    add_agency(sqlite_ctx, "TEST-A", "Unit A", "DE", requester=TEST_REQUESTER)
    case = add_case(sqlite_ctx, "TEST-A", "AZ-POOL", requester=TEST_REQUESTER)
    application = create_app(sqlite_ctx.settings, ingest_runner=ProcessPoolRunner(2))
    with TestClient(application, base_url=BASE_URL):
        client = tool(application, sqlite_ctx, "TEST-A", "inv.a")
        files = [("files", (f"{s}.jpg", jpeg(s), "image/jpeg")) for s in range(31, 37)]
        files.append(("files", ("cut.jpg", jpeg(40)[:700], "image/jpeg")))
        response = client.post(f"/api/v1/cases/{case.id}/ingest", files=files)
        job = wait_for(client, response.json()["job_id"])
        assert (job["status"], job["done"], job["failed"], job["media_new"]) == ("done", 6, 1, 6)
        found = client.post("/api/v1/search", files={"file": ("q.jpg", jpeg(33), "image/jpeg")})
        assert [m["visibility"] for m in found.json()["matches"]] == ["full"]
