"""The JSON manifest written beside every persisted index, of either index family.

A saved index is a directory of data files (the backend's native format) plus
``manifest.json``, which records who built it (backend), what it holds (family and shape,
count, checkpoint), how it was built (params) and the SHA-256 of every data file, so files are
verified before any parser sees them. JSON, never pickle: index files are untrusted data.

Two layouts are read:

* Format 2 (written now) names the ``family``: ``"binary"`` records ``bits`` (the code
  width); ``"vector"`` records ``dims`` and ``metric`` instead, since a float vector has
  no bit width but does have a distance that every later search must use;
  ``"fingerprint"`` (audio fingerprint sequences) records ``bits``, the width of one item.
* Format 1 (written before index families existed) has no ``family`` and is always a binary
  index with ``bits``. It still loads, so an index saved by an older release is reused, not
  rebuilt. The trade-off runs the other way only: an older release refuses a format 2
  manifest (``IndexFileError``, a ``ValueError``) and rebuilds that index from the database.

The manifest checks its own shape (required fields, types, positive widths); whether a backend
accepts the width, metric and parameters is the backend's check when it loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sightline.errors import IndexFileError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 2
LEGACY_BINARY_FORMAT = 1
"""Format 1: the binary-only layout (``bits``, no ``family``), read but no longer written."""

BINARY_FAMILY = "binary"
VECTOR_FAMILY = "vector"
FINGERPRINT_FAMILY = "fingerprint"
FAMILIES = (BINARY_FAMILY, VECTOR_FAMILY, FINGERPRINT_FAMILY)

_COMMON_FIELDS = ("backend", "count", "checkpoint")
_FAMILY_FIELDS = {
    BINARY_FAMILY: ("bits",),
    VECTOR_FAMILY: ("dims", "metric"),
    FINGERPRINT_FAMILY: ("bits",),
}


@dataclass(frozen=True, slots=True)
class IndexManifest:
    """Describes a persisted index; written as JSON beside the native files.

    ``bits`` is set for the binary and fingerprint families only; ``dims`` and ``metric``
    for the vector family only (build vector manifests with ``for_vectors``).
    ``files_sha256`` maps each data file's name to the SHA-256 hex digest of its bytes: it
    catches corruption and torn saves, not a forger who can also rewrite the manifest.

    Raises:
        ValueError: on construction, when the fields do not describe a valid manifest of
            the family (for example a vector manifest with ``bits``, or ``bits`` not a
            positive multiple of 8).
    """

    backend: str
    bits: int | None
    count: int
    checkpoint: int
    params: dict[str, Any] = field(default_factory=dict)
    files_sha256: dict[str, str] = field(default_factory=dict)
    format: int = MANIFEST_FORMAT
    family: str = BINARY_FAMILY
    dims: int | None = None
    metric: str | None = None

    def __post_init__(self) -> None:
        _check_family(self.format, self.family)
        if self.count < 0:
            raise ValueError(f"invalid count {self.count}")
        if self.family in (BINARY_FAMILY, FINGERPRINT_FAMILY):
            _check_binary_shape(self.bits, self.dims, self.metric)
        else:
            _check_vector_shape(self.bits, self.dims, self.metric)

    @classmethod
    def for_vectors(
        cls,
        backend: str,
        *,
        dims: int,
        metric: str,
        count: int,
        checkpoint: int,
        params: dict[str, Any] | None = None,
        files_sha256: dict[str, str] | None = None,
    ) -> IndexManifest:
        """A format 2 manifest of the vector family."""
        return cls(
            backend,
            None,
            count,
            checkpoint,
            dict(params or {}),
            dict(files_sha256 or {}),
            family=VECTOR_FAMILY,
            dims=dims,
            metric=metric,
        )

    def write(self, directory: Path) -> None:
        """Write the manifest atomically into ``directory``."""
        tmp = directory / (MANIFEST_NAME + ".tmp")
        tmp.write_text(json.dumps(_manifest_dict(self), indent=2))
        tmp.replace(directory / MANIFEST_NAME)

    @classmethod
    def read(cls, directory: Path) -> IndexManifest:
        """Read and validate the manifest in ``directory`` (format 1 or 2).

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
            return _from_json(raw)
        except (TypeError, ValueError) as exc:
            raise IndexFileError(f"index manifest {path} is invalid: {exc}") from exc


