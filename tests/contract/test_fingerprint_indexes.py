"""Every registered fingerprint index backend passes the fingerprint index contract."""

from __future__ import annotations

from sightline.indexes.fingerprint import FingerprintIndex, fingerprint_index_registry
from sightline.indexes.fingerprint_brute import BruteForceFingerprintIndex
from sightline.indexes.fingerprint_inverted import InvertedFingerprintIndex
from sightline.indexes.fingerprint_testing import (
    FingerprintIndexContract,
    contract_data,
    oracle_answers,
)

__all__ = ["contract_data", "oracle_answers"]  # module-scoped fixtures the contract takes


class TestBruteForceFingerprint(FingerprintIndexContract):
    backend = BruteForceFingerprintIndex


class TestInvertedFingerprint(FingerprintIndexContract):
    backend = InvertedFingerprintIndex


COVERED: list[type[FingerprintIndex]] = [
    cls.backend for cls in (TestBruteForceFingerprint, TestInvertedFingerprint)
]


def test_every_registered_fingerprint_backend_runs_the_contract() -> None:
    assert set(fingerprint_index_registry().names()) == {backend.name for backend in COVERED}
