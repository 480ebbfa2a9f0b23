"""Every registered binary index backend passes the index contract."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from sightline.errors import IndexFileError
from sightline.indexes.base import MANIFEST_NAME, BinaryIndex, IndexManifest
from sightline.indexes.brute import BruteForceBinaryIndex
from sightline.indexes.faiss_binary import (
    INDEX_FILE,
    FaissFlatBinaryIndex,
    FaissMultiHashBinaryIndex,
)
from sightline.indexes.mih import MihBinaryIndex
from sightline.indexes.registry import binary_index_registry, index_registry
from sightline.indexes.testing import BinaryIndexContract, ContractData, contract_data


class TestBruteForce(BinaryIndexContract):
    backend = BruteForceBinaryIndex


class TestFaissFlat(BinaryIndexContract):
    backend = FaissFlatBinaryIndex


class TestFaissMultiHash(BinaryIndexContract):
    backend = FaissMultiHashBinaryIndex


class TestMih(BinaryIndexContract):
    backend = MihBinaryIndex

    def build(self, data: ContractData) -> BinaryIndex:
        """Three batches with a small merge threshold: tables and delta both hold codes."""
        index = MihBinaryIndex(bits=256, merge_threshold=1_000)
        for part in np.array_split(np.arange(len(data.ids)), 3):
            index.add(data.ids[part], data.codes[part])
        index.add(data.ids[:10], data.codes[:10])  # replaced in place, left in the delta
        assert index.stats()["merged"] and index.stats()["delta"]
        return index


COVERED: list[type[BinaryIndex]] = [
    cls.backend for cls in (TestBruteForce, TestFaissFlat, TestFaissMultiHash, TestMih)
]


def test_every_registered_backend_runs_the_contract() -> None:
    assert set(index_registry().names()) == {backend.name for backend in COVERED}


def test_multihash_is_exact_to_31_by_pigeonhole() -> None:
    # 16 chunks, one flip probed per chunk: 16 * (1 + 1) - 1.
    assert FaissMultiHashBinaryIndex.capabilities.max_radius == 31
    assert FaissMultiHashBinaryIndex().params() == {"nhash": 16, "b": 16, "nflip": 1}


def _multihash_without_flips() -> Any:
    native = faiss.IndexBinaryMultiHash(256, 16, 16)  # FAISS's default nflip is 0
    native.add(np.zeros((3, 32), dtype=np.uint8))
    return native


def _flat() -> Any:
    native = faiss.IndexBinaryFlat(256)
    native.add(np.zeros((3, 32), dtype=np.uint8))
    return native


@pytest.mark.parametrize(
    ("make", "message"), [(_multihash_without_flips, "nflip"), (_flat, "not multi-hash")]
)
def test_multihash_refuses_a_valid_faiss_file_of_another_kind(
    make: Any, message: str, tmp_path: Path
) -> None:
    index = FaissMultiHashBinaryIndex()
    index.add(np.arange(3, dtype=np.int64), np.zeros((3, 32), dtype=np.uint8))
    index.save(tmp_path)
    blob = np.asarray(faiss.serialize_index_binary(make()), dtype=np.uint8).tobytes()
    (tmp_path / INDEX_FILE).write_bytes(blob)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    manifest["files_sha256"][INDEX_FILE] = hashlib.sha256(blob).hexdigest()
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexFileError, match=message):
        FaissMultiHashBinaryIndex.load(tmp_path)


def test_manifest_round_trips_its_checksums(tmp_path: Path) -> None:
    manifest = IndexManifest("brute", 256, 2, 7, {"k": 1}, {"ids.npy": "ab" * 32})
    manifest.write(tmp_path)
    assert IndexManifest.read(tmp_path) == manifest


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        "[" * 100_000,
        '{"format": 1, "backend": "brute"}',
        '{"format": 1, "backend": "brute", "bits": "x", "count": 0, "checkpoint": 0}',
        '{"format": 1, "backend": "brute", "bits": 256, "count": 0, "checkpoint": 0, '
        '"files_sha256": {"ids.npy": 1}}',
    ],
)
def test_malformed_manifest_is_an_index_file_error(text: str, tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(IndexFileError):
        IndexManifest.read(tmp_path)


def test_missing_manifest_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        IndexManifest.read(tmp_path)


# A manifest exactly as releases before index families wrote it (format 1, no family).
LEGACY_MANIFEST = {
    "format": 1,
    "backend": "brute",
    "bits": 256,
    "count": 2,
    "checkpoint": 7,
    "params": {},
    "files_sha256": {"ids.npy": "ab" * 32},
}


def test_index_registry_is_the_binary_registry() -> None:
    assert index_registry().names() == binary_index_registry().names()
    assert index_registry().get("brute") is BruteForceBinaryIndex


def test_binary_manifests_are_written_as_format_2_of_the_binary_family(tmp_path: Path) -> None:
    BruteForceBinaryIndex().save(tmp_path)
    raw = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert (raw["format"], raw["family"], raw["bits"]) == (2, "binary", 256)
    assert "dims" not in raw and "metric" not in raw


def test_a_format_1_manifest_still_reads(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(LEGACY_MANIFEST))
    manifest = IndexManifest.read(tmp_path)
    assert (manifest.format, manifest.family, manifest.backend, manifest.bits) == (
        1,
        "binary",
        "brute",
        256,
    )
    assert (manifest.count, manifest.checkpoint, manifest.dims, manifest.metric) == (
        2,
        7,
        None,
        None,
    )
    manifest.write(tmp_path)  # written back in its own layout
    assert json.loads((tmp_path / MANIFEST_NAME).read_text()) == LEGACY_MANIFEST


@pytest.mark.parametrize("cls", COVERED, ids=lambda cls: cls.name)
def test_every_binary_backend_loads_an_index_saved_with_a_format_1_manifest(
    cls: type[BinaryIndex], tmp_path: Path
) -> None:
    data = contract_data()
    index = cls(bits=256)
    index.add(data.ids, data.codes)
    index.checkpoint = 11
    index.save(tmp_path)
    raw = json.loads((tmp_path / MANIFEST_NAME).read_text())
    del raw["family"]
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({**raw, "format": 1}))
    loaded = cls.load(tmp_path)
    assert (len(loaded), loaded.checkpoint) == (len(data.ids), 11)
    assert loaded.range_search(data.queries, 31) == index.range_search(data.queries, 31)


@pytest.mark.parametrize(
    "text",
    [
        '{"format": 2, "backend": "brute", "bits": 256, "count": 0, "checkpoint": 0}',
        '{"format": 2, "family": "sparse", "backend": "b", "count": 0, "checkpoint": 0}',
        '{"format": 1, "family": "vector", "backend": "b", "count": 0, "checkpoint": 0}',
        '{"format": 2, "family": "vector", "backend": "b", "count": 0, "checkpoint": 0, '
        '"bits": 256}',
        '{"format": 2, "family": "vector", "backend": "b", "count": 0, "checkpoint": 0, '
        '"dims": 0, "metric": "l2"}',
        '{"format": 2, "family": "vector", "backend": "b", "count": 0, "checkpoint": 0, '
        '"dims": 8, "metric": 3}',
        '{"format": 2, "family": "vector", "backend": "b", "count": 0, "checkpoint": 0, '
        '"dims": 8, "metric": "l2", "bits": 256}',
        '{"format": 2, "family": "binary", "backend": "b", "count": 0, "checkpoint": 0, '
        '"bits": 256, "dims": 8, "metric": "l2"}',
        '{"format": 2, "family": "binary", "backend": "b", "count": -1, "checkpoint": 0, '
        '"bits": 256}',
    ],
    ids=[
        "no-family",
        "unknown-family",
        "format-1-vector",
        "vector-without-dims",
        "zero-dims",
        "metric-not-a-string",
        "vector-with-bits",
        "binary-with-dims",
        "negative-count",
    ],
)
def test_format_2_manifest_of_the_wrong_shape_is_refused(text: str, tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(IndexFileError):
        IndexManifest.read(tmp_path)


def test_vector_manifest_round_trips(tmp_path: Path) -> None:
    manifest = IndexManifest.for_vectors(
        "brute-vector", dims=48, metric="cosine", count=3, checkpoint=9, params={"m": 1}
    )
    manifest.write(tmp_path)
    assert IndexManifest.read(tmp_path) == manifest
    assert (manifest.family, manifest.bits, manifest.format) == ("vector", None, 2)
