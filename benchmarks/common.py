"""Helpers shared by the benchmarks: temporary stores, generated images, percentiles."""

from __future__ import annotations

import secrets
import socket
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sightline.config import Settings
from sightline.domain.access import Role, Scope
from sightline.domain.audit import Requester
from sightline.services import synthetic
from sightline.services.access import tokens, users
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext, initialise, open_context

ONE_MEGAPIXEL = (1152, 864)
# Who the benchmarks are, for services that audit their callers.
BENCH = Requester(actor="benchmark", source="cli")


def new_store(root: Path) -> AppContext:
    """A fresh SQLite store in ``root`` with one agency, ``BENCH``."""
    settings = Settings(data_dir=root / "var", environment="development")
    initialise(settings)
    ctx = open_context(settings)
    add_agency(ctx, "BENCH", "Benchmark agency", "GB", requester=BENCH)
    return ctx


def write_jpeg(args: tuple[Path, int, tuple[int, int], bool]) -> Path:
    """Write landscape ``seed`` as a JPEG, with sensor-like grain if asked (a pool task)."""
    path, seed, size, grain = args
    image = synthetic.landscape(seed, size)
    if grain:
        image = synthetic.add_grain(image, seed=seed)
    path.write_bytes(synthetic.encode(image, "JPEG", quality=90))
    return path


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values``."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, int(q) - 1))]


def certified_token(ctx: AppContext, agency_code: str, username: str) -> tuple[int, str]:
    """A certified investigator of ``agency_code`` and an all-scope API token; (id, secret)."""
    users.create_user(
        ctx,
        actor="benchmark",
        agency_code=agency_code,
        username=username,
        password=secrets.token_urlsafe(24),
        role=Role.INVESTIGATOR,
    )
    until = datetime.now(UTC) + timedelta(days=30)
    users.certify(ctx, actor="benchmark", username=username, until=until)
    return tokens.create_token(
        ctx,
        actor="benchmark",
        username=username,
        name="benchmark",
        scopes=[scope.value for scope in Scope],
        ttl=timedelta(days=1),
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
