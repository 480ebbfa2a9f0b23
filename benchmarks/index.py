"""Speed, memory and exactness of the large-collection PDQ index (``mih``) on clustered codes.

    python -m benchmarks.index [--sizes 1000000,10000000] [--queries 1000] [--seed 7]
                               [--backends mih,faiss-multihash] [--faiss-max 1000000]

Real PDQ collections are clustered: re-encodes, resizes and near-identical frames of one
image sit a few bits apart. The stored set is families of near duplicates (random centres;
members 0..8 random bit flips from their centre), generated in chunks. Three quarters of the
queries are stored codes moved 0..31 bits: a third of those with flips dealt evenly over 16
chunks of 16 bits, a third evenly over the 12 chunks of 21-22 bits used by ``mih`` at 10 M
(the worst cases of multi-index hashing, no chunk left intact), a third at random positions;
the rest are unrelated random codes.

For each size and backend it prints the build time, resident memory per stored code (VmRSS
delta across the build), single-query lookups/s with p50/p99 latency, batched lookups/s,
recall and extra hits against an exact numpy brute-force oracle computed in the same run
(both the single and the batched results are checked; an exact backend must show recall
1.000 and 0 extra), save+load time, the time from ``add`` of one code to a query that finds
it, the time to add 16,384 codes in one call (for ``mih`` this includes merging its delta
into the tables), and the time of one query that hits 40,000 stored copies of itself.
``faiss-multihash`` only runs up to ``--faiss-max`` codes: at 10 M it takes about 30 ms a
query and 3 GB. Searches run one thread (``configure_threads(1)``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sightline.indexes.base import BinaryIndex, Hit
from sightline.indexes.registry import index_registry

BYTES = 32
BITS = BYTES * 8
RADIUS = 31
Codes = npt.NDArray[np.uint8]
Truth = list[set[tuple[int, int]]]  # per query: {(id, distance)}

# ---------------------------------------------------------------------------- data


def clustered_codes(n: int, rng: np.random.Generator, chunk: int = 1_000_000) -> Codes:
    """``n`` codes in families of about 10: a random centre plus 0..8 random bit flips."""
    centres = rng.integers(0, 256, size=(max(1, n // 10), BYTES), dtype=np.uint8)
    out = np.empty((n, BYTES), dtype=np.uint8)
    for start in range(0, n, chunk):
        rows = out[start : start + chunk]
        rows[:] = centres[rng.integers(0, len(centres), size=len(rows))]
        flips = rng.integers(0, 9, size=len(rows))
        positions = rng.integers(0, BITS, size=(len(rows), 8))
        for k in range(8):  # one flip per row per round: no repeated (row, byte) in a round
            (sel,) = np.nonzero(flips > k)
            bit = positions[sel, k]
            rows[sel, bit >> 3] ^= (1 << (bit & 7)).astype(np.uint8)
    return out


def chunk_bounds(tables: int) -> list[tuple[int, int]]:
    """(start, width) of each chunk when 256 bits are cut like ``_mih.c`` cuts them."""
    widths = [BITS // tables + (t < BITS % tables) for t in range(tables)]
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
    return list(zip(starts, widths, strict=True))


def moved(code: Codes, distance: int, tables: int, rng: np.random.Generator) -> Codes:
    """``code`` with exactly ``distance`` bits flipped, dealt evenly over ``tables`` chunks.

    ``tables == 0`` flips random positions. Bit ``i`` is bit ``i % 8`` of byte ``i // 8``
    (little-endian bit order, as the C extension reads the code).
    """
    bits = np.unpackbits(code, bitorder="little")
    if tables:
        bounds = chunk_bounds(tables)
        per_chunk = np.full(tables, distance // tables)
        per_chunk[rng.permutation(tables)[: distance % tables]] += 1
        picks = [
            s + rng.choice(w, k, replace=False) for (s, w), k in zip(bounds, per_chunk, strict=True)
        ]
        positions = np.concatenate(picks)
    else:
        positions = rng.choice(BITS, size=distance, replace=False)
    bits[positions] ^= 1
    return np.packbits(bits, bitorder="little")


def make_queries(codes: Codes, count: int, rng: np.random.Generator) -> Codes:
    """Three quarters near stored codes (0..31 bits, three spreads), the rest unrelated."""
    near = count * 3 // 4
    rows = rng.integers(0, len(codes), size=near)
    spreads = (16, 12, 0)
    nearby = [
        moved(codes[r], int(rng.integers(0, RADIUS + 1)), spreads[i % 3], rng)
        for i, r in enumerate(rows)
    ]
    unrelated = rng.integers(0, 256, size=(count - near, BYTES), dtype=np.uint8)
    return np.concatenate([np.stack(nearby), unrelated])


# ---------------------------------------------------------------------------- oracle


def _oracle_range(
    words: npt.NDArray[np.uint64], q: npt.NDArray[np.uint64], lo: int, hi: int
) -> npt.NDArray[np.int64]:
    """(query, position, distance) of every pair within RADIUS, for positions [lo, hi).

    Blocks of 256 codes keep the (queries x block) temporaries in cache. The first two words
    (128 bits) filter: a pair within 31 bits is within 31 on any subset of bits, and an
    unrelated pair almost never is, so the last two words are only added for survivors.
    """
    block = 256
    tmp = np.empty((len(q), block), dtype=np.uint64)
    acc = np.empty((len(q), block), dtype=np.uint8)
    part = np.empty((len(q), block), dtype=np.uint8)
    found: list[npt.NDArray[np.int64]] = []
    for start in range(lo, hi, block):
        c = words[start : min(start + block, hi)].T
        width = c.shape[1]
        t, a, p = tmp[:, :width], acc[:, :width], part[:, :width]
        np.bitwise_count(np.bitwise_xor(q[:, 0, None], c[0][None, :], out=t), out=a)
        np.bitwise_count(np.bitwise_xor(q[:, 1, None], c[1][None, :], out=t), out=p)
        a += p
        qi, ci = np.nonzero(a <= RADIUS)
        if len(qi):
            pos = ci + start
            rest = np.bitwise_count(q[qi, 2:] ^ words[pos, 2:]).sum(axis=1, dtype=np.int64)
            dist = a[qi, ci].astype(np.int64) + rest
            keep = dist <= RADIUS
            found.append(np.stack([qi[keep], pos[keep], dist[keep]], axis=1))
    return np.concatenate(found) if found else np.empty((0, 3), dtype=np.int64)


def oracle(ids: npt.NDArray[np.int64], codes: Codes, queries: Codes, workers: int = 2) -> Truth:
    """Exact radius-31 answers by numpy brute force over every stored code, in two threads."""
    words = codes.view(np.uint64)
    q = np.ascontiguousarray(queries).view(np.uint64)
    cuts = np.linspace(0, len(codes), workers + 1).astype(int).tolist()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda a, b: _oracle_range(words, q, a, b), cuts[:-1], cuts[1:]))
    truth: Truth = [set() for _ in range(len(queries))]
    for qi, pos, dist in np.concatenate(parts).tolist():
        truth[qi].add((int(ids[pos]), int(dist)))
    return truth


def compare(found: Sequence[list[Hit]], truth: Truth) -> tuple[float, int]:
    """Recall of the oracle's hits, and how many hits the oracle does not have."""
    total = matched = extra = 0
    for got, want in zip(found, truth, strict=True):
        got_set = {(h.id, h.distance) for h in got}
        total += len(want)
        matched += len(got_set & want)
        extra += len(got_set - want)
    return (matched / total if total else 1.0), extra


