"""The index backend registries, one per index family.

Binary (Hamming radius) backends register on the entry-point group ``sightline.indexes``,
its name from before index families existed, so existing settings and third-party entry
points keep working. Vector (k-nearest) backends register on ``sightline.vector_indexes``.
Keeping the groups apart means a backend name can never resolve to the wrong family, and each
registry is typed to its own interface.
"""

from __future__ import annotations

from sightline.domain.plugins import PluginRegistry
from sightline.indexes.base import BinaryIndex
from sightline.indexes.vector import VectorIndex

BINARY_GROUP = "sightline.indexes"
VECTOR_GROUP = "sightline.vector_indexes"


def binary_index_registry() -> PluginRegistry[BinaryIndex]:
    """A fresh registry of every installed binary index backend."""
    return PluginRegistry[BinaryIndex](BINARY_GROUP, BinaryIndex)


def index_registry() -> PluginRegistry[BinaryIndex]:
    """The binary registry under its older name (kept so existing callers need no change)."""
    return binary_index_registry()


def vector_index_registry() -> PluginRegistry[VectorIndex]:
    """A fresh registry of every installed vector index backend."""
    return PluginRegistry[VectorIndex](VECTOR_GROUP, VectorIndex)
