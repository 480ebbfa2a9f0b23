"""What analyzers are installed and enabled, and the signal kinds each declares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sightline.analyzers.registry import DEFAULT_ANALYZERS, analyzer_registry
from sightline.domain.signals import SignalKind
from sightline.errors import MissingDependency


@dataclass(frozen=True, slots=True)
class AnalyzerInfo:
    """One installed analyzer as an operator sees it."""

    name: str
    enabled: bool
    version: str | None
    media_kinds: tuple[str, ...]
    cost: str | None
    emits: tuple[SignalKind, ...]
    problem: str | None = None


def installed_analyzers(enabled: Sequence[str]) -> list[AnalyzerInfo]:
    """Every installed analyzer, in the enabled order first, with what it declares.

    An analyzer whose optional dependency is missing is listed with the message that says
    what to install, instead of failing the listing.
    """
    chosen = list(enabled) or list(DEFAULT_ANALYZERS)
    registry = analyzer_registry()
    names = [*chosen, *(n for n in registry.names() if n not in chosen)]
    out: list[AnalyzerInfo] = []
    for name in names:
        try:
            cls = registry.get(name)
        except MissingDependency as exc:
            out.append(AnalyzerInfo(name, name in chosen, None, (), None, (), exc.message))
            continue
        out.append(
            AnalyzerInfo(
                name=name,
                enabled=name in chosen,
                version=cls.version,
                media_kinds=tuple(sorted(cls.media_kinds)),
                cost=cls.cost.value,
                emits=cls.emits,
            )
        )
    return out
