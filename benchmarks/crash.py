"""Kill ingest at random moments, resume it, and count what was lost, duplicated or left behind.

    python -m benchmarks.crash [--kills 50] [--files 400] [--seed 1]

Builds a seizure of ``--files`` items (loose JPEGs with duplicates and re-encodes, and two zip
archives), on a store where another agency's case and a hash list already overlap it. Then:
1. the baseline: the same ingest, uninterrupted, into a copy of that store;
2. the crash runs: ``sightline ingest`` (2 worker processes, batches of 16) killed with
   SIGKILL (the whole process group: parent and workers) at ``--kills`` random moments, each
   run resuming the previous one, then one last run to completion; when a run finishes
   before its kill, a new round starts from the template, until all kills are spent.
It compares media, sightings, ingest items, matches, triage rows and alerts of the two
stores (by content, not by database ids: the two runs number things differently) and reports
what the crash run lost or duplicated, plus the plaintext bytes left in ``scratch``, the blob
temp files and the orphan blobs left after the final resume. Target: all zero.

Triage statuses and match distances are compared as sets of keys, not values: which of two
near-duplicates in one case is "new" and which "known" depends on the order the workers
finish, which differs between any two runs, killed or not.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, text

from benchmarks.common import BENCH
from sightline.config import Settings
from sightline.services import synthetic
from sightline.services.catalog import add_agency
from sightline.services.context import initialise, open_context
from sightline.services.exchange import hashlists
from sightline.services.ingest.run import ingest
from sightline.services.jobs.runner import InlineRunner

SIZE = (640, 480)
QUERIES = {
    "media": "SELECT sha256 FROM media_items",
    "sightings": "SELECT s.case_id, s.original_path, m.sha256 FROM sightings s "
    "JOIN media_items m ON m.id = s.media_id",
    "items": "SELECT original_path, state, reason FROM ingest_items i "
    "JOIN ingest_jobs j ON j.id = i.job_id WHERE j.case_id = 2",
    "matches": "SELECT a.sha256, b.sha256, e.md5, x.signal FROM matches x "
    "JOIN media_items a ON a.id = x.media_id LEFT JOIN media_items b ON b.id = x.target_media_id "
    "LEFT JOIN hash_list_entries e ON e.id = x.entry_id",
    "triage": "SELECT t.case_id, m.sha256 FROM case_media t "
    "JOIN media_items m ON m.id = t.media_id",
    "alerts": "SELECT x.agency_id, x.case_id, a.sha256, x.counterpart_case_id, b.sha256, e.md5 "
    "FROM alerts x JOIN media_items a ON a.id = x.media_id "
    "LEFT JOIN media_items b ON b.id = x.counterpart_media_id "
    "LEFT JOIN hash_list_entries e ON e.id = x.entry_id",
}


def _write_inputs(root: Path, files: int) -> Path:
    """The seizure: loose images, copies, re-encodes and two zips; ``files`` items in all."""
    folder = root / "seizure"
    folder.mkdir(parents=True)
    zipped = min(100, files // 4)
    loose = files - zipped
    for i in range(loose):
        seed = 1000 + i
        if i % 10 == 9:  # an exact copy of an earlier file
            (folder / f"{i:04d}.jpg").write_bytes((folder / f"{i - 9:04d}.jpg").read_bytes())
            continue
        image = synthetic.landscape(seed if i % 7 else i // 7, SIZE)  # every 7th: agency A's
        if i % 11 == 5:
            image = synthetic.reencode(image, quality=40)
        (folder / f"{i:04d}.jpg").write_bytes(synthetic.encode(image))
    for z in range(2):
        with zipfile.ZipFile(folder / f"phone{z}.zip", "w") as zf:
            for j in range(zipped // 2):
                image = synthetic.landscape(5000 + z * 1000 + j, SIZE)
                zf.writestr(f"DCIM/{j:04d}.jpg", synthetic.encode(image))
    return folder


def _template(root: Path, files: int) -> tuple[Path, Path]:
    """A store where agency A's case and a hash list overlap the seizure, and the seizure."""
    folder = _write_inputs(root, files)
    settings = Settings(data_dir=root / "template", environment="development")
    initialise(settings)
    ctx = open_context(settings)
    try:
        add_agency(ctx, "BENCH-A", "Agency A", "GB", requester=BENCH)
        add_agency(ctx, "BENCH-B", "Agency B", "DE", requester=BENCH)
        first = root / "first"
        first.mkdir()
        for seed in range(0, files // 7 + 1, 2):
            (first / f"{seed}.jpg").write_bytes(synthetic.encode(synthetic.landscape(seed, SIZE)))
        ingest(
            ctx,
            [first],
            agency_code="BENCH-A",
            case_reference="A-1",
            runner=InlineRunner(),
            requester=BENCH,
        )
        listed = sorted(folder.glob("*.jpg"))[3::40]
        body = "md5,id\n" + "".join(f"{_md5(p)},E-{i}\n" for i, p in enumerate(listed))
        hashlists.import_list(
            ctx, io.BytesIO(body.encode()), requester=BENCH, owner="BENCH-A", name="known"
        )
    finally:
        ctx.close()
    return settings.data_dir, folder


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _env(data_dir: Path) -> dict[str, str]:
    """This process's environment without SIGHTLINE_ settings, pointed at ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env |= {"SIGHTLINE_DATA_DIR": str(data_dir), "SIGHTLINE_ENVIRONMENT": "development"}
    # Batches of 16 (the default is 64): more commit boundaries for the kills to fall between.
    env["SIGHTLINE_INGEST__COMMIT_EVERY"] = "16"
    return env


def _ingest(data_dir: Path, folder: Path, kill_after: float | None) -> tuple[bool, float]:
    """Run ``sightline ingest``; SIGKILL its process group after ``kill_after`` seconds."""
    env = _env(data_dir)
    args = ["ingest", str(folder), "--case", "B-1", "--agency", "BENCH-B", "--workers", "2"]
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "sightline", *args, "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        time.sleep(0.2)  # let orphaned pool workers notice
        return True, time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"ingest exited {process.returncode}")
    return False, time.perf_counter() - started


def _outcome(data_dir: Path, root: Path) -> dict[str, Counter[tuple[object, ...]]]:
    engine = create_engine(f"sqlite:///{data_dir / 'sightline.db'}")
    try:
        with engine.connect() as connection:
            return {
                name: Counter(
                    tuple(str(v).replace(str(root), "") for v in row)
                    for row in connection.execute(text(sql))
                )
                for name, sql in QUERIES.items()
            }
    finally:
        engine.dispose()


def _leftovers(data_dir: Path) -> dict[str, int]:
    scratch = data_dir / "scratch"
    plaintext = sum(
        p.stat().st_size for p in scratch.rglob("*") if p.is_file() and p.name != ".owner"
    )
    temps = sum(1 for p in (data_dir / "media").rglob("*.tmp"))
    env = _env(data_dir)
    check = subprocess.run(
        [sys.executable, "-m", "sightline", "store", "check", "--json", "--min-age", "0"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(check.stdout)
    return {
        "plaintext bytes in scratch": plaintext,
        "blob temp files": temps,
        "orphan blobs": report["orphan_blobs"],
        "media with missing blobs": len(report["missing_media"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="sightline-crash-") as tmp:
        root = Path(tmp)
        template, folder = _template(root, args.files)
        baseline_dir = root / "baseline"
        shutil.copytree(template, baseline_dir)
        _, clean_s = _ingest(baseline_dir, folder, None)
        _, overhead_s = _ingest(baseline_dir, folder, None)  # nothing left: start-up and checks
        print(
            f"baseline: {args.files} items ingested without a kill in {clean_s:.1f} s "
            f"(a run with nothing left to do: {overhead_s:.1f} s)"
        )

        kills, rounds, mid_batch, spent = 0, 0, 0, 0.0
        totals: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in QUERIES}
        leftovers: Counter[str] = Counter()
        while kills < args.kills:
            rounds += 1
            crash_dir = root / f"crash{rounds}"
            shutil.copytree(template, crash_dir)
            while kills < args.kills:
                # One kill in five during start-up and enumeration, the rest while it works.
                before = _pending_fraction(crash_dir)
                work_s = max(0.0, clean_s - overhead_s) * before
                early = rnd.random() < 0.2
                moment = (
                    rnd.uniform(0.2, overhead_s) if early else overhead_s + rnd.uniform(0, work_s)
                )
                killed, seconds = _ingest(crash_dir, folder, moment)
                spent += seconds
                if not killed:
                    break
                kills += 1
                mid_batch += _pending_fraction(crash_dir) < before
            _, seconds = _ingest(crash_dir, folder, None)
            spent += seconds
            _compare(_outcome(baseline_dir, root), _outcome(crash_dir, root), totals)
            leftovers.update(_leftovers(crash_dir))
            shutil.rmtree(crash_dir)
        print(
            f"crash runs: {kills} SIGKILLs over {rounds} rounds (each killed again and again, "
            f"then resumed to the end); {spent:.1f} s in all; {mid_batch} kills fell after the "
            "killed run had committed a batch, the others during its start-up, enumeration "
            "or first batch"
        )
        print(f"{'':<12}{'baseline':>10}{'crash runs':>11}{'lost':>7}{'duplicated':>12}")
        failures = 0
        for name, (want, got, lost, extra) in totals.items():
            failures += lost + extra
            print(f"{name:<12}{want:>10}{got:>11}{lost:>7}{extra:>12}")
        for what, count in leftovers.items():
            failures += count
            print(f"{what} (all rounds): {count}")
        print("target (all zero): " + ("met" if failures == 0 else f"NOT met ({failures})"))


def _compare(
    expected: dict[str, Counter[tuple[object, ...]]],
    got: dict[str, Counter[tuple[object, ...]]],
    totals: dict[str, list[int]],
) -> None:
    for name in QUERIES:
        row = totals[name]
        row[0] += sum(expected[name].values())
        row[1] += sum(got[name].values())
        row[2] += sum((expected[name] - got[name]).values())
        row[3] += sum((got[name] - expected[name]).values())


def _pending_fraction(data_dir: Path) -> float:
    """The share of the seizure still to ingest (1.0 before the first run recorded it)."""
    engine = create_engine(f"sqlite:///{data_dir / 'sightline.db'}")
    try:
        with engine.connect() as connection:
            total, pending = connection.execute(
                text(
                    "SELECT count(*), sum(state = 'pending') FROM ingest_items i "
                    "JOIN ingest_jobs j ON j.id = i.job_id WHERE j.case_id = 2"
                )
            ).one()
    finally:
        engine.dispose()
    return 1.0 if not total else float(pending or 0) / float(total)


if __name__ == "__main__":
    main()
