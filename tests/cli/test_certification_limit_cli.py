"""``sightline user certify`` refuses a period beyond the configured maximum."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sightline.cli.main import build_app
from sightline.config import Settings
from sightline.errors import InvalidInputError
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext, initialise, open_context
from tests.support.api import add_person
from tests.support.corpus import TEST_REQUESTER


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppContext]:
    monkeypatch.setenv("SIGHTLINE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SIGHTLINE_ENVIRONMENT", "development")
    monkeypatch.setenv("SIGHTLINE_ACCESS__MAX_CERTIFICATION_DAYS", "90")
    settings = Settings()
    initialise(settings)
    ctx = open_context(settings)
    add_agency(ctx, "UK-NCA", "unit", "GB", requester=TEST_REQUESTER)
    add_person(ctx, "UK-NCA", "alice", certified=False)
    try:
        yield ctx
    finally:
        ctx.close()


def _certify(until: date) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["user", "certify", "alice", "--until", str(until)])
    return result.exit_code, result.output


def test_the_command_line_refuses_a_period_beyond_the_limit(store: AppContext) -> None:
    assert store.settings.access.max_certification_days == 90
    code, output = _certify(date(3003, 1, 1))
    assert code == InvalidInputError.exit_code, output
    assert "at most 90 days" in output
    assert "SIGHTLINE_ACCESS__MAX_CERTIFICATION_DAYS" in output
    with store.uow() as uow:
        assert uow.users.get("alice").certified_until is None
    last_day = (datetime.now(UTC) + timedelta(days=80)).date()
    code, output = _certify(last_day)
    assert code == 0, output
    with store.uow() as uow:
        certified = uow.users.get("alice").certified_until
    assert certified is not None and certified.date() == last_day + timedelta(days=1)


def test_the_last_representable_day_is_refused_cleanly(store: AppContext) -> None:
    code, output = _certify(date(9999, 12, 31))  # has no next day: once a traceback
    assert code == InvalidInputError.exit_code, output
    assert "Traceback" not in output
