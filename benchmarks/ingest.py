"""Ingest throughput of the hash tier against the floor of reading, SHA-256 and decoding.

    python -m benchmarks.ingest [--n 600] [--workers 0]

Generates N benign 1-megapixel JPEGs, then, with the same worker pool, measures
1. the floor: read each file, SHA-256 it, decode it fully (Pillow), nothing else;
2. the hash tier: ``sightline ingest``'s service (MD5, SHA-1, SHA-256, PDQ, metadata,
   thumbnail, encryption of original and thumbnail, database records).
Targets: >= 150 images/s on a 2-core machine and >= 50 % of the floor.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.common import BENCH, ONE_MEGAPIXEL, new_store, write_jpeg
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.ingest import ingest


def floor_task(path: Path) -> int:
    """Read, SHA-256 and fully decode one file: the least any ingest must do."""
    data = path.read_bytes()
    hashlib.sha256(data).digest()
    with Image.open(path) as image:
        image.convert("RGB").load()
    return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600, help="number of JPEGs")
    parser.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
    parser.add_argument(
        "--smooth",
        action="store_true",
        help="no sensor grain: ~50 KiB files instead of camera-like ~320 KiB",
    )
    args = parser.parse_args()
    runner = ProcessPoolRunner(args.workers)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        folder = root / "in"
        folder.mkdir()
        started = time.perf_counter()
        jobs = [(folder / f"{i:05d}.jpg", i, ONE_MEGAPIXEL, not args.smooth) for i in range(args.n)]
        paths = list(runner.map_unordered(write_jpeg, jobs))
        size = sum(p.stat().st_size for p in paths)
        print(
            f"generated {args.n} JPEGs of {ONE_MEGAPIXEL[0]}x{ONE_MEGAPIXEL[1]} "
            f"({size / args.n / 1024:.0f} KiB each) in {time.perf_counter() - started:.1f} s"
        )

        started = time.perf_counter()
        list(runner.map_unordered(floor_task, sorted(paths)))
        floor_s = time.perf_counter() - started

        ctx = new_store(root)
        try:
            started = time.perf_counter()
            report = ingest(
                ctx,
                [folder],
                agency_code="BENCH",
                case_reference="B-1",
                runner=runner,
                requester=BENCH,
            )
            ingest_s = time.perf_counter() - started
        finally:
            ctx.close()
        assert report.summary.stored == args.n, report.summary

    floor_rate, ingest_rate = args.n / floor_s, args.n / ingest_s
    print(f"workers: {runner.workers}")
    print(f"floor (read + SHA-256 + full decode): {floor_rate:8.1f} images/s")
    print(f"hash tier ingest:                     {ingest_rate:8.1f} images/s")
    print(
        f"ratio to floor: {ingest_rate / floor_rate:.2f} (target >= 0.50); "
        f"target >= 150 images/s: {'met' if ingest_rate >= 150 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
