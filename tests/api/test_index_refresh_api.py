"""A served app's indexes: caught up with other processes' writes by the background refresher.

The server's own writes reach its next search through the change counter; a CLI ingest in
another process cannot move that counter, so only the refresher (``match.index_refresh_
seconds``) brings its hashes in. ``/health/ready`` reports every index per kind and source.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sightline.analyzers.base import MediaInput
from sightline.analyzers.pdq import PdqAnalyzer
from sightline.api.app import create_app
from sightline.config import Settings
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.signals.freshness import INDEX_CHANGES
from tests.support.api import BASE_URL, authenticated_client
from tests.support.corpus import TEST_REQUESTER, ingest_seeds, write_landscape

REFRESH_SECONDS = 0.2


def _refreshers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "index-refresher"]


def _cli_ingest(settings: Settings, folder: Path) -> None:
    """``sightline ingest`` of ``folder`` in a process of its own, on the same store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env |= {"SIGHTLINE_DATA_DIR": str(settings.data_dir), "SIGHTLINE_ENVIRONMENT": "development"}
    if settings.database_url is not None:
        env["SIGHTLINE_DATABASE_URL"] = settings.database_url.get_secret_value()
    args = ["ingest", str(folder), "--case", "AZ-1", "--agency", "TEST-DE", "--workers", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "sightline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def store(ctx: AppContext, tmp_path: Path) -> AppContext:
    add_agency(ctx, "TEST-DE", "Test unit", "DE", requester=TEST_REQUESTER)
    ingest_seeds(ctx, tmp_path / "in", range(1, 3), agency="TEST-DE", case="AZ-1")
    ctx.settings.match.index_refresh_seconds = REFRESH_SECONDS
    return ctx


@pytest.fixture
def client(store: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(store.settings), base_url=BASE_URL) as test_client:
        yield authenticated_client(test_client, store, "TEST-DE")


def test_a_write_from_another_process_becomes_searchable(
    client: TestClient, store: AppContext, tmp_path: Path
) -> None:
    image = write_landscape(tmp_path / "other/9.jpg", 9)
    media = MediaInput(image)
    pdq = str(PdqAnalyzer().analyze(media)["hash"])
    media.close()
    assert client.post("/api/v1/match", data={"pdq": pdq}).json()["status"] == "new"
    changes = INDEX_CHANGES.value
    _cli_ingest(store.settings, tmp_path / "other")
    deadline = time.monotonic() + 30  # the interval plus a busy machine's scheduling
    while client.post("/api/v1/match", data={"pdq": pdq}).json()["status"] != "known":
        assert time.monotonic() < deadline, "the other process's hash never became searchable"
        time.sleep(REFRESH_SECONDS / 2)
    assert INDEX_CHANGES.value == changes  # the refresher caught up, not this process's writes
    ready = client.get("/health/ready").json()
    assert ready["status"] == "ready"
    assert ready["indexes"]["pdq"]["media"]["count"] == ready["index_count"] == 3


def test_ready_reports_every_index_per_kind_and_source(client: TestClient) -> None:
    body = client.get("/health/ready").json()
    indexes = body["indexes"]
    # Every enabled index: stills' PDQ (media and lists), video frames, scene windows,
    # soundtracks.
    assert list(indexes) == ["pdq", "vpdq", "scene", "chromaprint"]
    scene = indexes["scene"]["media"]
    # Both stills' window descriptors (the whole picture and the windows with keypoints).
    assert (scene["backend"], scene["ready"]) == ("auto-vector", True)
    assert 2 <= scene["count"] <= 20
    media, lists = indexes["pdq"]["media"], indexes["pdq"]["lists"]
    assert (media["backend"], media["count"], media["ready"]) == ("mih", 2, True)
    assert media["checkpoint"] == media["latest"] == body["latest_signal"]
    assert (lists["count"], lists["ready"]) == (0, True)
    frames, sounds = indexes["vpdq"]["media"], indexes["chromaprint"]["media"]
    assert (frames["backend"], frames["count"], frames["ready"]) == ("mih", 0, True)
    assert (sounds["backend"], sounds["count"], sounds["ready"]) == (
        "inverted-fingerprint",
        0,
        True,
    )
    assert list(indexes["vpdq"]) == ["media"]  # hash lists hold stills' PDQ only


@pytest.mark.parametrize("seconds", [0.0, REFRESH_SECONDS])
def test_the_refresher_runs_only_when_configured_and_stops_on_shutdown(
    store: AppContext, seconds: float
) -> None:
    store.settings.match.index_refresh_seconds = seconds
    before = len(_refreshers())
    with TestClient(create_app(store.settings), base_url=BASE_URL):
        assert len(_refreshers()) == before + (1 if seconds else 0)
    assert len(_refreshers()) == before
