"""Run tasks on a local process pool (one process per core by default)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class ProcessPoolRunner:
    """Parallel runner on ``multiprocessing``; results stream back as they complete.

    Workers are started with the ``forkserver`` method: forking a process that holds database
    connections or threads is unsafe, and ``spawn`` costs more at start-up.
    """

    def __init__(self, workers: int = 0, chunksize: int = 4) -> None:
        """Create a runner with ``workers`` processes (0: one per available core)."""
        self.workers = workers or len(os.sched_getaffinity(0))
        self.chunksize = chunksize

    def map_unordered(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> Iterator[R]:
        """Run ``fn`` over ``items`` in worker processes."""
        context = multiprocessing.get_context("forkserver")
        with context.Pool(self.workers, initializer=initializer, initargs=initargs) as pool:
            yield from pool.imap_unordered(fn, items, chunksize=self.chunksize)
