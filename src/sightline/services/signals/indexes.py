"""The binary indexes of a running process: loaded from disk, caught up from the database.

The database is the source of truth; an index is a cache of one source (the signals of one
kind, or the hash-list entries holding that kind). Its checkpoint is a watermark: every id at
or below it is in the index (or was removed; ADR 0010). On open, a persisted index whose
manifest matches the backend and code width is loaded and caught up with the rows above its
checkpoint; a missing or unreadable one is rebuilt from the database.

Searches take no Python lock and run no query while nothing changed: they read the current
index object and search it. A catch-up runs beside them, under a lock of its own, when
:mod:`~sightline.services.signals.freshness` says this process committed a change, when the
background refresher ticks (other processes' writes), or when asked (``refresh``). A rebuild
builds a new index beside the old one and swaps it in. Backends whose searches are not safe
against concurrent updates (``IndexCapabilities.concurrent_search`` false: FAISS, brute)
get one more lock, held by their searches and updates only; ``mih`` needs none, its C core
holds a read-write lock of its own.

:class:`IndexSet` holds every binary index of a process, one :class:`BinaryKindSpec` each.
"""

from __future__ import annotations

import abc
import functools
import logging
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from sightline.domain.signals import ValueType
from sightline.errors import ConfigurationError
from sightline.indexes.base import BinaryIndex, Codes, Hit, Ids, IndexManifest
from sightline.indexes.registry import index_registry, vector_index_registry
from sightline.indexes.vector import VectorHit, VectorIndex
from sightline.services.context import AppContext
from sightline.services.signals.freshness import INDEX_CHANGES, ChangeCounter, Refresher
from sightline.services.signals.sources import ListSignals, MediaSignals, SignalSource
from sightline.services.signals.watermark import Decode, Watermark, catch_up, packed_codes

if TYPE_CHECKING:  # sounds.py subclasses _CachedIndex from here
    from sightline.services.signals.sounds import SoundIndexService

__all__ = [
    "BinaryKindSpec",
    "IndexSet",
    "IndexStatus",
    "ListSignals",
    "MediaSignals",
    "SignalIndexService",
    "SignalSource",
    "VectorIndexService",
]

logger = logging.getLogger(__name__)


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


def _backend_class(backend: str, bits: int, max_threshold: int) -> type[BinaryIndex]:
    """The backend's class, refused when it cannot serve the width or threshold exactly."""
    cls = index_registry().get(backend)
    limit = cls.capabilities.max_radius
    if limit is not None and max_threshold > limit:
        raise ConfigurationError(
            f"index backend {backend!r} is exact only up to distance {limit}; "
            f"for a threshold of {max_threshold} use faiss-flat (any distance)"
        )
    try:
        cls(bits=bits)
    except ValueError as exc:
        raise ConfigurationError(
            f"index backend {backend!r} cannot hold {bits}-bit codes ({exc}); "
            "use faiss-flat or brute (any width)"
        ) from None
    return cls


class _Index(Protocol):
    """What the service needs of an index of either family."""

    checkpoint: int

    def add(self, ids: Ids, values: Any) -> None:
        """Add values under ids."""

    def remove(self, ids: Ids) -> int:
        """Remove ids."""

    def save(self, directory: Path) -> None:
        """Persist with a manifest."""

    def __len__(self) -> int:
        """Stored values."""


IndexT = TypeVar("IndexT", bound=_Index)


