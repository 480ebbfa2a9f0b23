"""``sightline store check``: debris of killed writes reported and repaired, damage reported."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from sightline.config import Settings
from sightline.services.context import open_context
from sightline.storage.blobs.encrypted_local import EncryptedLocalBlobStore
from tests.cli.test_cli import sightline
from tests.support.corpus import write_landscape

OLD = time.time() - 7200


def _store(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    sightline(var, "init")
    sightline(var, "agency", "add", "TEST-GB", "--name", "Test unit", "--country", "GB")
    for seed in range(3):
        write_landscape(tmp_path / f"in/{seed}.jpg", seed)
    sightline(var, "ingest", str(tmp_path / "in"), "--case", "C-1", "--agency", "TEST-GB")
    return var


def _check(var: Path, *flags: str) -> tuple[int, dict[str, object]]:
    result = sightline(var, "store", "check", "--json", *flags, check=False)
    return result.returncode, json.loads(result.stdout)


def test_debris_of_killed_writes_is_reported_then_repaired(tmp_path: Path) -> None:
    var = _store(tmp_path)
    assert _check(var)[0] == 0
    ctx = open_context(Settings(data_dir=var))
    try:
        blobs = ctx.blobs
        assert isinstance(blobs, EncryptedLocalBlobStore)  # the default plugin: files to age
        orphan = blobs.blob_id_for("ab" * 32, "original")
        blobs.put_bytes(orphan, b"a blob whose batch never committed")
        os.utime(blobs._path(orphan), (OLD, OLD))
        recent = blobs.blob_id_for("cd" * 32, "original")
        blobs.put_bytes(recent, b"a running ingest's new blob")
        temp = blobs._path(orphan).parent / f".{orphan}.999999999-{'0' * 16}.tmp"
        temp.write_bytes(b"partial")
    finally:
        ctx.close()

    code, report = _check(var)
    assert code == 1
    assert (report["orphan_blobs"], report["recent_unreferenced"], report["temp_files"]) == (
        1,
        1,
        1,
    )
    assert report["missing_media"] == [] and report["healthy"] is False

    code, report = _check(var, "--repair", "--verify")
    # Three stills: originals, thumbnails and local features (the scene analyzer's artifact).
    assert code == 0 and report["healthy"] is True and report["verified"] == 9
    assert not temp.exists()
    code, report = _check(var)
    assert (code, report["orphan_blobs"], report["temp_files"]) == (0, 0, 0)
    assert report["recent_unreferenced"] == 1  # kept: it may be about to be referenced
    audit = sightline(var, "audit", "show", "--action", "store.repair", "--json").stdout
    assert "store.repair" in audit


def test_missing_and_corrupt_blobs_are_damage_not_debris(tmp_path: Path) -> None:
    var = _store(tmp_path)
    ctx = open_context(Settings(data_dir=var))
    try:
        with ctx.uow() as uow:
            named = set(uow.media.blob_references())  # originals and thumbnails
    finally:
        ctx.close()
    blobs = sorted(p for p in (var / "media").rglob("*") if p.is_file() and p.name in named)
    blobs[0].unlink()
    data = bytearray(blobs[1].read_bytes())
    data[-1] ^= 1
    blobs[1].write_bytes(bytes(data))
    code, report = _check(var)
    assert code == 5 and len(report["missing_media"]) == 1  # type: ignore[arg-type]
    code, report = _check(var, "--verify", "--repair")
    assert code == 5
    assert len(report["missing_media"]) == 1 and len(report["corrupt_media"]) == 1  # type: ignore[arg-type]
    assert blobs[1].exists()  # never deleted: it must be restored, not repaired away
