"""Search latency over 100k stored items.

    python -m benchmarks.search [--stored 100000] [--queries 1000]

Stores ``--stored`` media items: a few hundred are real ingested landscapes, the rest are
database rows with realistic, clustered PDQ-like codes (families of near-duplicates), so the
index and the database are at full size without generating 100k images. Queries are files:
re-encoded, resized and mirrored copies of stored landscapes, and unrelated landscapes. Prints
p50/p99 of the whole search (hash the file, 8 dihedral PDQ variants, index, database) and of
the index lookup alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from benchmarks.common import BENCH, new_store, percentile
from sightline.features.hashes import PDQ_KIND
from sightline.jobs.local import ProcessPoolRunner
from sightline.services import synthetic
from sightline.services.context import AppContext
from sightline.services.ingest.run import ingest
from sightline.services.matching.search import search_file
from sightline.services.signals.indexes import IndexSet
from sightline.storage.orm import CaseRow, MediaRow, SightingRow, SignalRow, utcnow

QUERY_SIZE = (640, 480)


def clustered_codes(n: int, seed: int) -> np.ndarray:
    """Codes in families: random centres, members a few random bit flips away."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 256, size=(max(1, n // 10), 32), dtype=np.uint8)
    codes = centres[rng.integers(0, len(centres), size=n)]
    flips = rng.integers(0, 256, size=(n, 6))
    out = np.unpackbits(codes, axis=1)
    rows = np.repeat(np.arange(n), flips.shape[1])
    out[rows, flips.ravel()] ^= 1
    return np.packbits(out, axis=1)


def fill(ctx: AppContext, count: int) -> None:
    """Insert ``count`` synthetic media rows with sightings and PDQ signals."""
    codes = clustered_codes(count, 7)
    with ctx.engine.begin() as connection:
        case_id = connection.execute(select(CaseRow.id)).scalar_one()
        now = utcnow()
        for start in range(0, count, 10_000):
            stop = min(count, start + 10_000)
            media = [
                {
                    "sha256": f"{i:064x}",
                    "sha1": f"{i:040x}",
                    "md5": f"{i:032x}",
                    "size": 1,
                    "media_type": "image",
                    "mime_type": "image/jpeg",
                    "blob_id": f"{i:032x}",
                    "thumbnail_blob_id": None,
                    "created_at": now,
                }
                for i in range(start + 1, stop + 1)
            ]
            ids = connection.execute(insert(MediaRow).returning(MediaRow.id), media).scalars().all()
            connection.execute(
                insert(SightingRow),
                [
                    {
                        "media_id": m,
                        "case_id": case_id,
                        "original_path": f"synthetic/{m}.jpg",
                        "size": 1,
                        "recorded_at": now,
                    }
                    for m in ids
                ],
            )
            connection.execute(
                insert(SignalRow),
                [
                    {"media_id": m, "kind": PDQ_KIND, "code": codes[k].tobytes(), "quality": 100}
                    for k, m in enumerate(ids, start=start)
                ],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--real", type=int, default=200, help="real landscapes stored")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        root = Path(tmp)
        ctx = new_store(root)
        try:
            real = root / "real"
            real.mkdir()
            for seed in range(args.real):
                (real / f"{seed}.jpg").write_bytes(
                    synthetic.encode(synthetic.landscape(seed, QUERY_SIZE))
                )
            ingest(
                ctx,
                [real],
                agency_code="BENCH",
                case_reference="B-1",
                runner=ProcessPoolRunner(),
                requester=BENCH,
            )
            started = time.perf_counter()
            fill(ctx, args.stored - args.real)
            print(
                f"stored {args.stored} items ({args.real} real) in "
                f"{time.perf_counter() - started:.1f} s"
            )
            index = IndexSet(ctx)
            started = time.perf_counter()
            index.refresh()
            print(
                f"index {ctx.settings.match.index_backend}: built from the database in "
                f"{time.perf_counter() - started:.1f} s, {len(index.media(PDQ_KIND).open())} hashes"
            )
            run_queries(ctx, index, root, args.queries, args.real)
        finally:
            ctx.close()


def run_queries(ctx: AppContext, index: IndexSet, root: Path, n: int, real: int) -> None:
    """Time ``n`` file searches and their index lookups."""
    queries = root / "queries"
    queries.mkdir()
    transforms = ["reencode", "resize", "mirror", None]
    paths = []
    for i in range(n):
        transform = transforms[i % len(transforms)]
        if transform is None:
            image = synthetic.landscape(100_000 + i, QUERY_SIZE)
        else:
            image = synthetic.TRANSFORMS[transform](synthetic.landscape(i % real, QUERY_SIZE))
        path = queries / f"{i}.jpg"
        path.write_bytes(synthetic.encode(image))
        paths.append(path)
    total, found = [], 0
    for path in paths:
        started = time.perf_counter()
        result = search_file(ctx, index, path, requester=BENCH)
        total.append((time.perf_counter() - started) * 1000)
        found += bool(result.matches)
    codes = np.random.default_rng(1).integers(0, 256, size=(n, 8, 32), dtype=np.uint8)
    lookups = []
    for batch in codes:
        started = time.perf_counter()
        index.media(PDQ_KIND).search(batch, ctx.settings.match.pdq_threshold)
        lookups.append((time.perf_counter() - started) * 1000)
    print(f"{n} queries, {found} with a match (expected {n * 3 // 4})")
    print(
        f"search (file -> results): p50 {percentile(total, 50):.2f} ms, "
        f"p99 {percentile(total, 99):.2f} ms"
    )
    print(
        f"index lookup (8 variants): p50 {percentile(lookups, 50):.3f} ms, "
        f"p99 {percentile(lookups, 99):.3f} ms"
    )


if __name__ == "__main__":
    main()
