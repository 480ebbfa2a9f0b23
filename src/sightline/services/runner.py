"""The interface services use to run many small tasks in parallel.

Services depend on this protocol, not on a concrete pool: ``sightline.jobs`` provides an
inline runner (tests, debugging) and a process-pool runner (ingest on every core).
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
