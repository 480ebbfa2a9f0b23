"""Where a binary index's codes come from: a table with increasing ids, per signal kind.

A source names the rows an index holds, reads them in id order above a watermark, reads
given ids back (for ids reused after a removal), names the transactions that may still
commit rows (ADR 0010), and reports the newest id (for readiness). Its ``name`` keys both
the persisted index directory and the removal log, so it must never change for a kind
whose indexes are already on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar, Protocol

from sightline.errors import ConfigurationError
from sightline.features.hashes import PDQ_KIND
from sightline.storage.unit_of_work import UnitOfWork


class SignalSource(Protocol):
    """Where an index's codes come from: a table with increasing ids."""

    @property
    def name(self) -> str:
        """Names the persisted index directory and the removal log's ``kind``."""
        ...

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
    """Binary signals of one kind computed from stored media (the signal table)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    @property
    def name(self) -> str:
        """The kind itself (``pdq``): persisted directories stay ``pdq-<backend>``."""
        return self.kind

    def batches_after(self, uow: UnitOfWork, after_id: int) -> Iterator[list[tuple[int, bytes]]]:
        """Signals newer than the checkpoint."""
        return uow.signals.iter_after(self.kind, after_id)

    def codes(self, uow: UnitOfWork, ids: Iterable[int]) -> list[tuple[int, bytes]]:
        """Stored signals among ``ids``."""
        return uow.signals.codes_by_id(self.kind, ids)

    def writers(self, uow: UnitOfWork) -> frozenset[str] | None:
        """Open transactions writing signals or removals."""
        return uow.signals.writers()

    def latest(self, uow: UnitOfWork) -> int:
        """Newest signal id of the kind."""
        return uow.signals.max_id(self.kind)


class ListSignals:
    """Binary hashes of one kind held by hash-list entries.

    Hash-list entries carry PDQ hashes only today, so only that kind has a list source;
    :meth:`holds` tells which kinds do. The name ``pdq-lists`` is kept for PDQ so that
    persisted list indexes and logged removals stay valid.
    """

    KINDS: ClassVar[frozenset[str]] = frozenset({PDQ_KIND})

    def __init__(self, kind: str) -> None:
        if not self.holds(kind):
            raise ConfigurationError(
                f"hash lists hold no {kind!r} hashes; kinds with a list source: "
                f"{', '.join(sorted(self.KINDS))}"
            )
        self.kind = kind

    @classmethod
    def holds(cls, kind: str) -> bool:
        """Whether hash-list entries carry hashes of ``kind``."""
        return kind in cls.KINDS

    @property
    def name(self) -> str:
        """``<kind>-lists``."""
        return f"{self.kind}-lists"

    def batches_after(self, uow: UnitOfWork, after_id: int) -> Iterator[list[tuple[int, bytes]]]:
        """Entries newer than the checkpoint."""
        return uow.hashlists.pdq_after(after_id)

    def codes(self, uow: UnitOfWork, ids: Iterable[int]) -> list[tuple[int, bytes]]:
        """Stored entries with a hash among ``ids``."""
        return uow.hashlists.pdq_by_id(ids)

    def writers(self, uow: UnitOfWork) -> frozenset[str] | None:
        """Open transactions writing entries or removals."""
        return uow.hashlists.pdq_writers()

    def latest(self, uow: UnitOfWork) -> int:
        """Newest entry id with a hash."""
        return uow.hashlists.max_pdq_id()
