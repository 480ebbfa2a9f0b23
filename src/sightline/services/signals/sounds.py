"""The soundtrack index of a process: each recording's fingerprint, searchable by shared sound.

A soundtrack fingerprint is stored in chunks (one ``signals`` row per ~63 s, with its
position), but two recordings share sound wherever it lies, across chunk borders: the index
holds each recording's whole sequence under its media id. :class:`RecordingIndex` joins the
chunks as the generic catch-up (:func:`~sightline.services.signals.watermark.catch_up`) reads
them, row by row and in any order, and takes a removed chunk back out; persistence adds the
chunk layout beside the backend's own files. :class:`SoundIndexService` gives it the same
catch-up, persistence, freshness and health as the binary and vector indexes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sightline.features.fingerprint import MatchRule
from sightline.indexes._files import npy_bytes, write_atomic
from sightline.indexes.fingerprint import (
    FINGERPRINT_GROUP,
    FingerprintHit,
    FingerprintIndex,
    fingerprint_index_registry,
)
from sightline.indexes.manifest import FINGERPRINT_FAMILY, IndexManifest
from sightline.services.context import AppContext
from sightline.services.signals.freshness import INDEX_CHANGES, ChangeCounter
from sightline.services.signals.indexes import _CachedIndex
from sightline.services.signals.sources import MediaSignals
from sightline.storage.unit_of_work import UnitOfWork

_HEADER = struct.Struct("<qqq")  # media id, position, item count
_LAYOUT_FILE = "chunks.npy"


def _placed(rows: Iterable[tuple[int, int, int, bytes]]) -> list[tuple[int, bytes]]:
    """``(id, header + code)``: each chunk carries its recording and position to the index."""
    return [(i, _HEADER.pack(m, p, len(c) // 4) + c) for i, m, p, c in rows]


def _chunks(data: bytes, n: int) -> npt.NDArray[Any]:
    """The ``n`` placed chunks of the catch-up's joined bytes: (media, position, items)."""
    out = np.empty(n, dtype=object)
    offset = 0
    for row in range(n):
        media, position, count = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        items = np.frombuffer(data, dtype="<u4", count=count, offset=offset).astype(np.uint32)
        offset += 4 * count
        out[row] = (media, position, items)
    return out


class RecordingSignals(MediaSignals):
    """Chunks of one fingerprint kind, each with the recording and position it belongs to."""

    def batches_after(self, uow: UnitOfWork, after_id: int) -> Iterator[list[tuple[int, bytes]]]:
        """Chunks newer than the checkpoint, placed."""
        for batch in uow.signals.placed_after(self.kind, after_id):
            yield _placed(batch)

    def codes(self, uow: UnitOfWork, ids: Iterable[int]) -> list[tuple[int, bytes]]:
        """Stored chunks among ``ids``, placed."""
        return _placed(uow.signals.placed_by_id(self.kind, ids))


