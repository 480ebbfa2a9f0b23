"""A toy second image signal, written only for a test: the 64-bit average hash.

It lives outside the ``sightline`` package and registers itself exactly as a third-party
plugin would, through an entry point of its own distribution
(``sightline_ahash-1.0.dist-info/entry_points.txt``). Nothing in Sightline names it: the
test that enables it (``tests/integration/test_toy_signal.py``) is the proof that ingest,
storage, indexing, search and matching are generic over signal kinds.

The average hash shrinks the image's luma to 8 x 8 and sets a bit where a pixel is brighter
than the mean. It is far weaker than PDQ (not a production signal); 64 bits, matched within
a Hamming distance of 6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from sightline.analyzers.base import Analyzer, MediaInput
from sightline.domain.signals import CostClass, Signal, SignalKind, ValueType

AHASH = SignalKind(
    name="ahash",
    value_type=ValueType.BINARY_HASH,
    label="aHash",
    bits=64,
    threshold=6,
    # mih takes 256-bit codes only; the exact flat index takes any width.
    index_backend="faiss-flat",
)


class AverageHashAnalyzer(Analyzer):
    """The 64-bit average hash of an image's working luma."""

    name: ClassVar[str] = "ahash"
    version: ClassVar[str] = "1"
    emits: ClassVar[tuple[SignalKind, ...]] = (AHASH,)
    cost: ClassVar[CostClass] = CostClass.CHEAP

    def params(self) -> Mapping[str, Any]:
        """The grid size."""
        return {"grid": 8}

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Return ``{"hash": 16 hex characters}``."""
        small = media.working_luma().resize((8, 8), Image.Resampling.BOX)
        pixels = np.asarray(small, dtype=np.float32)
        bits = (pixels > pixels.mean()).astype(np.uint8).ravel()
        return {"hash": np.packbits(bits).tobytes().hex()}

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """The hash as one packed 64-bit signal."""
        del media
        return (Signal(AHASH.name, bytes.fromhex(str(value["hash"]))),)


GREYHIST = SignalKind(
    name="greyhist",
    value_type=ValueType.FLOAT_VECTOR,
    label="grey histogram",
    dims=16,
    metric="cosine",
)


class GreyHistogramAnalyzer(Analyzer):
    """A 16-bin histogram of an image's working luma, as a float vector (a toy descriptor)."""

    name: ClassVar[str] = "greyhist"
    version: ClassVar[str] = "1"
    emits: ClassVar[tuple[SignalKind, ...]] = (GREYHIST,)
    cost: ClassVar[CostClass] = CostClass.CHEAP

    def params(self) -> Mapping[str, Any]:
        """The bin count."""
        return {"bins": 16}

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Return ``{"histogram": 16 shares of the pixels, summing to 1}``."""
        pixels = np.asarray(media.working_luma(), dtype=np.uint8)
        counts = np.bincount(pixels.ravel() // 16, minlength=16).astype(np.float64)
        return {"histogram": [round(float(c), 6) for c in counts / counts.sum()]}

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """The histogram as one float32 vector."""
        del media
        vector = np.asarray(value["histogram"], dtype="<f4")
        return (Signal(GREYHIST.name, vector.tobytes()),)
