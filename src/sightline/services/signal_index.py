"""The PDQ indexes of a running process: loaded from disk, caught up from the database.

The database is the source of truth; the index is a cache of the ``binary_signals`` table.
Its checkpoint is a watermark: every signal id at or below it is in the index (or was
removed). On open, a persisted index whose manifest matches the configured backend is loaded
and then caught up incrementally with the signals above its checkpoint; a missing or
unreadable one is rebuilt from the database. ``refresh`` makes newly ingested hashes
matchable without a rebuild.

Catching up by "ids above the newest one seen" is wrong with concurrent writers: on
PostgreSQL a sequence value is taken at insert and becomes visible at commit, so id 10 can
appear after id 11 was indexed. The watermark therefore only passes an id once every
transaction that could still commit a lower one has ended; the ids seen above it are
remembered, and each refresh re-reads that window (ADR 0010).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from sightline.domain.signals import SignalKind
from sightline.errors import ConfigurationError
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

    def codes(self, uow: UnitOfWork, ids: Iterable[int]) -> list[tuple[int, bytes]]:
        """``(id, packed code)`` of those of ``ids`` that are stored."""
        ...

    def writers(self, uow: UnitOfWork) -> frozenset[str] | None:
        """Transactions that may still commit rows or removals; None: ids commit in order."""
        ...

    def latest(self, uow: UnitOfWork) -> int:
        """The newest id (0 when empty)."""
        ...


class MediaSignals:
    """Signals of one kind of stored media (``signals``)."""

    def __init__(self, kind: str) -> None:
        self.name = kind

    def batches_after(self, uow: UnitOfWork, after_id: int) -> Iterator[list[tuple[int, bytes]]]:
        """Signals newer than the checkpoint."""
        return uow.signals.iter_after(self.name, after_id)

    def codes(self, uow: UnitOfWork, ids: Iterable[int]) -> list[tuple[int, bytes]]:
        """Stored signals among ``ids``."""
        return uow.signals.codes_by_id(self.name, ids)

    def writers(self, uow: UnitOfWork) -> frozenset[str] | None:
        """Open transactions writing signals or removals."""
        return uow.signals.writers()

    def latest(self, uow: UnitOfWork) -> int:
        """Newest signal id."""
        return uow.signals.max_id(self.name)


class ListSignals:
    """PDQ hashes of hash-list entries (``hash_list_entries``)."""

    name = "pdq-lists"

    def batches_after(self, uow: UnitOfWork, after_id: int) -> Iterator[list[tuple[int, bytes]]]:
        """Entries newer than the checkpoint."""
        return uow.hashlists.pdq_after(after_id)

    def codes(self, uow: UnitOfWork, ids: Iterable[int]) -> list[tuple[int, bytes]]:
        """Stored entries with a PDQ hash among ``ids``."""
        return uow.hashlists.pdq_by_id(ids)

    def writers(self, uow: UnitOfWork) -> frozenset[str] | None:
        """Open transactions writing entries or removals."""
        return uow.hashlists.pdq_writers()

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


_MAX_PENDING = 256  # refreshes remembered while writers are open; older ones are merged
_T = TypeVar("_T")


@dataclass(slots=True)
class _Window:
    """One log's ids (signals or removals): final up to ``low``, ``seen`` above it.

    An id above ``low`` that is not in ``seen`` may still appear (its transaction has not
    committed), so every refresh reads from ``low`` and skips what it has seen.
    """

    low: int = 0
    seen: set[int] = field(default_factory=set)

    @property
    def high(self) -> int:
        """The newest id read."""
        return max(self.seen, default=self.low)

    def unseen(self, rows: list[tuple[int, _T]]) -> list[tuple[int, _T]]:
        """The rows not read before, now marked as read."""
        fresh = [(i, v) for i, v in rows if i > self.low and i not in self.seen]
        self.seen.update(i for i, _ in fresh)
        return fresh

    def settle(self, upto: int) -> None:
        """Every id up to ``upto`` is final and has been read: stop re-reading them."""
        if upto > self.low:
            self.low = upto
            self.seen = {i for i in self.seen if i > upto}


@dataclass(frozen=True, slots=True)
class _Pending:
    """A refresh's read: ids up to ``rows`` and ``removals`` are final once ``writers`` end."""

    writers: frozenset[str]
    rows: int
    removals: int


def _add(index: BinaryIndex, rows: list[tuple[int, bytes]]) -> int:
    if not rows:
        return 0
    ids = np.fromiter((i for i, _ in rows), dtype=np.int64, count=len(rows))
    codes = np.frombuffer(b"".join(c for _, c in rows), dtype=np.uint8)
    index.add(ids, codes.reshape(len(rows), -1))
    return len(rows)


