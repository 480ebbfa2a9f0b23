"""The contract every fingerprint index backend passes: a pytest mixin.

Subclass ``FingerprintIndexContract`` in a test module and set ``backend`` to the class::

    class TestMyFingerprintIndex(FingerprintIndexContract):
        backend = MyFingerprintIndex

On seeded contract data (``fingerprint_contract_data``: stored sequences that are random or
drift like real Chromaprint items, and queries holding planted copies of stored stretches
with 2-8 % of their bits flipped, a stretch heard twice, stretches of two recordings, a
twin stored under two keys, and unrelated sound) every backend must answer exactly what the
brute-force oracle answers: the same keys, in the same order, with the same stretches. The
oracle itself must find every planted stretch at its offset and nothing in unrelated sound.
The rest covers removal, replacement, incremental adds after a search, the save/load round
trip, the manifest (format 2, family ``fingerprint``, 32-bit items, timing and rule), refusal
of tampered or mismatched files, input validation, and concurrent searches.

This module imports pytest; it is only imported by test suites.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from sightline.errors import IndexFileError, SightlineError
from sightline.features.fingerprint import CHROMAPRINT_TIMING, DEFAULT_RULE, Fingerprint
from sightline.indexes.fingerprint import (
    FingerprintCapabilities,
    FingerprintHit,
    FingerprintIndex,
    fingerprint_index_registry,
)
from sightline.indexes.fingerprint_brute import BruteForceFingerprintIndex
from sightline.indexes.manifest import MANIFEST_NAME

CORRUPT_ERRORS = (ValueError, SightlineError)


@dataclass(frozen=True)
class FingerprintContractData:
    """Stored sequences by key, queries, and the (query, key, offset in items) planted."""

    stored: dict[int, Fingerprint]
    queries: list[Fingerprint]
    planted: list[tuple[int, int, int]]
    unrelated: list[int]


def random_items(rng: np.random.Generator, n: int) -> Fingerprint:
    """Independent random items."""
    return rng.integers(0, 2**32, n, dtype=np.uint32)


def drifting_items(rng: np.random.Generator, n: int, flips: int = 5) -> Fingerprint:
    """Items that drift like Chromaprint's: each differs from the last in ``flips`` bits."""
    steps = np.zeros(n, dtype=np.uint32)
    for _ in range(flips):
        steps |= np.uint32(1) << rng.integers(0, 32, n).astype(np.uint32)
    start = rng.integers(0, 2**32, dtype=np.uint32)
    return np.bitwise_xor.accumulate(np.concatenate([[start], steps[1:]])).astype(np.uint32)


def flipped(items: Fingerprint, rate: float, rng: np.random.Generator) -> Fingerprint:
    """``items`` with each bit flipped with probability ``rate``."""
    flips = rng.random((len(items), 32)) < rate
    mask = np.packbits(flips, axis=1, bitorder="little").view(np.uint32).ravel()
    return items ^ mask