# ---------------------------------------------------------------------------- measuring


def rss_bytes() -> int:
    """This process's resident set size (VmRSS) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def add_latency(index: BinaryIndex, rng: np.random.Generator, rounds: int = 200) -> list[float]:
    """Milliseconds from ``add`` of one new code to a radius-31 query that finds it."""
    times = []
    for k in range(rounds):
        code = rng.integers(0, 256, size=(1, BYTES), dtype=np.uint8)
        new_id = 2**62 + k
        start = time.perf_counter()
        index.add(np.array([new_id], dtype=np.int64), code)
        hits = index.range_search(code, RADIUS)[0]
        times.append((time.perf_counter() - start) * 1000)
        if Hit(new_id, 0) not in hits:
            raise AssertionError(f"added code {new_id} is not matchable")
    return times


def bulk_add_seconds(index: BinaryIndex, rng: np.random.Generator, count: int = 16_384) -> float:
    """Seconds to add ``count`` codes in one call and find the last of them."""
    codes = rng.integers(0, 256, size=(count, BYTES), dtype=np.uint8)
    ids = np.arange(count, dtype=np.int64) + 2**61
    start = time.perf_counter()
    index.add(ids, codes)
    hits = index.range_search(codes[-1:], RADIUS)[0]
    seconds = time.perf_counter() - start
    if Hit(int(ids[-1]), 0) not in hits:
        raise AssertionError("bulk-added code is not matchable")
    return seconds


def broad_query_ms(index: BinaryIndex, count: int = 40_000) -> float:
    """Milliseconds for one query that hits ``count`` stored copies of itself.

    The native sort of one query's hits runs under the index's read lock, so a slow sort of a
    broad query stalls every other reader; this checks it stays O(n log n).
    """
    code = np.full((1, BYTES), 0xA5, dtype=np.uint8)
    index.add(np.arange(count, dtype=np.int64)[::-1] + 2**60, np.repeat(code, count, axis=0))
    start = time.perf_counter()
    hits = index.range_search(code, RADIUS)[0]
    elapsed = (time.perf_counter() - start) * 1000
    if len(hits) < count:
        raise AssertionError("a broad query lost hits")
    return elapsed


def run_backend(
    name: str, ids: npt.NDArray[np.int64], codes: Codes, queries: Codes, truth: Truth
) -> dict[str, float]:
    """Build, measure and check one backend; returns the row to print."""
    cls = index_registry().get(name)
    cls.configure_threads(1)
    gc.collect()
    before, start = rss_bytes(), time.perf_counter()
    index = cls(bits=BITS)
    index.add(ids, codes)
    row = {"build_s": time.perf_counter() - start, "rss_b": (rss_bytes() - before) / len(ids)}
    singles, latencies = [], []
    for i in range(len(queries)):
        start = time.perf_counter()
        singles.append(index.range_search(queries[i : i + 1], RADIUS)[0])
        latencies.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    batched = index.range_search(queries, RADIUS)
    row["batch_qps"] = len(queries) / (time.perf_counter() - start)
    row["qps"] = 1000 * len(queries) / sum(latencies)
    row["p50_ms"], row["p99_ms"] = np.percentile(latencies, [50, 99]).tolist()
    recall_single, extra_single = compare(singles, truth)
    row["recall"], row["extra"] = compare(batched, truth)
    row["recall"] = min(row["recall"], recall_single)
    row["extra"] += extra_single
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        index.save(Path(tmp))
        row["save_s"] = time.perf_counter() - start
        del index
        gc.collect()
        start = time.perf_counter()
        index = cls.load(Path(tmp))
        row["load_s"] = time.perf_counter() - start
    rng = np.random.default_rng(11)
    adds = add_latency(index, rng)
    row["add_p50_ms"], row["add_max_ms"] = float(np.median(adds)), max(adds)
    row["bulk_add_s"] = bulk_add_seconds(index, rng)
    row["broad_ms"] = broad_query_ms(index)
    return row


COLUMNS = [
    ("build_s", "build s", "{:.1f}"),
    ("rss_b", "B/code", "{:.0f}"),
    ("qps", "single q/s", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:.3f}"),
    ("p99_ms", "p99 ms", "{:.3f}"),
    ("batch_qps", "batch q/s", "{:,.0f}"),
    ("recall", "recall", "{:.4f}"),
    ("extra", "extra", "{:.0f}"),
    ("save_s", "save s", "{:.1f}"),
    ("load_s", "load s", "{:.1f}"),
    ("add_p50_ms", "add->match ms", "{:.3f}"),
    ("add_max_ms", "max ms", "{:.3f}"),
    ("bulk_add_s", "add 16k s", "{:.3f}"),
    ("broad_ms", "40k hits ms", "{:.1f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backends", default="mih,faiss-multihash")
    parser.add_argument("--faiss-max", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"radius {RADIUS}, {args.queries:,} queries, clustered codes (families of ~10)")
    print(f"{'size':>11} {'backend':<16}" + "".join(f"{h:>{len(h) + 2}}" for _, h, _ in COLUMNS))
    for size in [int(s) for s in args.sizes.split(",")]:
        rng = np.random.default_rng(args.seed)
        codes = clustered_codes(size, rng)
        ids = rng.permutation(size).astype(np.int64) * 7 + 1_000_000
        queries = make_queries(codes, args.queries, rng)
        start = time.perf_counter()
        truth = oracle(ids, codes, queries)
        hits = sum(len(t) for t in truth)
        print(f"{size:>11,} oracle: {hits:,} hits, {time.perf_counter() - start:.1f} s")
        for name in args.backends.split(","):
            if name.startswith("faiss") and size > args.faiss_max:
                continue
            row = run_backend(name, ids, codes, queries, truth)
            cells = "".join(f"{f.format(row[k]):>{len(h) + 2}}" for k, h, f in COLUMNS)
            print(f"{size:>11,} {name:<16}{cells}", flush=True)
            gc.collect()


if __name__ == "__main__":
    main()
