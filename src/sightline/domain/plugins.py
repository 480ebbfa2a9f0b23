"""A lazily loaded, name-checked registry of plugins declared as entry points.

Built-in analyzers and index backends register exactly as a third-party plugin would: an
entry point in ``pyproject.toml``. Nothing is imported until a plugin is asked for, so a
missing optional dependency surfaces as a clear ``MissingDependency`` naming the extra to
install, not as an ImportError at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar, cast

from sightline.errors import MissingDependency, SightlineError, UnknownPlugin

T = TypeVar("T")


class PluginRegistry(Generic[T]):
    """Named plugins of one kind (one entry-point group)."""

    def __init__(self, group: str, base: type, *, extra: dict[str, str] | None = None) -> None:
        """Create a registry for ``group``.

        Args:
            group: the entry-point group, for example ``sightline.analyzers``.
            base: every plugin must subclass it (abstract classes welcome, hence ``type``).
            extra: plugin name -> pip extra that provides its dependencies.
        """
        self._group = group
        self._base = base
        self._extra = extra or {}
        self._entry_points: dict[str, EntryPoint] | None = None
        self._loaded: dict[str, type[T]] = {}
        self._manual: dict[str, type[T]] = {}

    def _discover(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            found: dict[str, EntryPoint] = {}
            for ep in entry_points(group=self._group):
                if ep.name in found and found[ep.name].value != ep.value:
                    raise SightlineError(
                        f"two plugins named {ep.name!r} in {self._group}: "
                        f"{found[ep.name].value} and {ep.value}"
                    )
                found[ep.name] = ep
            self._entry_points = found
        return self._entry_points

    def register(self, cls: type[T], name: str) -> None:
        """Register a class by hand (tests, embedding applications)."""
        if name in self.names():
            raise SightlineError(f"a plugin named {name!r} is already registered")
        self._manual[name] = cls

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted({*self._discover(), *self._manual})

    def get(self, name: str) -> type[T]:
        """Load the plugin class called ``name``.

        Raises:
            UnknownPlugin: no plugin has that name (the message lists the valid ones).
            MissingDependency: the plugin's optional dependency is not installed.
        """
        if name in self._manual:
            return self._manual[name]
        if name not in self._loaded:
            ep = self._discover().get(name)
            if ep is None:
                raise UnknownPlugin(
                    f"no {self._group} plugin named {name!r}; valid: {', '.join(self.names())}"
                )
            try:
                cls = ep.load()
            except ImportError as exc:
                raise MissingDependency(
                    f"plugin {name!r} needs a missing package: {self._hint(name, ep, exc)}"
                ) from exc
            if not (isinstance(cls, type) and issubclass(cls, self._base)):
                raise SightlineError(f"plugin {name!r} is not a {self._base.__name__}")
            if getattr(cls, "name", name) != name:
                raise SightlineError(
                    f"plugin {ep.value} declares name {getattr(cls, 'name', None)!r}, "
                    f"registered as {name!r}"
                )
            self._loaded[name] = cast(type[T], cls)  # checked by issubclass above
        return self._loaded[name]

    def _hint(self, name: str, ep: EntryPoint, exc: ImportError) -> str:
        """What to install for a plugin whose import failed.

        The extra its entry point declares (``name = module:Class [video]``), else the one
        this registry knows for the name, else the missing module itself.
        """
        if ep.extras:
            dist = ep.dist.name if ep.dist is not None else "sightline"
            return f"install {dist}[{','.join(ep.extras)}]"
        extra = self._extra.get(name)
        return f"install sightline[{extra}]" if extra else f"install {exc.name}"

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
