"""``/health/ready`` covers vector indexes as it covers binary ones: backend, size, lag, ready.

The toy ``greyhist`` plugin (``tests/plugins/ahash``) emits a 16-d float vector per image, so
its kind gets a vector index of the default vector backend. An ingest by this process after
start-up leaves that index behind the database until a catch-up (the refresher is off here):
readiness then says "stale" with 503, and the index's checkpoint below the newest stored id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sightline.api.app import create_app
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.signals.indexes import DEFAULT_VECTOR_BACKEND, IndexSet
from tests.support.api import BASE_URL
from tests.support.corpus import TEST_REQUESTER, ingest_seeds

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "ahash"


@pytest.fixture
def store(sqlite_ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    monkeypatch.syspath_prepend(str(PLUGIN))
    sqlite_ctx.settings.analyzers.enabled = ["crypto", "greyhist"]
    sqlite_ctx.settings.match.index_refresh_seconds = 0  # catch-ups only when asked
    add_agency(sqlite_ctx, "TEST-DE", "Test unit", "DE", requester=TEST_REQUESTER)
    ingest_seeds(sqlite_ctx, tmp_path / "in", range(1, 4), agency="TEST-DE", case="AZ-1")
    return sqlite_ctx


@pytest.fixture
def client(store: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(store.settings), base_url=BASE_URL) as test_client:
        yield test_client


def test_ready_reports_the_vector_index(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert list(body["indexes"]) == ["greyhist"]  # the only indexed kind enabled
    vectors = body["indexes"]["greyhist"]["media"]
    assert (vectors["backend"], vectors["count"], vectors["ready"]) == (
        DEFAULT_VECTOR_BACKEND,
        3,
        True,
    )
    assert vectors["checkpoint"] == vectors["latest"] > 0


def test_a_lagging_vector_index_makes_the_process_not_ready(
    client: TestClient, store: AppContext, tmp_path: Path
) -> None:
    before = client.get("/health/ready").json()["indexes"]["greyhist"]["media"]
    ingest_seeds(store, tmp_path / "more", [7, 8], agency="TEST-DE", case="AZ-1")
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "stale"
    lagging = response.json()["indexes"]["greyhist"]["media"]
    assert (lagging["count"], lagging["ready"]) == (3, False)
    assert lagging["checkpoint"] == before["checkpoint"] < lagging["latest"]

    indexes = client.app.state.indexes  # type: ignore[attr-defined]
    assert isinstance(indexes, IndexSet)
    assert indexes.refresh() == 2
    caught_up = client.get("/health/ready")
    assert caught_up.status_code == 200
    vectors = caught_up.json()["indexes"]["greyhist"]["media"]
    assert (vectors["count"], vectors["ready"]) == (5, True)
    assert vectors["checkpoint"] == vectors["latest"] == lagging["latest"]
