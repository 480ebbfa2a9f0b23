"""The binary-hash index family: the interface shared by every Hamming-radius backend.

Stored codes are identified by a caller-chosen ``int64`` id (the feature's row id). Queries
are radius searches in Hamming distance: PDQ matching asks "everything within 31 bits", not
"the k nearest". Float vectors searched by k-nearest are the other family
(``sightline.indexes.vector``), with its own interface, registry group and contract.

A persisted index is a directory holding the backend's native file plus a JSON manifest
(``sightline.indexes.manifest``: backend, bits, count, checkpoint, build parameters, a
SHA-256 checksum of every data file); never pickle, since index files are untrusted data.
``IndexManifest`` and ``MANIFEST_NAME`` are re-exported here, where callers first found them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from sightline.indexes.manifest import MANIFEST_FORMAT, MANIFEST_NAME, IndexManifest

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "BinaryIndex",
    "Codes",
    "Hit",
    "Ids",
    "IndexCapabilities",
    "IndexManifest",
]

Codes = npt.NDArray[np.uint8]
Ids = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class IndexCapabilities:
    """What a backend can do, declared so callers can choose.

    ``concurrent_search``: searches may run in any number of threads at once, also while
    ``add`` or ``remove`` runs in another (each update atomic to them). A backend without it
    needs its caller to serialise searches and updates (the index service does, with a lock
    of its own for such backends only).
    """

    metric: str = "hamming"
    radius_search: bool = True
    removal: bool = True
    exact: bool = True
    max_radius: int | None = None
    concurrent_search: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    """One stored code within the query radius."""

    id: int
    distance: int


class BinaryIndex(abc.ABC):
    """A set of binary codes searchable by Hamming radius."""

    name: ClassVar[str]
    capabilities: ClassVar[IndexCapabilities] = IndexCapabilities()

    def __init__(self, bits: int = 256) -> None:
        if bits % 8:
            raise ValueError("bits must be a multiple of 8")
        self.bits = bits
        self.checkpoint = 0

    @property
    def code_bytes(self) -> int:
        """Bytes per code."""
        return self.bits // 8

    def params(self) -> dict[str, Any]:
        """Build parameters recorded in the manifest."""
        return {}

    @classmethod
    def configure_threads(cls, threads: int) -> None:
        """Set how many threads the backend's searches use in this process (0: its default).

        Backends without internal threading ignore it.
        """
        del threads  # nothing to configure in the reference backends

    @abc.abstractmethod
    def add(self, ids: Ids, codes: Codes) -> None:
        """Add codes (shape ``(n, bits/8)``) under the given ids; an existing id is replaced."""

    @abc.abstractmethod
    def remove(self, ids: Ids) -> int:
        """Remove the given ids; returns how many were present."""

    @abc.abstractmethod
    def range_search(self, queries: Codes, radius: int) -> list[list[Hit]]:
        """For each query, every stored code within ``radius`` bits, nearest first."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of stored codes."""

    @abc.abstractmethod
    def save(self, directory: Path) -> None:
        """Persist into ``directory`` (native file plus manifest), atomically per file."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: Path) -> Self:
        """Load an index saved by ``save``."""
