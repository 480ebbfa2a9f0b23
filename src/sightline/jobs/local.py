"""Run tasks on a local process pool (one process per core by default)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sightline.services.jobs.runner import JobRunner

if TYPE_CHECKING:
    from sightline.config import Settings

T = TypeVar("T")
R = TypeVar("R")

PRELOAD: tuple[str, ...] = ("__main__", "sightline.services.ingest.run")
"""Modules the fork server imports once, before it forks any worker.

Without them every worker imports the program's main module and the ingest stack (NumPy,
Pillow, pdqhash, SQLAlchemy...) on its own: ~0.7-1 s a worker, measured as 17 % of a
600-image ingest. Preloaded, a worker starts as a fork of a process that has them all.
``"__main__"`` covers a script (the ``sightline`` command); a ``python -m`` main re-runs
cheaply in each worker because its imports are then already loaded.
"""


class ProcessPoolRunner(JobRunner):
    """Parallel runner on ``multiprocessing``; results stream back as they complete.

    Workers are started with the ``forkserver`` method: forking a process that holds database
    connections or threads is unsafe, and ``spawn`` costs more at start-up.
    """

    name: ClassVar[str] = "process"

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcessPoolRunner:
        """A pool of ``SIGHTLINE_INGEST__WORKERS`` processes (0: one per core)."""
        return cls(settings.ingest.workers)

    def __init__(
        self, workers: int = 0, chunksize: int = 4, preload: Sequence[str] = PRELOAD
    ) -> None:
        """Create a runner with ``workers`` processes (0: one per available core)."""
        self.workers = workers or len(os.sched_getaffinity(0))
        self.chunksize = chunksize
        self.preload = list(preload)
        # Fix multiprocessing's private directory (it holds the fork server's socket, no data)
        # under the system temp dir now: the API later points ``tempfile`` at DATA_DIR/scratch,
        # whose path can exceed the ~107 bytes a Unix socket path may have.
        multiprocessing.util.get_temp_dir()

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
        # Takes effect when the fork server starts (the first pool of the process).
        context.set_forkserver_preload(self.preload)
        with context.Pool(self.workers, initializer=initializer, initargs=initargs) as pool:
            yield from pool.imap_unordered(fn, items, chunksize=self.chunksize)
