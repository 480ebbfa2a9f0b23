"""``auto-vector`` details the shared contract cannot see: exact while flat, the move to HNSW
on the add that crosses the line, removal in both states, and the state kept by save/load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from sightline.errors import IndexFileError
from sightline.indexes._vector_checks import DIMS, assert_exact, recall, reference_scores
from sightline.indexes._vector_checks import vector_contract_data as contract_data
from sightline.indexes.auto_vector import DEFAULT_SWITCH_AT, FLAT, HNSW, AutoVectorIndex
from sightline.indexes.brute_vector import BruteForceVectorIndex
from sightline.indexes.faiss_hnsw import ALIVE_FILE, LABELS_FILE, FaissHnswVectorIndex
from sightline.indexes.faiss_vector import INDEX_FILE, FaissFlatVectorIndex
from sightline.indexes.manifest import MANIFEST_NAME

LINE = 2_000


def _pair(
    metric: str, count: int, switch_at: int = LINE
) -> tuple[AutoVectorIndex, BruteForceVectorIndex]:
    """An auto index and the oracle holding the contract data's first ``count`` vectors."""
    data = contract_data()
    index = AutoVectorIndex(DIMS, metric, switch_at=switch_at)
    oracle = BruteForceVectorIndex(DIMS, metric)
    for part in np.array_split(np.arange(count), 4):
        index.add(data.ids[part], data.vectors[part])
        oracle.add(data.ids[part], data.vectors[part])
    return index, oracle


def _check(index: AutoVectorIndex, oracle: BruteForceVectorIndex, k: int = 10) -> float:
    """Exact comparison while flat; the mean recall@k once HNSW (returned)."""
    queries = contract_data().queries
    ids, vectors = oracle.stored()
    recalls = []
    for row, (mine, theirs) in enumerate(
        zip(index.search(queries, k), oracle.search(queries, k), strict=True)
    ):
        scores = reference_scores(vectors, queries[row], index.metric)
        truth = dict(zip(ids.tolist(), scores.tolist(), strict=True))
        if index.state == FLAT:
            assert_exact(mine, theirs, truth, index.metric)
        recalls.append(recall(mine, theirs, truth, index.metric))
    return float(np.mean(recalls))


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_flat_up_to_the_line_is_exact(metric: str) -> None:
    index, oracle = _pair(metric, LINE)  # exactly at the line: still flat
    assert (index.state, len(index)) == (FLAT, LINE)
    assert index.params()["state"] == FLAT
    assert _check(index, oracle, 50) == 1.0


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_the_add_that_crosses_the_line_moves_every_vector_to_hnsw(metric: str) -> None:
    data = contract_data()
    index, oracle = _pair(metric, LINE)
    crossing = slice(LINE, LINE + 300)
    moved = np.array([data.ids[0]])  # replaced in the same call as the crossing
    ids = np.concatenate([data.ids[crossing], moved])
    vectors = np.concatenate([data.vectors[crossing], -data.vectors[:1]])
    index.add(ids, vectors)
    oracle.add(ids, vectors)
    assert (index.state, len(index), len(oracle)) == (HNSW, LINE + 300, LINE + 300)
    assert index.params() == {
        "state": HNSW,
        "switch_at": LINE,
        "hnsw": FaissHnswVectorIndex.build_params(),
    }
    assert _check(index, oracle) >= 0.95
    [own] = index.search(-data.vectors[:1], 1)
    assert own[0].id == int(data.ids[0])  # at its new vector, not its old one


def test_removal_works_in_both_states_and_shrinking_stays_hnsw() -> None:
    data = contract_data()
    index, oracle = _pair("l2", 1_000)
    gone = data.ids[:400]
    assert index.remove(gone) == oracle.remove(gone) == 400
    assert index.remove(gone) == 0
    assert index.state == FLAT
    _check(index, oracle)
    index.add(data.ids[1_000:3_000], data.vectors[1_000:3_000])
    oracle.add(data.ids[1_000:3_000], data.vectors[1_000:3_000])
    assert (index.state, len(index)) == (HNSW, 2_600)
    assert index.remove(data.ids[:2_500]) == oracle.remove(data.ids[:2_500]) == 2_100
    assert (index.state, len(index)) == (HNSW, 500)  # below the line, still a graph
    returned = {h.id for row in index.search(data.queries, 20) for h in row}
    assert not returned & set(data.ids[:2_500].tolist())
    assert _check(index, oracle) >= 0.95


