"""The PDQ indexes of a running process: loaded from disk, caught up from the database.

The database is the source of truth; the index is a cache of the ``binary_signals`` table.
Its checkpoint is the newest signal id it contains. On open, a persisted index whose
manifest matches the configured backend is loaded and then caught up incrementally with the
signals added since its checkpoint; a missing or unreadable one is rebuilt from the
database. ``refresh`` makes newly ingested hashes matchable without a rebuild.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from sightline.errors import ConfigurationError
from sightline.features.hashes import PDQ_KIND
from sightline.indexes.base import BinaryIndex, Hit, IndexManifest
from sightline.indexes.registry import index_registry
from sightline.services.context import AppContext
from sightline.storage.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)


class SignalSource(Protocol):
    """Where an index's codes come from: a table with increasing ids."""

    name: str

    def batches_after(self, uow: UnitOfWork, after_id: int) -> Iterator[list[tuple[int, bytes]]]:
        """``(id, packed code)`` batches with ids above ``after_id``, in id order."""
        ...

    def latest(self, uow: UnitOfWork) -> int:
        """The newest id (0 when empty)."""
        ...


class MediaSignals:
    """PDQ hashes of stored media (``binary_signals``)."""

    name = PDQ_KIND

    def batches_after(self, uow: UnitOfWork, after_id: int) -> Iterator[list[tuple[int, bytes]]]:
        """Signals newer than the checkpoint."""
        return uow.signals.iter_after(PDQ_KIND, after_id)

    def latest(self, uow: UnitOfWork) -> int:
        """Newest signal id."""
        return uow.signals.max_id(PDQ_KIND)


class ListSignals:
    """PDQ hashes of hash-list entries (``hash_list_entries``)."""

    name = "pdq-lists"

    def batches_after(self, uow: UnitOfWork, after_id: int) -> Iterator[list[tuple[int, bytes]]]:
        """Entries newer than the checkpoint."""
        return uow.hashlists.pdq_after(after_id)

    def latest(self, uow: UnitOfWork) -> int:
        """Newest entry id with a PDQ hash."""
        return uow.hashlists.max_pdq_id()


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """Whether the in-memory index holds every stored signal."""

    backend: str
    count: int
    checkpoint: int
    latest: int

    @property
    def ready(self) -> bool:
        """True when no stored signal is missing from the index."""
        return self.checkpoint >= self.latest


class PdqIndexService:
    """Owns one process's PDQ index; thread-safe."""

    def __init__(self, ctx: AppContext, source: SignalSource | None = None) -> None:
        self._ctx = ctx
        self._source: SignalSource = source or MediaSignals()
        self._backend = ctx.settings.match.index_backend
        self._cls = index_registry().get(self._backend)
        limit = self._cls.capabilities.max_radius
        threshold = ctx.settings.match.pdq_threshold
        if limit is not None and threshold > limit:
            raise ConfigurationError(
                f"index backend {self._backend!r} is exact only up to distance {limit}; "
                f"for a PDQ threshold of {threshold} use faiss-flat (any distance)"
            )
        self._cls.configure_threads(ctx.settings.match.index_threads)
        self._lock = threading.RLock()
        self._index: BinaryIndex | None = None
        self._removal_checkpoint = 0

    @property
    def directory(self) -> Path:
        """Where this backend's index is persisted."""
        return self._ctx.settings.index_dir / f"{self._source.name}-{self._backend}"

    def open(self) -> BinaryIndex:
        """Load (or rebuild) the index and catch it up; idempotent."""
        with self._lock:
            if self._index is None:
                self._index = self._load() or self._cls(bits=256)
                self.refresh()
            return self._index

    def _load(self) -> BinaryIndex | None:
        directory = self.directory
        try:
            manifest = IndexManifest.read(directory)
            if manifest.backend != self._backend:
                return None
            return self._cls.load(directory)
        except FileNotFoundError:
            return None
        except (ValueError, OSError, KeyError, RuntimeError) as exc:
            logger.warning("persisted PDQ index unusable (%s); rebuilding", type(exc).__name__)
            return None

    def refresh(self) -> int:
        """Add signals stored since the checkpoint and apply logged removals.

        Returns how many codes were added.
        """
        with self._lock:
            index = self._index if self._index is not None else self.open()
            added = 0
            with self._ctx.uow() as uow:
                # Removals first: a removed id is never re-added (ids only grow). The removal
                # log is applied from the start after each load, which is idempotent.
                removed = uow.signals.removals_after(self._source.name, self._removal_checkpoint)
                if removed:
                    index.remove(np.array([item for _, item in removed], dtype=np.int64))
                    self._removal_checkpoint = removed[-1][0]
                for batch in self._source.batches_after(uow, index.checkpoint):
                    ids = np.fromiter((i for i, _ in batch), dtype=np.int64, count=len(batch))
                    codes = np.frombuffer(b"".join(c for _, c in batch), dtype=np.uint8)
                    index.add(ids, codes.reshape(len(batch), -1))
                    index.checkpoint = int(ids[-1])
                    added += len(batch)
            return added

    def rebuild(self) -> int:
        """Discard the index and rebuild it from the database; returns its size."""
        with self._lock:
            shutil.rmtree(self.directory, ignore_errors=True)
            self._index = self._cls(bits=256)
            self._removal_checkpoint = 0
            self.refresh()
            self.save()
            return len(self._index)

    def save(self) -> None:
        """Persist the index (native file plus JSON manifest)."""
        with self._lock:
            index = self.open()
            self.directory.mkdir(parents=True, exist_ok=True)
            index.save(self.directory)

    def search(self, codes: np.ndarray, radius: int) -> list[list[Hit]]:
        """Range search after catching up with new signals."""
        with self._lock:
            index = self.open()
            self.refresh()
            return index.range_search(codes, radius)

    def status(self) -> IndexStatus:
        """Index size and freshness against the database."""
        with self._lock:
            index = self.open()
            with self._ctx.uow() as uow:
                latest = self._source.latest(uow)
            return IndexStatus(self._backend, len(index), index.checkpoint, latest)
