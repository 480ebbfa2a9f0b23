"""Kill an ingest at every stage boundary of a batch, resume it: the outcome is identical.

Each batch records media, sightings and item states, then matches, triages and alerts. A kill
between two of those stages once left items *done* that were never matched, so the resumed
run skipped them and their triage rows, matches and alerts were lost for good. Here the
ingest is killed (SIGKILL, from the fault-injection hook) at every boundary of its second
batch, run again, and everything it produced is compared with an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from sightline.config import Settings
from sightline.services import synthetic
from sightline.services.catalog import add_agency
from sightline.services.context import initialise, open_context
from sightline.services.exchange import hashlists
from sightline.services.ingest.faults import ENV as FAULT_ENV
from tests.support.corpus import SMALL, TEST_REQUESTER, ingest_seeds, write_landscape

POINTS = (
    "ingest.batch.start",
    "ingest.batch.after_media",
    "ingest.batch.after_sightings",
    "ingest.batch.after_done",
    "ingest.batch.after_matching",
    "ingest.batch.before_commit",
    "ingest.batch.after_commit",
)


def _inputs(root: Path) -> Path:
    """The second agency's seizure: copies, near-duplicates, new material, a zip."""
    folder = root / "seizure"
    for seed in range(1, 4):  # exact copies of the first agency's material
        write_landscape(folder / f"copy_{seed}.jpg", seed)
    for seed in (4, 5):  # re-encodes: perceptual matches only
        image = synthetic.reencode(synthetic.landscape(seed, SMALL), quality=40)
        (folder / f"reenc_{seed}.jpg").write_bytes(synthetic.encode(image))
    for seed in range(20, 27):
        write_landscape(folder / f"new_{seed}.jpg", seed)
    (folder / "new_20_again.jpg").write_bytes((folder / "new_20.jpg").read_bytes())
    mirrored = synthetic.mirror(synthetic.landscape(21, SMALL))
    (folder / "mirror_21.jpg").write_bytes(synthetic.encode(mirrored))
    with zipfile.ZipFile(folder / "phone.zip", "w") as zf:
        zf.writestr("a/30.jpg", synthetic.encode(synthetic.landscape(30, SMALL)))
        zf.writestr("a/copy_6.jpg", synthetic.encode(synthetic.landscape(6, SMALL)))
    return folder


