"""Settings: environment prefix, nested sections, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sightline.config import Settings


def test_environment_prefix_and_nested_sections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIGHTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIGHTLINE_MATCH__PDQ_THRESHOLD", "20")
    monkeypatch.setenv("SIGHTLINE_INGEST__MAX_PIXELS", "1000")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.match.pdq_threshold == 20
    assert settings.ingest.max_pixels == 1000
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'sightline.db').resolve()}"
    assert settings.key_path == tmp_path / "master.key"


def test_password_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SIGHTLINE_DATABASE_URL", "postgresql+psycopg://user:hunter2@db.example/sightline"
    )
    shown = Settings().redacted()
    assert "hunter2" not in str(shown)
    assert shown["database_url"] == "postgresql+psycopg://user:***@db.example/sightline"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIGHTLINE_MATCH__PDQ_THRESHOLD", "300"),
        ("SIGHTLINE_ENVIRONMENT", "staging"),
        ("SIGHTLINE_INGEST__MAX_PIXELS", "0"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres:postgres@db.example/sightline",
        "postgresql+psycopg://sightline:Sightline@db.example/sightline",
        "postgresql+psycopg://app:changeme@db.example/sightline",
        "postgresql+psycopg://app:app@db.example/sightline",
    ],
)
def test_default_database_passwords_are_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SIGHTLINE_DATABASE_URL", url)
    with pytest.raises(ValidationError, match="well-known default"):
        Settings()
    monkeypatch.setenv("SIGHTLINE_ENVIRONMENT", "development")
    assert Settings().database_url is not None  # a throw-away store may use one


def test_generated_database_passwords_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTLINE_DATABASE_URL", "postgresql+psycopg://app:x9Vq2-Lm@db/sightline")
    assert Settings().database_url is not None
