"""The contract every vector index backend passes: a pytest mixin.

Subclass ``VectorIndexContract`` in a test module and set ``backend`` to the class::

    class TestMyVectorIndex(VectorIndexContract):
        backend = MyVectorIndex

Every test that searches runs once per metric (``l2``, ``ip``, ``cosine``); a metric the
backend does not declare is skipped with the reason. On seeded clustered data
(``_vector_checks.vector_contract_data``) with planted near copies and exact ties, an exact
backend must return the brute-force oracle's neighbours (scores within float tolerance, ids
equal except for ties at the k-th score), and an approximate one must reach its declared
``min_recall``; both must report each hit's true score, best first, and never return a
removed id. The rest covers replacement, removal (with any compaction it triggers), the
save/load round trip, the manifest (format 2, family ``vector``, dims, metric), refusal of
tampered or mismatched files, and (from ``_vector_input_contract``) input validation: wrong
dims, dtypes, non-finite values, bad ``k``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from sightline.errors import IndexFileError, SightlineError
from sightline.indexes._vector_checks import (
    ANCHORS,
    DIMS,
    VectorContractData,
    assert_exact,
    recall,
    reference_scores,
)
from sightline.indexes._vector_input_contract import VectorInputContract
from sightline.indexes.brute_vector import BruteForceVectorIndex
from sightline.indexes.manifest import MANIFEST_NAME
from sightline.indexes.registry import vector_index_registry
from sightline.indexes.vector import (
    METRICS,
    VectorCapabilities,
    VectorHit,
    VectorIndex,
)

K_VALUES = (1, 10, 50)
CORRUPT_ERRORS = (ValueError, SightlineError)


class VectorIndexContract(VectorInputContract):
    """Mixin of pytest tests; set ``backend`` to the ``VectorIndex`` subclass under test."""

    backend: ClassVar[type[VectorIndex]]

    def build(self, data: VectorContractData, metric: str) -> VectorIndex:
        """A backend index holding the whole data set, added in three batches."""
        index = self.backend(DIMS, metric)
        for part in np.array_split(np.arange(len(data.ids)), 3):
            index.add(data.ids[part], data.vectors[part])
        return index

    def oracle(self, data: VectorContractData, metric: str) -> BruteForceVectorIndex:
        """The brute-force oracle holding the whole data set in one batch."""
        oracle = BruteForceVectorIndex(DIMS, metric)
        oracle.add(data.ids, data.vectors)
        return oracle

    def assert_like_oracle(
        self,
        index: VectorIndex,
        oracle: BruteForceVectorIndex,
        queries: npt.NDArray[np.float32],
        k: int,
    ) -> None:
        """Exact: the oracle's neighbours. Approximate: at least ``min_recall`` of them."""
        got, expected = index.search(queries, k), oracle.search(queries, k)
        assert len(got) == len(queries)
        ids, vectors = oracle.stored()
        recalls = []
        for row, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
            scores = reference_scores(vectors, queries[row], index.metric)
            truth = dict(zip(ids.tolist(), scores.tolist(), strict=True))
            if self.backend.capabilities.exact:
                assert_exact(mine, theirs, truth, index.metric)
            else:
                assert len(mine) <= len(theirs)
                recalls.append(recall(mine, theirs, truth, index.metric))
        if recalls:
            assert np.mean(recalls) >= self.backend.capabilities.min_recall, (k, np.mean(recalls))

    def saved(self, index: VectorIndex, directory: Path) -> list[Path]:
        """Save ``index``; return its data files (everything but the manifest)."""
        index.save(directory)
        return sorted(p for p in directory.iterdir() if p.name != MANIFEST_NAME)

    # ------------------------------------------------------------------ declarations

    def test_registry_name_resolves_to_backend(self) -> None:
        """The ``name`` ClassVar is the entry-point name and resolves to the class."""
        assert isinstance(self.backend.name, str)
        assert vector_index_registry().get(self.backend.name) is self.backend

    def test_capabilities_are_declared(self) -> None:
        """Known metrics; exact means recall 1.0; approximate declares a real recall bound."""
        capabilities = self.backend.capabilities
        assert isinstance(capabilities, VectorCapabilities)
        assert capabilities.metrics
        assert set(capabilities.metrics) <= set(METRICS)
        if capabilities.exact:
            assert capabilities.min_recall == 1.0
        else:
            assert 0.5 <= capabilities.min_recall < 1.0
        assert capabilities.max_k is None or capabilities.max_k >= max(K_VALUES)

    # ------------------------------------------------------------------ search

    @pytest.mark.parametrize("k", K_VALUES)
    def test_matches_oracle(self, data: VectorContractData, metric: str, k: int) -> None:
        """The oracle's neighbours (or ``min_recall`` of them), batched and one at a time."""
        index, oracle = self.build(data, metric), self.oracle(data, metric)
        self.assert_like_oracle(index, oracle, data.queries, k)
        for row in range(4):
            self.assert_like_oracle(index, oracle, data.queries[row : row + 1], k)

    def test_oracle_agrees_with_reference(self, data: VectorContractData, metric: str) -> None:
        """The oracle equals a sort of scores computed from the definitions."""
        oracle = self.oracle(data, metric)
        for row in (0, ANCHORS, len(data.queries) - 1):
            truth = reference_scores(data.vectors, data.queries[row], metric)
            order = np.lexsort((data.ids, truth if metric == "l2" else -truth))[:10]
            expected = [VectorHit(int(data.ids[i]), float(truth[i])) for i in order]
            got = oracle.search(data.queries[row : row + 1], 10)[0]
            assert [h.id for h in got] == [h.id for h in expected]
            np.testing.assert_allclose([h.score for h in got], [h.score for h in expected])

    def test_identical_vector_is_found_first(self, data: VectorContractData, metric: str) -> None:
        """A stored copy of the query is the best hit: distance 0 (l2) or similarity 1.

        Under inner product a longer vector can beat an identical one, so there the best hit
        scores at least the copy's own score, the query's squared norm.
        """
        hits = self.build(data, metric).search(data.queries[:ANCHORS], 1)
        for row, (best,) in enumerate(hits):
            if metric == "ip":
                own = float(np.dot(data.queries[row], data.queries[row]))
                assert best.score >= own - 1e-3 * max(1.0, own)
                continue
            assert best.id == data.planted[row][0]
            assert best.score == pytest.approx(0.0 if metric == "l2" else 1.0, abs=1e-4)

    def test_twins_tie(self, data: VectorContractData, metric: str) -> None:
        """Identical vectors under two ids score the same, ordered by id."""
        index = self.build(data, metric)
        copies = data.queries[-8:-4]  # stored vectors that have a twin
        for (first, second), hits in zip(data.twins[:4], index.search(copies, 2), strict=True):
            if metric == "ip" and {h.id for h in hits} != {first, second}:
                continue  # a longer vector won; the tie is still checked for l2 and cosine
            assert [h.id for h in hits] == sorted([first, second])
            assert hits[0].score == pytest.approx(hits[1].score, rel=1e-6, abs=1e-6)

    def test_k_above_size_returns_what_is_stored(self, metric: str) -> None:
        """Asking for more than is stored returns what is stored (exact) or no more."""
        index = self.backend(DIMS, metric)
        vectors = np.random.default_rng(3).normal(size=(5, DIMS)).astype(np.float32)
        index.add(np.arange(5), vectors)
        (hits,) = index.search(vectors[:1], 50)
        assert len(hits) <= 5
        assert hits[0].id == 0
        if self.backend.capabilities.exact:
            assert sorted(h.id for h in hits) == [0, 1, 2, 3, 4]

    # ------------------------------------------------------------------ updates

    def test_remove(self, data: VectorContractData, metric: str) -> None:
        """Removed ids disappear; the count only includes ids that were stored."""
        index, oracle = self.build(data, metric), self.oracle(data, metric)
        gone = np.array([*data.planted[0][::2], int(data.ids[0]), data.twins[0][0]])
        ids = np.concatenate([gone, [123_456_789, 987_654_321]])
        assert index.remove(ids) == oracle.remove(ids) == len(gone)
        assert index.remove(gone) == 0
        assert len(index) == len(data.ids) - len(gone)
        returned = {h.id for hits in index.search(data.queries, 50) for h in hits}
        assert not returned & set(gone.tolist())
        self.assert_like_oracle(index, oracle, data.queries, 10)

    def test_remove_most_then_add_back(self, data: VectorContractData, metric: str) -> None:
        """Heavy removal (forcing any compaction) then re-adding stays correct."""
        index, oracle = self.build(data, metric), self.oracle(data, metric)
        gone = data.ids[: len(data.ids) * 2 // 3]
        for chunk in np.array_split(gone, 4):
            assert index.remove(chunk) == oracle.remove(chunk) == len(chunk)
        self.assert_like_oracle(index, oracle, data.queries, 10)
        back = slice(100, 2_000)
        index.add(data.ids[back], data.vectors[back])
        oracle.add(data.ids[back], data.vectors[back])
        assert len(index) == len(oracle)
        self.assert_like_oracle(index, oracle, data.queries, 10)

    def test_readding_an_id_replaces_its_vector(
        self, data: VectorContractData, metric: str
    ) -> None:
        """Adding a stored id moves it: found at its new vector, gone from its old place."""
        index = self.build(data, metric)
        moved = data.planted[1][0]  # the identical copy of anchor query 1
        query = data.queries[1:2].astype(np.float64)
        far = (-40.0 * query / np.linalg.norm(query)).astype(np.float32)  # opposite the query
        index.add(np.array([moved]), far)
        assert len(index) == len(data.ids)
        assert [h.id for h in index.search(far, 1)[0]] == [moved]
        assert moved not in {h.id for h in index.search(data.queries[1:2], 10)[0]}

    def test_duplicate_ids_in_one_batch_are_rejected(self, metric: str) -> None:
        """One ``add`` call cannot name an id twice (which vector would win?)."""
        index = self.backend(DIMS, metric)
        with pytest.raises(ValueError, match="distinct"):
            index.add(np.array([1, 1]), np.ones((2, DIMS), dtype=np.float32))
        assert len(index) == 0

    # ------------------------------------------------------------------ persistence

    def test_save_load_round_trip(
        self, data: VectorContractData, metric: str, tmp_path: Path
    ) -> None:
        """Save/load keeps results, size, checkpoint, params and metric; stays updatable."""
        index = self.build(data, metric)
        index.remove(data.ids[:50])
        index.checkpoint = 987_654_321_012
        index.save(tmp_path)
        loaded = self.backend.load(tmp_path)
        assert type(loaded) is self.backend
        assert (loaded.dims, loaded.metric, loaded.checkpoint) == (DIMS, metric, index.checkpoint)
        assert len(loaded) == len(index)
        assert loaded.params() == index.params()
        assert loaded.search(data.queries, 10) == index.search(data.queries, 10)
        loaded.add(data.ids[:50], data.vectors[:50])
        loaded.remove(data.ids[50:60])
        oracle = self.oracle(data, metric)
        oracle.remove(data.ids[50:60])
        self.assert_like_oracle(loaded, oracle, data.queries, 10)

    def test_manifest_records_family_dims_and_metric(
        self, data: VectorContractData, metric: str, tmp_path: Path
    ) -> None:
        """The manifest is format 2 JSON of the vector family, with dims and metric, no bits."""
        index = self.build(data, metric)
        index.checkpoint = 42
        index.save(tmp_path)
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        assert (manifest["format"], manifest["family"], manifest["backend"]) == (
            2,
            "vector",
            self.backend.name,
        )
        assert (manifest["dims"], manifest["metric"]) == (DIMS, metric)
        assert (manifest["count"], manifest["checkpoint"]) == (len(data.ids), 42)
        assert manifest["params"] == index.params()
        assert "bits" not in manifest

    def test_empty_index(self, metric: str, tmp_path: Path) -> None:
        """An empty index answers empty lists and round-trips."""
        index = self.backend(DIMS, metric)
        queries = np.ones((3, DIMS), dtype=np.float32)
        assert len(index) == 0
        assert index.search(queries, 5) == [[], [], []]
        assert index.search(queries[:0], 5) == []
        assert index.remove(np.array([1, 2])) == 0
        index.save(tmp_path)
        loaded = self.backend.load(tmp_path)
        assert len(loaded) == 0
        assert loaded.search(queries, 5) == [[], [], []]

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "flipped", "missing"])
    def test_tampered_data_file_is_refused(
        self, damage: str, data: VectorContractData, tmp_path: Path
    ) -> None:
        """A data file that fails its checksum (or is missing) is an ``IndexFileError``."""
        files = self.saved(self.build(data, "l2"), tmp_path)
        assert files, "a backend must persist at least one data file beside the manifest"
        for path in files:
            original = path.read_bytes()
            damage_file(path, damage, original)
            with pytest.raises(IndexFileError):
                self.backend.load(tmp_path)
            path.write_bytes(original)
        assert len(self.backend.load(tmp_path)) == len(data.ids)

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
    def test_corrupt_file_with_matching_checksum_is_refused(
        self, damage: str, data: VectorContractData, tmp_path: Path
    ) -> None:
        """Damage that also fixes the checksum still reaches a parser, which must refuse it."""
        for path in self.saved(self.build(data, "l2"), tmp_path):
            original, manifest_text = path.read_bytes(), (tmp_path / MANIFEST_NAME).read_text()
            damage_file(path, damage, original)
            manifest = json.loads(manifest_text)
            manifest["files_sha256"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
            (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
            with pytest.raises(CORRUPT_ERRORS):
                self.backend.load(tmp_path)
            path.write_bytes(original)
            (tmp_path / MANIFEST_NAME).write_text(manifest_text)

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("backend", "not-a-backend", "not-a-backend"),
            ("family", "binary", "binary index"),
            ("dims", DIMS + 1, "dims|match"),
            ("params", {"other": 1}, "parameters"),
            ("format", 99, "format"),
        ],
    )
    def test_mismatched_manifest_is_refused(
        self, field: str, value: object, message: str, tmp_path: Path
    ) -> None:
        """Another backend, family, width, build or format is refused, saying which."""
        index = self.backend(DIMS, "l2")
        index.add(np.arange(3), np.eye(3, DIMS, dtype=np.float32))
        index.save(tmp_path)
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        manifest[field] = value
        if field == "family":
            manifest["bits"] = 256
        (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
        with pytest.raises(IndexFileError, match=message):
            self.backend.load(tmp_path)

    def test_missing_manifest_is_not_found(self, tmp_path: Path) -> None:
        """A directory with no manifest is ``FileNotFoundError`` (nothing saved there)."""
        with pytest.raises(FileNotFoundError):
            self.backend.load(tmp_path)


def damage_file(path: Path, how: str, original: bytes) -> None:
    """Damage one data file: random bytes, half of it, nothing, one flipped bit, or gone."""
    if how == "garbage":
        path.write_bytes(np.random.default_rng(7).bytes(max(64, len(original))))
    elif how == "truncated":
        path.write_bytes(original[: len(original) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "flipped":
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    elif how == "missing":
        path.unlink()
    else:
        raise ValueError(f"unknown damage {how!r}")
