"""Hash lists, triage, alerts and match from the command line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sightline.services.exchange.formats import ICSE_HEADER
from tests.cli.test_cli import sightline
from tests.support.corpus import write_landscape


def test_import_retro_hunt_triage_alerts_and_match(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    for code, country in (("TEST-GB", "GB"), ("TEST-DE", "DE")):
        sightline(var, "agency", "add", code, "--name", "unit", "--country", country)
    for seed in (1, 2, 3):
        write_landscape(tmp_path / f"gb/{seed}.jpg", seed)
    sightline(var, "ingest", str(tmp_path / "gb"), "--case", "GB-1", "--agency", "TEST-GB")
    (tmp_path / "de").mkdir()
    (tmp_path / "de/same.jpg").write_bytes((tmp_path / "gb/3.jpg").read_bytes())
    out = sightline(
        var, "ingest", str(tmp_path / "de"), "--case", "DE-1", "--agency", "TEST-DE", "--json"
    ).stdout
    assert json.loads(out)["alerts_raised"] == 2

    md5 = hashlib.md5((tmp_path / "gb/1.jpg").read_bytes()).hexdigest().upper()
    icse = tmp_path / "export.csv"
    icse.write_text(
        f"\ufeff{ICSE_HEADER}\r\n"
        f"{md5};;;IMG-1;true;true;false;Series A;3;true;Image;false\r\n"
        "NOT-A-HASH;;;IMG-2;true;false;false;Series B;1;true;Image;false\r\n",
        encoding="utf-8",
    )
    imported = sightline(
        var, "hashlist", "import", str(icse), "--owner", "TEST-DE", "--name", "ICSE"
    ).stdout
    assert "1 entries imported, 1 rows rejected" in imported
    assert "line 3" in imported
    assert "1 new matches" in imported

    triage = json.loads(sightline(var, "triage", "GB-1", "--agency", "TEST-GB", "--json").stdout)
    assert triage["counts"] == {"known-identified": 1, "known": 0, "new": 2}
    assert [s["status"] for s in triage["stacks"]] == ["new", "new", "known-identified"]

    alerts = json.loads(sightline(var, "alerts", "--agency", "TEST-GB", "--json").stdout)
    assert [(a["case"], a["other_agency"], a["other_case"]) for a in alerts] == [
        ("GB-1", "TEST-DE", "DE-1")
    ]
    lists = json.loads(sightline(var, "hashlist", "list", "--json").stdout)
    assert [(h["name"], h["entries"], h["enabled"]) for h in lists] == [("ICSE", 1, True)]

    matched = json.loads(sightline(var, "match", str(tmp_path / "gb/1.jpg")).stdout)
    assert matched["status"] == "known-identified"
    assert [m["signal"] for m in matched["list_matches"]] == ["md5"]
    assert matched["list_matches"][0]["external_id"] == "IMG-1"