def fingerprint_contract_data(seed: int = 11) -> FingerprintContractData:
    """Seeded stored sequences and queries with planted shared stretches."""
    rng = np.random.default_rng(seed)
    stored: dict[int, Fingerprint] = {}
    for i in range(24):
        n = int(rng.integers(400, 600) if i < 6 else rng.integers(60, 400))
        maker = random_items if i % 2 else drifting_items
        stored[1_000 + 37 * i] = maker(rng, n)
    keys = sorted(stored)
    stored[9_999] = stored[keys[3]].copy()  # a twin under another key
    queries: list[Fingerprint] = []
    planted: list[tuple[int, int, int]] = []

    def plant(parts: list[tuple[int, int, int]], before: int = 30) -> None:
        """A query of filler around stretches (key, start, length) of stored sequences."""
        pieces, position = [drifting_items(rng, before)], before
        for key, start, length in parts:
            piece = flipped(
                stored[key][start : start + length], float(rng.uniform(0.02, 0.08)), rng
            )
            planted.append((len(queries), key, start - position))
            pieces += [piece, drifting_items(rng, int(rng.integers(20, 60)))]
            position += length + len(pieces[-1])
        queries.append(np.concatenate(pieces))

    for key in keys[4:12]:
        length = int(min(len(stored[key]), rng.choice([45, 80, 150])))
        start = int(rng.integers(0, len(stored[key]) - length + 1))
        plant([(key, start, length)], before=int(rng.integers(0, 90)))
    long_keys = [k for k in keys if len(stored[k]) >= 400]
    plant([(long_keys[0], 10, 60), (long_keys[0], 250, 90)])  # two stretches of one
    plant([(long_keys[1], 100, 70), (long_keys[2], 50, 70)])  # stretches of two recordings
    plant([(keys[3], 0, min(60, len(stored[keys[3]])))])  # the twin: two keys, one sound
    planted.append((len(queries) - 1, 9_999, planted[-1][2]))
    chorus = stored[long_keys[4]][200:260]
    queries.append(
        np.concatenate([drifting_items(rng, 40), chorus, drifting_items(rng, 300), chorus])
    )
    planted += [(len(queries) - 1, long_keys[4], 160), (len(queries) - 1, long_keys[4], -200)]
    unrelated = [len(queries), len(queries) + 1]
    queries += [drifting_items(rng, 400), random_items(rng, 300)]
    return FingerprintContractData(stored, queries, planted, unrelated)


@pytest.fixture(scope="module")
def contract_data() -> FingerprintContractData:
    """The contract data, built once per test module."""
    return fingerprint_contract_data()


@pytest.fixture(scope="module")
def oracle_answers(contract_data: FingerprintContractData) -> dict[int, list[list[FingerprintHit]]]:
    """The oracle's answers to every contract query, by limit (50 and 1), computed once."""
    oracle = BruteForceFingerprintIndex()
    for key, values in contract_data.stored.items():
        oracle.add(key, values)
    return {
        limit: [oracle.search(q, limit=limit) for q in contract_data.queries] for limit in (50, 1)
    }


