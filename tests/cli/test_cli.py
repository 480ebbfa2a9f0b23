"""The CLI end to end, in subprocesses, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.corpus import write_landscape


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env["SIGHTLINE_DATA_DIR"] = str(data_dir)
    return env


def sightline(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "sightline", *args],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}{result.stdout}")
    return result


def test_commands_before_init_explain_what_to_do(tmp_path: Path) -> None:
    result = sightline(tmp_path / "var", "agency", "list", check=False)
    assert result.returncode == 4
    assert "sightline init" in result.stderr


def test_init_ingest_search_round_trip(tmp_path: Path) -> None:
    var = tmp_path / "var"
    assert "created master key" in sightline(var, "init").stdout
    assert (var / "master.key").stat().st_mode & 0o777 == 0o600
    assert "nothing to do" in sightline(var, "init").stdout
    sightline(var, "agency", "add", "TEST-GB", "--name", "Test unit", "--country", "gb")
    for seed in range(1, 4):
        write_landscape(tmp_path / f"in/{seed}.jpg", seed)
    (tmp_path / "in/readme.txt").write_text("not an image")
    out = sightline(
        var,
        "ingest",
        str(tmp_path / "in"),
        "--case",
        "C-1",
        "--agency",
        "test-gb",
        "--workers",
        "2",
        "--json",
    ).stdout
    report = json.loads(out)
    assert (report["stored"], report["failed"], report["pending"]) == (3, 1, 0)
    assert report["failures_by_reason"] == {"not_media": 1}

    found = json.loads(sightline(var, "search", str(tmp_path / "in/2.jpg"), "--json").stdout)
    [match] = found["matches"]
    assert "sha256" in match["signals"]
    assert match["sightings"][0]["agency"] == "TEST-GB"

    status = json.loads(sightline(var, "index", "status", "--json").stdout)
    assert status["indexes"]["pdq"]["media"]["count"] == 3
    # The summary adds every kind: the PDQ hashes and the stills' scene window descriptors.
    assert status["media"]["count"] == 3 + status["indexes"]["scene"]["media"]["count"]
    assert status["media"]["ready"] is True
    assert status["lists"]["count"] == 0
    shown = sightline(var, "config", "show").stdout
    assert "match.pdq_threshold = 31" in shown


def test_serve_refuses_non_loopback(tmp_path: Path) -> None:
    result = sightline(tmp_path / "var", "serve", "--host", "0.0.0.0", check=False)
    assert result.returncode == 3
    assert "refusing to serve plain HTTP" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["ingest", "--help"], ["search", "--help"]])
def test_help_works(tmp_path: Path, args: list[str]) -> None:
    assert "Usage" in sightline(tmp_path, *args).stdout


def test_case_sharing_from_the_command_line(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    sightline(var, "agency", "add", "TEST-GB", "--name", "Test unit", "--country", "GB")
    added = sightline(var, "case", "add", "C-1", "--agency", "TEST-GB", "--sharing", "signals")
    assert "(signals)" in added.stdout
    assert "now shared" in sightline(var, "case", "share", "TEST-GB", "C-1", "shared").stdout
    [case] = json.loads(sightline(var, "case", "list", "--json").stdout)
    assert (case["reference"], case["sharing"]) == ("C-1", "shared")
    wrong = sightline(var, "case", "share", "TEST-GB", "C-1", "public", check=False)
    assert wrong.returncode != 0
    events = json.loads(sightline(var, "audit", "show", "--json").stdout)
    assert [e["detail"] for e in events if e["action"] == "case.update"] == [
        {"sharing_old": "signals", "sharing_new": "shared"}
    ]
