"""What the store writes to disk is owner-only whatever the umask: folders 0700, database 0600.

The database holds paths, digests and EXIF in clear and ``scratch/`` holds decrypted case
material while it is analysed, so on a shared host their file modes are all that protects them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from sightline.cli.main import build_app
from sightline.config import Settings
from sightline.services.catalog import add_agency
from sightline.services.context import initialise, open_context
from sightline.storage.blobs.encrypted_local import EncryptedLocalBlobStore
from sightline.storage.blobs.keys import create_master_key, load_master_key
from sightline.storage.db import make_engine
from tests.support.corpus import TEST_REQUESTER


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default umask, under which plain mkdir and open give 0755 and 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def umask_000() -> Iterator[None]:
    """No umask at all: plain mkdir and open would give 0777 and 0666."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _init(var: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTLINE_DATA_DIR", str(var))
    monkeypatch.setenv("SIGHTLINE_ENVIRONMENT", "development")
    result = CliRunner().invoke(build_app(), ["init"])
    assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("umask_022")
def test_init_makes_folders_0700_and_the_database_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    var = tmp_path / "var"
    _init(var, monkeypatch)
    assert {name: _mode(var / name) for name in (".", "media", "scratch")} == {
        ".": 0o700,
        "media": 0o700,
        "scratch": 0o700,
    }
    assert _mode(var / "sightline.db") == 0o600
    ctx = open_context(Settings())
    try:
        add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
        # The pool keeps the connection open, so the WAL and shared-memory files exist now.
        companions = {name: _mode(var / name) for name in ("sightline.db-wal", "sightline.db-shm")}
    finally:
        ctx.close()
    assert companions == {"sightline.db-wal": 0o600, "sightline.db-shm": 0o600}


@pytest.mark.usefixtures("umask_022")
def test_init_tightens_a_store_made_with_loose_permissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    var = tmp_path / "var"
    _init(var, monkeypatch)
    for path, loose in ((var / "media", 0o755), (var / "scratch", 0o775), (var, 0o755)):
        path.chmod(loose)
    (var / "sightline.db").chmod(0o644)
    _init(var, monkeypatch)
    assert [_mode(p) for p in (var, var / "media", var / "scratch")] == [0o700] * 3
    assert _mode(var / "sightline.db") == 0o600


@pytest.mark.usefixtures("umask_022")
def test_initialise_makes_media_and_scratch_private_on_every_database(
    settings: Settings,
) -> None:
    initialise(settings)
    assert _mode(settings.media_dir) == _mode(settings.data_dir / "scratch") == 0o700


@pytest.mark.usefixtures("umask_000")
def test_a_new_sqlite_database_and_its_companions_are_0600_under_any_umask(
    sqlite_settings: Settings,
) -> None:
    engine = make_engine(sqlite_settings)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as connection:
            var = sqlite_settings.data_dir
            modes = {p.name: _mode(p) for p in var.iterdir()}
            assert connection.execute(text("SELECT x FROM t")).scalar_one() == 1
    finally:
        engine.dispose()
    assert _mode(sqlite_settings.data_dir) == 0o700
    assert modes == {"sightline.db": 0o600, "sightline.db-wal": 0o600, "sightline.db-shm": 0o600}


@pytest.mark.usefixtures("umask_000")
def test_the_blob_store_creates_its_folders_0700_under_any_umask(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    create_master_key(key_file)
    root = tmp_path / "media"
    store = EncryptedLocalBlobStore(root, load_master_key(key_file))
    store.put_bytes(store.blob_id_for("ab" * 32, "original"), b"benign bytes")
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    assert len(folders) == 3  # the root and two levels of fan-out
    assert {_mode(p) for p in folders} == {0o700}
    assert {_mode(p) for p in root.rglob("*") if p.is_file()} == {0o600}


@pytest.mark.usefixtures("umask_022")
def test_the_blob_store_tightens_a_loose_root_on_first_write(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    create_master_key(key_file)
    root = tmp_path / "media"
    root.mkdir(mode=0o755)
    store = EncryptedLocalBlobStore(root, load_master_key(key_file))
    store.put_bytes(store.blob_id_for("cd" * 32, "thumb"), b"benign bytes")
    assert _mode(root) == 0o700
