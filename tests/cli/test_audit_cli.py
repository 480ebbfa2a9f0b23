"""``sightline audit``: an operator verifies the trail and is told which event was tampered with."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from sightline.config import Settings
from sightline.services.access import audit
from sightline.services.context import open_context
from tests.cli.test_cli import sightline


def _record_events(var: Path, count: int) -> None:
    ctx = open_context(Settings(data_dir=var, database_url=None, environment="production"))
    try:
        for i in range(count):
            with ctx.uow() as uow:
                audit.record(uow, actor="cli:tester", action="search", resource=f"case:{i + 1}")
                uow.commit()
    finally:
        ctx.close()


def _tamper(var: Path, *statements: str) -> None:
    connection = sqlite3.connect(var / "sightline.db")
    try:
        for guard in ("no_update", "no_delete", "append_at_end"):
            connection.execute(f"DROP TRIGGER IF EXISTS audit_events_{guard}")
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def test_verify_show_head_and_tampering(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    assert "empty" in sightline(var, "audit", "head").stdout
    _record_events(var, 3)

    assert "3 events checked" in sightline(var, "audit", "verify").stdout
    head = sightline(var, "audit", "head").stdout.strip()
    assert head.startswith("3:") and len(head) == 2 + 64
    assert json.loads(sightline(var, "audit", "head", "--json").stdout)["id"] == 3
    shown = json.loads(sightline(var, "audit", "show", "--after", "1", "--json").stdout)
    assert [(e["id"], e["resource"]) for e in shown] == [(2, "case:2"), (3, "case:3")]
    assert "case:1" in sightline(var, "audit", "show", "--action", "search").stdout

    _tamper(var, "DELETE FROM audit_events WHERE id = 3")
    assert sightline(var, "audit", "verify").returncode == 0  # the newest event, unanchored
    anchored = sightline(var, "audit", "verify", "--head", head, check=False)
    assert anchored.returncode == 5
    assert "event 3" in anchored.stderr

    _tamper(var, "UPDATE audit_events SET resource = 'case:9' WHERE id = 2")
    result = sightline(var, "audit", "verify", check=False)
    assert result.returncode == 5
    assert "tampering detected at event 2" in result.stderr
    report = json.loads(sightline(var, "audit", "verify", "--json", check=False).stdout)
    assert (report["ok"], report["first_bad_id"], report["checked"]) == (False, 2, 2)


def test_verify_refuses_a_malformed_head(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    result = sightline(var, "audit", "verify", "--head", "3:nothex", check=False)
    assert result.returncode == 2
    assert "ID:HASH" in result.stderr


def test_a_signed_checkpoint_detects_a_deleted_trail(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    checkpoint = tmp_path / "checkpoint.json"
    signed = ("--checkpoint", str(checkpoint))
    assert sightline(var, "audit", "head", *signed, check=False).returncode == 2  # empty
    _record_events(var, 3)
    head = sightline(var, "audit", "head", *signed).stdout.strip()
    assert head.startswith("3:")
    assert json.loads(checkpoint.read_text())["head_hash"] == head[2:]
    assert (
        "3 events checked"
        in sightline(var, "audit", "verify", "--checkpoint", str(checkpoint)).stdout
    )

    _tamper(var, "DELETE FROM audit_events")
    assert sightline(var, "audit", "verify").returncode == 0  # an empty chain is a chain
    result = sightline(var, "audit", "verify", *signed, check=False)
    assert result.returncode == 5
    assert "events 1 to 3 are missing" in " ".join(result.stderr.split())

    document = json.loads(checkpoint.read_text()) | {"head_id": 2}
    checkpoint.write_text(json.dumps(document))
    result = sightline(var, "audit", "verify", *signed, check=False)
    assert result.returncode == 5
    assert "signature" in result.stderr
    both = sightline(
        var, "audit", "verify", "--checkpoint", str(checkpoint), "--head", head, check=False
    )
    assert both.returncode == 2


def test_a_rehashed_event_is_detected_without_a_head(tmp_path: Path) -> None:
    """Recomputing a changed event's hash with the public recipe no longer passes."""
    var = tmp_path / "var"
    sightline(var, "init")
    _record_events(var, 2)
    event = json.loads(sightline(var, "audit", "show", "--json").stdout)[1]
    event["actor"] = "cli:someone-else"
    content = {k: v for k, v in event.items() if k not in ("prev_hash", "hash")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    rehashed = hashlib.sha256((event["prev_hash"] + canonical).encode("ascii")).hexdigest()
    _tamper(
        var, f"UPDATE audit_events SET actor = 'cli:someone-else', hash = '{rehashed}' WHERE id = 2"
    )
    result = sightline(var, "audit", "verify", check=False)
    assert result.returncode == 5
    assert "tampering detected at event 2" in result.stderr
