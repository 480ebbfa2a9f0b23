"""Every registered vector index backend passes the vector index contract."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sightline.domain.plugins import PluginRegistry
from sightline.indexes import vector_testing
from sightline.indexes.auto_vector import AutoVectorIndex
from sightline.indexes.brute_vector import BruteForceVectorIndex
from sightline.indexes.faiss_hnsw import FaissHnswVectorIndex
from sightline.indexes.faiss_vector import FaissFlatVectorIndex
from sightline.indexes.registry import VECTOR_GROUP, vector_index_registry
from sightline.indexes.vector import VectorIndex
from sightline.indexes.vector_testing import VectorIndexContract

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

AUTO_SWITCH_AT = 2_000
"""Below the contract's 4,144 vectors, above a third of them: the contract's three-batch build
crosses the line on its second batch, so searches run on the graph while the small tests
(a handful of vectors) run flat."""


def registry_with_auto() -> PluginRegistry[VectorIndex]:
    """The vector registry, with ``auto-vector`` registered by hand until it is installed.

    ``pyproject.toml`` declares its entry point; a checkout whose package metadata predates it
    (installed before the entry point was added) registers it the way an embedder would.
    """
    registry = vector_index_registry()
    if AutoVectorIndex.name not in registry.names():
        registry.register(AutoVectorIndex, AutoVectorIndex.name)
    return registry


class TestBruteForceVector(VectorIndexContract):
    backend = BruteForceVectorIndex


class TestFaissFlatVector(VectorIndexContract):
    backend = FaissFlatVectorIndex


class TestFaissHnswVector(VectorIndexContract):
    backend = FaissHnswVectorIndex


class TestAutoVector(VectorIndexContract):
    backend = AutoVectorIndex

    @pytest.fixture(autouse=True)
    def _small_line(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(AutoVectorIndex, "SWITCH_AT", AUTO_SWITCH_AT)
        monkeypatch.setattr(vector_testing, "vector_index_registry", registry_with_auto)


COVERED: list[type[VectorIndex]] = [
    cls.backend
    for cls in (TestBruteForceVector, TestFaissFlatVector, TestFaissHnswVector, TestAutoVector)
]


def test_every_registered_vector_backend_runs_the_contract() -> None:
    assert set(registry_with_auto().names()) == {backend.name for backend in COVERED}


def test_every_vector_backend_is_declared_in_pyproject() -> None:
    entry_points = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]
    declared = entry_points[VECTOR_GROUP]
    assert declared == {
        backend.name: f"{backend.__module__}:{backend.__qualname__}" for backend in COVERED
    }
