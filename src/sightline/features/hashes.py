"""Binary perceptual hashes and cryptographic digests as typed values.

A 256-bit PDQ hash travels as 64 lower-case hex characters (the format of Meta's reference
tools and of hash-list exchanges) and is packed into 32 ``uint8`` bytes for indexes, most
significant bit first, so Hamming distance over bytes equals distance over the hex string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from sightline.errors import InvalidInputError

PDQ_BITS = 256
# The storage name of PDQ signals (binary_signals.kind, index directory names).
PDQ_KIND = "pdq"
# Meta's published PDQ match threshold: Hamming distance <= 31 of 256 bits; unrelated photos
# sit far above 80.
PDQ_MATCH_THRESHOLD = 31
# Meta recommends discarding PDQ hashes of quality below 50: they come from flat or tiny
# images, are dominated by noise and match unrelated pictures.
PDQ_MIN_QUALITY = 50
PDQ_BYTES = PDQ_BITS // 8
_HEX = re.compile(r"^[0-9a-fA-F]+$")

DIGEST_LENGTHS: dict[str, int] = {"md5": 32, "sha1": 40, "sha256": 64}


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A 256-bit PDQ hash with its quality (0-100)."""

    hex: str
    quality: int

    BITS: ClassVar[int] = PDQ_BITS

    def __post_init__(self) -> None:
        if len(self.hex) != PDQ_BITS // 4 or not _HEX.match(self.hex):
            raise InvalidInputError("a PDQ hash is 64 hexadecimal characters")
        if not 0 <= self.quality <= 100:
            raise InvalidInputError("PDQ quality is between 0 and 100")
        object.__setattr__(self, "hex", self.hex.lower())

    @classmethod
    def from_bits(cls, bits: npt.NDArray[np.integer], quality: int) -> PdqHash:
        """Build from the 256-element 0/1 vector ``pdqhash.compute`` returns."""
        packed = np.packbits(np.asarray(bits, dtype=np.uint8))
        return cls(packed.tobytes().hex(), int(quality))

    def to_bytes(self) -> bytes:
        """The 32 packed bytes."""
        return bytes.fromhex(self.hex)

    def to_array(self) -> npt.NDArray[np.uint8]:
        """The 32 packed bytes as a ``uint8`` vector."""
        return np.frombuffer(self.to_bytes(), dtype=np.uint8).copy()

    def distance(self, other: PdqHash) -> int:
        """Hamming distance in bits."""
        return hamming(self.to_bytes(), other.to_bytes())


def hamming(a: bytes, b: bytes) -> int:
    """Hamming distance between two equal-length byte strings."""
    if len(a) != len(b):
        raise InvalidInputError("hashes of different lengths cannot be compared")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def codes_from_hex(hexes: list[str]) -> npt.NDArray[np.uint8]:
    """Pack a list of 64-character hex hashes into an ``(n, 32)`` ``uint8`` array."""
    out = np.empty((len(hexes), PDQ_BYTES), dtype=np.uint8)
    for row, value in enumerate(hexes):
        out[row] = np.frombuffer(bytes.fromhex(value), dtype=np.uint8)
    return out


def normalize_digest(kind: str, value: str) -> str:
    """Validate a hex digest of the named kind and return it in lower case.

    Raises:
        InvalidInputError: if the kind is unknown or the value is not a digest of that kind.
    """
    expected = DIGEST_LENGTHS.get(kind)
    if expected is None:
        raise InvalidInputError(f"unknown digest {kind!r}; valid: {', '.join(DIGEST_LENGTHS)}")
    value = value.strip()
    if len(value) != expected or not _HEX.match(value):
        raise InvalidInputError(f"{kind} is {expected} hexadecimal characters")
    return value.lower()
