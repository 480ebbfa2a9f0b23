"""Throughput and latency of the API under 20 concurrent clients, with the audit trail checked.

    python -m benchmarks.api [--images 300] [--concurrency 20] [--search 400] [--reads 2000]

Builds a fresh store with ``--images`` benign 1-megapixel landscapes, a certified investigator
and one all-scope API token per measured endpoint, starts ``sightline serve`` (uvicorn, one
process) on a free loopback port, and loads it with ApacheBench (``ab``, from Debian's
apache2-utils, installed by ``scripts/install-system.sh``): a real, independent load generator
in C that sends exactly ``-n`` requests with ``-c`` concurrent connections, so the count it
reports completed can be compared with the audit trail one for one. Each request opens a new
connection (no keep-alive), the pessimistic case for a tool calling the API.

Measured, in one run: authenticated search (``POST /api/v1/search``, a stored 1 MP JPEG as a
multipart upload, token auth), metadata reads (``GET /api/v1/media/{id}``, or the first of
``GET /api/v1/cases/{id}`` and ``GET /api/v1/session`` that exists), and the baseline
``GET /health/live``. Afterwards the audit chain must verify and every measured kind must have
exactly one audit event per completed request (no gap, no extra).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import select

from benchmarks.common import (
    BENCH,
    ONE_MEGAPIXEL,
    certified_token,
    free_port,
    new_store,
    write_jpeg,
)
from sightline.config import Settings
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.access import audit
from sightline.services.context import AppContext, open_context
from sightline.services.ingest.run import ingest
from sightline.services.signals.indexes import IndexSet
from sightline.storage.orm import CaseRow, MediaRow

BOUNDARY = "sightline-benchmark-boundary"


@dataclass(frozen=True)
class Endpoint:
    """One measured request: what ``ab`` sends and the audit action each success leaves."""

    label: str
    path: str
    requests: int
    token: tuple[int, str] | None = None  # (id, secret)
    action: str | None = None  # audit action per request; None: not audited
    body: Path | None = None


@dataclass(frozen=True)
class Measured:
    """What ``ab`` reported for one endpoint."""

    endpoint: Endpoint
    completed: int
    failed: int
    non_2xx: int
    per_second: float
    p50_ms: float
    p99_ms: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--search", type=int, default=400, help="search requests")
    parser.add_argument("--reads", type=int, default=2000, help="metadata reads and baseline")
    args = parser.parse_args()
    if min(args.search, args.reads) < 100:
        # ab's percentile table (-e) reads past its last sample at 99% below ~50 requests.
        parser.error("--search and --reads: at least 100 requests each")
    if shutil.which("ab") is None:
        raise SystemExit("ab not found: run scripts/install-system.sh (Debian apache2-utils)")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        root = Path(tmp)
        ctx = new_store(root)
        started = time.perf_counter()
        query = _fill(ctx, root, args.images)
        print(f"stored {args.images} 1 MP images in {time.perf_counter() - started:.0f} s")
        search_token = certified_token(ctx, "BENCH", "bench-search")
        read_token = certified_token(ctx, "BENCH", "bench-reads")
        media_id, case_id = _first_ids(ctx)
        settings = ctx.settings
        ctx.close()
        body = _multipart(root / "search.body", query.read_bytes())
        port = free_port()
        with _server(root, port) as client:
            read_path, read_action = _metadata_endpoint(client, media_id, case_id)
            endpoints = [
                Endpoint("GET /health/live (baseline)", "/health/live", args.reads),
                Endpoint(f"GET {read_path}", read_path, args.reads, read_token, read_action),
                Endpoint(
                    "POST /api/v1/search (1 MP)",
                    "/api/v1/search",
                    args.search,
                    search_token,
                    "search",
                    body,
                ),
            ]
            results = [_ab(port, endpoint, args.concurrency) for endpoint in endpoints]
        _report(settings, results, args.concurrency, query.stat().st_size)


def _fill(ctx: AppContext, root: Path, count: int) -> Path:
    """Ingest ``count`` 1 MP landscapes into case B-1; returns one of them, the search query."""
    real = root / "real"
    real.mkdir()
    runner = ProcessPoolRunner()
    jobs = [(real / f"{i}.jpg", i, ONE_MEGAPIXEL, True) for i in range(count)]
    list(runner.map_unordered(write_jpeg, jobs))
    ingest(ctx, [real], agency_code="BENCH", case_reference="B-1", runner=runner, requester=BENCH)
    IndexSet(ctx).save()  # the server loads it instead of rebuilding
    return real / "0.jpg"


def _first_ids(ctx: AppContext) -> tuple[int, int]:
    with ctx.engine.connect() as connection:
        media_id = connection.execute(select(MediaRow.id).limit(1)).scalar_one()
        case_id = connection.execute(select(CaseRow.id).limit(1)).scalar_one()
    return int(media_id), int(case_id)


def _multipart(path: Path, data: bytes) -> Path:
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="query.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    path.write_bytes(head + data + f"\r\n--{BOUNDARY}--\r\n".encode())
    return path


class _server:  # noqa: N801 - used as a context manager, reads as a phrase
    """``sightline serve`` on 127.0.0.1:``port`` in its own process, stopped on exit."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port

    def __enter__(self) -> httpx.Client:
        env = {**os.environ, "SIGHTLINE_DATA_DIR": str(self.root / "var")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sightline", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if self.client.get("/health/ready").status_code == 200:
                    return self.client
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise SystemExit("server did not become ready")

    def __exit__(self, *_: object) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(30)


def _metadata_endpoint(client: httpx.Client, media_id: int, case_id: int) -> tuple[str, str | None]:
    """The metadata read to measure: the first of media, case and session that the API has."""
    operations = {
        op.get("operationId")
        for item in client.get("/openapi.json").json()["paths"].values()
        for op in item.values()
    }
    if "get_media" in operations:
        return f"/api/v1/media/{media_id}", "media.metadata"
    if "get_case" in operations:
        return f"/api/v1/cases/{case_id}", "case.read"
    return "/api/v1/session", None


def _ab(port: int, endpoint: Endpoint, concurrency: int) -> Measured:
    """Run ApacheBench against one endpoint and parse its summary and percentiles."""
    percentiles = Path(tempfile.mkstemp(suffix=".csv")[1])
    command = ["ab", "-q", "-l", "-s", "60", "-n", str(endpoint.requests)]
    command += ["-c", str(concurrency), "-e", str(percentiles)]
    if endpoint.token is not None:
        command += ["-H", f"Authorization: Bearer {endpoint.token[1]}"]
    if endpoint.body is not None:
        command += ["-p", str(endpoint.body), "-T", f"multipart/form-data; boundary={BOUNDARY}"]
    command.append(f"http://127.0.0.1:{port}{endpoint.path}")
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    with percentiles.open() as handle:
        served = {int(row[0]): float(row[1]) for row in list(csv.reader(handle))[1:]}
    percentiles.unlink()
    return Measured(
        endpoint,
        completed=int(_field(out, "Complete requests")),
        failed=int(_field(out, "Failed requests")),
        non_2xx=int(_field(out, "Non-2xx responses", "0")),
        per_second=float(_field(out, "Requests per second")),
        p50_ms=served[50],
        p99_ms=served[99],
    )


def _field(text: str, name: str, default: str | None = None) -> str:
    found = re.search(rf"^{name}:\s+([\d.]+)", text, re.MULTILINE)
    if found is None:
        if default is None:
            raise SystemExit(f"ab printed no {name!r}:\n{text}")
        return default
    return found.group(1)


def _audited(ctx: AppContext, token_id: int, action: str) -> int:
    """Audit events of ``action`` by the token ``token_id``."""
    count, after = 0, 0
    actor = f"token:{token_id}"
    while page := audit.show(ctx, after_id=after, limit=1000, actor=actor, action=action):
        count += len(page)
        after = page[-1].id
    return count


def _report(settings: Settings, results: list[Measured], concurrency: int, size: int) -> None:
    ctx = open_context(settings)
    try:
        report = audit.verify(ctx)
        rows = [(m, _audit_cell(ctx, m)) for m in results]
    finally:
        ctx.close()
    print(
        f"\n{concurrency} concurrent clients (ab, new connection per request), loopback, "
        f"one uvicorn process; search payload {size // 1024} KiB"
    )
    header = f"{'endpoint':<34} {'done':>6} {'errors':>6} {'req/s':>8} {'p50 ms':>8} "
    print(header + f"{'p99 ms':>8}  audit events")
    for m, cell in rows:
        errors = m.failed + m.non_2xx
        print(
            f"{m.endpoint.label:<34} {m.completed:>6} {errors:>6} {m.per_second:>8.1f} "
            f"{m.p50_ms:>8.1f} {m.p99_ms:>8.1f}  {cell}"
        )
    print(f"audit chain: {'intact' if report.ok else f'BROKEN at event {report.first_bad_id}'}")
    gaps = any(cell.startswith("MISMATCH") for _, cell in rows)
    if not report.ok or gaps or any(m.failed or m.non_2xx for m in results):
        raise SystemExit(1)


def _audit_cell(ctx: AppContext, m: Measured) -> str:
    if m.endpoint.token is None or m.endpoint.action is None:
        return "not audited"
    events = _audited(ctx, m.endpoint.token[0], m.endpoint.action)
    ok = events == m.completed - m.non_2xx
    return f"{'' if ok else 'MISMATCH '}{events} {m.endpoint.action} (= completed 2xx: {ok})"


if __name__ == "__main__":
    main()
