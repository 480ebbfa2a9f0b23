"""The interface services use to run many small tasks in parallel, and its registry.

Services depend on the :class:`TaskRunner` protocol, not on a concrete pool. Runners are
plugins (entry-point group ``sightline.job_runners``): ``process`` is the local process pool
(``sightline.jobs.local``, ingest on every core) and ``inline`` the reference runner below, which
runs in the calling thread (tests, debugging, small jobs). The setting
``SIGHTLINE_INGEST__RUNNER`` names the one :func:`make_runner` builds, so a distributed runner
(Ray, say) is one new class subclassing :class:`JobRunner` and one entry point, with no service
touched. The registry lives here, below ``jobs``, because services must obtain runners without
importing the layer that implements them; entry points load the classes lazily.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from sightline.domain.plugins import PluginRegistry

if TYPE_CHECKING:
    from sightline.config import Settings

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


class JobRunner(abc.ABC):
    """Base of runner plugins: a :class:`TaskRunner` that can be built from the settings.

    ``fn``, the items and the initializer's arguments must pickle for runners that leave the
    process; results stream back as they complete, so a caller can record them in batches.
    """

    name: ClassVar[str]
    """The plugin's registered name."""

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: Settings) -> JobRunner:
        """The runner as ``settings`` configure it (worker count and the like)."""

    @abc.abstractmethod
    def map_unordered(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> Iterator[R]:
        """Run ``fn`` on every item; ``initializer(*initargs)`` runs once per worker first."""


class InlineRunner(JobRunner):
    """The reference runner: no processes, deterministic order (tests, debugging, API jobs)."""

    name: ClassVar[str] = "inline"

    @classmethod
    def from_settings(cls, settings: Settings) -> InlineRunner:
        """An inline runner (it has nothing to configure)."""
        return cls()

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


def job_runner_registry() -> PluginRegistry[JobRunner]:
    """A fresh registry of every installed job runner."""
    return PluginRegistry[JobRunner]("sightline.job_runners", JobRunner)


def make_runner(
    settings: Settings, *, registry: PluginRegistry[JobRunner] | None = None
) -> JobRunner:
    """The runner ``SIGHTLINE_INGEST__RUNNER`` names, configured from ``settings``.

    Raises:
        UnknownPlugin: no runner has that name (the message lists the valid ones).
        MissingDependency: the runner's optional dependency is not installed.
    """
    cls = (registry or job_runner_registry()).get(settings.ingest.runner)
    return cls.from_settings(settings)