class _CachedIndex(abc.ABC, Generic[IndexT]):
    """The catch-up, persistence and freshness every index of a process shares.

    Subclasses say how to make an empty index, whether a persisted manifest fits, how to
    load one and how stored bytes become values (``_new``, ``_fits``, ``_load_native``,
    ``_decode``), and add their family's search.
    """

    _decode: Decode = staticmethod(packed_codes)

    def __init__(
        self,
        ctx: AppContext,
        source: SignalSource,
        *,
        backend: str,
        concurrent: bool,
        changes: ChangeCounter,
    ) -> None:
        self._ctx = ctx
        self._source = source
        self._backend = backend
        self._changes = changes
        self._update_lock = threading.RLock()  # catch-ups, loads, rebuilds, saves: one at a time
        self._search_lock = None if concurrent else threading.Lock()
        self._index: IndexT | None = None
        self._mark = Watermark()
        self._seen = -1  # the change count the current index last caught up at
        self._newest = 0  # newest id read into it, published for ``status``

    @abc.abstractmethod
    def _new(self) -> IndexT:
        """An empty index of this service's backend and shape."""

    @abc.abstractmethod
    def _fits(self, manifest: IndexManifest) -> bool:
        """Whether a persisted index has this service's shape (width, or dims and metric)."""

    @abc.abstractmethod
    def _load_native(self, directory: Path) -> IndexT:
        """Load a persisted index of this backend."""

    @property
    def name(self) -> str:
        """The source's name (``pdq``, ``pdq-lists``)."""
        return self._source.name

    @property
    def backend(self) -> str:
        """The backend's registered name."""
        return self._backend

    @property
    def directory(self) -> Path:
        """Where this backend's index is persisted."""
        return self._ctx.settings.index_dir / f"{self._source.name}-{self._backend}"

    def _exclusive(self) -> AbstractContextManager[object]:
        """Held around searches and updates of backends that are not safe concurrently."""
        return self._search_lock if self._search_lock is not None else nullcontext()

    def open(self) -> IndexT:
        """Load (or rebuild) the index and catch it up; idempotent."""
        index = self._index
        if index is not None:
            return index
        with self._update_lock:
            if self._index is None:
                index = self._load() or self._new()
                mark = Watermark(index.checkpoint)
                self._publish(index, mark, self._catch_up(index, mark)[1])
            return self._require()

    def _require(self) -> IndexT:
        if self._index is None:
            raise RuntimeError("the index is not open")
        return self._index

    def _publish(self, index: IndexT, mark: Watermark, seen: int) -> None:
        """Make a caught-up index the one searches read (one reference assignment)."""
        self._index, self._mark = index, mark
        self._newest, self._seen = mark.rows.high, seen

    def _load(self) -> IndexT | None:
        directory = self.directory
        try:
            manifest = IndexManifest.read(directory)
            if manifest.backend != self._backend or not self._fits(manifest):
                return None
            return self._load_native(directory)
        except FileNotFoundError:
            return None
        except (ValueError, OSError, KeyError, RuntimeError) as exc:
            logger.warning("persisted index unusable (%s); rebuilding", type(exc).__name__)
            return None

    def refresh(self) -> int:
        """Add values stored since the last catch-up and apply logged removals.

        Reads every id above the watermark, adds those not seen yet, then moves the watermark
        up to what earlier catch-ups read once the transactions writing then have all ended
        (ADR 0010). Returns how many values were added.
        """
        with self._update_lock:
            index = self.open()
            added, seen = self._catch_up(index, self._mark)
            self._newest, self._seen = self._mark.rows.high, seen
            return added

    def _catch_up(self, index: IndexT, mark: Watermark) -> tuple[int, int]:
        """Bring ``index`` up to the database; returns values added and the change count.

        The count is read before the database: a change committed after the read moves it
        again, so the next search catches up once more rather than missing it.
        """
        seen = self._changes.value
        with self._ctx.uow() as uow:
            added = catch_up(uow, self._source, index, mark, self._exclusive, self._decode)
        return added, seen

    def rebuild(self) -> int:
        """Rebuild the index from the database beside the current one, swap, persist it."""
        with self._update_lock:
            shutil.rmtree(self.directory, ignore_errors=True)
            index, mark = self._new(), Watermark()
            self._publish(index, mark, self._catch_up(index, mark)[1])
            self.save()
            return self._size(index)

    def save(self) -> None:
        """Persist the index (native file plus JSON manifest)."""
        with self._update_lock:
            index = self.open()
            self.directory.mkdir(parents=True, exist_ok=True)
            with self._exclusive():
                index.save(self.directory)

    def _current(self) -> IndexT:
        """The index a search reads: caught up first only when this process wrote."""
        index = self._index
        if index is None or self._changes.value != self._seen:
            index = self._catch_up_if_changed()
        return index

    def _catch_up_if_changed(self) -> IndexT:
        with self._update_lock:
            self.open()
            if self._changes.value != self._seen:  # another search may have caught up
                self.refresh()
            return self._require()

    def _size(self, index: IndexT) -> int:
        with self._exclusive():
            return len(index)

    def status(self) -> IndexStatus:
        """Index size and freshness against the database (no catch-up)."""
        index = self.open()
        newest = self._newest
        with self._ctx.uow() as uow:
            latest = self._source.latest(uow)
        return IndexStatus(self._backend, self._size(index), newest, latest)


