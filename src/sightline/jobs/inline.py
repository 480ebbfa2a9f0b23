"""Run tasks one after another in the calling process."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class InlineRunner:
    """The reference runner: no processes, deterministic order; for tests and debugging."""

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
