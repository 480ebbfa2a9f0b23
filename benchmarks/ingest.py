"""Ingest throughput of the hash tier against the floor of reading, SHA-256 and decoding.

    python -m benchmarks.ingest [--n 600] [--workers 0] [--breakdown]

Generates N benign 1-megapixel JPEGs, then, with the same worker pool, measures
1. the floor: read each file, SHA-256 it, decode it fully (Pillow), nothing else;
2. the hash tier: ``sightline ingest``'s service (MD5, SHA-1, SHA-256, PDQ, metadata,
   thumbnail, encryption of original and thumbnail, database records).
Targets: >= 150 images/s on a 2-core machine and >= 50 % of the floor.

It also prints the parent process's CPU time per image (recording, matching, the pool's
bookkeeping), which the workers' two cores have to share. ``--breakdown`` then times the
worker's steps one by one in this process (CPU time per image, after the timed runs), to show
where a worker's time goes.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

from PIL import Image

from benchmarks.common import BENCH, ONE_MEGAPIXEL, new_store, write_jpeg
from sightline.analyzers.base import MediaInput
from sightline.analyzers.registry import create_analyzers
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.context import AppContext
from sightline.services.ingest.run import ingest
from sightline.services.ingest.scratch import scratch_root
from sightline.services.ingest.sources import SourceLimits
from sightline.services.ingest.worker import (
    WorkerConfig,
    WorkItem,
    close_worker,
    init_worker,
    run_item,
    thumbnail_jpeg,
)


def floor_task(path: Path) -> int:
    """Read, SHA-256 and fully decode one file: the least any ingest must do."""
    data = path.read_bytes()
    hashlib.sha256(data).digest()
    with Image.open(path) as image:
        image.convert("RGB").load()
    return len(data)


def breakdown(ctx: AppContext, paths: Sequence[Path], scratch: Path) -> dict[str, float]:
    """CPU milliseconds per image of each worker step, measured in this process.

    "whole worker" is the pool's task, ``run_item``, after the pool's initializer (into a
    fresh blob directory);
    "store blobs and the rest" is what it spends beyond the steps timed one by one
    (encrypting and writing the original and the thumbnail, bookkeeping).
    """
    config = WorkerConfig(
        key_path=ctx.settings.key_path,
        media_dir=scratch / "media",
        scratch_dir=scratch_root(scratch),
        max_pixels=ctx.settings.ingest.max_pixels,
        limits=SourceLimits.from_settings(ctx.settings.ingest),
    )
    init_worker(config)  # what the pool's initializer does in each worker process
    analyzers = create_analyzers()
    spent: dict[str, float] = defaultdict(float)

    def timed(step: str, call: Callable[..., object], *args: object) -> None:
        started = time.process_time()
        call(*args)
        spent[step] += time.process_time() - started

    try:
        for path in paths:
            with closing(MediaInput(path)) as media:
                timed("open header", media.image_header)
                timed("decode luma + shrink", media.working_luma)
                for analyzer in analyzers:
                    timed(f"analyzer {analyzer.name}", analyzer.analyze, media)
                timed("thumbnail JPEG", thumbnail_jpeg, media)
        parts = sum(spent.values())
        for index, path in enumerate(paths):
            timed("whole worker", run_item, WorkItem(index, str(path)))
    finally:
        close_worker()
    spent["store blobs and the rest"] = spent["whole worker"] - parts
    return {step: seconds * 1000 / len(paths) for step, seconds in spent.items()}


# The hash tier: digests, PDQ, metadata (the scene analyzer, on by default, is measured apart).
HASH_TIER = ("crypto", "pdq", "metadata")


def _timed_ingest(
    ctx: AppContext, folder: Path, runner: ProcessPoolRunner, n: int
) -> tuple[float, float]:
    """Ingest ``folder`` into a new case: wall seconds and the parent process's CPU seconds."""
    started, parent_cpu = time.perf_counter(), time.process_time()
    report = ingest(
        ctx, [folder], agency_code="BENCH", case_reference="B-1", runner=runner, requester=BENCH
    )
    assert report.summary.stored == n, report.summary
    return time.perf_counter() - started, time.process_time() - parent_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600, help="number of JPEGs")
    parser.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
    parser.add_argument(
        "--smooth",
        action="store_true",
        help="no sensor grain: ~50 KiB files instead of camera-like ~320 KiB",
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="then time each worker step (CPU ms/image)"
    )
    parser.add_argument(
        "--scene",
        action="store_true",
        help="then ingest the same files again with the scene analyzer on (a fresh store)",
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

        ctx = new_store(root / "hash")
        ctx.settings.analyzers.enabled = list(HASH_TIER)
        try:
            ingest_s, parent_cpu = _timed_ingest(ctx, folder, runner, args.n)
            steps = (
                breakdown(ctx, sorted(paths)[:100], root / "breakdown") if args.breakdown else {}
            )
        finally:
            ctx.close()
        if args.scene:
            ctx = new_store(root / "scene")
            ctx.settings.analyzers.enabled = [*HASH_TIER[:2], "scene", *HASH_TIER[2:]]
            try:
                scene_s, _ = _timed_ingest(ctx, folder, runner, args.n)
            finally:
                ctx.close()

    floor_rate, ingest_rate = args.n / floor_s, args.n / ingest_s
    print(f"workers: {runner.workers}")
    print(f"floor (read + SHA-256 + full decode): {floor_rate:8.1f} images/s")
    print(f"hash tier ingest:                     {ingest_rate:8.1f} images/s")
    print(
        f"ratio to floor: {ingest_rate / floor_rate:.2f} (target >= 0.50); "
        f"target >= 150 images/s: {'met' if ingest_rate >= 150 else 'NOT met'}"
    )
    print(f"parent process CPU during ingest: {parent_cpu * 1000 / args.n:.2f} ms/image")
    if args.scene:
        extra = (scene_s - ingest_s) * runner.workers * 1000 / args.n
        print(
            f"with the scene analyzer:              {args.n / scene_s:8.1f} images/s "
            f"(adds ~{extra:.0f} ms of worker time an image; target <= 60 ms)"
        )
    if steps:
        print("worker steps, CPU ms/image (one process, after the timed runs):")
        for step, ms in steps.items():
            print(f"  {step:28s} {ms:6.2f}")


if __name__ == "__main__":
    main()