@pytest.mark.parametrize(
    ("count", "state", "files"),
    [(500, FLAT, [INDEX_FILE]), (3_000, HNSW, [ALIVE_FILE, INDEX_FILE, LABELS_FILE])],
)
def test_save_and_load_keep_the_state(
    count: int, state: str, files: list[str], tmp_path: Path
) -> None:
    index, _ = _pair("cosine", count)
    index.remove(contract_data().ids[:10])
    index.checkpoint = 77
    index.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != MANIFEST_NAME) == files
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert (manifest["backend"], manifest["params"]["state"]) == ("auto-vector", state)
    loaded = AutoVectorIndex.load(tmp_path)
    assert (loaded.state, len(loaded), loaded.checkpoint) == (state, count - 10, 77)
    queries = contract_data().queries
    assert loaded.search(queries, 10) == index.search(queries, 10)


def test_the_line_is_a_policy_a_loaded_index_follows_the_current_one(tmp_path: Path) -> None:
    index, _ = _pair("l2", 500, switch_at=1_000)
    index.save(tmp_path)
    loaded = AutoVectorIndex.load(tmp_path)
    assert (loaded.state, loaded.switch_at) == (FLAT, DEFAULT_SWITCH_AT)
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["params"]["switch_at"] == 1_000


@pytest.mark.parametrize(
    "change",
    [
        {"state": "ivf"},
        {"switch_at": 0},
        {"switch_at": "many"},
        {"hnsw": {"m": 16, "ef_construction": 40, "ef_search": 64}},
        {"extra": 1},
    ],
    ids=["state", "zero-line", "text-line", "hnsw-m16", "extra-key"],
)
def test_other_saved_parameters_are_refused(change: dict[str, object], tmp_path: Path) -> None:
    index, _ = _pair("l2", 100)
    index.save(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    manifest["params"].update(change)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexFileError, match="other parameters"):
        AutoVectorIndex.load(tmp_path)


def test_a_state_that_does_not_match_the_files_is_refused(tmp_path: Path) -> None:
    index, _ = _pair("l2", 100)
    index.save(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    manifest["params"]["state"] = HNSW  # flat files under an HNSW state: labels are missing
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexFileError):
        AutoVectorIndex.load(tmp_path)


def test_k_is_limited_as_for_hnsw_even_while_flat() -> None:
    index, _ = _pair("l2", 100)
    assert index.state == FLAT
    with pytest.raises(ValueError, match="1024"):
        index.search(contract_data().queries[:1], 1_025)


@pytest.mark.parametrize("bad", [0, -5, True, 2.5])
def test_the_line_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(ValueError, match="switch_at"):
        AutoVectorIndex(DIMS, "l2", switch_at=bad)


def test_configure_threads_reaches_faiss() -> None:
    before = faiss.omp_get_max_threads()
    try:
        AutoVectorIndex.configure_threads(1)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)


def test_flat_stored_returns_what_it_holds() -> None:
    index = FaissFlatVectorIndex(4, "cosine")
    ids, vectors = index.stored()
    assert (ids.shape, vectors.shape) == ((0,), (0, 4))
    index.add(np.array([7, -1]), np.array([[3, 0, 0, 4], [0, 2, 0, 0]], dtype=np.float32))
    ids, vectors = index.stored()
    assert ids.tolist() == [7, -1]
    expected = np.array([[0.6, 0, 0, 0.8], [0, 1, 0, 0]], dtype=np.float32)
    assert np.allclose(vectors, expected, rtol=1e-6)
