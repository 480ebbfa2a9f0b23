"""``sightline user`` account commands, in-process: disable, enable, reset-password."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sightline.cli.main import build_app
from sightline.config import Settings
from sightline.errors import AuthenticationFailed
from sightline.services.access import audit, sessions
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext, initialise, open_context
from tests.support.api import PASSWORD, add_person
from tests.support.corpus import TEST_REQUESTER

NEW_PASSWORD = "another long benign password"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppContext]:
    monkeypatch.setenv("SIGHTLINE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SIGHTLINE_ENVIRONMENT", "development")
    settings = Settings()
    initialise(settings)
    ctx = open_context(settings)
    add_agency(ctx, "UK-NCA", "unit", "GB", requester=TEST_REQUESTER)
    try:
        yield ctx
    finally:
        ctx.close()


def _run(*args: str, password: str | None = None) -> str:
    env = {"SIGHTLINE_ADMIN_PASSWORD": password} if password else {}
    result = CliRunner().invoke(build_app(), list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_disable_ends_sessions_and_reset_replaces_the_password(store: AppContext) -> None:
    ctx = store
    alice = add_person(ctx, "UK-NCA", "alice")
    opened = sessions.sign_in(
        ctx, username="alice", password=PASSWORD, totp_code=alice.code(), source="t"
    )
    assert "1 live session(s) ended" in _run("user", "disable", "alice")
    with pytest.raises(AuthenticationFailed):
        sessions.resolve_session(ctx, opened.secret, csrf_token=None, needs_csrf=False, source="t")
    _run("user", "enable", "alice")
    _run("user", "reset-password", "alice", password=NEW_PASSWORD)
    later = datetime.now(UTC).replace(microsecond=0)
    step_later = later.timestamp() + 30  # the code used above may not be replayed
    with pytest.raises(AuthenticationFailed):
        sessions.sign_in(
            ctx,
            username="alice",
            password=PASSWORD,
            totp_code=alice.code(datetime.fromtimestamp(step_later, UTC)),
            source="t",
            now=datetime.fromtimestamp(step_later, UTC),
        )
    renewed = sessions.sign_in(
        ctx,
        username="alice",
        password=NEW_PASSWORD,
        totp_code=alice.code(datetime.fromtimestamp(step_later + 30, UTC)),
        source="t",
        now=datetime.fromtimestamp(step_later + 30, UTC),
    )
    assert renewed.user.username == "alice"
    actions = [e.action for e in audit.show(ctx, limit=1000) if e.actor.startswith("cli:")]
    assert {"user.disable", "user.enable", "user.password_reset"} <= set(actions)
