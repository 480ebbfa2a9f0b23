"""Helpers shared by the benchmarks: temporary stores, generated images, percentiles."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from sightline.config import Settings
from sightline.domain.audit import Requester
from sightline.services import synthetic
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
