"""Hash lists over the API: import with background retro-hunt, configure, vote, report.

Changing a list is administering its owning agency, so these tests sign in as the agency's
administrator (a session: administering needs the second factor a token never has).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sightline.analyzers.base import MediaInput
from sightline.analyzers.pdq import PdqAnalyzer
from sightline.api.app import create_app
from sightline.domain.access import Role
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.matching.engine import MatchingEngine
from sightline.services.matching.match import match_query, query_from_hashes
from tests.support.api import BASE_URL, add_person, bearer, sign_in, token_for, wait_for_jobs
from tests.support.corpus import TEST_REQUESTER, ingest_seeds, write_landscape
from tests.support.indexes import pdq_indexes


@pytest.fixture
def client(sqlite_ctx: AppContext, tmp_path: Path) -> Iterator[TestClient]:
    add_agency(sqlite_ctx, "TEST-FR", "unit", "FR", requester=TEST_REQUESTER)
    ingest_seeds(sqlite_ctx, tmp_path / "in", range(1, 4), agency="TEST-FR", case="PV-1")
    admin = add_person(sqlite_ctx, "TEST-FR", "admin-fr", Role.AGENCY_ADMIN)
    with TestClient(create_app(sqlite_ctx.settings), base_url=BASE_URL) as test_client:
        sign_in(test_client, admin)
        yield test_client


def _csv(tmp_path: Path) -> bytes:
    md5 = hashlib.md5((tmp_path / "in/2.jpg").read_bytes()).hexdigest()
    return f"md5,id,series\n{md5},A-1,Alpha\nnot-hex,A-2,Beta\n".encode()


def test_import_runs_the_retro_hunt_in_the_background(
    client: TestClient, sqlite_ctx: AppContext, tmp_path: Path
) -> None:
    response = client.post(
        "/api/v1/hashlists",
        files={"file": ("list.csv", _csv(tmp_path), "text/csv")},
        data={"owner": "TEST-FR", "name": "national"},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["imported"], body["rejected"], body["retro_hunt"]) == (1, 1, "scheduled")
    assert body["errors"][0]["line"] == 3
    wait_for_jobs(sqlite_ctx)  # the retro-hunt is a durable job the embedded worker runs
    triage = client.get("/api/v1/agencies/TEST-FR/cases/PV-1/triage").json()
    assert triage["counts"]["known"] == 1  # the background retro-hunt has run
    list_id = body["hash_list"]["id"]

    [listed] = client.get("/api/v1/hashlists").json()["items"]
    assert (listed["name"], listed["entries"], listed["enabled"]) == ("national", 1, True)
    disabled = client.patch(f"/api/v1/hashlists/{list_id}", json={"enabled": False}).json()
    assert disabled["enabled"] is False
    bad = client.patch(f"/api/v1/hashlists/{list_id}", json={"pdq_threshold": 99})
    assert bad.status_code == 422


def test_votes_reach_the_owner_report(client: TestClient, tmp_path: Path) -> None:
    body = client.post(
        "/api/v1/hashlists",
        files={"file": ("list.csv", _csv(tmp_path), "text/csv")},
        data={"owner": "TEST-FR", "name": "national"},
    ).json()
    list_id = body["hash_list"]["id"]
    # The stored item's match against the entry is recorded by the retro-hunt, a durable job
    # run by the app's worker: vote once it has ended, not while it may still run.
    job = body["retro_hunt_job"]
    deadline = time.monotonic() + 30
    while client.get(f"/api/v1/jobs/{job}").json()["state"] not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() < deadline, "the retro-hunt job did not end"
        time.sleep(0.05)
    match = client.post(
        "/api/v1/match", files={"file": ("q.jpg", (tmp_path / "in/2.jpg").read_bytes())}
    ).json()
    media_id, entry_id = match["matches"][0]["media_id"], match["list_matches"][0]["entry_id"]
    vote = {"entry_id": entry_id, "media_id": media_id, "agency": "TEST-FR", "reviewer": "R. One"}
    assert (
        client.post(
            f"/api/v1/hashlists/{list_id}/votes", json={**vote, "verdict": "reject"}
        ).status_code
        == 204
    )
    wrong = client.post(f"/api/v1/hashlists/{list_id}/votes", json={**vote, "verdict": "maybe"})
    assert wrong.status_code == 422
    [row] = client.get(f"/api/v1/hashlists/{list_id}/report").json()["items"]
    assert (row["external_id"], row["matches"], row["confirmed"], row["rejected"]) == (
        "A-1",
        1,
        0,
        1,
    )


def test_deleted_list_stops_matching_in_every_process(
    client: TestClient, sqlite_ctx: AppContext, tmp_path: Path
) -> None:
    listed = write_landscape(tmp_path / "listed.jpg", 77)
    media = MediaInput(listed)
    pdq = str(PdqAnalyzer().analyze(media)["hash"])
    media.close()
    csv = f"pdq,id\n{pdq},P-1\n".encode()
    body = client.post(
        "/api/v1/hashlists",
        files={"file": ("list.csv", csv, "text/csv")},
        data={"owner": "TEST-FR", "name": "pdq list"},
    ).json()
    assert client.post("/api/v1/match", data={"pdq": pdq}).json()["status"] == "known"
    other_process = MatchingEngine(sqlite_ctx, pdq_indexes(sqlite_ctx))
    other_process.indexes.require_lists("pdq").open()
    other_process.indexes.require_lists(
        "pdq"
    ).save()  # a persisted index that still holds the entry

    assert client.delete(f"/api/v1/hashlists/{body['hash_list']['id']}").status_code == 204

    assert client.post("/api/v1/match", data={"pdq": pdq}).json()["status"] == "new"
    reloaded = MatchingEngine(sqlite_ctx, pdq_indexes(sqlite_ctx))
    query = query_from_hashes(sqlite_ctx, pdq=pdq)
    assert match_query(sqlite_ctx, reloaded, query, requester=TEST_REQUESTER).lists == ()
    assert (
        reloaded.indexes.statuses()["pdq"]["lists"].count == 0
    )  # the removal log reached the loaded copy
    assert client.get("/api/v1/hashlists").json()["items"] == []


def test_hash_list_changes_are_audited(
    client: TestClient, sqlite_ctx: AppContext, tmp_path: Path
) -> None:
    body = client.post(
        "/api/v1/hashlists",
        files={"file": ("list.csv", _csv(tmp_path), "text/csv")},
        data={"owner": "TEST-FR", "name": "national"},
    ).json()
    list_id = body["hash_list"]["id"]
    wait_for_jobs(sqlite_ctx)  # each retro-hunt is a durable job: let it run before the next
    client.patch(f"/api/v1/hashlists/{list_id}", json={"pdq_threshold": 20})
    wait_for_jobs(sqlite_ctx)
    client.delete(f"/api/v1/hashlists/{list_id}")
    with sqlite_ctx.uow() as uow:
        events = [e for e in uow.audit.page(0, 100) if e.action.startswith("hashlist.")]
        assert uow.audit.verify().ok
    hunted = {"items": 1, "new_matches": 1, "triage_changed": 1}
    again = {"items": 1, "new_matches": 0, "triage_changed": 0}
    assert [(e.actor, e.action, e.resource, e.detail) for e in events] == [
        ("user:1", "hashlist.import", f"hashlist:{list_id}", {"imported": 1, "rejected": 1}),
        ("system", "hashlist.retro_hunt", f"hashlist:{list_id}", hunted),
        ("user:1", "hashlist.configure", f"hashlist:{list_id}", {"threshold": 20}),
        ("system", "hashlist.retro_hunt", f"hashlist:{list_id}", again),
        ("user:1", "hashlist.delete", f"hashlist:{list_id}", {"entries": 1}),
    ]


def test_tokens_and_other_agencies_cannot_change_lists(
    client: TestClient, sqlite_ctx: AppContext, tmp_path: Path
) -> None:
    add_agency(sqlite_ctx, "TEST-IT", "unit", "IT", requester=TEST_REQUESTER)
    add_person(sqlite_ctx, "TEST-FR", "tool-fr", Role.AGENCY_ADMIN)
    upload = {"file": ("list.csv", _csv(tmp_path), "text/csv")}
    tool = bearer(token_for(sqlite_ctx, "tool-fr"))
    as_token = client.post(
        "/api/v1/hashlists", files=upload, data={"owner": "TEST-FR", "name": "n"}, headers=tool
    )
    assert as_token.status_code == 403  # no second factor with a token: no administering
    elsewhere = client.post(
        "/api/v1/hashlists", files=upload, data={"owner": "TEST-IT", "name": "n"}
    )
    assert elsewhere.status_code == 403
    assert client.get("/api/v1/hashlists").json()["items"] == []
    with sqlite_ctx.uow() as uow:
        denied = [e for e in uow.audit.page(0, 100) if e.outcome == "denied"]
    assert [(e.action, e.detail["reason"]) for e in denied] == [
        ("hashlist.import", "mfa_required"),
        ("hashlist.import", "other_agency"),
    ]
