"""PDQ: Meta's 256-bit perceptual hash, the near-duplicate image signal.

PDQ survives re-encoding, resizing and small crops (a few percent), and two hashes within
Hamming distance 31 are treated as the same picture. It does not survive a 10 % crop or a
rotation of a few degrees; those copies need local features. Mirror images and quarter turns
are handled at query time rather than at ingest: ``dihedral_hashes`` gives the eight
rotation/mirror hashes of a query, and each is searched against the stored originals.

Every hash is computed on ``MediaInput.working_luma()`` (8-bit luma, longest side
``WORKING_SIDE``), never on the full-resolution pixels: full-resolution and resized hashes of
one image differ by about 12 bits, so ingest and search must follow the same rule. The size
is part of ``params()`` and the luma rule is version 2 of the analyzer, so a stored hash
records how it was made. Version 1 hashed the RGB working copy (PDQ's own float luma);
version 2 hashes Pillow's 8-bit luma, which for a JPEG is its decoded Y plane. The two
differ by at most a few bits (measured: none on about half of camera-like JPEGs, 2 on the
rest, 4 at most), far inside the match threshold, so version 1 hashes already stored keep
matching; see docs/adr/0008-greyscale-working-image.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from sightline.analyzers.base import WORKING_SIDE, Analyzer, MediaInput, working_luma_of
from sightline.domain.signals import CostClass, Signal, SignalKind, ValueType, Variant
from sightline.errors import AnalyzerSkipped, InvalidInputError
from sightline.features.hashes import (
    PDQ_BITS,
    PDQ_KIND,
    PDQ_MATCH_THRESHOLD,
    PDQ_MIN_QUALITY,
    PdqHash,
)

DEFAULT_MIN_QUALITY = PDQ_MIN_QUALITY
# Where ``PdqAnalyzer`` leaves the eight dihedral hashes in ``MediaInput.derived``.
DIHEDRAL_KEY = "pdq.dihedral"

PDQ_SIGNAL = SignalKind(
    name=PDQ_KIND,
    value_type=ValueType.BINARY_HASH,
    label="PDQ",
    bits=PDQ_BITS,
    threshold=PDQ_MATCH_THRESHOLD,
    min_quality=PDQ_MIN_QUALITY,
    listed=True,
)
"""PDQ as a signal kind: 256 bits, matched within 31, quality at least 50, on hash lists."""

# The eight variants in the order ``pdqhash.compute_dihedral`` returns them, named by what
# turns the query into the stored image: rotations are counter-clockwise, "mirror" is
# left-right, "flip_vertical" upside down, "transpose" and "transverse" mirror about the
# diagonals (Pillow's ``Image.Transpose`` meanings). The order was measured against Pillow's
# transposes; tests/integration/test_search.py keeps it honest.
DIHEDRAL_ORDER: tuple[str, ...] = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_vertical",
    "mirror",
    "transpose",
    "transverse",
)


def _luma_pixels(luma: Image.Image) -> npt.NDArray[np.uint8]:
    """A working-size ``L`` image as the ``(rows, cols, 3)`` uint8 array ``pdqhash`` takes.

    ``pdqhash`` only accepts three channels, and turns them into luma itself as
    ``0.299 R + 0.587 G + 0.114 B``. Given the same luma value in all three, that sum is the
    luma again, exactly (the coefficients add up to 1 and the result is cast to float32), so
    a read-only broadcast view (no copy; every channel is the same contiguous plane) hashes
    the luma image as it is.
    """
    plane = np.asarray(luma, dtype=np.uint8)
    return np.broadcast_to(plane[:, :, np.newaxis], (*plane.shape, 3))


def _pixels(image: Image.Image) -> npt.NDArray[np.uint8]:
    """An in-memory image, any mode, after the working-copy rule (``working_luma_of``).

    Luma is taken first and then shrunk exactly as ``MediaInput.working_luma`` treats a
    decoded file, so a query image hashes like the same picture ingested from disk. (A JPEG
    file is decoded luma-only with DCT scaling, which can move a hash by a bit or two; hash
    files through ``MediaInput`` where possible.)
    """
    return _luma_pixels(working_luma_of(image))


def hash_image(image: Image.Image) -> PdqHash:
    """PDQ hash and quality of a Pillow image (any mode; luma, shrunk to the working size)."""
    bits, quality = pdqhash.compute(_pixels(image))
    return PdqHash.from_bits(bits, int(quality))


def _dihedral(pixels: npt.NDArray[np.uint8]) -> list[PdqHash]:
    vectors, quality = pdqhash.compute_dihedral(pixels)
    return [PdqHash.from_bits(bits, int(quality)) for bits in vectors]


def dihedral_hashes_of_image(image: Image.Image) -> list[PdqHash]:
    """The eight rotation/mirror hashes of a Pillow image, in ``DIHEDRAL_ORDER``.

    Computing all eight costs little more than one hash: PDQ derives them from one DCT by
    permuting and negating coefficients instead of transforming the pixels.
    """
    return _dihedral(_pixels(image))


def dihedral_hashes(media: MediaInput) -> list[PdqHash]:
    """The eight rotation/mirror hashes of a media file's working luma, for search queries.

    Searching each of them finds a stored original whose copy was mirrored or turned by a
    multiple of 90 degrees. Quality is returned, not enforced: the caller decides whether a
    low-quality query is worth running.

    Raises:
        AnalysisFailed: the file is not a readable image (see ``MediaInput.working_luma``).
    """
    return _dihedral(_luma_pixels(media.working_luma()))


class PdqAnalyzer(Analyzer):
    """PDQ hash of an image's working copy, skipped when the image is too flat to hash.

    Quality measures how much gradient the image has; below ``min_quality`` (Meta recommends
    50) a hash is dominated by noise and matches unrelated flat images, so none is stored.
    """

    name: ClassVar[str] = "pdq"
    # 2: hashed from 8-bit luma (``MediaInput.working_luma``), not from the RGB working copy.
    version: ClassVar[str] = "2"
    emits: ClassVar[tuple[SignalKind, ...]] = (PDQ_SIGNAL,)
    cost: ClassVar[CostClass] = CostClass.MODERATE

    def __init__(self, min_quality: int = DEFAULT_MIN_QUALITY) -> None:
        """Create the analyzer.

        Args:
            min_quality: hashes of lower quality (0-100) are skipped, not stored.

        Raises:
            InvalidInputError: ``min_quality`` is outside 0-100.
        """
        if not 0 <= min_quality <= 100:
            raise InvalidInputError("min_quality is between 0 and 100")
        self.min_quality = min_quality

    def params(self) -> Mapping[str, Any]:
        """The working-copy size and the quality floor."""
        return {"working_side": WORKING_SIDE, "min_quality": self.min_quality}

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Return ``{"hash": 64 hex characters, "quality": 0-100}``.

        Raises:
            AnalyzerSkipped: the quality is below ``min_quality``.
            AnalysisFailed: the file is not a readable image.
        """
        # All eight variants cost ~7 % more than one hash; ingest-time matching needs them to
        # find mirrored and rotated copies, and the first is exactly the plain hash.
        variants = dihedral_hashes(media)
        media.derived[DIHEDRAL_KEY] = variants
        pdq = variants[0]
        if pdq.quality < self.min_quality:
            raise AnalyzerSkipped(
                f"PDQ quality {pdq.quality} is below the minimum of {self.min_quality}"
            )
        return {"hash": pdq.hex, "quality": pdq.quality}

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """The hash as one packed 256-bit signal with its quality."""
        del media
        return (Signal(PDQ_KIND, bytes.fromhex(str(value["hash"])), int(value["quality"])),)

    def query(self, media: MediaInput) -> Sequence[Variant]:
        """The eight variants of the file, whatever their quality (search reports it)."""
        return _named(dihedral_hashes(media))

    def variants(self, signals: Sequence[Signal], media: MediaInput) -> Sequence[Variant]:
        """The eight rotations and mirror images, named as in ``DIHEDRAL_ORDER``.

        PDQ is not invariant to them, so a mirrored or turned copy is found by searching
        each variant against the stored originals. They come from ``media.derived`` when
        ``analyze`` just computed them (all eight cost ~7 % more than one hash).
        """
        if not signals:
            return ()
        return _named(media.derived.get(DIHEDRAL_KEY) or dihedral_hashes(media))


def _named(hashes: Sequence[PdqHash]) -> tuple[Variant, ...]:
    """The eight dihedral hashes as variants named by ``DIHEDRAL_ORDER``."""
    return tuple(
        Variant(Signal(PDQ_KIND, h.to_bytes(), h.quality), name)
        for h, name in zip(hashes, DIHEDRAL_ORDER, strict=True)
    )
