"""An internal error on a file of case material never puts its name or path into a log.

A bug is forced where every image is decoded (``MediaInput.working_luma``, used by ingest and
search alike): it raises a ``RuntimeError`` whose message quotes the file's path, as a
library's error message might. The CLI (ingest and search) and the API upload must report the
failure by exception type only: the file's name appears in no log record and not on stderr.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from sightline.analyzers.base import MediaInput
from sightline.api.app import create_app
from sightline.cli import common
from sightline.cli.main import build_app
from sightline.services import synthetic
from sightline.services.catalog import add_agency, add_case
from sightline.services.context import AppContext
from tests.support.api import BASE_URL, add_person, bearer, token_for, wait_for_job
from tests.support.corpus import SMALL, TEST_REQUESTER, write_landscape

SECRET = "holiday-secret-4711"


def _broken_decoder(self: MediaInput) -> Image.Image:
    raise RuntimeError(f"cannot decode {self.path} ({self.path.name})")


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(MediaInput, "working_luma", _broken_decoder)
    caplog.set_level(logging.DEBUG)


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIGHTLINE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SIGHTLINE_ENVIRONMENT", "development")
    for console in (common.console, common.err_console):
        monkeypatch.setattr(console, "_width", 400)
    _cli("init")
    _cli("agency", "add", "TEST-GB", "--name", "Test unit", "--country", "GB")
    return tmp_path / "var"


def _cli(*args: str, code: int = 0) -> tuple[str, str]:
    result = CliRunner().invoke(build_app(), list(args))
    assert result.exit_code == code, result.output
    return result.stdout, result.stderr


def _assert_hidden(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], *texts: str
) -> None:
    captured = capfd.readouterr()
    for where, text in (
        ("log", caplog.text),
        ("log messages", str([r.getMessage() for r in caplog.records])),
        ("stderr", captured.err),
        *(("command stderr", t) for t in texts),
    ):
        assert SECRET not in text, where


def test_cli_ingest_logs_the_error_type_only(
    var: Path,
    tmp_path: Path,
    broken: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = write_landscape(tmp_path / "seized" / f"{SECRET}.jpg", 1)
    args = ("ingest", str(path.parent), "--case", "C-1", "--agency", "TEST-GB", "--workers", "1")
    stdout, stderr = _cli(*args)

    assert "internal_error" in stdout  # the operator's own report names the file; no log does
    assert "RuntimeError" in caplog.text  # the failure is logged, by its type
    _assert_hidden(caplog, capfd, stderr)


def test_cli_search_prints_the_error_type_only(
    var: Path,
    tmp_path: Path,
    broken: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = write_landscape(tmp_path / f"{SECRET}.jpg", 1)
    stdout, stderr = _cli("search", str(path), code=1)

    assert "internal error (RuntimeError)" in stderr
    assert "Traceback" not in stdout + stderr
    _assert_hidden(caplog, capfd, stdout, stderr)


def test_api_upload_logs_the_error_type_only(
    sqlite_ctx: AppContext,
    broken: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    add_agency(sqlite_ctx, "TEST-A", "Unit A", "DE", requester=TEST_REQUESTER)
    case = add_case(sqlite_ctx, "TEST-A", "AZ-UP", requester=TEST_REQUESTER)
    with TestClient(create_app(sqlite_ctx.settings), base_url=BASE_URL) as client:
        add_person(sqlite_ctx, "TEST-A", "inv.a")
        client.headers.update(bearer(token_for(sqlite_ctx, "inv.a")))
        image = synthetic.encode(synthetic.landscape(3, SMALL))
        files = [("files", (f"{SECRET}.jpg", image, "image/jpeg"))]
        response = client.post(f"/api/v1/cases/{case.id}/ingest", files=files)
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["job_id"])

    assert (job["status"], job["failed"]) == ("done", 1)
    assert job["failures"] == [{"name": f"{SECRET}.jpg", "reason": "internal_error"}]
    assert "RuntimeError" in caplog.text
    _assert_hidden(caplog, capfd)


def test_api_search_bug_is_a_500_envelope_logged_by_type_only(
    sqlite_ctx: AppContext,
    broken: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A bug in a route: uvicorn used to log the traceback, with the exception's message."""
    add_agency(sqlite_ctx, "TEST-A", "Unit A", "DE", requester=TEST_REQUESTER)
    app = create_app(sqlite_ctx.settings)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        add_person(sqlite_ctx, "TEST-A", "inv.a")
        client.headers.update(bearer(token_for(sqlite_ctx, "inv.a")))
        image = synthetic.encode(synthetic.landscape(3, SMALL))
        response = client.post("/api/v1/search", files={"file": (f"{SECRET}.jpg", image)})

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert SECRET not in response.text
    assert "RuntimeError" in caplog.text and "Traceback" not in caplog.text
    _assert_hidden(caplog, capfd)