def _prepare(settings: Settings, root: Path) -> None:
    """Two agencies, the first one's case ingested, and a hash list holding seed 3 and 22."""
    initialise(settings)
    ctx = open_context(settings)
    try:
        for code, country in (("GB-UNIT", "GB"), ("DE-UNIT", "DE")):
            add_agency(ctx, code, f"{code} unit", country, requester=TEST_REQUESTER)
        ingest_seeds(ctx, root / "first", range(1, 10), agency="GB-UNIT", case="GB-1")
        listed = [root / "first/3.jpg", root / "seizure/new_22.jpg"]
        body = "md5,id\n" + "".join(f"{_md5(p)},E-{i}\n" for i, p in enumerate(listed))
        hashlists.import_list(
            ctx, io.BytesIO(body.encode()), requester=TEST_REQUESTER, owner="GB-UNIT", name="L"
        )
    finally:
        ctx.close()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _env(settings: Settings, fault: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env.update(
        SIGHTLINE_DATA_DIR=str(settings.data_dir),
        SIGHTLINE_ENVIRONMENT="development",
        SIGHTLINE_INGEST__COMMIT_EVERY="3",
    )
    if settings.database_url is not None:
        env["SIGHTLINE_DATABASE_URL"] = settings.database_url.get_secret_value()
    if fault is not None:
        env[FAULT_ENV] = fault
    return env


def _ingest(settings: Settings, folder: Path, fault: str | None = None) -> int:
    args = ["ingest", str(folder), "--case", "DE-1", "--agency", "DE-UNIT"]
    result = subprocess.run(
        [sys.executable, "-m", "sightline", *args, "--workers", "1", "--json"],
        env=_env(settings, fault),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if fault is None:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["pending"] == 0
    return result.returncode


def _outcome(settings: Settings, root: Path) -> dict[str, list[tuple[object, ...]]]:
    """Everything ingest produced, keyed by content (SHA-256), not by database ids.

    Paths are made relative to ``root`` and booleans plain integers, so a run on PostgreSQL
    compares equal to one on SQLite.
    """
    queries = {
        "media": "SELECT sha256, size FROM media_items",
        "sightings": "SELECT m.sha256, s.case_id, s.original_path FROM sightings s "
        "JOIN media_items m ON m.id = s.media_id",
        "items": "SELECT original_path, state, duplicate, reason FROM ingest_items",
        "matches": "SELECT a.sha256, b.sha256, e.md5, x.signal, x.distance FROM matches x "
        "JOIN media_items a ON a.id = x.media_id "
        "LEFT JOIN media_items b ON b.id = x.target_media_id "
        "LEFT JOIN hash_list_entries e ON e.id = x.entry_id",
        "triage": "SELECT t.case_id, a.sha256, t.status, b.sha256, t.reason FROM case_media t "
        "JOIN media_items a ON a.id = t.media_id JOIN media_items b ON b.id = t.stack_media_id",
        "alerts": "SELECT x.agency_id, x.case_id, a.sha256, x.kind, x.counterpart_agency_id, "
        "x.counterpart_case_id, b.sha256, x.signal, x.distance FROM alerts x "
        "JOIN media_items a ON a.id = x.media_id "
        "LEFT JOIN media_items b ON b.id = x.counterpart_media_id",
        "signals": "SELECT m.sha256, s.kind, s.quality FROM signals s "
        "JOIN media_items m ON m.id = s.media_id",
        "features": "SELECT m.sha256, f.analyzer, f.status FROM features f "
        "JOIN media_items m ON m.id = f.media_id",
    }
    engine = create_engine(settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            return {
                name: sorted((_plain(row, root) for row in connection.execute(text(sql))), key=repr)
                for name, sql in queries.items()
            }
    finally:
        engine.dispose()


def _plain(row: object, root: Path) -> tuple[object, ...]:
    values: list[object] = []
    value: object
    for value in tuple(row):  # type: ignore[arg-type]
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, str):
            value = value.replace(str(root), "ROOT")
        values.append(value)
    return tuple(values)


def _settings(root: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    url = None
    if backend == "postgres":
        url = SecretStr(request.getfixturevalue("postgres_url"))
    return Settings(data_dir=root / "var", database_url=url, environment="development")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[object, ...]]]:
    root = tmp_path_factory.mktemp("baseline")
    settings = Settings(data_dir=root / "var", environment="development")
    folder = _inputs(root)
    _prepare(settings, root)
    _ingest(settings, folder)
    return _outcome(settings, root)


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_kill_at_a_batch_boundary_then_resume_is_identical(
    point: str,
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    baseline: dict[str, list[tuple[object, ...]]],
) -> None:
    settings = _settings(tmp_path, backend, request)
    folder = _inputs(tmp_path)
    _prepare(settings, tmp_path)

    assert _ingest(settings, folder, fault=f"{point}@2") == -9  # killed in its second batch
    interrupted = _outcome(settings, tmp_path)
    _ingest(settings, folder)
    outcome = _outcome(settings, tmp_path)

    # The baseline ran on SQLite; case and agency ids are the same on both databases.
    assert outcome == baseline
    assert len(outcome["alerts"]) > 0 and len(outcome["matches"]) > 0
    assert any(row[3] is not None for row in outcome["triage"])
    # The kill really lost work that the resumed run had to redo.
    assert interrupted["items"] != outcome["items"]


def test_a_run_killed_after_its_last_commit_still_gets_its_debris_removed(
    tmp_path: Path,
) -> None:
    """Killed after committing everything (nothing pending), before the job was finished.

    The resumed run has nothing to process, yet an earlier killed run's partial blob write
    may still lie in the store: it is removed all the same.
    """
    settings = Settings(data_dir=tmp_path / "var", environment="development")
    folder = _inputs(tmp_path)
    _prepare(settings, tmp_path)
    assert _ingest(settings, folder, fault="ingest.batch.after_commit@5") == -9
    _ingest(settings, folder, fault=None)  # everything done, but killed before finishing:
    engine = create_engine(settings.resolved_database_url)
    with engine.begin() as connection:  # ... as a kill right after the last commit leaves it
        connection.execute(text("UPDATE ingest_jobs SET status = 'running' WHERE case_id = 2"))
    engine.dispose()
    some_dir = next(p for p in (settings.data_dir / "media").glob("*/*") if p.is_dir())
    debris = some_dir / f".{'ab' * 16}.999999999-{'0' * 16}.tmp"  # a dead writer's
    debris.write_bytes(b"partial ciphertext")
    _ingest(settings, folder)
    assert not debris.exists()