def _check_family(fmt: object, family: object) -> str:
    """Check the format and family go together; returns the family's name.

    Raises:
        ValueError: an unknown format or family, or format 1 with a family other than binary.
    """
    if fmt not in (LEGACY_BINARY_FORMAT, MANIFEST_FORMAT):
        raise ValueError(f"unsupported index manifest format {fmt!r}")
    if family not in FAMILIES:
        raise ValueError(f"unknown index family {family!r}; valid: {', '.join(FAMILIES)}")
    if fmt == LEGACY_BINARY_FORMAT and family != BINARY_FAMILY:
        raise ValueError("format 1 manifests describe binary indexes only")
    return str(family)


def _check_binary_shape(bits: int | None, dims: int | None, metric: str | None) -> None:
    if bits is None or bits <= 0 or bits % 8:
        raise ValueError(f"invalid bits {bits} (a positive multiple of 8 is required)")
    if dims is not None or metric is not None:
        raise ValueError("a binary index manifest records bits, not dims or metric")


def _check_vector_shape(bits: int | None, dims: int | None, metric: str | None) -> None:
    if dims is None or dims <= 0:
        raise ValueError(f"invalid dims {dims} (a positive integer is required)")
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"invalid metric {metric!r} (a metric name is required)")
    if bits is not None:
        raise ValueError("a vector index manifest records dims and metric, not bits")


def _from_json(raw: object) -> IndexManifest:
    """Build a manifest from parsed JSON, either format.

    Raises:
        TypeError: not a JSON object.
        ValueError: another format, a missing field, or an invalid value.
    """
    if not isinstance(raw, dict):
        raise TypeError(f"expected a JSON object, got {type(raw).__name__}")
    fmt = raw.get("format")
    legacy = fmt == LEGACY_BINARY_FORMAT
    family = _check_family(fmt, BINARY_FAMILY if legacy else raw.get("family"))
    missing = [name for name in (*_COMMON_FIELDS, *_FAMILY_FIELDS[family]) if name not in raw]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    checksums = raw.get("files_sha256", {})
    if not isinstance(checksums, dict) or not all(isinstance(v, str) for v in checksums.values()):
        raise ValueError("files_sha256 must map file names to hex digests")
    # The other family's fields are read too when present, so that a manifest claiming both
    # a bit width and a vector shape is refused as ambiguous rather than half-ignored.
    return IndexManifest(
        backend=str(raw["backend"]),
        bits=int(raw["bits"]) if "bits" in raw else None,
        count=int(raw["count"]),
        checkpoint=int(raw["checkpoint"]),
        params=dict(raw.get("params", {})),
        files_sha256=dict(checksums),
        format=LEGACY_BINARY_FORMAT if legacy else MANIFEST_FORMAT,
        family=family,
        dims=int(raw["dims"]) if "dims" in raw else None,
        metric=raw.get("metric"),
    )


def _manifest_dict(manifest: IndexManifest) -> dict[str, Any]:
    """The JSON object for ``manifest``, in the layout of its format."""
    shape: dict[str, Any]
    if manifest.family == VECTOR_FAMILY:
        shape = {"dims": manifest.dims, "metric": manifest.metric}
    else:
        shape = {"bits": manifest.bits}
    family = {} if manifest.format == LEGACY_BINARY_FORMAT else {"family": manifest.family}
    return {
        "format": manifest.format,
        **family,
        "backend": manifest.backend,
        **shape,
        "count": manifest.count,
        "checkpoint": manifest.checkpoint,
        "params": manifest.params,
        "files_sha256": manifest.files_sha256,
    }
