"""The master key at the command line: lost, or another store's, every command says so (exit 4).

Only a new, empty store is told to run ``sightline init``; a store that holds data is told to
restore its key from backup, and ``init`` refuses to make a new one there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.test_audit_cli import _record_events
from tests.cli.test_cli import sightline


def _said(stderr: str) -> str:
    """The message as one line (the console wraps long lines)."""
    return " ".join(stderr.split())


def _populated(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    sightline(var, "init")
    _record_events(var, 2)
    return var


def test_init_refuses_to_create_a_key_over_existing_data(tmp_path: Path) -> None:
    var = _populated(tmp_path)
    (var / "master.key").unlink()
    for args in (("init",), ("agency", "list"), ("audit", "verify")):
        result = sightline(var, *args, check=False)
        assert result.returncode == 4, args
        assert "restore the key file from backup" in _said(result.stderr)
        assert "sightline init" not in _said(result.stderr)
    assert not (var / "master.key").exists()


def test_serve_without_its_key_exits_4_without_a_traceback(tmp_path: Path) -> None:
    var = _populated(tmp_path)
    (var / "master.key").unlink()
    result = sightline(var, "serve", "--port", "1", check=False)
    assert result.returncode == 4
    assert "restore the key file from backup" in _said(result.stderr)
    assert "Traceback" not in result.stderr + result.stdout


def test_another_stores_key_is_refused_by_every_command_and_serve(tmp_path: Path) -> None:
    var = _populated(tmp_path)
    other = tmp_path / "other"
    sightline(other, "init")
    saved = tmp_path / "saved.key"
    shutil.move(var / "master.key", saved)
    shutil.copy2(other / "master.key", var / "master.key")
    for args in (("init",), ("audit", "verify"), ("serve", "--port", "1")):
        result = sightline(var, *args, check=False)
        assert result.returncode == 4, args
        assert "not the store's master key" in _said(result.stderr)
        assert "Traceback" not in result.stderr
    (var / "master.key").unlink()
    shutil.move(saved, var / "master.key")
    assert "2 events checked" in sightline(var, "audit", "verify").stdout