class SignalIndexService:
    """Owns one process's index of one binary signal source; thread-safe."""

    def __init__(
        self,
        ctx: AppContext,
        source: SignalSource,
        *,
        bits: int,
        threshold: int,
        backend: str | None = None,
    ) -> None:
        self._ctx = ctx
        self._source = source
        self._bits = bits
        self._backend = backend or ctx.settings.match.index_backend
        self._cls = index_registry().get(self._backend)
        limit = self._cls.capabilities.max_radius
        if limit is not None and threshold > limit:
            raise ConfigurationError(
                f"index backend {self._backend!r} is exact only up to distance {limit}; "
                f"for a PDQ threshold of {threshold} use faiss-flat (any distance)"
            )
        self._cls.configure_threads(ctx.settings.match.index_threads)
        self._lock = threading.RLock()
        self._index: BinaryIndex | None = None
        self._reset(0)

    def _reset(self, checkpoint: int) -> None:
        # The removal log is applied from its start after each load or rebuild: idempotent.
        self._rows = _Window(low=checkpoint)
        self._removals = _Window()
        self._pending: list[_Pending] = []

    @property
    def directory(self) -> Path:
        """Where this backend's index is persisted."""
        return self._ctx.settings.index_dir / f"{self._source.name}-{self._backend}"

    def open(self) -> BinaryIndex:
        """Load (or rebuild) the index and catch it up; idempotent."""
        with self._lock:
            if self._index is None:
                self._index = self._load() or self._cls(bits=self._bits)
                self._reset(self._index.checkpoint)
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
        """Add signals stored since the last refresh and apply logged removals.

        Reads every id above the watermark, adds those not seen yet, then moves the watermark
        up to what earlier refreshes read once the transactions writing then have all ended
        (ADR 0010). Returns how many codes were added.
        """
        with self._lock:
            index = self._index if self._index is not None else self.open()
            with self._ctx.uow() as uow:
                settled = self._settled(self._source.writers(uow))
                added = 0
                for batch in self._source.batches_after(uow, self._rows.low):
                    added += _add(index, self._rows.unseen(batch))
                # Removals after additions: a removal read late only removes more, and the
                # rows of reused ids are read back below.
                added += self._apply_removals(uow, index)
                self._settle(settled, self._source.writers(uow))
            index.checkpoint = self._rows.low
            return added

    def _apply_removals(self, uow: UnitOfWork, index: BinaryIndex) -> int:
        logged = uow.signals.removals_after(self._source.name, self._removals.low)
        items = sorted({item for _, item in self._removals.unseen(logged)})
        if not items:
            return 0
        index.remove(np.array(items, dtype=np.int64))
        # SQLite gives a new row the highest id plus one, so after the newest rows are
        # deleted a new row can take a removed id, at or below the watermark: read those.
        return _add(index, self._source.codes(uow, items))

    def _settled(self, writers: frozenset[str] | None) -> tuple[int, int] | None:
        """Watermarks of earlier refreshes whose writers have all ended by now."""
        if writers is None:
            return None
        done = [p for p in self._pending if not p.writers & writers]
        if not done:
            return None
        self._pending = [p for p in self._pending if p.writers & writers]
        return max(p.rows for p in done), max(p.removals for p in done)

    def _settle(self, settled: tuple[int, int] | None, writers: frozenset[str] | None) -> None:
        """Move the watermarks after a read; remember what this one read until it is final."""
        if writers is None:  # ids commit in order: everything read so far is final
            self._rows.settle(self._rows.high)
            self._removals.settle(self._removals.high)
            return
        if settled is not None:
            self._rows.settle(settled[0])
            self._removals.settle(settled[1])
        entry = _Pending(writers, self._rows.high, self._removals.high)
        if self._pending and self._pending[-1].writers == writers:
            self._pending[-1] = entry  # the same writers: the newer read supersedes
        else:
            self._pending.append(entry)
        if len(self._pending) > _MAX_PENDING:  # a long transaction: merge the oldest two
            first, second = self._pending[0], self._pending[1]
            merged = _Pending(first.writers | second.writers, second.rows, second.removals)
            self._pending[:2] = [merged]

    def rebuild(self) -> int:
        """Discard the index and rebuild it from the database; returns its size."""
        with self._lock:
            shutil.rmtree(self.directory, ignore_errors=True)
            self._index = self._cls(bits=self._bits)
            self._reset(0)
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
            return IndexStatus(self._backend, len(index), self._rows.high, latest)


class IndexSet:
    """Every binary index of one process: per enabled kind, its media and list sources."""

    def __init__(self, ctx: AppContext, kinds: Iterable[SignalKind] | None = None) -> None:
        chosen = ctx.binary_kinds() if kinds is None else tuple(kinds)
        self._media: dict[str, SignalIndexService] = {}
        self._lists: dict[str, SignalIndexService] = {}
        for kind in chosen:
            bits, threshold = kind.bits or 0, kind.threshold or 0
            self._media[kind.name] = SignalIndexService(
                ctx,
                MediaSignals(kind.name),
                bits=bits,
                threshold=threshold,
                backend=kind.index_backend,
            )
            if kind.listed:
                self._lists[kind.name] = SignalIndexService(
                    ctx, ListSignals(), bits=bits, threshold=threshold
                )

    def media(self, kind: str) -> SignalIndexService:
        """The index of stored media's signals of ``kind``."""
        return self._media[kind]

    def lists(self, kind: str) -> SignalIndexService | None:
        """The index of hash-list entries of ``kind`` (None: lists do not carry it)."""
        return self._lists.get(kind)

    def statuses(self) -> dict[str, list[IndexStatus]]:
        """Status of every index, grouped as ``media`` and ``lists``."""
        return {
            "media": [s.status() for s in self._media.values()],
            "lists": [s.status() for s in self._lists.values()],
        }

    def rebuild(self) -> dict[str, int]:
        """Rebuild every index from the database; codes per group."""
        return {
            "media": sum(s.rebuild() for s in self._media.values()),
            "lists": sum(s.rebuild() for s in self._lists.values()),
        }

    def services(self) -> list[SignalIndexService]:
        """Every index, media first."""
        return [*self._media.values(), *self._lists.values()]

    def refresh(self) -> None:
        """Catch every index up with the database."""
        for service in self.services():
            service.refresh()

    def save(self) -> None:
        """Persist every index."""
        for service in self.services():
            service.save()