class FingerprintIndexContract:
    """Mixin of pytest tests; set ``backend`` to the ``FingerprintIndex`` subclass under test."""

    backend: ClassVar[type[FingerprintIndex]]

    def build(self, data: FingerprintContractData) -> FingerprintIndex:
        """A backend index holding every stored sequence, added one by one."""
        index = self.backend()
        for key, values in data.stored.items():
            index.add(key, values)
        return index

    def oracle(self, data: FingerprintContractData) -> BruteForceFingerprintIndex:
        """The brute-force oracle holding the same sequences."""
        oracle = BruteForceFingerprintIndex()
        for key, values in data.stored.items():
            oracle.add(key, values)
        return oracle

    def assert_like_oracle(
        self,
        index: FingerprintIndex,
        oracle: FingerprintIndex,
        queries: list[Fingerprint],
        limit: int = 50,
    ) -> None:
        """Exactly the oracle's hits, in the oracle's order, for every query."""
        for row, query in enumerate(queries):
            assert index.search(query, limit=limit) == oracle.search(query, limit=limit), row

    # ------------------------------------------------------------------ declarations

    def test_registry_name_resolves_to_backend(self) -> None:
        """The ``name`` ClassVar is the entry-point name and resolves to the class."""
        assert fingerprint_index_registry().get(self.backend.name) is self.backend

    def test_capabilities_are_declared(self) -> None:
        """Capabilities are declared on the class."""
        capabilities = self.backend.capabilities
        assert isinstance(capabilities, FingerprintCapabilities)
        assert capabilities.max_limit is None or capabilities.max_limit >= 50

    # ------------------------------------------------------------------ search

    def test_matches_oracle(
        self,
        contract_data: FingerprintContractData,
        oracle_answers: dict[int, list[list[FingerprintHit]]],
    ) -> None:
        """Every query answers exactly what the oracle answers, whatever the limit."""
        index = self.build(contract_data)
        for limit, answers in oracle_answers.items():
            for row, query in enumerate(contract_data.queries):
                assert index.search(query, limit=limit) == answers[row], (limit, row)

    def test_planted_stretches_are_found_at_their_offsets(
        self, contract_data: FingerprintContractData
    ) -> None:
        """Every planted stretch is a hit at its offset (within one item); unrelated: none."""
        index = self.build(contract_data)
        for row, key, offset in contract_data.planted:
            hits = {h.key: h for h in index.search(contract_data.queries[row], limit=50)}
            assert key in hits, (row, key)
            offsets = [s.offset_ms for s in hits[key].stretches]
            assert any(abs(o - offset * CHROMAPRINT_TIMING.item_ms) <= 125 for o in offsets), (
                row,
                key,
                offsets,
            )
        for row in contract_data.unrelated:
            assert index.search(contract_data.queries[row], limit=50) == []

    def test_hits_are_ranked(self, contract_data: FingerprintContractData) -> None:
        """Most items shared first, then best similarity, then key; ``limit`` cuts the list."""
        index = self.build(contract_data)
        for query in contract_data.queries:
            hits = index.search(query, limit=50)
            keys = [(-h.items, -max(s.similarity for s in h.stretches), h.key) for h in hits]
            assert keys == sorted(keys)
            assert index.search(query, limit=1) == hits[:1]

    def test_short_and_empty_queries_find_nothing(
        self, contract_data: FingerprintContractData
    ) -> None:
        """A query shorter than a stretch cannot share one."""
        index = self.build(contract_data)
        key = next(iter(contract_data.stored))
        short = contract_data.stored[key][: DEFAULT_RULE.min_items - 1]
        assert index.search(short) == []
        assert index.search(np.empty(0, dtype=np.uint32)) == []

    # ------------------------------------------------------------------ updates

    def test_remove(self, contract_data: FingerprintContractData) -> None:
        """Removed keys are never returned; the count includes only stored keys."""
        index, oracle = self.build(contract_data), self.oracle(contract_data)
        gone = sorted({key for _, key, _ in contract_data.planted})[::2]
        asked = np.array([*gone, 123_456_789])
        assert index.remove(asked) == oracle.remove(asked) == len(gone)
        assert index.remove(gone) == 0
        assert len(index) == len(contract_data.stored) - len(gone)
        for key in gone:
            assert key not in index
        returned = {h.key for q in contract_data.queries for h in index.search(q, limit=50)}
        assert not returned & set(gone)
        self.assert_like_oracle(index, oracle, contract_data.queries)

    def test_searches_between_updates(self, contract_data: FingerprintContractData) -> None:
        """Adds and removals after a search are seen by the next one."""
        index, oracle = self.backend(), BruteForceFingerprintIndex()
        items = list(contract_data.stored.items())
        for start in range(0, len(items), 10):
            for key, values in items[start : start + 10]:
                index.add(key, values)
                oracle.add(key, values)
            self.assert_like_oracle(index, oracle, contract_data.queries[start // 10 :: 4])
        for key, _ in items[::3]:
            assert index.remove([key]) == oracle.remove([key]) == 1
        self.assert_like_oracle(index, oracle, contract_data.queries[::2])
        for key, values in items[::3]:
            index.add(key, values)
            oracle.add(key, values)
        self.assert_like_oracle(index, oracle, contract_data.queries[1::2])

    def test_readding_a_key_replaces_its_sequence(
        self, contract_data: FingerprintContractData
    ) -> None:
        """Adding a stored key moves it: found by its new sound, not by its old."""
        index = self.build(contract_data)
        row, key, _ = contract_data.planted[0]
        replacement = random_items(np.random.default_rng(5), 500)
        index.add(key, replacement)
        assert len(index) == len(contract_data.stored)
        assert key not in {h.key for h in index.search(contract_data.queries[row])}
        assert [h.key for h in index.search(replacement[100:300])] == [key]
        assert np.array_equal(index.sequence(key), replacement)

    def test_stored_sequences_are_copies(self) -> None:
        """Changing the caller's array after ``add`` does not change the index."""
        values = random_items(np.random.default_rng(6), 200)
        index = self.backend()
        index.add(1, values)
        query = values[50:150].copy()
        values[:] = 0
        assert [h.key for h in index.search(query)] == [1]

    def test_concurrent_searches_agree(
        self,
        contract_data: FingerprintContractData,
        oracle_answers: dict[int, list[list[FingerprintHit]]],
    ) -> None:
        """Searches from several threads at once (the first one builds any tables)."""
        index = self.build(contract_data)
        queries = contract_data.queries
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda q: index.search(q, limit=50), queries * 2))
        assert answers == oracle_answers[50] * 2

    # ------------------------------------------------------------------ persistence

    def test_save_load_round_trip(
        self,
        contract_data: FingerprintContractData,
        oracle_answers: dict[int, list[list[FingerprintHit]]],
        tmp_path: Path,
    ) -> None:
        """Save/load keeps answers, keys, checkpoint and params; the copy stays updatable."""
        index = self.build(contract_data)
        first = next(iter(contract_data.stored))
        index.remove([first])
        index.checkpoint = 987_654_321_012
        index.save(tmp_path)
        loaded = self.backend.load(tmp_path)
        assert type(loaded) is self.backend
        assert (len(loaded), loaded.checkpoint, loaded.params()) == (
            len(index),
            index.checkpoint,
            index.params(),
        )
        assert (loaded.timing, loaded.rule) == (index.timing, index.rule)
        assert list(loaded.keys()) == list(index.keys())
        assert loaded.item_count == index.item_count
        for query in contract_data.queries:
            assert loaded.search(query, limit=50) == index.search(query, limit=50)
        loaded.add(first, contract_data.stored[first])
        assert [loaded.search(q, limit=50) for q in contract_data.queries] == oracle_answers[50]

    def test_manifest_records_family_width_and_rule(
        self, contract_data: FingerprintContractData, tmp_path: Path
    ) -> None:
        """Format 2 JSON of the fingerprint family, 32-bit items, the timing and the rule."""
        index = self.build(contract_data)
        index.checkpoint = 42
        index.save(tmp_path)
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        assert (manifest["format"], manifest["family"], manifest["backend"]) == (
            2,
            "fingerprint",
            self.backend.name,
        )
        assert (manifest["bits"], manifest["count"], manifest["checkpoint"]) == (
            32,
            len(contract_data.stored),
            42,
        )
        assert manifest["params"] == index.params()
        assert manifest["params"]["rule"]["similarity"] == DEFAULT_RULE.similarity
        assert manifest["params"]["timing"]["item_ms"] == CHROMAPRINT_TIMING.item_ms
        assert "dims" not in manifest

    def test_empty_index(self, tmp_path: Path) -> None:
        """An empty index answers nothing and round-trips."""
        index = self.backend()
        query = random_items(np.random.default_rng(1), 200)
        assert len(index) == 0
        assert index.search(query) == []
        assert index.remove([1, 2]) == 0
        index.save(tmp_path)
        loaded = self.backend.load(tmp_path)
        assert len(loaded) == 0
        assert loaded.search(query) == []

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "flipped", "missing"])
    def test_tampered_data_file_is_refused(
        self, damage: str, contract_data: FingerprintContractData, tmp_path: Path
    ) -> None:
        """A data file that fails its checksum (or is missing) is an ``IndexFileError``."""
        self.build(contract_data).save(tmp_path)
        files = sorted(p for p in tmp_path.iterdir() if p.name != MANIFEST_NAME)
        assert files
        for path in files:
            original = path.read_bytes()
            damage_file(path, damage, original)
            with pytest.raises(IndexFileError):
                self.backend.load(tmp_path)
            path.write_bytes(original)
        assert len(self.backend.load(tmp_path)) == len(contract_data.stored)

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "shuffled"])
    def test_corrupt_file_with_matching_checksum_is_refused(
        self, damage: str, contract_data: FingerprintContractData, tmp_path: Path
    ) -> None:
        """Damage that also fixes the checksum still reaches numpy, and must be refused."""
        self.build(contract_data).save(tmp_path)
        manifest_text = (tmp_path / MANIFEST_NAME).read_text()
        for path in sorted(p for p in tmp_path.iterdir() if p.name != MANIFEST_NAME):
            original = path.read_bytes()
            if damage == "shuffled":  # a valid array of the wrong shape
                path.write_bytes(_npy(np.arange(7, dtype=np.int64)))
            else:
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
            ("bits", 64, "not fingerprint"),
            ("params", {"other": 1}, "timing and rule"),
            ("format", 99, "format"),
        ],
    )
    def test_mismatched_manifest_is_refused(
        self, field: str, value: object, message: str, tmp_path: Path
    ) -> None:
        """Another backend, family, width, build or format is refused, saying which."""
        index = self.backend()
        index.add(1, random_items(np.random.default_rng(2), 100))
        index.save(tmp_path)
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        manifest[field] = value
        (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
        with pytest.raises(IndexFileError, match=message):
            self.backend.load(tmp_path)

    def test_other_build_parameters_are_refused(self, tmp_path: Path) -> None:
        """An index built with another rule or backend setting is refused, not reused."""
        index = self.backend()
        index.add(1, random_items(np.random.default_rng(2), 100))
        index.save(tmp_path)
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        manifest["params"]["backend_setting_from_elsewhere"] = 1
        (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
        with pytest.raises(IndexFileError, match="other parameters"):
            self.backend.load(tmp_path)
        manifest["params"].pop("backend_setting_from_elsewhere")
        manifest["params"]["rule"]["similarity"] = 0.2
        (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
        with pytest.raises(IndexFileError, match="timing and rule"):
            self.backend.load(tmp_path)

    def test_missing_manifest_is_not_found(self, tmp_path: Path) -> None:
        """A directory with no manifest is ``FileNotFoundError`` (nothing saved there)."""
        with pytest.raises(FileNotFoundError):
            self.backend.load(tmp_path)

    # ------------------------------------------------------------------ input

    @pytest.mark.parametrize("key", [1.5, True, "7", 2**63, -(2**63) - 1])
    def test_bad_keys_are_refused(self, key: object) -> None:
        """Keys are int64 integers."""
        index = self.backend()
        with pytest.raises(ValueError, match="key"):
            index.add(key, random_items(np.random.default_rng(3), 100))  # type: ignore[arg-type]
        assert len(index) == 0

    @pytest.mark.parametrize(
        "values",
        [np.ones(100), np.ones((10, 10), dtype=np.uint32), np.array([-1, 5]), np.array([2**33])],
    )
    def test_bad_sequences_are_refused(self, values: npt.NDArray[np.generic]) -> None:
        """Sequences are 1-D arrays of unsigned 32-bit items; queries too."""
        index = self.backend()
        with pytest.raises(ValueError, match="values"):
            index.add(1, values)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="query"):
            index.search(values)  # type: ignore[arg-type]

    @pytest.mark.parametrize("limit", [0, -1, 2.0, True, "5"])
    def test_bad_limits_are_refused(self, limit: object) -> None:
        """``limit`` is a positive integer."""
        index = self.backend()
        with pytest.raises(ValueError, match="limit"):
            index.search(random_items(np.random.default_rng(4), 100), limit=limit)  # type: ignore[arg-type]


def _npy(array: npt.NDArray[np.generic]) -> bytes:
    """``.npy`` bytes of ``array``."""
    from sightline.indexes._files import npy_bytes

    return npy_bytes(array)


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
