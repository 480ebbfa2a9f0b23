"""The process-pool runner: every result comes back, and workers start with the preload."""

from __future__ import annotations

import os
import sys

from sightline.jobs.local import ProcessPoolRunner


def _square_and_pid(n: int) -> tuple[int, int, bool]:
    return n * n, os.getpid(), "sightline.services.ingest.run" in sys.modules


def test_every_item_is_mapped_in_preloaded_workers() -> None:
    runner = ProcessPoolRunner(workers=2, chunksize=1)
    results = list(runner.map_unordered(_square_and_pid, range(20)))
    assert sorted(r[0] for r in results) == [n * n for n in range(20)]
    assert os.getpid() not in {r[1] for r in results}  # run in other processes
    # The worker module never imports the ingest stack: the fork server's preload did.
    assert all(r[2] for r in results)
