"""The soundtrack index joins each recording's chunks, whatever order they arrive in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from sightline.indexes.fingerprint_brute import BruteForceFingerprintIndex
from sightline.services.signals.sounds import RecordingIndex, _chunks, _placed


def _items(seed: int, n: int) -> npt.NDArray[np.uint32]:
    return np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)


def _feed(index: RecordingIndex, rows: list[tuple[int, int, int, npt.NDArray[np.uint32]]]) -> None:
    placed = _placed([(i, m, p, a.astype("<u4").tobytes()) for i, m, p, a in rows])
    data = b"".join(code for _, code in placed)
    index.add(np.array([i for i, _ in placed], dtype=np.int64), _chunks(data, len(placed)))


def test_chunks_join_in_position_order_and_leave_on_removal(tmp_path: Path) -> None:
    first, second, third = _items(1, 50), _items(2, 40), _items(3, 30)
    index = RecordingIndex(BruteForceFingerprintIndex())
    _feed(index, [(11, 7, 1, second)])  # the later chunk arrives first
    _feed(index, [(10, 7, 0, first), (12, 8, 0, third)])
    assert len(index) == 2
    assert np.array_equal(index.inner.sequence(7), np.concatenate([first, second]))

    index.save(tmp_path)
    loaded = RecordingIndex.load(BruteForceFingerprintIndex, tmp_path)
    assert np.array_equal(loaded.inner.sequence(7), np.concatenate([first, second]))

    assert loaded.remove(np.array([10, 99], dtype=np.int64)) == 1
    assert np.array_equal(loaded.inner.sequence(7), second)
    assert loaded.remove(np.array([11, 12], dtype=np.int64)) == 2
    assert len(loaded) == 0


def test_a_layout_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    index = RecordingIndex(BruteForceFingerprintIndex())
    _feed(index, [(1, 5, 0, _items(4, 60))])
    index.save(tmp_path)
    np.save(tmp_path / "chunks.npy", np.array([[1, 5, 0, 59]], dtype=np.int64))
    with pytest.raises(ValueError, match="does not fit"):
        RecordingIndex.load(BruteForceFingerprintIndex, tmp_path)
