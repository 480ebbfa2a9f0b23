"""Shared fixtures: settings on a throw-away store, on SQLite and on PostgreSQL.

PostgreSQL tests use the server that ``scripts/run-tests.sh`` starts (its URL arrives in
``SIGHTLINE_TEST_POSTGRES_URL``); each test gets a database of its own, dropped afterwards.
Run ``pytest -m "not postgres"`` to skip them when no server is running.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sightline.config import Settings
from sightline.services.context import AppContext, initialise, open_context

POSTGRES_ENV = "SIGHTLINE_TEST_POSTGRES_URL"


def _postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.fail(
            f"{POSTGRES_ENV} is not set: run `make test` (it starts PostgreSQL) "
            "or deselect with -m 'not postgres'"
        )
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    admin_url = _postgres_admin_url()
    name = f"sl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        # template0 takes no connections, so parallel test workers never collide on it
        # ("source database template1 is being accessed by other users").
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database a parametrised test runs on."""
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    """Settings for a new store in ``tmp_path`` on the parametrised database."""
    database_url = None
    if backend == "postgres":
        database_url = SecretStr(request.getfixturevalue("postgres_url"))
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        environment="development",
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings for a new SQLite-only store (tests that need no PostgreSQL variant)."""
    return Settings(data_dir=tmp_path / "var", environment="development")


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    """An initialised store (key, schema) opened for the test."""
    initialise(settings)
    context = open_context(settings)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def sqlite_ctx(sqlite_settings: Settings) -> Iterator[AppContext]:
    """An initialised SQLite store."""
    initialise(sqlite_settings)
    context = open_context(sqlite_settings)
    try:
        yield context
    finally:
        context.close()
