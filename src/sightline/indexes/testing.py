"""The contract every binary index backend passes: a pytest mixin.

Subclass ``BinaryIndexContract`` in a test module and set ``backend`` to the class::

    class TestMyIndex(BinaryIndexContract):
        backend = MyIndex

The tests compare the backend with the brute-force oracle on seeded random 256-bit codes
with planted neighbours at every distance from 0 to 33 (the PDQ threshold is 31, so 32 and
33 are the "just outside" cases) and from 40 to 60, and check removal, replacement, the
save/load round trip, the manifest, refusal of corrupt files, empty indexes and input
validation. Results must be *identical* to the oracle's, ids and distances in the same
order, not merely overlapping: every backend is expected to be exact up to its declared
``capabilities.max_radius``, and to raise ``ValueError`` above it.
The vector family's mixin, ``VectorIndexContract`` (``vector_testing``), is re-exported here.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from sightline.errors import SightlineError
from sightline.features.hashes import hamming
from sightline.indexes.base import MANIFEST_NAME, BinaryIndex, Hit, IndexCapabilities
from sightline.indexes.brute import BruteForceBinaryIndex
from sightline.indexes.registry import index_registry
from sightline.indexes.vector_testing import VectorIndexContract as VectorIndexContract

BITS = 256
RADII = (0, 8, 31, 52)
CORRUPT_ERRORS = (ValueError, SightlineError)
_BASE_CODES = 5_000
_ANCHORS = 32
# 0..33: every distance up to the PDQ threshold and just past it, plus ties (same distance,
# ids in a different order from insertion) to pin the (distance, id) ordering.
_PLANTED_NEAR = (*range(34), 0, 0, 9, 9, 31, 31)
_PLANTED_FAR = tuple(range(40, 61))


@dataclass(frozen=True)
class ContractData:
    """Seeded codes, ids and queries shared by every contract test."""

    ids: npt.NDArray[np.int64]
    codes: npt.NDArray[np.uint8]
    queries: npt.NDArray[np.uint8]
    planted: dict[int, list[tuple[int, int]]]  # anchor query row -> [(id, distance)]


def _flip(
    rng: np.random.Generator, code: npt.NDArray[np.uint8], count: int, spread: bool
) -> npt.NDArray[np.uint8]:
    """A copy of ``code`` with exactly ``count`` distinct bits flipped.

    With ``spread``, the flips are dealt evenly over 16 equal chunks of the code (each gets
    ``count // 16`` or one more): the worst case for multi-index hashing, since no chunk
    is left intact. Uniformly random flips almost always leave some chunk intact, so they
    would let a chunked index that probes too few buckets pass.
    """
    bits = np.unpackbits(code)
    if spread:
        width = bits.size // 16
        per_chunk = np.full(16, count // 16)
        per_chunk[rng.permutation(16)[: count % 16]] += 1
        chunks = [c * width + rng.choice(width, n, replace=False) for c, n in enumerate(per_chunk)]
        positions = np.concatenate(chunks)
    else:
        positions = rng.choice(bits.size, size=count, replace=False)
    bits[positions] ^= 1
    return np.packbits(bits)


@functools.cache
def contract_data(seed: int = 20_240_601) -> ContractData:
    """Build the (cached, read-only) contract data set.

    5,000 uniform random codes, which sit about 128 bits from everything; 32 anchor queries
    with a planted code at each distance in 0..33 and 40..60 (flips spread evenly over
    chunks for odd anchors, random for even ones) and tied extras; a few stored codes repeated
    under a second id; 32 unrelated queries and 8 queries equal to stored codes. Ids are
    shuffled, spread over the int64 range (negative ones included, most beyond 2**53 so a
    float conversion anywhere would corrupt them).
    """
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(_BASE_CODES, BITS // 8), dtype=np.uint8)
    anchors = rng.integers(0, 256, size=(_ANCHORS, BITS // 8), dtype=np.uint8)
    planted_rows: list[npt.NDArray[np.uint8]] = []
    owners: list[tuple[int, int]] = []
    for row, anchor in enumerate(anchors):
        for distance in (*_PLANTED_NEAR, *_PLANTED_FAR):
            planted_rows.append(_flip(rng, anchor, distance, spread=row % 2 == 1))
            owners.append((row, distance))
    repeats = base[rng.choice(_BASE_CODES, size=16, replace=False)]
    codes = np.concatenate([base, np.stack(planted_rows), repeats])
    ids = (rng.permutation(len(codes)).astype(np.int64) * (2**50 + 3)) - 2**62
    planted: dict[int, list[tuple[int, int]]] = {row: [] for row in range(_ANCHORS)}
    for offset, (row, distance) in enumerate(owners):
        planted[row].append((int(ids[_BASE_CODES + offset]), distance))
    unrelated = rng.integers(0, 256, size=(32, BITS // 8), dtype=np.uint8)
    exact = base[rng.choice(_BASE_CODES, size=8, replace=False)]
    queries = np.concatenate([anchors, unrelated, exact])
    for array in (ids, codes, queries):
        array.setflags(write=False)
    return ContractData(ids, codes, queries, planted)


def reference_search(
    ids: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8], query: bytes, radius: int
) -> list[Hit]:
    """Pure-Python range search (big-integer popcount): checks the oracle itself."""
    found = [(hamming(query, code.tobytes()), int(i)) for i, code in zip(ids, codes, strict=True)]
    return [Hit(i, d) for d, i in sorted(found) if d <= radius]


class BinaryIndexContract:
    """Mixin of pytest tests; set ``backend`` to the ``BinaryIndex`` subclass under test."""

    backend: ClassVar[type[BinaryIndex]]

    @pytest.fixture
    def data(self) -> ContractData:
        """The cached contract data set."""
        return contract_data()

    def build(self, data: ContractData) -> BinaryIndex:
        """A backend index holding the whole data set, added in three batches."""
        index = self.backend(bits=BITS)
        for part in np.array_split(np.arange(len(data.ids)), 3):
            index.add(data.ids[part], data.codes[part])
        return index

    def oracle(self, data: ContractData) -> BruteForceBinaryIndex:
        """The brute-force oracle holding the whole data set in one batch."""
        oracle = BruteForceBinaryIndex(bits=BITS)
        oracle.add(data.ids, data.codes)
        return oracle

    def exact_radii(self) -> list[int]:
        """The contract radii this backend must answer exactly."""
        limit = self.backend.capabilities.max_radius
        return [r for r in RADII if limit is None or r <= limit]

    def assert_same(
        self, index: BinaryIndex, oracle: BinaryIndex, queries: npt.NDArray[np.uint8]
    ) -> None:
        """Assert identical results at every exact radius."""
        for radius in self.exact_radii():
            assert index.range_search(queries, radius) == oracle.range_search(queries, radius), (
                radius
            )

    def saved(self, index: BinaryIndex, directory: Path) -> list[Path]:
        """Save ``index``; return its data files (everything but the manifest)."""
        index.save(directory)
        return sorted(p for p in directory.iterdir() if p.name != MANIFEST_NAME)

    def test_registry_name_resolves_to_backend(self) -> None:
        """The ``name`` ClassVar is the entry-point name and resolves to the class."""
        assert isinstance(self.backend.name, str)
        assert index_registry().get(self.backend.name) is self.backend

    def test_capabilities_are_declared(self) -> None:
        """Capabilities are declared, Hamming, and cover the PDQ threshold."""
        capabilities = self.backend.capabilities
        assert isinstance(capabilities, IndexCapabilities)
        assert capabilities.metric == "hamming"
        assert capabilities.radius_search
        assert capabilities.max_radius is None or capabilities.max_radius >= 31  # PDQ needs 31

    @pytest.mark.parametrize("radius", RADII)
    def test_matches_oracle(self, data: ContractData, radius: int) -> None:
        """Identical (id, distance) lists to the oracle, batched and one query at a time."""
        index, oracle = self.build(data), self.oracle(data)
        limit = self.backend.capabilities.max_radius
        if limit is not None and radius > limit:
            with pytest.raises(ValueError, match="radius"):
                index.range_search(data.queries, radius)
            return
        expected = oracle.range_search(data.queries, radius)
        assert index.range_search(data.queries, radius) == expected
        singles = [index.range_search(data.queries[i : i + 1], radius)[0] for i in range(8)]
        assert singles == expected[:8]

    def test_oracle_agrees_with_python_reference(self, data: ContractData) -> None:
        """Results equal a pure-Python popcount, which also checks the oracle."""
        index = self.build(data)
        for row in (0, 5, _ANCHORS, len(data.queries) - 1):
            query = data.queries[row : row + 1]
            for radius in self.exact_radii():
                expected = reference_search(data.ids, data.codes, query.tobytes(), radius)
                assert index.range_search(query, radius)[0] == expected

    def test_planted_neighbours_found_up_to_31_and_not_beyond(self, data: ContractData) -> None:
        """The boundary: distance 31 is found, 32 and 33 are not."""
        results = self.build(data).range_search(data.queries[:_ANCHORS], 31)
        for row, hits in enumerate(results):
            expected = {(i, d) for i, d in data.planted[row] if d <= 31}
            assert {(h.id, h.distance) for h in hits} == expected
            assert hits == sorted(hits, key=lambda h: (h.distance, h.id))

    def test_remove(self, data: ContractData) -> None:
        """Removed ids disappear; the count only includes ids that were stored."""
        index, oracle = self.build(data), self.oracle(data)
        gone = np.array([i for i, d in data.planted[0] if d % 2] + [int(data.ids[0])])
        unknown = np.array([7, 8], dtype=np.int64)
        ids = np.concatenate([gone, unknown])
        assert index.remove(ids) == len(gone)
        assert oracle.remove(ids) == len(gone)
        assert index.remove(gone) == 0
        assert len(index) == len(data.ids) - len(gone)
        widest = index.range_search(data.queries, self.exact_radii()[-1])
        assert not {h.id for hits in widest for h in hits} & set(gone.tolist())
        self.assert_same(index, oracle, data.queries)

    def test_remove_most_then_add_back(self, data: ContractData) -> None:
        """Heavy removal (forcing any compaction) then re-adding stays exact."""
        index, oracle = self.build(data), self.oracle(data)
        gone = data.ids[: len(data.ids) * 2 // 3]
        for chunk in np.array_split(gone, 4):
            assert index.remove(chunk) == oracle.remove(chunk) == len(chunk)
        self.assert_same(index, oracle, data.queries)
        back = slice(100, 2_000)
        index.add(data.ids[back], data.codes[back])
        oracle.add(data.ids[back], data.codes[back])
        assert len(index) == len(oracle)
        self.assert_same(index, oracle, data.queries)

    def test_readding_an_id_replaces_its_code(self, data: ContractData) -> None:
        """Adding a stored id moves it: the old code no longer matches."""
        index = self.build(data)
        (moved, _), (pulled, _) = data.planted[1][0], data.planted[2][-1]
        far = np.full((1, BITS // 8), 0x5A, dtype=np.uint8)
        index.add(np.array([moved, pulled]), np.concatenate([far, data.queries[3:4]]))
        assert len(index) == len(data.ids)
        assert moved not in {h.id for h in index.range_search(data.queries[1:2], 31)[0]}
        assert index.range_search(far, 0) == [[Hit(moved, 0)]]
        assert Hit(pulled, 0) in index.range_search(data.queries[3:4], 0)[0]

    def test_duplicate_ids_in_one_batch_are_rejected(self) -> None:
        """One ``add`` call cannot name an id twice (which code would win?)."""
        index = self.backend(bits=BITS)
        with pytest.raises(ValueError, match="distinct"):
            index.add(np.array([1, 1]), np.zeros((2, BITS // 8), dtype=np.uint8))

    def test_save_load_round_trip(self, data: ContractData, tmp_path: Path) -> None:
        """Save/load keeps results, size, checkpoint and params, and stays updatable."""
        index = self.build(data)
        index.remove(data.ids[:50])
        index.checkpoint = 987_654_321_012
        index.save(tmp_path)
        loaded = self.backend.load(tmp_path)
        assert type(loaded) is self.backend
        assert (loaded.bits, loaded.checkpoint, len(loaded)) == (BITS, index.checkpoint, len(index))
        assert loaded.params() == index.params()
        self.assert_same(loaded, index, data.queries)
        loaded.add(data.ids[:50], data.codes[:50])
        loaded.remove(data.ids[50:60])
        oracle = self.oracle(data)
        oracle.remove(data.ids[50:60])
        self.assert_same(loaded, oracle, data.queries)

    def test_manifest_is_json_naming_the_backend(self, data: ContractData, tmp_path: Path) -> None:
        """The manifest is plain JSON naming backend, size and checkpoint."""
        index = self.build(data)
        index.checkpoint = 42
        index.save(tmp_path)
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        assert manifest["backend"] == self.backend.name
        assert (manifest["bits"], manifest["count"], manifest["checkpoint"]) == (
            BITS,
            len(data.ids),
            42,
        )
        assert manifest["params"] == index.params()

    def test_empty_index(self, tmp_path: Path) -> None:
        """An empty index answers empty lists and round-trips."""
        index = self.backend(bits=BITS)
        queries = np.zeros((3, BITS // 8), dtype=np.uint8)
        assert len(index) == 0
        assert index.range_search(queries, 31) == [[], [], []]
        assert index.range_search(queries[:0], 31) == []
        assert index.remove(np.array([1, 2])) == 0
        index.save(tmp_path)
        loaded = self.backend.load(tmp_path)
        assert len(loaded) == 0
        assert loaded.range_search(queries, 31) == [[], [], []]

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing"])
    def test_corrupt_data_file_is_refused(
        self, damage: str, data: ContractData, tmp_path: Path
    ) -> None:
        """A damaged or missing data file raises a clear error on load."""
        files = self.saved(self.build(data), tmp_path)
        assert files, "a backend must persist at least one data file beside the manifest"
        for path in files:
            original = path.read_bytes()
            _damage(path, damage, original)
            with pytest.raises(CORRUPT_ERRORS):
                self.backend.load(tmp_path)
            path.write_bytes(original)
        assert len(self.backend.load(tmp_path)) == len(data.ids)

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
    def test_corrupt_file_with_matching_checksum_is_refused(
        self, damage: str, data: ContractData, tmp_path: Path
    ) -> None:
        """Damage that also fixes the checksum still reaches a parser, which must refuse it."""
        for path in self.saved(self.build(data), tmp_path):
            original, manifest_text = path.read_bytes(), (tmp_path / MANIFEST_NAME).read_text()
            _damage(path, damage, original)
            manifest = json.loads(manifest_text)
            checksums = manifest.get("files_sha256", {})
            if path.name in checksums:
                checksums[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
            (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
            with pytest.raises(CORRUPT_ERRORS):
                self.backend.load(tmp_path)
            path.write_bytes(original)
            (tmp_path / MANIFEST_NAME).write_text(manifest_text)

    @pytest.mark.parametrize(
        "manifest", ["{not json", "[]", '{"format": 1}', '{"format": 99, "backend": "x"}']
    )
    def test_corrupt_manifest_is_refused(self, manifest: str, tmp_path: Path) -> None:
        """An unreadable or invalid manifest raises a clear error on load."""
        self.backend(bits=BITS).save(tmp_path)
        (tmp_path / MANIFEST_NAME).write_text(manifest)
        with pytest.raises(CORRUPT_ERRORS):
            self.backend.load(tmp_path)

    def test_other_backends_index_is_refused(self, tmp_path: Path) -> None:
        """A directory written by another backend is refused, naming it."""
        self.backend(bits=BITS).save(tmp_path)
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        manifest["backend"] = "not-" + self.backend.name
        (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
        with pytest.raises(CORRUPT_ERRORS, match="not-"):
            self.backend.load(tmp_path)

    def test_missing_manifest_is_not_found(self, tmp_path: Path) -> None:
        """A directory with no manifest is ``FileNotFoundError`` (nothing saved there)."""
        with pytest.raises(FileNotFoundError):
            self.backend.load(tmp_path)

    @pytest.mark.parametrize(
        "queries",
        [
            np.zeros((2, BITS // 8 - 1), dtype=np.uint8),
            np.zeros((2, BITS // 8 + 1), dtype=np.uint8),
            np.zeros(BITS // 8, dtype=np.uint8),
            np.zeros((2, BITS // 8), dtype=np.int64),
            np.zeros((2, 1, BITS // 8), dtype=np.uint8),
        ],
        ids=["narrow", "wide", "one-dimensional", "int64", "three-dimensional"],
    )
    def test_malformed_queries_raise_value_error(self, queries: npt.NDArray[np.generic]) -> None:
        """Queries of the wrong width, rank or dtype raise ``ValueError``."""
        index = self.backend(bits=BITS)
        index.add(np.array([1]), np.zeros((1, BITS // 8), dtype=np.uint8))
        with pytest.raises(ValueError, match="queries"):
            index.range_search(queries, 8)  # type: ignore[arg-type]

    def test_bad_radius_and_bad_add_raise_value_error(self) -> None:
        """Bad radii and malformed ``add`` calls raise and leave the index unchanged."""
        index = self.backend(bits=BITS)
        codes = np.zeros((2, BITS // 8), dtype=np.uint8)
        index.add(np.array([1, 2]), codes)
        with pytest.raises(ValueError, match="radius"):
            index.range_search(codes, -1)
        with pytest.raises(ValueError, match="ids"):
            index.add(np.array([3]), codes)
        with pytest.raises(ValueError, match="codes"):
            index.add(np.array([3, 4]), np.zeros((2, BITS // 8 - 1), dtype=np.uint8))
        with pytest.raises(ValueError, match="integer"):
            index.add(np.array([3.0, 4.0]), codes)
        assert len(index) == 2


def _damage(path: Path, how: str, original: bytes) -> None:
    if how == "garbage":
        path.write_bytes(np.random.default_rng(7).bytes(max(64, len(original))))
    elif how == "truncated":
        path.write_bytes(original[: len(original) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "missing":
        path.unlink()
    else:
        raise ValueError(f"unknown damage {how!r}")
