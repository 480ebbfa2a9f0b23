"""The vector contract's comparisons catch wrong answers (so the contract can fail)."""

from __future__ import annotations

import numpy as np
import pytest

from sightline.indexes._vector_checks import (
    assert_exact,
    recall,
    reference_scores,
    vector_contract_data,
)
from sightline.indexes.vector import VectorHit

TRUTH = {1: 0.5, 2: 1.0, 3: 1.0, 4: 2.0, 5: 3.0}
EXPECTED = [VectorHit(1, 0.5), VectorHit(2, 1.0)]  # l2, k=2: id 3 ties id 2 at the boundary


def test_the_oracles_own_answer_passes() -> None:
    assert_exact(EXPECTED, EXPECTED, TRUTH, "l2")
    assert recall(EXPECTED, EXPECTED, TRUTH, "l2") == 1.0


def test_a_tie_at_the_boundary_may_be_either_id() -> None:
    got = [VectorHit(1, 0.5), VectorHit(3, 1.0)]
    assert_exact(got, EXPECTED, TRUTH, "l2")
    assert recall(got, EXPECTED, TRUTH, "l2") == 1.0


@pytest.mark.parametrize(
    "got",
    [
        [VectorHit(1, 0.5), VectorHit(4, 2.0)],  # a worse neighbour
        [VectorHit(1, 0.5)],  # too few
        [VectorHit(1, 0.5), VectorHit(2, 0.9)],  # a score that is not the vector's
        [VectorHit(2, 1.0), VectorHit(1, 0.5)],  # not best first
        [VectorHit(1, 0.5), VectorHit(1, 0.5)],  # an id twice
    ],
    ids=["worse", "short", "dishonest-score", "order", "repeated"],
)
def test_a_wrong_answer_fails_the_exact_check(got: list[VectorHit]) -> None:
    with pytest.raises(AssertionError):
        assert_exact(got, EXPECTED, TRUTH, "l2")


def test_recall_counts_hits_as_good_as_the_kth_and_respects_direction() -> None:
    assert recall([VectorHit(1, 0.5), VectorHit(4, 2.0)], EXPECTED, TRUTH, "l2") == 0.5
    similarities = {1: 0.9, 2: 0.8, 3: 0.1}
    expected = [VectorHit(1, 0.9), VectorHit(2, 0.8)]
    assert recall([VectorHit(1, 0.9), VectorHit(3, 0.1)], expected, similarities, "ip") == 0.5
    with pytest.raises(AssertionError):
        assert_exact([VectorHit(3, 0.1), VectorHit(2, 0.8)], expected, similarities, "cosine")


def test_contract_data_is_seeded_and_plants_what_it_says() -> None:
    data = vector_contract_data()
    assert data is vector_contract_data()  # cached
    assert len(np.unique(data.ids)) == len(data.ids)
    assert {-1, np.iinfo(np.int64).min, np.iinfo(np.int64).max} <= set(data.ids.tolist())
    position = {int(i): row for row, i in enumerate(data.ids)}
    for row, planted in data.planted.items():
        distances = reference_scores(
            data.vectors[[position[i] for i in planted]], data.queries[row], "l2"
        )
        assert distances[0] == 0.0
        assert np.all(np.diff(distances) > 0)
    for first, second in data.twins:
        assert np.array_equal(data.vectors[position[first]], data.vectors[position[second]])
