"""``POST /api/v1/match`` with files and with hashes only; triage and alerts endpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sightline.analyzers.base import MediaInput
from sightline.analyzers.pdq import PdqAnalyzer
from sightline.api.app import create_app
from sightline.domain.models import HashListEntryData, ListKind
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from tests.support.api import BASE_URL, authenticated_client
from tests.support.corpus import TEST_REQUESTER, ingest_seeds, write_landscape


@pytest.fixture
def client(sqlite_ctx: AppContext, tmp_path: Path) -> Iterator[TestClient]:
    ctx = sqlite_ctx
    add_agency(ctx, "TEST-DE", "unit", "DE", requester=TEST_REQUESTER)
    ingest_seeds(ctx, tmp_path / "in", range(1, 4), agency="TEST-DE", case="AZ-1")
    listed = write_landscape(tmp_path / "listed.jpg", 40)
    media = MediaInput(listed)
    pdq = str(PdqAnalyzer().analyze(media)["hash"])
    media.close()
    with ctx.uow() as uow:
        owner = uow.agencies.get("TEST-DE").id
        first = uow.hashlists.create(owner, "national", ListKind.POSITIVE, 31)
        uow.hashlists.add_entries(
            first.id,
            [
                HashListEntryData(md5=hashlib.md5(listed.read_bytes()).hexdigest()),
                HashListEntryData(pdq=pdq, series="S-9", victim_identified=True),
            ],
        )
        uow.commit()
    with TestClient(create_app(ctx.settings), base_url=BASE_URL) as test_client:
        yield authenticated_client(test_client, ctx, "TEST-DE")


def test_match_file_against_stored_media(client: TestClient, tmp_path: Path) -> None:
    data = (tmp_path / "in/2.jpg").read_bytes()
    body = client.post("/api/v1/match", files={"file": ("q.jpg", data, "image/jpeg")}).json()
    assert body["status"] == "known"
    assert "sha256" in body["matches"][0]["signals"]
    assert body["list_matches"] == []


def test_match_hashes_only_explains_list_matches(client: TestClient, tmp_path: Path) -> None:
    md5 = hashlib.md5((tmp_path / "listed.jpg").read_bytes()).hexdigest().upper()
    body = client.post("/api/v1/match", data={"md5": md5}).json()
    assert body["status"] == "known"
    [hit] = body["list_matches"]
    assert (hit["list"], hit["signal"], hit["distance"], hit["threshold"]) == (
        "national",
        "md5",
        0,
        None,
    )
    assert body["lists_hit"] == [hit["list_id"]]


def test_match_pdq_only_and_list_filter(client: TestClient, tmp_path: Path) -> None:
    media = MediaInput(tmp_path / "listed.jpg")
    pdq = str(PdqAnalyzer().analyze(media)["hash"])
    media.close()
    body = client.post("/api/v1/match", data={"pdq": pdq}).json()
    assert body["status"] == "known-identified"
    assert [h["series"] for h in body["list_matches"]] == ["S-9"]
    filtered = client.post("/api/v1/match", data={"pdq": pdq, "lists": "999"}).json()
    assert (filtered["status"], filtered["list_matches"]) == ("new", [])


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({}, "at least one"),
        ({"md5": "xyz"}, "md5"),
        ({"pdq": "00"}, "pdq"),  # refused by the schema's pattern, naming the field
        ({"md5": "a" * 32, "lists": "x"}, "lists"),
    ],
)
def test_bad_match_requests_are_explained(
    client: TestClient, data: dict[str, str], fragment: str
) -> None:
    response = client.post("/api/v1/match", data=data)
    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]


def test_triage_and_alerts_endpoints(client: TestClient) -> None:
    triage = client.get("/api/v1/agencies/TEST-DE/cases/AZ-1/triage").json()
    assert triage["counts"] == {"known-identified": 0, "known": 0, "new": 3}
    assert client.get("/api/v1/agencies/TEST-DE/cases/NOPE/triage").status_code == 404
    page = client.get("/api/v1/agencies/TEST-DE/alerts", params={"limit": 10}).json()
    assert page == {"items": [], "next_after_id": None}


def test_api_matches_are_audited_with_the_client_address(
    client: TestClient, sqlite_ctx: AppContext
) -> None:
    client.post("/api/v1/match", data={"md5": "0" * 32})
    with sqlite_ctx.uow() as uow:
        [event] = [e for e in uow.audit.page(0, 100) if e.action == "match"]
    assert (event.actor, event.source, event.detail) == (
        "token:1",
        "testclient",
        {"media_matches": 0, "list_matches": 0},
    )
