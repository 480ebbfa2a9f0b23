"""Latency of ``POST /api/v1/match`` with a 1-megapixel JPEG over loopback.

    python -m benchmarks.match_api [--stored 1000000] [--requests 1000]

Builds a store with ``--stored`` PDQ hashes (a few hundred real landscapes, the rest clustered
synthetic rows, as in ``benchmarks.search``) plus a hash list, starts ``sightline serve`` in
its own process on 127.0.0.1, and sends requests one at a time from this process: camera-like
1 MP JPEGs, a quarter of them unrelated to anything stored. Prints p50/p99 of the whole round
trip and of the server's own time, beside a baseline measured in the same run: the same
requests to ``GET /health/live`` (the cost of HTTP alone). Target: p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx

from benchmarks.common import (
    BENCH,
    ONE_MEGAPIXEL,
    certified_token,
    free_port,
    new_store,
    percentile,
    write_jpeg,
)
from benchmarks.search import fill
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.ingest.run import ingest
from sightline.services.signals.indexes import IndexSet


def _wait_ready(client: httpx.Client, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if client.get("/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--real", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-match-") as tmp:
        root = Path(tmp)
        ctx = new_store(root)
        runner = ProcessPoolRunner()
        real = root / "real"
        real.mkdir()
        jobs = [(real / f"{i}.jpg", i, ONE_MEGAPIXEL, True) for i in range(args.real)]
        list(runner.map_unordered(write_jpeg, jobs))
        ingest(
            ctx, [real], agency_code="BENCH", case_reference="B-1", runner=runner, requester=BENCH
        )
        started = time.perf_counter()
        fill(ctx, args.stored - args.real)
        IndexSet(ctx).save()  # the server loads it instead of rebuilding
        print(f"stored {args.stored} hashes in {time.perf_counter() - started:.1f} s")
        queries = root / "queries"
        queries.mkdir()
        unrelated = [(queries / f"u{i}.jpg", 10_000 + i, ONE_MEGAPIXEL, True) for i in range(50)]
        files = sorted(real.iterdir())[:150] + list(runner.map_unordered(write_jpeg, unrelated))
        payloads = [p.read_bytes() for p in files]
        _, token = certified_token(ctx, "BENCH", "bench-tool")
        ctx.close()
        _serve_and_measure(root, payloads, args.requests, token)


def _serve_and_measure(root: Path, payloads: list[bytes], n: int, token: str) -> None:
    port = free_port()
    env = {**os.environ, "SIGHTLINE_DATA_DIR": str(root / "var")}
    server = subprocess.Popen(
        [sys.executable, "-m", "sightline", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=60,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            _wait_ready(client, 600)
            for payload in payloads[:20]:  # warm-up
                client.post("/api/v1/match", files={"file": ("q.jpg", payload, "image/jpeg")})
            baseline = [_timed(lambda: client.get("/health/live")) for _ in range(n)]
            total, server_ms, known = [], [], 0
            for i in range(n):
                payload = payloads[i % len(payloads)]
                started = time.perf_counter()
                response = client.post(
                    "/api/v1/match", files={"file": ("q.jpg", payload, "image/jpeg")}
                )
                total.append((time.perf_counter() - started) * 1000)
                body = response.json()
                server_ms.append(float(body["elapsed_ms"]))
                known += body["status"] != "new"
    finally:
        server.terminate()
        server.wait(30)
    size_kib = sum(map(len, payloads)) // len(payloads) // 1024
    print(f"{n} requests, {known} known, payload ~{size_kib} KiB")
    print(
        f"POST /api/v1/match round trip: p50 {percentile(total, 50):.1f} ms, "
        f"p99 {percentile(total, 99):.1f} ms (target p99 <= 50 ms)"
    )
    print(
        f"  of which server search time: p50 {percentile(server_ms, 50):.1f} ms, "
        f"p99 {percentile(server_ms, 99):.1f} ms"
    )
    print(
        f"baseline GET /health/live: p50 {percentile(baseline, 50):.2f} ms, "
        f"p99 {percentile(baseline, 99):.2f} ms"
    )


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
