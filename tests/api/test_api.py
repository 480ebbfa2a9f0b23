"""The HTTP API over a real store: health, search, error envelope, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sightline.api.app import create_app
from sightline.config import Settings
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from tests.support.api import BASE_URL, authenticated_client
from tests.support.corpus import TEST_REQUESTER, ingest_seeds


@pytest.fixture
def client(sqlite_ctx: AppContext, tmp_path: Path) -> Iterator[TestClient]:
    add_agency(sqlite_ctx, "TEST-DE", "Test unit", "DE", requester=TEST_REQUESTER)
    ingest_seeds(sqlite_ctx, tmp_path / "in", range(1, 4), agency="TEST-DE", case="AZ-1")
    settings: Settings = sqlite_ctx.settings
    settings.server.max_upload_bytes = 2 * 1024 * 1024
    with TestClient(create_app(settings), base_url=BASE_URL) as test_client:
        yield authenticated_client(test_client, sqlite_ctx, "TEST-DE")


def test_health(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["index_count"] == 3


def test_search_upload_finds_the_stored_copy(client: TestClient, tmp_path: Path) -> None:
    data = (tmp_path / "in/2.jpg").read_bytes()
    response = client.post("/api/v1/search", files={"file": ("q.jpg", data, "image/jpeg")})
    assert response.status_code == 200
    [match] = response.json()["matches"]
    assert "sha256" in match["signals"]
    assert match["visibility"] == "full"
    assert match["sightings"][0] == {
        "visibility": "full",
        "agency": "TEST-DE",
        "case": "AZ-1",
        "original_path": str(tmp_path / "in/2.jpg"),
        "device": None,
    }


def test_ready_turns_stale_then_catches_up(
    client: TestClient, sqlite_ctx: AppContext, tmp_path: Path
) -> None:
    ingest_seeds(sqlite_ctx, tmp_path / "more", [9], agency="TEST-DE", case="AZ-1")
    data = (tmp_path / "more/9.jpg").read_bytes()
    response = client.post("/api/v1/search", files={"file": ("q.jpg", data, "image/jpeg")})
    assert "pdq" in response.json()["matches"][0]["signals"]  # matchable without a rebuild
    assert client.get("/health/ready").json()["index_count"] == 4


def test_errors_use_one_envelope(client: TestClient) -> None:
    too_big = client.post(
        "/api/v1/search", files={"file": ("big.bin", b"\0" * (4 * 1024 * 1024), "image/jpeg")}
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    missing = client.post("/api/v1/search")
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "invalid_input"
    unknown = client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


def test_openapi_has_stable_operation_ids(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"health_live", "health_ready", "search_file"} <= ids
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nnot a part header\r\n\r\ngarbage"),
        ("multipart/form-data", b"no boundary at all"),
        ("application/json", b'{"file": "not an upload"}'),
    ],
)
def test_malformed_uploads_get_a_clear_client_error(
    client: TestClient, content_type: str, body: bytes
) -> None:
    response = client.post("/api/v1/search", content=body, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"] in {"invalid_input", "bad_request"}


def test_every_list_is_paginated_and_every_operation_has_an_id(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for op in operations:
        ok = op["responses"].get("200", {}).get("content", {}).get("application/json", {})
        assert ok.get("schema", {}).get("type") != "array", f"{op['operationId']}: a bare list"
        model = ok.get("schema", {}).get("$ref", "").split("/")[-1]
        if model.startswith("Page") or model.endswith("Page"):
            names = {p["name"] for p in op.get("parameters", [])}
            assert {"after_id", "limit"} <= names, op["operationId"]


def test_a_region_search_answers_with_where_it_lies(client: TestClient, tmp_path: Path) -> None:
    data = (tmp_path / "in/2.jpg").read_bytes()
    response = client.post(
        "/api/v1/search",
        files={"file": ("q.jpg", data, "image/jpeg")},
        data={"mode": "scene", "region": "40,30,320,240"},
    )
    assert response.status_code == 200, response.text
    [match] = response.json()["matches"]
    assert match["signals"] == ["scene"]  # a part of the picture: no digest, no PDQ
    scene = match["detail"]["scene"]
    assert scene["accepted"] and scene["model"] == "homography"
    # The region's outline, found in the stored picture (480 x 360, in its analysis pixels).
    scale = scene["stored_size"][0] / 480
    xs = [x / scale for x, _ in scene["quad"]]
    ys = [y / scale for _, y in scene["quad"]]
    # Within 12 pixels (2.5 % of the picture's width): a landscape has few keypoints.
    assert abs(min(xs) - 40) < 12 and abs(max(xs) - 360) < 12
    assert abs(min(ys) - 30) < 12 and abs(max(ys) - 270) < 12


def test_a_region_outside_the_picture_is_refused_and_a_sound_gets_a_note(
    client: TestClient, tmp_path: Path
) -> None:
    data = (tmp_path / "in/2.jpg").read_bytes()
    outside = client.post(
        "/api/v1/search",
        files={"file": ("q.jpg", data, "image/jpeg")},
        data={"region": "400,300,200,200"},
    )
    assert outside.status_code == 422
    assert "outside" in outside.json()["error"]["message"]
    noise = client.post(
        "/api/v1/search",
        files={"file": ("n.bin", b"not a picture" * 50, "application/octet-stream")},
        data={"region": "0,0,10,10"},
    )
    assert noise.status_code == 200
    assert any("no region search" in note for note in noise.json()["notes"])
    malformed = client.post(
        "/api/v1/search", files={"file": ("q.jpg", data, "image/jpeg")}, data={"region": "1,2"}
    )
    assert malformed.status_code == 422