class SignalIndexService(_CachedIndex[BinaryIndex]):
    """One binary index of one process over one source; searches take no lock (see above).

    Args:
        ctx: The store.
        source: Where the codes come from (:class:`MediaSignals`, :class:`ListSignals`).
        bits: Code width.
        backend: Registered backend name (``mih``, ``faiss-flat``...).
        max_threshold: The widest radius searched; refused when the backend is not exact
            that far.
        changes: The counter that says this process committed a change (tests pass their own).
    """

    def __init__(
        self,
        ctx: AppContext,
        source: SignalSource,
        *,
        bits: int,
        backend: str,
        max_threshold: int,
        changes: ChangeCounter = INDEX_CHANGES,
    ) -> None:
        self._bits = bits
        self._cls = _backend_class(backend, bits, max_threshold)
        self._cls.configure_threads(ctx.settings.match.index_threads)
        concurrent = self._cls.capabilities.concurrent_search
        super().__init__(ctx, source, backend=backend, concurrent=concurrent, changes=changes)

    def _new(self) -> BinaryIndex:
        return self._cls(bits=self._bits)

    def _fits(self, manifest: IndexManifest) -> bool:
        return manifest.bits == self._bits

    def _load_native(self, directory: Path) -> BinaryIndex:
        return self._cls.load(directory)

    def search(self, codes: Codes, radius: int) -> list[list[Hit]]:
        """Range search; catches up first only when this process committed a change."""
        index = self._current()
        if self._search_lock is None:
            return index.range_search(codes, radius)
        with self._search_lock:
            return index.range_search(codes, radius)


def _float32_rows(data: bytes, n: int) -> npt.NDArray[np.float32]:
    """Stored vectors: ``n`` rows of little-endian float32."""
    return np.frombuffer(data, dtype="<f4").reshape(n, -1).astype(np.float32)


class VectorIndexService(_CachedIndex[VectorIndex]):
    """One vector index of one process over one kind's stored vectors (k-nearest).

    The same catch-up, removals, persistence and freshness as the binary service; vector
    backends are not safe to search during an update, so searches and updates share a lock.

    Args:
        ctx: The store.
        source: Where the vectors come from (float32 bytes in ``signals.code``).
        dims: Vector width.
        metric: ``l2``, ``ip`` or ``cosine``.
        backend: Registered vector backend (``auto-vector``, ``faiss-flat-vector``...).
        changes: The counter that says this process committed a change.
    """

    _decode: Decode = staticmethod(_float32_rows)

    def __init__(
        self,
        ctx: AppContext,
        source: SignalSource,
        *,
        dims: int,
        metric: str,
        backend: str,
        changes: ChangeCounter = INDEX_CHANGES,
    ) -> None:
        self._dims, self._metric = dims, metric
        self._cls = vector_index_registry().get(backend)
        try:
            self._cls(dims=dims, metric=metric)
        except ValueError as exc:
            raise ConfigurationError(f"vector index backend {backend!r}: {exc}") from None
        self._cls.configure_threads(ctx.settings.match.index_threads)
        super().__init__(ctx, source, backend=backend, concurrent=False, changes=changes)

    def _new(self) -> VectorIndex:
        return self._cls(dims=self._dims, metric=self._metric)

    def _fits(self, manifest: IndexManifest) -> bool:
        return manifest.dims == self._dims and manifest.metric == self._metric

    def _load_native(self, directory: Path) -> VectorIndex:
        return self._cls.load(directory)

    def nearest(self, queries: npt.NDArray[np.float32], k: int) -> list[list[VectorHit]]:
        """The ``k`` nearest stored vectors of each query, best first (the metric's order)."""
        index = self._current()
        with self._exclusive():
            return index.search(queries, k)


