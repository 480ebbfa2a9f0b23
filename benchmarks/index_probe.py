"""Speed and recall of every binary index backend on clustered PDQ-like codes.

    python -m benchmarks.index_probe [--stored 100000] [--queries 1000] [--radius 31]
                                     [--threads N]

Real PDQ codes are clustered: re-encodes, resizes and near-identical frames of one image
sit a few bits apart. The stored set is families of near duplicates (random centres,
members a few random bit flips away); half the queries are stored codes moved 0..31 bits
(flips spread evenly over the 16 chunks for half of them, the worst case for multi-index
hashing), the rest unrelated. For each registered backend it prints build time, save+load
time, single-query latency p50/p99, batched throughput, and recall and extra hits against
the brute-force oracle (recall 1.000 and 0 extra is required of an exact backend).
``--threads`` sets FAISS's OpenMP thread count for the run (default: FAISS's own, one per
core); on a small, busy host one thread is much faster for single queries.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from sightline.indexes.base import BinaryIndex, Hit
from sightline.indexes.registry import index_registry

BYTES = 32
Codes = npt.NDArray[np.uint8]


def clustered_codes(n: int, rng: np.random.Generator) -> Codes:
    """``n`` codes in families of about 10: a random centre plus 0..8 random bit flips."""
    centres = rng.integers(0, 256, size=(max(1, n // 10), BYTES), dtype=np.uint8)
    bits = np.unpackbits(centres[rng.integers(0, len(centres), size=n)], axis=1)
    positions = rng.integers(0, BYTES * 8, size=(n, 8))
    used = np.arange(8) < rng.integers(0, 9, size=(n, 1))
    rows = np.repeat(np.arange(n), 8).reshape(n, 8)
    bits[rows[used], positions[used]] ^= 1
    return np.packbits(bits, axis=1)


def moved(code: Codes, distance: int, spread: bool, rng: np.random.Generator) -> Codes:
    """``code`` with exactly ``distance`` bits flipped (evenly over 16 chunks if ``spread``)."""
    bits = np.unpackbits(code)
    if spread:
        order = rng.permutation(16)
        chosen = [order[k % 16] * 16 + k // 16 for k in range(distance)]
        positions = np.asarray(chosen) if chosen else np.empty(0, dtype=np.int64)
    else:
        positions = rng.choice(bits.size, size=distance, replace=False)
    bits[positions] ^= 1
    return np.packbits(bits)


def make_queries(codes: Codes, count: int, rng: np.random.Generator) -> Codes:
    """Half near stored codes (distance 0..31), half unrelated random codes."""
    near = count // 2
    rows = rng.integers(0, len(codes), size=near)
    nearby = [
        moved(codes[r], int(rng.integers(0, 32)), i % 2 == 1, rng) for i, r in enumerate(rows)
    ]
    unrelated = rng.integers(0, 256, size=(count - near, BYTES), dtype=np.uint8)
    return np.concatenate([np.stack(nearby), unrelated])


def compare(found: list[list[Hit]], truth: list[list[Hit]]) -> tuple[float, int]:
    """Recall of the oracle's hits, and how many hits the oracle does not have."""
    total = matched = extra = 0
    for got, want in zip(found, truth, strict=True):
        got_set, want_set = set(got), set(want)
        total += len(want_set)
        matched += len(got_set & want_set)
        extra += len(got_set - want_set)
    return (matched / total if total else 1.0), extra


def probe(
    name: str, ids: npt.NDArray[np.int64], codes: Codes, queries: Codes, radius: int
) -> tuple[dict[str, float], list[list[Hit]]]:
    """Build, persist, and query one backend; returns timings and its batched results."""
    cls = index_registry().get(name)
    start = time.perf_counter()
    index: BinaryIndex = cls(bits=BYTES * 8)
    index.add(ids, codes)
    build_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        index.save(Path(tmp))
        index = cls.load(Path(tmp))
        persist_s = time.perf_counter() - start
    latencies = []
    for row in range(len(queries)):
        start = time.perf_counter()
        index.range_search(queries[row : row + 1], radius)
        latencies.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    results = index.range_search(queries, radius)
    batch_s = time.perf_counter() - start
    timings = {
        "build_s": build_s,
        "persist_s": persist_s,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "qps": len(queries) / batch_s,
    }
    return timings, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="FAISS threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    codes = clustered_codes(args.stored, rng)
    ids = np.arange(args.stored, dtype=np.int64) * 7 + 1_000_000
    queries = make_queries(codes, args.queries, rng)
    threads = faiss.omp_get_max_threads()
    print(f"{args.stored:,} stored codes, {args.queries:,} queries, radius {args.radius}, ", end="")
    print(f"{threads} FAISS threads")
    header = f"{'backend':<16}{'build s':>9}{'save+load s':>13}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'batch q/s':>11}{'recall':>8}{'extra':>7}")
    truth: list[list[Hit]] | None = None
    for name in ["brute", *[n for n in index_registry().names() if n != "brute"]]:
        t, results = probe(name, ids, codes, queries, args.radius)
        truth = results if truth is None else truth
        recall, extra = compare(results, truth)
        print(
            f"{name:<16}{t['build_s']:>9.3f}{t['persist_s']:>13.3f}{t['p50_ms']:>9.3f}"
            f"{t['p99_ms']:>9.3f}{t['qps']:>11,.0f}{recall:>8.3f}{extra:>7}"
        )
    hits = sum(len(r) for r in truth or [])
    print(f"oracle hits: {hits:,} ({hits / max(1, args.queries):.1f} a query)")


if __name__ == "__main__":
    main()