class RecordingIndex:
    """A fingerprint index keyed by recording, fed chunk by chunk.

    ``add`` takes chunk signal ids with their (media, position, items); the recording's
    sequence is its chunks in position order, replaced in the backend whenever one arrives
    or goes.
    """

    def __init__(self, inner: FingerprintIndex) -> None:
        self.inner = inner
        # chunk id -> (media id, position, items); media id -> {position: chunk id}
        self._chunk: dict[int, tuple[int, int, int]] = {}
        self._layout: dict[int, dict[int, int]] = {}

    @property
    def checkpoint(self) -> int:
        """The backend's checkpoint (the watermark persisted with it)."""
        return self.inner.checkpoint

    @checkpoint.setter
    def checkpoint(self, value: int) -> None:
        self.inner.checkpoint = value

    def __len__(self) -> int:
        """Recordings held."""
        return len(self.inner)

    def add(self, ids: npt.NDArray[np.int64], values: Any) -> None:
        """Store chunks (``values[i]`` is ``(media id, position, items)`` of chunk ``ids[i]``)."""
        touched: dict[int, dict[int, npt.NDArray[np.uint32]]] = {}
        for chunk_id, (media, position, items) in zip(ids.tolist(), values, strict=True):
            parts = touched.setdefault(media, self._parts(media))
            old = self._layout.setdefault(media, {}).get(position)
            if old is not None and old != chunk_id:
                self._chunk.pop(old, None)
            parts[position] = items
            self._layout[media][position] = chunk_id
            self._chunk[chunk_id] = (media, position, len(items))
        for media, parts in touched.items():
            self._store(media, parts)

    def remove(self, ids: npt.NDArray[np.int64]) -> int:
        """Take chunks out; a recording left with none leaves the index."""
        removed = 0
        touched: dict[int, dict[int, npt.NDArray[np.uint32]]] = {}
        for chunk_id in ids.tolist():
            place = self._chunk.get(chunk_id)
            if place is None:
                continue
            media, position, _ = place
            parts = touched.setdefault(media, self._parts(media))
            parts.pop(position, None)
            self._layout[media].pop(position, None)
            del self._chunk[chunk_id]
            removed += 1
        for media, parts in touched.items():
            self._store(media, parts)
        return removed

    def _parts(self, media: int) -> dict[int, npt.NDArray[np.uint32]]:
        """The recording's stored chunks by position, cut from its joined sequence."""
        layout = self._layout.get(media, {})
        if media not in self.inner or not layout:
            return {}
        sequence = self.inner.sequence(media)
        parts: dict[int, npt.NDArray[np.uint32]] = {}
        start = 0
        for position in sorted(layout):
            count = self._chunk[layout[position]][2]
            parts[position] = sequence[start : start + count]
            start += count
        return parts

    def _store(self, media: int, parts: dict[int, npt.NDArray[np.uint32]]) -> None:
        if not parts:
            self.inner.remove([media])
            self._layout.pop(media, None)
            return
        self.inner.add(media, np.concatenate([parts[p] for p in sorted(parts)]))

    def search(self, query: npt.NDArray[np.uint32], limit: int) -> list[FingerprintHit]:
        """Recordings sharing sound with ``query`` (keys are media ids), best first."""
        return self.inner.search(query, limit=limit)

    def save(self, directory: Path) -> None:
        """The backend's files, then the chunk layout beside them."""
        self.inner.save(directory)
        rows = [(c, m, p, n) for c, (m, p, n) in sorted(self._chunk.items())]
        layout = np.array(rows, dtype=np.int64).reshape(-1, 4)
        write_atomic(directory / _LAYOUT_FILE, npy_bytes(layout))

    @classmethod
    def load(cls, backend: type[FingerprintIndex], directory: Path) -> RecordingIndex:
        """Load a saved index; refuses a layout that does not fit the sequences.

        Raises:
            ValueError: the layout file is missing, malformed or inconsistent.
        """
        index = cls(backend.load(directory))
        try:
            layout = np.load(directory / _LAYOUT_FILE, allow_pickle=False)
        except OSError as exc:
            raise ValueError("chunk layout missing") from exc
        if layout.ndim != 2 or layout.shape[1] != 4:
            raise ValueError("chunk layout malformed")
        lengths: dict[int, int] = {}
        for chunk_id, media, position, count in layout.tolist():
            index._chunk[chunk_id] = (media, position, count)
            index._layout.setdefault(media, {})[position] = chunk_id
            lengths[media] = lengths.get(media, 0) + count
        keys = index.inner.keys()  # an index: no iteration protocol, keys() is its API
        held = {key: len(index.inner.sequence(key)) for key in keys}
        if held != lengths:
            raise ValueError("chunk layout does not fit the stored sequences")
        return index


class SoundIndexService(_CachedIndex[RecordingIndex]):
    """The fingerprint index of one kind over stored recordings (keys are media ids)."""

    _decode = staticmethod(_chunks)

    def __init__(
        self,
        ctx: AppContext,
        kind: str,
        *,
        backend: str,
        changes: ChangeCounter = INDEX_CHANGES,
    ) -> None:
        self._cls = fingerprint_index_registry().get(backend)
        super().__init__(
            ctx, RecordingSignals(kind), backend=backend, concurrent=False, changes=changes
        )

    def _new(self) -> RecordingIndex:
        return RecordingIndex(self._cls())

    def _fits(self, manifest: IndexManifest) -> bool:
        return manifest.family == FINGERPRINT_FAMILY

    def _load_native(self, directory: Path) -> RecordingIndex:
        return RecordingIndex.load(self._cls, directory)

    def search(self, query: npt.NDArray[np.uint32], limit: int = 20) -> list[FingerprintHit]:
        """Recordings sharing sound with ``query``; catches up first when this process wrote."""
        index = self._current()
        with self._exclusive():
            return index.search(query, limit)

    @property
    def rule(self) -> MatchRule:
        """When two recordings share a stretch (the backend's calibrated rule)."""
        return self._current().inner.rule

    def length(self, media_id: int) -> int:
        """Items of a stored recording's fingerprint (0 when it is not held)."""
        index = self._current()
        with self._exclusive():
            return len(index.inner.sequence(media_id)) if media_id in index.inner else 0


__all__ = [
    "FINGERPRINT_GROUP",
    "RecordingIndex",
    "RecordingSignals",
    "SoundIndexService",
]
