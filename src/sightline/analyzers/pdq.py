"""PDQ: Meta's 256-bit perceptual hash, the near-duplicate image signal.

PDQ survives re-encoding, resizing and small crops (a few percent), and two hashes within
Hamming distance 31 are treated as the same picture. It does not survive a 10 % crop or a
rotation of a few degrees; those copies need local features. Mirror images and quarter turns
are handled at query time rather than at ingest: ``dihedral_hashes`` gives the eight
rotation/mirror hashes of a query, and each is searched against the stored originals.

Every hash is computed on ``MediaInput.working_image()`` (longest side ``WORKING_SIDE``),
never on the full-resolution pixels: full-resolution and resized hashes of one image differ
by about 12 bits, so ingest and search must follow the same rule. The rule is part of
``params()`` so a stored hash records how it was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from sightline.analyzers.base import WORKING_SIDE, Analyzer, MediaInput, shrink_to_working
from sightline.errors import AnalyzerSkipped, InvalidInputError
from sightline.features.hashes import PDQ_MIN_QUALITY, PdqHash

DEFAULT_MIN_QUALITY = PDQ_MIN_QUALITY
# Where ``PdqAnalyzer`` leaves the eight dihedral hashes in ``MediaInput.derived``.
DIHEDRAL_KEY = "pdq.dihedral"

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


def _pixels(image: Image.Image) -> npt.NDArray[np.uint8]:
    """The image as a contiguous ``(rows, cols, 3)`` uint8 array, after the working-copy rule.

    Images larger than ``WORKING_SIDE`` are shrunk exactly as ``MediaInput.working_image``
    shrinks a decoded file (``shrink_to_working``), so an in-memory query image hashes like
    the same picture ingested from disk. (A JPEG file is additionally decoded with DCT
    scaling, which can move a hash by a bit or two; hash files through ``MediaInput`` where
    possible.)
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if max(rgb.size) > WORKING_SIDE:
        rgb = rgb.copy()
        shrink_to_working(rgb)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def hash_image(image: Image.Image) -> PdqHash:
    """PDQ hash and quality of a Pillow image (any mode; shrunk to the working size first)."""
    bits, quality = pdqhash.compute(_pixels(image))
    return PdqHash.from_bits(bits, int(quality))


def dihedral_hashes_of_image(image: Image.Image) -> list[PdqHash]:
    """The eight rotation/mirror hashes of a Pillow image, in ``DIHEDRAL_ORDER``.

    Computing all eight costs little more than one hash: PDQ derives them from one DCT by
    permuting and negating coefficients instead of transforming the pixels.
    """
    vectors, quality = pdqhash.compute_dihedral(_pixels(image))
    return [PdqHash.from_bits(bits, int(quality)) for bits in vectors]


def dihedral_hashes(media: MediaInput) -> list[PdqHash]:
    """The eight rotation/mirror hashes of a media file's working image, for search queries.

    Searching each of them finds a stored original whose copy was mirrored or turned by a
    multiple of 90 degrees. Quality is returned, not enforced: the caller decides whether a
    low-quality query is worth running.

    Raises:
        AnalysisFailed: the file is not a readable image (see ``MediaInput.working_image``).
    """
    return dihedral_hashes_of_image(media.working_image())


class PdqAnalyzer(Analyzer):
    """PDQ hash of an image's working copy, skipped when the image is too flat to hash.

    Quality measures how much gradient the image has; below ``min_quality`` (Meta recommends
    50) a hash is dominated by noise and matches unrelated flat images, so none is stored.
    """

    name: ClassVar[str] = "pdq"
    version: ClassVar[str] = "1"

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
