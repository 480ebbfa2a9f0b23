"""The index backend registry (entry-point group ``sightline.indexes``)."""

from __future__ import annotations

from sightline.domain.plugins import PluginRegistry
from sightline.indexes.base import BinaryIndex


def index_registry() -> PluginRegistry[BinaryIndex]:
    """A fresh registry of every installed binary index backend."""
    return PluginRegistry[BinaryIndex]("sightline.indexes", BinaryIndex)
