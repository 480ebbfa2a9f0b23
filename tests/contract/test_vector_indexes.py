"""Every registered vector index backend passes the vector index contract."""

from __future__ import annotations

from sightline.indexes.brute_vector import BruteForceVectorIndex
from sightline.indexes.faiss_hnsw import FaissHnswVectorIndex
from sightline.indexes.faiss_vector import FaissFlatVectorIndex
from sightline.indexes.registry import vector_index_registry
from sightline.indexes.vector import VectorIndex
from sightline.indexes.vector_testing import VectorIndexContract


class TestBruteForceVector(VectorIndexContract):
    backend = BruteForceVectorIndex


class TestFaissFlatVector(VectorIndexContract):
    backend = FaissFlatVectorIndex


class TestFaissHnswVector(VectorIndexContract):
    backend = FaissHnswVectorIndex


COVERED: list[type[VectorIndex]] = [
    cls.backend for cls in (TestBruteForceVector, TestFaissFlatVector, TestFaissHnswVector)
]


def test_every_registered_vector_backend_runs_the_contract() -> None:
    assert set(vector_index_registry().names()) == {backend.name for backend in COVERED}
