"""Signals of media items: the source of truth every signal index is rebuilt from.

A signal row holds compact bytes (a packed hash, float32 vector bytes) or a blob id, with a
position and time for sequences, and points at the configuration (analyzer, version,
parameters) that made it. Its id is the id the indexes store (ADR 0013).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from sightline.domain.signals import Signal
from sightline.storage.orm import IndexRemovalRow, SignalConfigRow, SignalRow, utcnow
from sightline.storage.repositories._concurrent import insert_ignoring, open_writers

_CHUNK = 5_000  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def params_digest(params: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an analyzer's parameters (keys sorted, no spaces)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignalConfig:
    """How signals were made: the analyzer, its version and its parameters."""

    analyzer: str
    version: str
    params: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        """The unique key of the configuration."""
        return self.analyzer, self.version, params_digest(self.params)


@dataclass(frozen=True, slots=True)
class NewSignal:
    """A signal to store for a media item, made under ``config_id``."""

    media_id: int
    signal: Signal
    config_id: int | None = None


class SignalRepository:
    """Signals of every kind, and the log of removals the indexes apply."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def config_ids(self, configs: Iterable[SignalConfig]) -> dict[tuple[str, str, str], int]:
        """Ids of the given configurations, stored first where they are new."""
        wanted = {c.key: c for c in configs}
        if not wanted:
            return {}
        self._session.execute(
            insert_ignoring(
                self._session, SignalConfigRow, ["analyzer", "version", "params_sha256"]
            ),
            [
                {"analyzer": a, "version": v, "params_sha256": d, "params": dict(c.params)}
                for (a, v, d), c in sorted(wanted.items())
            ],
        )
        rows = self._session.execute(
            select(
                SignalConfigRow.id,
                SignalConfigRow.analyzer,
                SignalConfigRow.version,
                SignalConfigRow.params_sha256,
            ).where(SignalConfigRow.params_sha256.in_({k[2] for k in wanted}))
        )
        return {(a, v, d): int(i) for i, a, v, d in rows if (a, v, d) in wanted}

    def add_many(self, signals: Sequence[NewSignal]) -> None:
        """Store signals in one statement.

        A signal already stored for the item, kind and position (by a concurrent ingest of
        the same file) is kept as it is.
        """
        if not signals:
            return
        ordered = sorted(signals, key=lambda n: (n.media_id, n.signal.kind, n.signal.position))
        self._session.execute(
            insert_ignoring(self._session, SignalRow, ["media_id", "kind", "position"]),
            [
                {
                    "media_id": n.media_id,
                    "kind": n.signal.kind,
                    "config_id": n.config_id,
                    "position": n.signal.position,
                    "time_ms": n.signal.time_ms,
                    "quality": n.signal.quality,
                    "code": n.signal.value if n.signal.blob_id is None else None,
                    "blob_id": n.signal.blob_id,
                }
                for n in ordered
            ],
        )

    def iter_after(
        self, kind: str, after_id: int, batch: int = 50_000
    ) -> Iterator[list[tuple[int, bytes]]]:
        """Yield ``(id, code)`` batches with ids above ``after_id``, in id order."""
        for rows in self._pages(kind, after_id, batch, SignalRow.code):
            yield [(int(i), bytes(c)) for i, c in rows if c is not None]

    def _pages(self, kind: str, after_id: int, batch: int, *columns: Any) -> Iterator[list[Any]]:
        """Rows ``(id, *columns)`` of ``kind`` above ``after_id``, ``batch`` at a time."""
        last = after_id
        while True:
            rows = self._session.execute(
                select(SignalRow.id, *columns)
                .where(SignalRow.kind == kind, SignalRow.id > last)
                .order_by(SignalRow.id)
                .limit(batch)
            ).all()
            if not rows:
                return
            last = rows[-1][0]
            yield list(rows)

    def codes_by_id(self, kind: str, ids: Iterable[int]) -> list[tuple[int, bytes]]:
        """``(id, code)`` of the given signal ids of this kind that are stored, in id order."""
        wanted = sorted(set(ids))
        out: list[tuple[int, bytes]] = []
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(SignalRow.id, SignalRow.code)
                .where(SignalRow.kind == kind, SignalRow.id.in_(wanted[start : start + _CHUNK]))
                .order_by(SignalRow.id)
            )
            out.extend((int(i), bytes(c)) for i, c in rows if c is not None)
        return out

    def writers(self) -> frozenset[str] | None:
        """Transactions that may still commit signals or removals (None: ids commit in order).

        See :func:`~sightline.storage.repositories._concurrent.open_writers`.
        """
        tables = [SignalRow.__tablename__, IndexRemovalRow.__tablename__]
        return open_writers(self._session, tables)

    def max_id(self, kind: str) -> int:
        """The newest signal id of this kind (0 when none): the index checkpoint."""
        value = self._session.scalar(select(func.max(SignalRow.id)).where(SignalRow.kind == kind))
        return int(value or 0)

    def record_removals(self, kind: str, item_ids: Iterable[int]) -> None:
        """Log codes removed from an index source, for every process's index to apply."""
        rows = [{"kind": kind, "item_id": i, "removed_at": utcnow()} for i in set(item_ids)]
        if rows:
            self._session.execute(insert(IndexRemovalRow), rows)

    def removals_after(self, kind: str, after_id: int) -> list[tuple[int, int]]:
        """``(log id, removed item id)`` logged after ``after_id``, in order."""
        rows = self._session.execute(
            select(IndexRemovalRow.id, IndexRemovalRow.item_id)
            .where(IndexRemovalRow.kind == kind, IndexRemovalRow.id > after_id)
            .order_by(IndexRemovalRow.id)
        )
        return [(int(i), int(item)) for i, item in rows]

    def codes_of(self, kind: str, media_ids: Iterable[int]) -> dict[int, bytes]:
        """Media id -> code of this kind at position 0, for the given items that have one."""
        wanted = list(set(media_ids))
        if not wanted:
            return {}
        rows = self._session.execute(
            select(SignalRow.media_id, SignalRow.code).where(
                SignalRow.kind == kind,
                SignalRow.position == 0,
                SignalRow.media_id.in_(wanted),
            )
        )
        return {int(m): bytes(c) for m, c in rows if c is not None}

    def of_media(self, media_id: int) -> list[Signal]:
        """Every signal of one media item, by kind and position."""
        rows = self._session.execute(
            select(SignalRow)
            .where(SignalRow.media_id == media_id)
            .order_by(SignalRow.kind, SignalRow.position)
        ).scalars()
        return [
            Signal(
                kind=r.kind,
                value=bytes(r.code) if r.code is not None else b"",
                quality=r.quality,
                position=r.position,
                time_ms=r.time_ms,
                blob_id=r.blob_id,
            )
            for r in rows
        ]

    def media_ids(self, ids: Iterable[int]) -> dict[int, int]:
        """Signal id -> media id."""
        wanted = list(set(ids))
        out: dict[int, int] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(SignalRow.id, SignalRow.media_id).where(
                    SignalRow.id.in_(wanted[start : start + _CHUNK])
                )
            )
            out.update((int(i), int(m)) for i, m in rows)
        return out

    def locate(self, ids: Iterable[int]) -> dict[int, tuple[int, int | None]]:
        """Signal id -> (media id, time in the recording; None for a still's value)."""
        wanted = list(set(ids))
        out: dict[int, tuple[int, int | None]] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(SignalRow.id, SignalRow.media_id, SignalRow.time_ms).where(
                    SignalRow.id.in_(wanted[start : start + _CHUNK])
                )
            )
            out.update((int(i), (int(m), None if t is None else int(t))) for i, m, t in rows)
        return out

    def times_of(self, kind: str, media_ids: Iterable[int]) -> dict[int, list[int | None]]:
        """Media id -> the times of its values of ``kind``, in order (a still's: ``[None]``)."""
        wanted = list(set(media_ids))
        out: dict[int, list[int | None]] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(SignalRow.media_id, SignalRow.time_ms)
                .where(
                    SignalRow.kind == kind,
                    SignalRow.media_id.in_(wanted[start : start + _CHUNK]),
                )
                .order_by(SignalRow.media_id, SignalRow.position)
            )
            for media_id, time_ms in rows:
                out.setdefault(int(media_id), []).append(None if time_ms is None else int(time_ms))
        return out

    def probes_of(
        self, kind: str, media_ids: Iterable[int]
    ) -> dict[int, list[tuple[bytes, int | None]]]:
        """Media id -> every code of ``kind`` with its time, in order (a still has one)."""
        wanted = list(set(media_ids))
        out: dict[int, list[tuple[bytes, int | None]]] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(SignalRow.media_id, SignalRow.code, SignalRow.time_ms)
                .where(
                    SignalRow.kind == kind,
                    SignalRow.media_id.in_(wanted[start : start + _CHUNK]),
                    SignalRow.code.is_not(None),
                )
                .order_by(SignalRow.media_id, SignalRow.position)
            )
            for media_id, code, time_ms in rows:
                if code is not None:  # the query says so; the check is for the type
                    entry = (bytes(code), None if time_ms is None else int(time_ms))
                    out.setdefault(int(media_id), []).append(entry)
        return out

    def placed_after(
        self, kind: str, after_id: int, batch: int = 5_000
    ) -> Iterator[list[tuple[int, int, int, bytes]]]:
        """Yield ``(id, media id, position, code)`` batches above ``after_id``, in id order.

        For sequences kept in chunks (a soundtrack fingerprint): an index that joins each
        recording's chunks needs to know whose chunk a row is, and where it goes.
        """
        columns = (SignalRow.media_id, SignalRow.position, SignalRow.code)
        for rows in self._pages(kind, after_id, batch, *columns):
            yield [(int(i), int(m), int(p), bytes(c)) for i, m, p, c in rows if c is not None]

    def placed_by_id(self, kind: str, ids: Iterable[int]) -> list[tuple[int, int, int, bytes]]:
        """``(id, media id, position, code)`` of the given signal ids of ``kind``, in id order."""
        wanted = sorted(set(ids))
        out: list[tuple[int, int, int, bytes]] = []
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(SignalRow.id, SignalRow.media_id, SignalRow.position, SignalRow.code)
                .where(SignalRow.kind == kind, SignalRow.id.in_(wanted[start : start + _CHUNK]))
                .order_by(SignalRow.id)
            )
            out.extend((int(i), int(m), int(p), bytes(c)) for i, m, p, c in rows if c is not None)
        return out
