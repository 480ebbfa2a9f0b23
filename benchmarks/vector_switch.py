"""Where a flat float index gets too slow: flat scan against HNSW, one query, one thread.

    python -m benchmarks.vector_switch [--sizes 10000,100000,300000] [--dims 256]
                                       [--queries 200] [--metric l2] [--seed 11]

Chooses ``auto-vector``'s ``switch_at``: the size at which one flat search of one query
passes ``--budget-ms`` (5 ms). Clustered vectors (largest size // 100 Gaussian centres,
noise as wide as the spread of the centres, so neighbourhoods overlap); queries are fresh
samples of the same clusters, searched one at a time. Both indexes grow through the sizes by
``add`` (as ``auto-vector``'s do; the graph is built once). For each size it prints the flat
scan's p50/p99 wall latency and p50 CPU time (``faiss-flat-vector``), the HNSW build's CPU
seconds so far and its p50/p99 latency and CPU time (``faiss-hnsw-vector``), and HNSW's mean
recall@10 against the flat results (exact). The size where the flat p50 crosses the budget
is interpolated linearly (a scan is linear in size). ``--at N`` adds one more size (the
chosen ``switch_at``) to check recall there. Everything runs on one FAISS thread; CPU time
is shown because the build host is shared (wall time includes waiting for a core).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from benchmarks.common import percentile
from sightline.indexes.faiss_hnsw import FaissHnswVectorIndex
from sightline.indexes.faiss_vector import FaissFlatVectorIndex
from sightline.indexes.vector import VectorHit, VectorIndex

Floats = npt.NDArray[np.float32]


def clustered(n: int, queries: int, dims: int, rng: np.random.Generator) -> tuple[Floats, Floats]:
    """``n`` stored vectors and ``queries`` fresh ones from ``n // 100`` Gaussian clusters.

    Rows are in random cluster order, so every prefix is a clustered set of its own size.
    """
    centres = rng.normal(size=(max(10, n // 100), dims)).astype(np.float32)
    stored = centres[rng.integers(0, len(centres), n)]
    stored += rng.standard_normal(size=stored.shape, dtype=np.float32)
    asked = centres[rng.integers(0, len(centres), queries)]
    asked += rng.standard_normal(size=asked.shape, dtype=np.float32)
    return stored, asked


def latencies(
    index: VectorIndex, queries: Floats, k: int = 10
) -> tuple[list[float], list[float], list[list[VectorHit]]]:
    """Wall and CPU milliseconds per single-query search, and the hits.

    CPU time is reported beside wall time because the build host is shared: on one thread,
    CPU time is what the search costs when it is not waiting for a core.
    """
    wall, cpu, hits = [], [], []
    for row in range(len(queries)):
        start, start_cpu = time.perf_counter(), time.process_time()
        (found,) = index.search(queries[row : row + 1], k)
        cpu.append((time.process_time() - start_cpu) * 1e3)
        wall.append((time.perf_counter() - start) * 1e3)
        hits.append(found)
    return wall, cpu, hits


def recall(found: list[list[VectorHit]], truth: list[list[VectorHit]]) -> float:
    """Mean share of the exact top ids that were found."""
    shares = [
        len({h.id for h in f} & {h.id for h in t}) / max(1, len(t))
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(shares))


def grow(sizes: list[int], args: argparse.Namespace) -> Iterator[tuple[int, dict[str, float]]]:
    """Grow both backends through ``sizes`` (adding the difference each time), measuring each.

    The indexes grow by ``add`` (as ``auto-vector``'s do), so the HNSW graph is built once
    for the largest size rather than once per size.
    """
    rng = np.random.default_rng(args.seed)
    stored, queries = clustered(max(sizes), args.queries, args.dims, rng)
    flat = FaissFlatVectorIndex(args.dims, args.metric)
    hnsw = FaissHnswVectorIndex(args.dims, args.metric)
    done, build_s = 0, 0.0
    for n in sizes:
        ids = np.arange(done, n, dtype=np.int64)
        flat.add(ids, stored[done:n])
        start = time.process_time()
        hnsw.add(ids, stored[done:n])
        build_s += time.process_time() - start
        done = n
        flat_ms, flat_cpu, truth = latencies(flat, queries)
        hnsw_ms, hnsw_cpu, found = latencies(hnsw, queries)
        yield (
            n,
            {
                "flat_p50": percentile(flat_ms, 50),
                "flat_p99": percentile(flat_ms, 99),
                "flat_cpu": percentile(flat_cpu, 50),
                "build_s": build_s,
                "hnsw_p50": percentile(hnsw_ms, 50),
                "hnsw_p99": percentile(hnsw_ms, 99),
                "hnsw_cpu": percentile(hnsw_cpu, 50),
                "recall": recall(found, truth),
            },
        )


def crossing(rows: dict[int, dict[str, float]], key: str, budget_ms: float) -> float | None:
    """The size where ``key`` (a p50) reaches ``budget_ms``, interpolated between sizes."""
    sizes = sorted(rows)
    for low, high in itertools.pairwise(sizes):
        a, b = rows[low][key], rows[high][key]
        if a <= budget_ms < b:
            return low + (budget_ms - a) * (high - low) / (b - a)
    return None


COLUMNS = [
    ("flat_p50", "flat p50", "{:.2f}"),
    ("flat_p99", "p99", "{:.2f}"),
    ("flat_cpu", "cpu p50", "{:.2f}"),
    ("build_s", "hnsw build cpu s", "{:.1f}"),
    ("hnsw_p50", "hnsw p50", "{:.3f}"),
    ("hnsw_p99", "p99", "{:.3f}"),
    ("hnsw_cpu", "cpu p50", "{:.3f}"),
    ("recall", "recall@10", "{:.3f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000,300000")
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--metric", default="l2")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--budget-ms", type=float, default=5.0)
    parser.add_argument("--at", type=int, default=0, help="one more size to measure")
    args = parser.parse_args()
    FaissFlatVectorIndex.configure_threads(1)
    sizes = sorted({int(s) for s in args.sizes.split(",")} | ({args.at} if args.at else set()))
    print(f"{args.dims} dims, {args.metric}, {args.queries} single queries, k=10, 1 thread, ms")
    print(f"{'size':>9}" + "".join(f"{h:>{max(9, len(h) + 2)}}" for _, h, _ in COLUMNS))
    rows: dict[int, dict[str, float]] = {}
    for n, row in grow(sizes, args):
        rows[n] = row
        cells = "".join(f"{f.format(row[k]):>{max(9, len(h) + 2)}}" for k, h, f in COLUMNS)
        print(f"{n:>9,}{cells}", flush=True)
    for key in ("flat_p50", "flat_cpu"):
        line = crossing(rows, key, args.budget_ms)
        where = f"about {line:,.0f} vectors" if line else "no size between those measured"
        print(f"{key} reaches {args.budget_ms} ms at {where}")


if __name__ == "__main__":
    main()
