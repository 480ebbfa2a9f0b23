"""The brute-force fingerprint index: the oracle every fingerprint backend is tested against.

A search compares the query with every stored sequence at every offset where a stretch fits
(``shared_stretches`` with no candidate offsets), so it finds every stretch the decision rule
admits, and its answers are the reference for the contract tests. It costs
O(query items x stored items): fine for a few hundred hours of sound, not for a collection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from sightline.features.fingerprint import Fingerprint, shared_stretches
from sightline.indexes.fingerprint import (
    FingerprintCapabilities,
    FingerprintHit,
    FingerprintIndex,
)


class BruteForceFingerprintIndex(FingerprintIndex):
    """Every stored sequence compared with the query at every offset."""

    name: ClassVar[str] = "brute-fingerprint"
    capabilities: ClassVar[FingerprintCapabilities] = FingerprintCapabilities(exact=True)

    def _search(self, query: Fingerprint, limit: int) -> Iterator[FingerprintHit]:
        del limit  # every stored sequence is compared; ``search`` ranks and cuts
        for key, stored in self._sequences.items():
            found = shared_stretches(query, stored, timing=self.timing, rule=self.rule)
            if found:
                yield FingerprintHit(key, tuple(found))
