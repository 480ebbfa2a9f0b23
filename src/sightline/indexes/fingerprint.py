"""The fingerprint index family: recordings that share stretches of sound, with the offset.

Audio fingerprints are sequences (one 32-bit Chromaprint item every 123.8 ms), and the
question asked of them is neither "within a radius" (binary family) nor "the k nearest"
(vector family) but "which stored recordings share a stretch of sound with this one, where,
and at what offset". The family therefore has its own interface, registry group
(``sightline.fingerprint_indexes``) and contract, beside the other two.

Each stored entry is a caller-chosen ``int64`` key (a media id) holding the recording's whole
raw sequence; ``add`` replaces a stored key. ``search`` answers ``FingerprintHit`` values,
each with the verified ``SharedStretch`` list of ``shared_stretches(query, stored)`` (A is
the query, B the stored recording: ``b = a + offset_ms``), ordered by the items shared
(most first), then the best similarity, then key.

The oracle (``brute-fingerprint``) compares the query with every stored sequence at every
offset; the default backend (``inverted-fingerprint``) finds candidate offsets by voting
through an inverted index and verifies only those. On the contract data (seeded sequences
with planted shared stretches, bits flipped) the default must answer exactly what the oracle
answers.

Persistence follows the other families: ``.npy`` files (keys, sequence starts, the items of
every sequence end to end) plus the JSON manifest (format 2, family ``fingerprint``,
``bits`` = 32, the timing and decision rule in ``params``), verified by checksum before
numpy parses anything. Searches may run concurrently with each other; updates must not
overlap searches or each other (the caller serialises them).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from sightline.domain.plugins import PluginRegistry
from sightline.errors import IndexFileError
from sightline.features.fingerprint import (
    CHROMAPRINT_TIMING,
    DEFAULT_RULE,
    ITEM_BITS,
    Fingerprint,
    ItemTiming,
    MatchRule,
    SharedStretch,
    as_fingerprint,
)
from sightline.indexes._files import load_npy, npy_bytes, write_atomic
from sightline.indexes._validation import as_ids
from sightline.indexes.base import Ids
from sightline.indexes.manifest import FINGERPRINT_FAMILY, IndexManifest

FINGERPRINT_GROUP = "sightline.fingerprint_indexes"
DEFAULT_BACKEND = "inverted-fingerprint"
"""The backend a fingerprint kind uses unless its configuration names another."""

KEYS_FILE = "keys.npy"
STARTS_FILE = "starts.npy"
ITEMS_FILE = "items.npy"

MAX_ITEMS = 2**31 - 1
"""Most items one sequence may hold (int32 offsets; 8,500 years of sound at 123.8 ms)."""


@dataclass(frozen=True, slots=True)
class FingerprintHit:
    """A stored recording that shares sound with the query, and every stretch it shares."""

    key: int
    stretches: tuple[SharedStretch, ...]

    @property
    def items(self) -> int:
        """Items shared over all stretches."""
        return sum(s.items for s in self.stretches)


@dataclass(frozen=True, slots=True)
class FingerprintCapabilities:
    """What a fingerprint backend can do.

    Attributes:
        exact: compares every stored sequence at every offset (the oracle); otherwise it
            examines candidate offsets only, and must still equal the oracle on the contract
            data.
        removal: whether ``remove`` is supported.
        max_limit: the largest ``limit`` a search accepts (None: no limit).
    """

    exact: bool = False
    removal: bool = True
    max_limit: int | None = None


def fingerprint_index_registry() -> PluginRegistry[FingerprintIndex]:
    """A fresh registry of every installed fingerprint index backend."""
    return PluginRegistry[FingerprintIndex](FINGERPRINT_GROUP, FingerprintIndex)


def check_key(key: object) -> int:
    """``key`` as a Python int within int64.

    Raises:
        ValueError: not an integer, or out of int64 range.
    """
    if isinstance(key, bool) or not isinstance(key, int | np.integer):
        raise ValueError(f"a key must be an integer; got {type(key).__name__}")
    value = int(key)
    if not -(2**63) <= value < 2**63:
        raise ValueError("a key must fit in int64")
    return value


def check_limit(limit: object, max_limit: int | None) -> int:
    """Validate a search ``limit``.

    Raises:
        ValueError: not an integer, below 1, or above ``max_limit``.
    """
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer):
        raise ValueError(f"limit must be an integer; got {type(limit).__name__}")
    value = int(limit)
    if value < 1:
        raise ValueError(f"limit must be at least 1; got {value}")
    if max_limit is not None and value > max_limit:
        raise ValueError(f"this backend answers limit up to {max_limit}; got {value}")
    return value


def check_sequence(values: object, what: str = "values") -> Fingerprint:
    """``values`` as a fingerprint (1-D uint32) of at most ``MAX_ITEMS`` items.

    Raises:
        ValueError: not a 1-D array of unsigned 32-bit items, or too long.
    """
    try:
        sequence = as_fingerprint(values)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from exc
    if len(sequence) > MAX_ITEMS:
        raise ValueError(f"{what} hold more than {MAX_ITEMS} items")
    return sequence


def ranked(hits: Iterable[FingerprintHit], limit: int) -> list[FingerprintHit]:
    """Hits by items shared (most first), then best similarity, then key; at most ``limit``."""
    order = sorted(
        (hit for hit in hits if hit.stretches),
        key=lambda h: (-h.items, -max(s.similarity for s in h.stretches), h.key),
    )
    return order[:limit]


class FingerprintIndex(abc.ABC):
    """Recordings' raw fingerprints by key, searchable for shared stretches of sound."""

    name: ClassVar[str]
    capabilities: ClassVar[FingerprintCapabilities] = FingerprintCapabilities()

    def __init__(
        self, *, timing: ItemTiming = CHROMAPRINT_TIMING, rule: MatchRule = DEFAULT_RULE
    ) -> None:
        """Create an empty index.

        Args:
            timing: where the items of every stored and query sequence sit in time.
            rule: when two sequences share a stretch (``sightline.features.fingerprint``).
        """
        self.timing = timing
        self.rule = rule
        self.checkpoint = 0
        self._sequences: dict[int, Fingerprint] = {}

    def params(self) -> dict[str, Any]:
        """Build parameters recorded in the manifest: the timing, the rule, the backend's own."""
        return {"timing": asdict(self.timing), "rule": asdict(self.rule)}

    def add(self, key: int, values: Fingerprint) -> None:
        """Store ``values`` (a raw fingerprint) under ``key``, replacing a stored one.

        Raises:
            ValueError: the key is not an int64, or the values are not a 1-D uint32 sequence.
        """
        key, sequence = check_key(key), check_sequence(values)
        self._sequences[key] = sequence.copy()
        self._added(key)

    def remove(self, keys: Ids | Iterable[int]) -> int:
        """Remove ``keys``; unknown keys are ignored. Returns how many were stored."""
        removed = 0
        for key in as_ids(keys if isinstance(keys, np.ndarray) else list(keys)).tolist():
            if self._sequences.pop(key, None) is not None:
                removed += 1
                self._removed(key)
        return removed

    def __len__(self) -> int:
        """Number of stored keys."""
        return len(self._sequences)

    def __contains__(self, key: object) -> bool:
        return key in self._sequences

    @property
    def item_count(self) -> int:
        """Items stored over all keys."""
        return sum(len(s) for s in self._sequences.values())

    def sequence(self, key: int) -> Fingerprint:
        """A copy of the sequence stored under ``key``.

        Raises:
            KeyError: no such key.
        """
        return self._sequences[key].copy()

    def keys(self) -> Iterator[int]:
        """The stored keys, in insertion order."""
        return iter(list(self._sequences))

    def search(self, query: Fingerprint, *, limit: int = 10) -> list[FingerprintHit]:
        """The stored recordings that share sound with ``query``, verified, best first.

        Raises:
            ValueError: the query is not a 1-D uint32 sequence, or ``limit`` is invalid.
        """
        query = check_sequence(query, "query")
        limit = check_limit(limit, self.capabilities.max_limit)
        if len(query) < self.rule.min_items or not self._sequences:
            return []
        return ranked(self._search(query, limit), limit)

    @abc.abstractmethod
    def _search(self, query: Fingerprint, limit: int) -> Iterable[FingerprintHit]:
        """The hits of a valid query, at least the best ``limit`` (``search`` ranks them)."""

    def _added(self, key: int) -> None:  # noqa: B027  (a hook: the oracle keeps nothing else)
        """Called after ``key`` was stored (or replaced)."""

    def _removed(self, key: int) -> None:  # noqa: B027  (a hook, as ``_added``)
        """Called after ``key`` was removed."""

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        """Write keys, starts and items atomically as ``.npy`` files, then the manifest."""
        directory.mkdir(parents=True, exist_ok=True)
        keys = np.fromiter(self._sequences, dtype=np.int64, count=len(self._sequences))
        lengths = np.fromiter((len(s) for s in self._sequences.values()), dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        parts = list(self._sequences.values())
        items = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)
        files: dict[str, npt.NDArray[Any]] = {
            KEYS_FILE: keys,
            STARTS_FILE: starts,
            ITEMS_FILE: items,
        }
        checksums = {
            name: write_atomic(directory / name, npy_bytes(a)) for name, a in files.items()
        }
        IndexManifest(
            self.name,
            ITEM_BITS,
            len(keys),
            self.checkpoint,
            self.params(),
            checksums,
            family=FINGERPRINT_FAMILY,
        ).write(directory)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load an index saved by ``save`` (of this backend), verified by checksum.

        Raises:
            FileNotFoundError: there is no manifest (no index was saved here).
            IndexFileError: the manifest or a data file is invalid, corrupt, of another
                backend or family, or was built with other parameters.
        """
        manifest = IndexManifest.read(directory)
        if manifest.backend != cls.name:
            raise IndexFileError(
                f"index in {directory} was built by {manifest.backend!r}, not {cls.name!r}"
            )
        if manifest.family != FINGERPRINT_FAMILY or manifest.bits != ITEM_BITS:
            raise IndexFileError(
                f"index in {directory} is a {manifest.family} index, not {FINGERPRINT_FAMILY}"
            )
        index = cls(**_settings(manifest.params, directory))
        if index.params() != manifest.params:
            raise IndexFileError(f"index in {directory} was built with other parameters")
        index.checkpoint = manifest.checkpoint
        for key, sequence in _read_sequences(directory, manifest):
            index._sequences[key] = sequence
            index._added(key)
        return index


def _settings(params: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The timing and rule recorded in a manifest's parameters.

    Raises:
        IndexFileError: they are missing or invalid.
    """
    try:
        timing = ItemTiming(**{k: float(v) for k, v in params["timing"].items()})
        raw = params["rule"]
        rule = MatchRule(
            similarity=float(raw["similarity"]),
            window_items=int(raw["window_items"]),
            min_items=int(raw["min_items"]),
            min_change_bits=float(raw["min_change_bits"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IndexFileError(f"index manifest in {directory} has no valid timing and rule") from exc
    if not math.isfinite(timing.item_ms) or timing.item_ms <= 0:
        raise IndexFileError(f"index manifest in {directory} has an invalid item duration")
    return {"timing": timing, "rule": rule}


def _read_sequences(directory: Path, manifest: IndexManifest) -> Iterator[tuple[int, Fingerprint]]:
    """The stored (key, sequence) pairs, each file verified and checked against the others.

    Raises:
        IndexFileError: a file is missing, corrupt, or inconsistent with the manifest.
    """
    keys = load_npy(directory, manifest, KEYS_FILE)
    starts: npt.NDArray[Any] = load_npy(directory, manifest, STARTS_FILE)
    items: npt.NDArray[Any] = load_npy(directory, manifest, ITEMS_FILE)
    if keys.dtype != np.int64 or keys.shape != (manifest.count,):
        raise IndexFileError(f"{KEYS_FILE} in {directory} does not match the manifest")
    if len(np.unique(keys)) != len(keys):
        raise IndexFileError(f"{KEYS_FILE} in {directory} holds duplicate keys")
    if items.dtype != np.uint32 or items.ndim != 1:
        raise IndexFileError(f"{ITEMS_FILE} in {directory} is not a sequence of uint32 items")
    if (
        starts.dtype != np.int64
        or starts.shape != (len(keys) + 1,)
        or starts[0] != 0
        or starts[-1] != len(items)
        or (np.diff(starts) < 0).any()
        or (np.diff(starts) > MAX_ITEMS).any()
    ):
        raise IndexFileError(f"{STARTS_FILE} in {directory} does not match the items")
    for row, key in enumerate(keys.tolist()):
        yield key, np.ascontiguousarray(items[starts[row] : starts[row + 1]])
