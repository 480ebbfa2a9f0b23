"""The input-validation half of the vector index contract (see ``vector_testing``).

Every vector backend refuses bad input the same way, with a ``ValueError`` that names what
was wrong: a width outside 1..``MAX_DIMS``, an undeclared metric, vectors or queries of the
wrong width, rank or dtype, NaN or infinite values, a bad ``k`` or bad ids, and (cosine) a
zero vector; and a refused call leaves the index unchanged.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from sightline.indexes._vector_checks import DIMS, VectorContractData, vector_contract_data
from sightline.indexes.vector import MAX_DIMS, METRICS, VectorIndex


class VectorInputContract:
    """Mixin of input-validation tests and the shared ``data``/``metric`` fixtures.

    ``VectorIndexContract`` includes it; use that, not this, in a test module.
    """

    backend: ClassVar[type[VectorIndex]]

    @pytest.fixture
    def data(self) -> VectorContractData:
        """The cached contract data set."""
        return vector_contract_data()

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run every test that takes ``metric`` once per metric the backend declares."""
        if "metric" in metafunc.fixturenames and metafunc.cls is not None:
            declared = metafunc.cls.backend.capabilities.metrics
            metafunc.parametrize("metric", [m for m in METRICS if m in declared])

    def test_undeclared_metrics_are_refused(self) -> None:
        """A metric the backend does not declare is refused when the index is made."""
        for name in METRICS:
            if name not in self.backend.capabilities.metrics:
                with pytest.raises(ValueError, match="metric"):
                    self.backend(DIMS, name)

    @pytest.mark.parametrize("dims", [0, -1, MAX_DIMS + 1, True, 2.0])
    def test_bad_dims_are_refused(self, dims: object) -> None:
        """The width must be an integer from 1 to ``MAX_DIMS``."""
        with pytest.raises(ValueError, match="dims"):
            self.backend(dims, "l2")  # type: ignore[arg-type]

    def test_unknown_metric_is_refused_naming_the_valid_ones(self) -> None:
        """An undeclared metric is refused and the message lists the declared ones."""
        with pytest.raises(ValueError, match=self.backend.capabilities.metrics[0]):
            self.backend(DIMS, "hamming")

    @pytest.mark.parametrize(
        "vectors",
        [
            np.zeros((2, DIMS - 1), dtype=np.float32),
            np.zeros((2, DIMS + 1), dtype=np.float32),
            np.zeros(DIMS, dtype=np.float32),
            np.zeros((2, 1, DIMS), dtype=np.float32),
            np.zeros((2, DIMS), dtype=np.int64),
            np.full((2, DIMS), np.nan, dtype=np.float32),
            np.full((2, DIMS), np.inf, dtype=np.float64),
            np.full((2, DIMS), 1e300, dtype=np.float64),
        ],
        ids=["narrow", "wide", "1-d", "3-d", "int64", "nan", "inf", "beyond-float32"],
    )
    def test_malformed_vectors_and_queries_raise(
        self, vectors: npt.NDArray[np.generic], metric: str
    ) -> None:
        """Wrong width, rank, dtype or non-finite values raise and leave the index unchanged."""
        index = self.backend(DIMS, metric)
        index.add(np.array([1]), np.ones((1, DIMS), dtype=np.float32))
        with pytest.raises(ValueError, match="queries"):
            index.search(vectors, 1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="vectors"):
            index.add(np.arange(2, 2 + len(vectors)), vectors)  # type: ignore[arg-type]
        assert len(index) == 1

    def test_float64_input_is_accepted(self, data: VectorContractData, metric: str) -> None:
        """Float64 vectors and queries behave as their float32 values."""
        index = self.backend(DIMS, metric)
        index.add(data.ids[:500], data.vectors[:500].astype(np.float64))
        queries = data.queries[:4]
        wide = index.search(queries.astype(np.float64), 5)
        assert wide == index.search(queries, 5)

    @pytest.mark.parametrize("k", [0, -1, True, 2.5, "3"])
    def test_bad_k_raises(self, k: object) -> None:
        """``k`` must be a positive integer (within ``max_k``)."""
        index = self.backend(DIMS, "l2")
        index.add(np.array([1]), np.ones((1, DIMS), dtype=np.float32))
        with pytest.raises(ValueError, match="k must"):
            index.search(np.ones((1, DIMS), dtype=np.float32), k)  # type: ignore[arg-type]
        max_k = self.backend.capabilities.max_k
        if max_k is not None:
            with pytest.raises(ValueError, match=str(max_k)):
                index.search(np.ones((1, DIMS), dtype=np.float32), max_k + 1)

    def test_bad_ids_raise(self) -> None:
        """Ids must be integers, one per vector."""
        index = self.backend(DIMS, "l2")
        vectors = np.ones((2, DIMS), dtype=np.float32)
        with pytest.raises(ValueError, match="ids"):
            index.add(np.array([3]), vectors)
        with pytest.raises(ValueError, match="integer"):
            index.add(np.array([3.0, 4.0]), vectors)
        assert len(index) == 0

    def test_cosine_refuses_zero_vectors(self) -> None:
        """A zero vector has no direction, so the cosine metric refuses it."""
        if "cosine" not in self.backend.capabilities.metrics:
            with pytest.raises(ValueError, match="metric"):  # refused outright instead
                self.backend(DIMS, "cosine")
            return
        index = self.backend(DIMS, "cosine")
        zero = np.zeros((1, DIMS), dtype=np.float32)
        with pytest.raises(ValueError, match="non-zero"):
            index.add(np.array([1]), zero)
        index.add(np.array([2]), np.ones((1, DIMS), dtype=np.float32))
        with pytest.raises(ValueError, match="non-zero"):
            index.search(zero, 1)