@dataclass(frozen=True, slots=True)
class BinaryKindSpec:
    """One binary signal kind to index: its code width and the widest radius searched.

    ``backend`` names the index backend for this kind; None takes ``match.index_backend``.
    """

    kind: str
    bits: int
    max_threshold: int
    backend: str | None = None


DEFAULT_VECTOR_BACKEND = "auto-vector"
"""The vector backend of a kind that names none: exact (flat) up to 40,000 vectors, HNSW
beyond, chosen by size as ``mih`` chooses its tables (``sightline.indexes.auto_vector``)."""

DEFAULT_SOUND_BACKEND = "inverted-fingerprint"
"""The fingerprint backend of a kind that names none."""

MEDIA = "media"
"""Source key of the index over stored media, in :meth:`IndexSet.statuses`."""
LISTS = "lists"
"""Source key of the index over hash-list entries."""


class IndexSet:
    """Every binary index of one process: per kind, one over media and one over hash lists.

    A kind has a list index only when hash-list entries carry it (:meth:`ListSignals.holds`).
    ``start_refresher`` keeps them current with other processes' writes in a long-lived
    process; ``close`` stops it.
    """

    def __init__(self, ctx: AppContext, specs: Iterable[BinaryKindSpec] | None = None) -> None:
        """Build the indexes of ``specs``; by default, of every enabled binary and vector kind."""
        default = specs is None
        if specs is None:
            specs = [
                BinaryKindSpec(k.name, k.bits or 0, k.threshold or 0, k.index_backend)
                for k in ctx.binary_kinds()
            ]
        self._ctx = ctx
        self._media: dict[str, SignalIndexService] = {}
        self._lists: dict[str, SignalIndexService] = {}
        for spec in specs:
            if spec.kind in self._media:
                raise ConfigurationError(f"signal kind {spec.kind!r} is configured twice")
            make = functools.partial(
                SignalIndexService,
                ctx,
                bits=spec.bits,
                backend=spec.backend or ctx.settings.match.index_backend,
                max_threshold=spec.max_threshold,
            )
            self._media[spec.kind] = make(MediaSignals(spec.kind))
            if ListSignals.holds(spec.kind):
                self._lists[spec.kind] = make(ListSignals(spec.kind))
        self._vectors: dict[str, VectorIndexService] = {}
        if default:
            for kind in ctx.signal_kinds.values():
                if kind.value_type is ValueType.FLOAT_VECTOR:
                    self._vectors[kind.name] = VectorIndexService(
                        ctx,
                        MediaSignals(kind.name),
                        dims=kind.dims or 0,
                        metric=kind.metric,
                        backend=kind.index_backend or DEFAULT_VECTOR_BACKEND,
                    )
        # The fingerprint family subclasses this module's cached index, hence the late import.
        from sightline.services.signals.sounds import SoundIndexService

        self._sounds: dict[str, SoundIndexService] = {}
        if default:
            for kind in ctx.signal_kinds.values():
                if kind.value_type is ValueType.FINGERPRINT:
                    self._sounds[kind.name] = SoundIndexService(
                        ctx, kind.name, backend=kind.index_backend or DEFAULT_SOUND_BACKEND
                    )
        self._refresher: Refresher | None = None

    @property
    def sound_kinds(self) -> tuple[str, ...]:
        """The fingerprint kinds with an index (soundtracks)."""
        return tuple(self._sounds)

    def sounds(self, kind: str) -> SoundIndexService:
        """The fingerprint index over stored recordings of a ``fingerprint`` kind."""
        try:
            return self._sounds[kind]
        except KeyError:
            known = ", ".join(self._sounds) or "none"
            raise ConfigurationError(
                f"no fingerprint index for signal kind {kind!r} (indexed: {known})"
            ) from None

    def vectors(self, kind: str) -> VectorIndexService:
        """The vector index over stored media's signals of a ``float_vector`` kind."""
        try:
            return self._vectors[kind]
        except KeyError:
            known = ", ".join(self._vectors) or "none"
            raise ConfigurationError(
                f"no vector index for signal kind {kind!r} (indexed: {known})"
            ) from None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The indexed kinds, in the order given."""
        return tuple(self._media)

    def media(self, kind: str) -> SignalIndexService:
        """The index over stored media's signals of ``kind``."""
        try:
            return self._media[kind]
        except KeyError:
            known = ", ".join(self._media) or "none"
            raise ConfigurationError(
                f"no index for signal kind {kind!r} (indexed: {known})"
            ) from None

    def lists(self, kind: str) -> SignalIndexService | None:
        """The index over hash-list entries of ``kind``; None when lists hold no such hash."""
        self.media(kind)  # an unknown kind is an error, not "no list source"
        return self._lists.get(kind)

    def require_lists(self, kind: str) -> SignalIndexService:
        """Like :meth:`lists`, for callers that need one; refuses a kind without lists."""
        index = self.lists(kind)
        if index is None:
            raise ConfigurationError(f"hash lists hold no {kind!r} hashes")
        return index

    def services(self) -> Iterator[tuple[str, str, _CachedIndex[Any]]]:
        """``(kind, source key, service)`` for every index, media before lists per kind."""
        for kind, media in self._media.items():
            yield kind, MEDIA, media
            if kind in self._lists:
                yield kind, LISTS, self._lists[kind]
        for kind, vectors in self._vectors.items():
            yield kind, MEDIA, vectors
        for kind, sounds in self._sounds.items():
            yield kind, MEDIA, sounds

    def open(self) -> None:
        """Load or rebuild every index and catch it up."""
        for _, _, service in self.services():
            service.open()

    def refresh(self) -> int:
        """Catch every index up; returns how many codes were added."""
        return sum(service.refresh() for _, _, service in self.services())

    def statuses(self) -> dict[str, dict[str, IndexStatus]]:
        """Kind -> source key (``media``, ``lists``) -> status."""
        out: dict[str, dict[str, IndexStatus]] = {}
        for kind, key, service in self.services():
            out.setdefault(kind, {})[key] = service.status()
        return out

    def save(self) -> None:
        """Persist every index."""
        for _, _, service in self.services():
            service.save()

    def rebuild(self) -> dict[str, dict[str, int]]:
        """Rebuild every index from the database; kind -> source key -> size."""
        out: dict[str, dict[str, int]] = {}
        for kind, key, service in self.services():
            out.setdefault(kind, {})[key] = service.rebuild()
        return out

    def start_refresher(self, interval: float | None = None) -> None:
        """Catch up in a background thread every ``interval`` seconds (0: never).

        ``interval`` defaults to ``match.index_refresh_seconds``. Only for long-lived
        processes (the server): a command that runs once catches up when it opens.
        """
        seconds = self._ctx.settings.match.index_refresh_seconds if interval is None else interval
        if seconds <= 0 or self._refresher is not None:
            return
        self._refresher = Refresher(self.refresh, seconds)
        self._refresher.start()

    def close(self) -> None:
        """Stop the refresher, if one runs."""
        if self._refresher is not None:
            self._refresher.stop()
            self._refresher = None
