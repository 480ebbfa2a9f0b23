"""The analyzer registry (entry-point group ``sightline.analyzers``)."""

from __future__ import annotations

from sightline.analyzers.base import Analyzer
from sightline.domain.plugins import PluginRegistry

# Analyzers run at ingest, in this order; each one's output is stored as a Feature.
DEFAULT_ANALYZERS: tuple[str, ...] = ("crypto", "pdq", "metadata")


def analyzer_registry() -> PluginRegistry[Analyzer]:
    """A fresh registry of every installed analyzer."""
    return PluginRegistry[Analyzer]("sightline.analyzers", Analyzer)


def create_analyzers(names: tuple[str, ...] = DEFAULT_ANALYZERS) -> list[Analyzer]:
    """Instantiate the named analyzers (their default parameters)."""
    registry = analyzer_registry()
    return [registry.get(name)() for name in names]
