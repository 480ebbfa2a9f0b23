"""The binary-hash index interface shared by every backend.

Stored codes are identified by a caller-chosen ``int64`` id (the feature's row id). Queries
are radius searches in Hamming distance: PDQ matching asks "everything within 31 bits", not
"the k nearest". A persisted index is a directory holding the backend's native file plus a
JSON manifest (backend, bits, count, checkpoint, build parameters, a SHA-256 checksum of
every data file); never pickle, since index files are untrusted data.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from sightline.errors import IndexFileError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
_REQUIRED_FIELDS = ("backend", "bits", "count", "checkpoint")

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


@dataclass(frozen=True, slots=True)
class IndexManifest:
    """Describes a persisted index; written as JSON beside the native file.

    ``files_sha256`` maps each data file's name to the SHA-256 hex digest of its bytes, so
    files can be verified before any parser sees them. It catches corruption and torn saves,
    not a forger who can also rewrite the manifest.
    """

    backend: str
    bits: int
    count: int
    checkpoint: int
    params: dict[str, Any] = field(default_factory=dict)
    files_sha256: dict[str, str] = field(default_factory=dict)
    format: int = MANIFEST_FORMAT

    def write(self, directory: Path) -> None:
        """Write the manifest atomically into ``directory``."""
        tmp = directory / (MANIFEST_NAME + ".tmp")
        tmp.write_text(json.dumps(_manifest_dict(self), indent=2))
        tmp.replace(directory / MANIFEST_NAME)

    @classmethod
    def read(cls, directory: Path) -> IndexManifest:
        """Read and validate the manifest in ``directory``.

        Raises:
            FileNotFoundError: there is no manifest (no index was saved here).
            IndexFileError: the manifest is unreadable, not valid JSON, of another format,
                or has missing or invalid fields.
        """
        path = directory / MANIFEST_NAME
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise
        except (OSError, ValueError, RecursionError) as exc:  # bad JSON, UTF-8 or nesting
            raise IndexFileError(f"index manifest {path} is unreadable: {exc}") from exc
        try:
            return cls._from_json(raw)
        except (TypeError, ValueError) as exc:
            raise IndexFileError(f"index manifest {path} is invalid: {exc}") from exc

    @classmethod
    def _from_json(cls, raw: object) -> IndexManifest:
        if not isinstance(raw, dict):
            raise TypeError(f"expected a JSON object, got {type(raw).__name__}")
        if raw.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unsupported index manifest format {raw.get('format')!r}")
        missing = [name for name in _REQUIRED_FIELDS if name not in raw]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        checksums = raw.get("files_sha256", {})
        if not isinstance(checksums, dict) or not all(
            isinstance(v, str) for v in checksums.values()
        ):
            raise ValueError("files_sha256 must map file names to hex digests")
        manifest = cls(
            backend=str(raw["backend"]),
            bits=int(raw["bits"]),
            count=int(raw["count"]),
            checkpoint=int(raw["checkpoint"]),
            params=dict(raw.get("params", {})),
            files_sha256=dict(checksums),
        )
        if manifest.bits <= 0 or manifest.bits % 8 or manifest.count < 0:
            raise ValueError(f"invalid bits {manifest.bits} or count {manifest.count}")
        return manifest


def _manifest_dict(manifest: IndexManifest) -> dict[str, Any]:
    return {
        "format": manifest.format,
        "backend": manifest.backend,
        "bits": manifest.bits,
        "count": manifest.count,
        "checkpoint": manifest.checkpoint,
        "params": manifest.params,
        "files_sha256": manifest.files_sha256,
    }


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
