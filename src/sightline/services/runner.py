"""The interface services use to run many small tasks in parallel.

Services depend on this protocol, not on a concrete pool: ``sightline.jobs`` provides a
process-pool runner (ingest on every core). :class:`InlineRunner`, the reference runner, lives
here so that the API's background ingest (which may not import ``jobs``) can use it too;
``sightline.jobs.inline`` re-exports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class TaskRunner(Protocol):
    """Maps a function over items, yielding results as they complete (any order)."""

    def map_unordered(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> Iterator[R]:
        """Run ``fn`` on every item; ``initializer(*initargs)`` runs once per worker first."""
        ...


class InlineRunner:
    """The reference runner: no processes, deterministic order (tests, debugging, API jobs)."""

    def map_unordered(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> Iterator[R]:
        """Run the initializer once, then ``fn`` on each item in order."""
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            yield fn(item)
