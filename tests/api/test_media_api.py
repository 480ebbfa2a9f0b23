"""Media over the API: metadata, blurred thumbnails, reveal and originals, per role and sharing."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from sightline.api.app import create_app
from sightline.api.auth import CSRF_HEADER
from sightline.domain.access import Role, SharingLevel
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from tests.support.api import BASE_URL, PASSWORD, Person, add_person, bearer, token_for
from tests.support.corpus import TEST_REQUESTER, ingest_seeds
from tests.support.video import cut_frames, write_video


@dataclass
class Store:
    app: FastAPI
    ctx: AppContext
    private_id: int
    shared_id: int
    private_bytes: bytes


def _media_id(ctx: AppContext, path: Path) -> int:
    with ctx.uow() as uow:
        item = uow.media.by_sha256(hashlib.sha256(path.read_bytes()).hexdigest())
    assert item is not None
    return item.id


@pytest.fixture
def store(sqlite_ctx: AppContext, tmp_path: Path) -> Iterator[Store]:
    for code in ("TEST-A", "TEST-B"):
        add_agency(sqlite_ctx, code, f"Unit {code}", "DE", requester=TEST_REQUESTER)
    ingest_seeds(sqlite_ctx, tmp_path / "priv", [1], agency="TEST-A", case="AZ-PRIV")
    ingest_seeds(sqlite_ctx, tmp_path / "shared", [2], agency="TEST-A", case="AZ-SHARED")
    with sqlite_ctx.uow() as uow:
        agency = uow.agencies.get("TEST-A")
        case = uow.cases.find(agency.id, "AZ-SHARED")
        assert case is not None
        uow.cases.set_sharing(case.id, SharingLevel.SHARED)
        uow.commit()
    app = create_app(sqlite_ctx.settings)
    with TestClient(app, base_url=BASE_URL):
        yield Store(
            app,
            sqlite_ctx,
            _media_id(sqlite_ctx, tmp_path / "priv/1.jpg"),
            _media_id(sqlite_ctx, tmp_path / "shared/2.jpg"),
            (tmp_path / "priv/1.jpg").read_bytes(),
        )


def session(store: Store, agency: str, username: str, role: Role = Role.INVESTIGATOR) -> TestClient:
    person: Person = add_person(store.ctx, agency, username, role)
    client = TestClient(store.app, base_url=BASE_URL)
    body = {"username": username, "password": PASSWORD, "totp_code": person.code()}
    response = client.post("/api/v1/session", json=body)
    assert response.status_code == 201, response.text
    client.headers[CSRF_HEADER] = response.json()["csrf_token"]
    return client


def tool(store: Store, agency: str, username: str) -> TestClient:
    add_person(store.ctx, agency, username)
    client = TestClient(store.app, base_url=BASE_URL)
    client.headers.update(bearer(token_for(store.ctx, username)))
    return client


def laplacian_variance(jpeg: bytes) -> float:
    image = Image.open(io.BytesIO(jpeg))
    assert image.mode == "L"  # greyscale
    a = np.asarray(image, dtype=np.float64)
    lap = 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    return float(lap.var())


def audited(ctx: AppContext, action: str) -> list[tuple[str, str, str]]:
    with ctx.uow() as uow:
        return [(e.resource, e.outcome, e.actor) for e in uow.audit.page(action=action, limit=500)]


def test_metadata_shows_signals_hashes_and_sightings(store: Store) -> None:
    own = tool(store, "TEST-A", "tool.a")
    found = own.get(f"/api/v1/media/{store.private_id}")
    assert found.status_code == 200
    body = found.json()
    assert body["mime_type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (480, 360)
    assert body["hashes"]["sha256"] == hashlib.sha256(store.private_bytes).hexdigest()
    assert len(body["hashes"]["pdq"]) == 64
    assert any(s["name"] == "pdq" and s["quality"] for s in body["signals"])
    assert [(s["agency"], s["case"]) for s in body["sightings"]] == [("TEST-A", "AZ-PRIV")]
    assert audited(store.ctx, "media.metadata")[-1][:2] == (f"media:{store.private_id}", "allowed")


def test_other_agencies_see_shared_cases_only(store: Store) -> None:
    other = session(store, "TEST-B", "inv.b")
    assert other.get(f"/api/v1/media/{store.private_id}").status_code == 404
    assert other.get(f"/api/v1/media/{store.private_id}/thumbnail").status_code == 404
    assert other.get(f"/api/v1/media/{store.private_id}/original").status_code == 404
    shared = other.get(f"/api/v1/media/{store.shared_id}/thumbnail")
    assert shared.status_code == 200
    assert shared.headers["content-type"] == "image/jpeg"
    assert other.get(f"/api/v1/media/{store.shared_id}").json()["sightings"][0]["case"] == (
        "AZ-SHARED"
    )
    assert other.get("/api/v1/media/999999").status_code == 404
    denied = audited(store.ctx, "media.thumbnail")
    assert (f"media:{store.private_id}", "denied", denied[0][2]) in denied


def test_tokens_never_get_media_bytes(store: Store) -> None:
    own = tool(store, "TEST-A", "tool.a")
    assert own.get(f"/api/v1/media/{store.private_id}/thumbnail").status_code == 403
    assert own.get(f"/api/v1/media/{store.private_id}/original").status_code == 403
    other = tool(store, "TEST-B", "tool.b")
    assert other.get(f"/api/v1/media/{store.private_id}/thumbnail").status_code == 404


def test_system_admin_sees_no_content(store: Store) -> None:
    admin = session(store, "TEST-B", "admin.sys", Role.SYSTEM_ADMIN)
    assert admin.get(f"/api/v1/media/{store.private_id}").status_code == 404
    assert admin.get(f"/api/v1/media/{store.shared_id}/thumbnail").status_code == 404


def test_thumbnail_is_greyscale_and_blurred_unless_revealed(store: Store) -> None:
    own = session(store, "TEST-A", "inv.a")
    url = f"/api/v1/media/{store.private_id}/thumbnail"
    blurred, revealed = own.get(url), own.get(url, params={"reveal": "true"})
    assert blurred.status_code == revealed.status_code == 200
    assert blurred.headers["cache-control"] == "no-store"
    sharp, soft = laplacian_variance(revealed.content), laplacian_variance(blurred.content)
    assert soft * 50 < sharp, (soft, sharp)
    assert [a[:2] for a in audited(store.ctx, "media.reveal")] == [
        (f"media:{store.private_id}", "allowed")
    ]
    assert [a[:2] for a in audited(store.ctx, "media.thumbnail")] == [
        (f"media:{store.private_id}", "allowed")
    ]


def test_original_streams_the_seized_bytes_under_an_opaque_name(store: Store) -> None:
    own = session(store, "TEST-A", "inv.a")
    response = own.get(f"/api/v1/media/{store.private_id}/original")
    assert response.status_code == 200
    assert response.content == store.private_bytes
    assert response.headers["content-type"] == "image/jpeg"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="media-{store.private_id}.bin"'
    assert "1.jpg" not in disposition
    assert audited(store.ctx, "media.view_original")[-1][:2] == (
        f"media:{store.private_id}",
        "allowed",
    )


def test_an_uncertified_user_is_refused_media_bytes(store: Store) -> None:
    person = add_person(store.ctx, "TEST-A", "new.a", certified=False)
    client = TestClient(store.app, base_url=BASE_URL)
    body = {"username": "new.a", "password": PASSWORD, "totp_code": person.code()}
    assert client.post("/api/v1/session", json=body).status_code == 201
    assert client.get(f"/api/v1/media/{store.private_id}/thumbnail").status_code == 403
    assert client.get(f"/api/v1/media/{store.private_id}").status_code == 404  # no metadata
    with store.ctx.uow() as uow:
        [event] = uow.audit.page(action="media.thumbnail")
    assert (event.outcome, event.detail) == ("denied", {"reason": "not_certified"})


@pytest.fixture
def with_vpdq(sqlite_ctx: AppContext) -> None:
    """Video frames enabled, before anything loads the analyzers."""
    sqlite_ctx.settings.analyzers.enabled = ["crypto", "pdq", "vpdq", "metadata"]


@pytest.fixture
def video_store(with_vpdq: None, store: Store, tmp_path: Path) -> tuple[Store, int]:
    """The store with a video of three shots in the private case."""
    folder = tmp_path / "video"
    folder.mkdir()
    clip = write_video(folder / "clip.mp4", cut_frames([21, 22, 23], seconds_each=2.5))
    ingest_seeds(store.ctx, folder, [], agency="TEST-A", case="AZ-PRIV")
    return store, _media_id(store.ctx, clip)


def test_a_video_lists_its_keyframes_and_serves_them_blurred(
    video_store: tuple[Store, int],
) -> None:
    store, video_id = video_store
    own = session(store, "TEST-A", "inv.a")
    body = own.get(f"/api/v1/media/{video_id}").json()
    assert body["media_type"] == "video"
    assert [k["time_ms"] for k in body["keyframes"]] == [0, 2500, 5000]
    assert [k["n"] for k in body["keyframes"]] == [0, 1, 2]
    url = f"/api/v1/media/{video_id}/keyframes/2"
    blurred, revealed = own.get(url), own.get(url, params={"reveal": "true"})
    assert blurred.status_code == revealed.status_code == 200
    assert blurred.headers["cache-control"] == "no-store"
    assert blurred.headers["content-type"] == "image/jpeg"
    sharp, soft = laplacian_variance(revealed.content), laplacian_variance(blurred.content)
    assert soft * 50 < sharp, (soft, sharp)
    assert [a[:2] for a in audited(store.ctx, "media.keyframe")] == [
        (f"media:{video_id}", "allowed")
    ]
    with store.ctx.uow() as uow:
        [event] = uow.audit.page(action="media.reveal")
    assert event.detail == {"case": event.detail["case"], "keyframe": 2}
    assert own.get(f"/api/v1/media/{video_id}/keyframes/3").status_code == 404
    assert own.get(f"/api/v1/media/{store.private_id}/keyframes/0").status_code == 404  # a still
    # The video's thumbnail is its first keyframe, served like any thumbnail.
    thumbnail = own.get(f"/api/v1/media/{video_id}/thumbnail", params={"reveal": "true"})
    first = own.get(f"/api/v1/media/{video_id}/keyframes/0", params={"reveal": "true"})
    assert thumbnail.status_code == 200
    assert thumbnail.content == first.content


def test_keyframes_are_refused_like_thumbnails(video_store: tuple[Store, int]) -> None:
    store, video_id = video_store
    url = f"/api/v1/media/{video_id}/keyframes/0"
    assert tool(store, "TEST-A", "tool.a").get(url).status_code == 403  # no second factor
    assert session(store, "TEST-B", "inv.b").get(url).status_code == 404  # a private case
    denied = audited(store.ctx, "media.keyframe")
    assert [(resource, outcome) for resource, outcome, _ in denied] == [
        (f"media:{video_id}", "denied"),
        (f"media:{video_id}", "denied"),
    ]
    assert f"{video_id}" in url and "clip" not in url  # no name, hash or path in the URL
