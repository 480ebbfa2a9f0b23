"""Vector backend details the shared contract cannot see: FAISS file kinds, HNSW tombstones
and compaction, graph checks, threads, and the registries of the two index families."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from sightline.errors import IndexFileError
from sightline.indexes.base import BinaryIndex
from sightline.indexes.faiss_hnsw import ALIVE_FILE, LABELS_FILE, FaissHnswVectorIndex
from sightline.indexes.faiss_vector import INDEX_FILE, FaissFlatVectorIndex
from sightline.indexes.manifest import MANIFEST_NAME
from sightline.indexes.registry import (
    BINARY_GROUP,
    VECTOR_GROUP,
    binary_index_registry,
    vector_index_registry,
)
from sightline.indexes.vector import VectorIndex, lower_is_better

DIMS = 16


def _vectors(count: int, seed: int = 5) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.random.default_rng(seed).normal(size=(count, DIMS)).astype(np.float32)


def _replace_native(directory: Path, native: Any) -> None:
    """Swap ``index.faiss`` for ``native`` and fix its checksum, so only the parser can object."""
    blob = np.asarray(faiss.serialize_index(native), dtype=np.uint8).tobytes()
    (directory / INDEX_FILE).write_bytes(blob)
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["files_sha256"][INDEX_FILE] = hashlib.sha256(blob).hexdigest()
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))


def _saved(cls: type[VectorIndex], directory: Path, metric: str = "l2") -> VectorIndex:
    index = cls(DIMS, metric)
    index.add(np.arange(50), _vectors(50))
    index.save(directory)
    return index


def _hnsw(m: int = 32, metric: int = faiss.METRIC_L2) -> Any:
    native = faiss.IndexHNSWFlat(DIMS, m, metric)
    native.add(_vectors(50))
    return native


@pytest.mark.parametrize(
    ("cls", "make", "message"),
    [
        (FaissFlatVectorIndex, lambda: faiss.IndexFlatL2(DIMS), "IndexIDMap2"),
        (FaissFlatVectorIndex, lambda: faiss.IndexIDMap(faiss.IndexFlatL2(DIMS)), "IndexIDMap2"),
        (
            FaissFlatVectorIndex,
            lambda: faiss.IndexIDMap2(faiss.IndexFlatIP(DIMS)),
            "metric",
        ),
        (FaissHnswVectorIndex, lambda: faiss.IndexFlatL2(DIMS), "IndexHNSWFlat"),
        (FaissHnswVectorIndex, lambda: _hnsw(metric=faiss.METRIC_INNER_PRODUCT), "metric"),
        (FaissHnswVectorIndex, lambda: _hnsw(m=16), "other parameters"),
    ],
    ids=["flat-bare", "flat-idmap1", "flat-ip", "hnsw-flat", "hnsw-ip", "hnsw-m16"],
)
def test_a_valid_faiss_file_of_another_kind_is_refused(
    cls: type[VectorIndex], make: Any, message: str, tmp_path: Path
) -> None:
    _saved(cls, tmp_path)
    native = make()
    if native.ntotal == 0 and not isinstance(native, faiss.IndexIDMap):
        native.add(_vectors(50))
    elif isinstance(native, faiss.IndexIDMap):
        native.add_with_ids(_vectors(50), np.arange(50))
    _replace_native(tmp_path, native)
    with pytest.raises(IndexFileError, match=message):
        cls.load(tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("entry_point", 99, "entry_point|inconsistent HNSW graph"),  # FAISS 1.15 checks it too
        ("max_level", 99, "max_level|inconsistent HNSW graph"),  # FAISS 1.15 checks it too
        ("max_level", 3, "inconsistent HNSW graph"),  # in FAISS's bounds, above every node
    ],
)
def test_an_hnsw_graph_that_does_not_fit_its_vectors_is_refused(
    field: str, value: int, message: str, tmp_path: Path
) -> None:
    _saved(FaissHnswVectorIndex, tmp_path)
    native = _hnsw()
    setattr(native.hnsw, field, value)
    _replace_native(tmp_path, native)
    with pytest.raises(IndexFileError, match=message):
        FaissHnswVectorIndex.load(tmp_path)


def test_hnsw_keeps_tombstones_on_save_and_compacts_past_a_quarter(tmp_path: Path) -> None:
    index = FaissHnswVectorIndex(DIMS, "l2")
    index.add(np.arange(6_000), _vectors(6_000))
    index.remove(np.arange(1_000))  # 1/6 dead: below the threshold, kept as tombstones
    index.save(tmp_path / "a")
    labels = np.load(tmp_path / "a" / LABELS_FILE)
    alive = np.load(tmp_path / "a" / ALIVE_FILE)
    assert (len(labels), int(alive.sum())) == (6_000, 5_000)
    loaded = FaissHnswVectorIndex.load(tmp_path / "a")
    hits = loaded.search(_vectors(6_000)[:1_200], 5)
    assert len(loaded) == 5_000
    assert min(h.id for row in hits for h in row) >= 1_000  # tombstoned ids never return
    loaded.remove(np.arange(1_000, 2_000))  # 2,000 of 6,000 dead: compacted
    loaded.save(tmp_path / "b")
    assert len(np.load(tmp_path / "b" / LABELS_FILE)) == 4_000
    assert loaded.search(_vectors(6_000)[2_000:2_001], 1)[0][0].id == 2_000


def test_hnsw_refuses_labels_that_make_an_id_live_twice(tmp_path: Path) -> None:
    _saved(FaissHnswVectorIndex, tmp_path)
    labels = np.load(tmp_path / LABELS_FILE)
    labels[1] = labels[0]
    buffer = tmp_path / "labels.tmp.npy"
    np.save(buffer, labels)
    (tmp_path / LABELS_FILE).write_bytes(buffer.read_bytes())
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    digest = hashlib.sha256((tmp_path / LABELS_FILE).read_bytes()).hexdigest()
    manifest["files_sha256"][LABELS_FILE] = digest
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexFileError, match="twice"):
        FaissHnswVectorIndex.load(tmp_path)


def test_hnsw_search_widens_its_beam_to_k() -> None:
    index = FaissHnswVectorIndex(DIMS, "l2")
    index.add(np.arange(3_000), _vectors(3_000))
    (hits,) = index.search(_vectors(3_000)[:1], 500)  # k above efSearch (64)
    assert len(hits) == 500
    assert hits[0].id == 0


@pytest.mark.parametrize("cls", [FaissFlatVectorIndex, FaissHnswVectorIndex])
def test_configure_threads_sets_faiss_threads_and_zero_keeps_them(
    cls: type[VectorIndex],
) -> None:
    before = faiss.omp_get_max_threads()
    try:
        cls.configure_threads(1)
        assert faiss.omp_get_max_threads() == 1
        cls.configure_threads(0)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)


def test_constructing_an_index_leaves_faiss_threads_alone() -> None:
    before = faiss.omp_get_max_threads()
    FaissHnswVectorIndex(DIMS, "cosine")
    FaissFlatVectorIndex(DIMS, "ip")
    assert faiss.omp_get_max_threads() == before


def test_score_direction_is_lower_for_l2_only() -> None:
    assert lower_is_better("l2")
    assert not lower_is_better("ip")
    assert not lower_is_better("cosine")


def test_the_families_have_their_own_groups_and_interfaces() -> None:
    assert (BINARY_GROUP, VECTOR_GROUP) == ("sightline.indexes", "sightline.vector_indexes")
    binary, vector = binary_index_registry(), vector_index_registry()
    assert all(issubclass(binary.get(name), BinaryIndex) for name in binary.names())
    assert not set(binary.names()) & set(vector.names())
    assert "brute" in binary.names()
