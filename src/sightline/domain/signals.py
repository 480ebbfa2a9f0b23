"""Signals as data: the kinds of media, the kinds of signal, and one signal value.

Every capability that finds the same picture, recording, room or voice again is "a signal of
some kind, computed from some kind of media, stored, indexed and matched". An analyzer
declares which :class:`MediaKind` values it reads and which :class:`SignalKind` values it
emits; ingest, search and matching loop over the kinds the enabled analyzers declare and
never name one. What a kind *is* (its value type, its width, its threshold, whether hash
lists carry it) is data on :class:`SignalKind`, so the services can store, index and match a
new kind without a line of their own.

Values travel as :class:`Signal`: compact bytes (a packed binary hash, a digest, float32
vector bytes), an optional quality, and a position and time for sequences (the frames of a
video). Large values (local features) go to the blob store and the signal carries the blob
id instead (docs/adr/0013-signals-as-data.md).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from sightline.errors import InvalidInputError


class MediaKind(enum.StrEnum):
    """What a file is, detected from its content (magic bytes, then the decoder)."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    OTHER = "other"


ANY_MEDIA: frozenset[MediaKind] = frozenset(MediaKind)
"""The media kinds of an analyzer that reads any file as bytes (the digests)."""


class ValueType(enum.StrEnum):
    """How a signal's value is shaped, which decides how it is stored, indexed and matched.

    - ``digest``: a cryptographic digest; exact lookup only.
    - ``binary_hash``: one packed binary code per item (PDQ); Hamming radius search.
    - ``binary_sequence``: packed codes with a position and a timestamp (video frames).
    - ``float_vector``: a float32 vector (a scene descriptor, an embedding); k-nearest.
    - ``local_features``: keypoints and descriptors, kept in the blob store.
    - ``fingerprint``: an audio fingerprint with positions.
    - ``clue``: a small typed fact for investigators (a GPS position, a language heard).
    """

    DIGEST = "digest"
    BINARY_HASH = "binary_hash"
    BINARY_SEQUENCE = "binary_sequence"
    FLOAT_VECTOR = "float_vector"
    LOCAL_FEATURES = "local_features"
    FINGERPRINT = "fingerprint"
    CLUE = "clue"

    @property
    def binary(self) -> bool:
        """Whether values are packed binary codes searched by Hamming radius."""
        return self in (ValueType.BINARY_HASH, ValueType.BINARY_SEQUENCE)


class CostClass(enum.StrEnum):
    """How expensive an analyzer is, so operators can choose what runs where."""

    CHEAP = "cheap"  # a pass over the bytes or the header: digests, metadata
    MODERATE = "moderate"  # one decode and a transform: perceptual hashes
    EXPENSIVE = "expensive"  # models, every frame, local features


MEDIA_DIGESTS: tuple[str, ...] = ("md5", "sha1", "sha256")
"""Digest kinds kept on the media item itself (its identity and hash-list keys).

SHA-256 identifies a media item; MD5 and SHA-1 are the keys of the hash lists agencies
exchange. A digest kind outside this tuple has nowhere to be stored and is refused when the
analyzers are loaded.
"""
IDENTITY_DIGEST = "sha256"
"""The digest that identifies a media item (collision-resistant, unlike MD5 and SHA-1)."""

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(frozen=True, slots=True)
class SignalKind:
    """One kind of signal: its storage name, value type and matching configuration.

    Attributes:
        name: storage name (``signals.kind``, match records, index directories); never
            derived from a class name, so renaming code never orphans stored values.
        value_type: the shape of the value (see :class:`ValueType`).
        label: how people name it in messages ("PDQ").
        bits: width of a binary code (``binary_hash``, ``binary_sequence``).
        dims: length of a float vector (``float_vector``).
        threshold: the default match distance of a binary kind (a setting may override it).
        max_threshold: the widest threshold the kind's index is built to answer exactly.
        min_quality: values of lower quality are neither searched nor matched.
        listed: whether hash lists carry values of this kind (searched against list entries).
        search_label: the adjective for notes about it ("no perceptual search: ...").
        index_backend: the index backend the kind needs (for example ``faiss-flat`` for a
            width the default binary backend does not take); None: the default of its family.
        metric: how vectors of a ``float_vector`` kind compare (``l2``, ``ip``, ``cosine``).
        space: binary kinds with the same space hold comparable codes and are searched
            against each other: a still's PDQ and a video frame's PDQ are both ``pdq``, so a
            still that is a frame of a stored video is found, and the other way round.
            None: the kind's own name (comparable with itself only).
        features_artifact: for a ``float_vector`` kind whose nearest neighbours are only
            candidates, the artifact holding each item's local features, with which matching
            verifies them geometrically (the ``scene`` kind); None: no verification.
    """

    name: str
    value_type: ValueType
    label: str = ""
    bits: int | None = None
    dims: int | None = None
    threshold: int | None = None
    max_threshold: int | None = None
    min_quality: int | None = None
    listed: bool = False
    search_label: str = "perceptual"
    index_backend: str | None = None
    metric: str = "cosine"
    space: str | None = None
    features_artifact: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidInputError(
                f"signal kind name {self.name!r} must be 1-32 lower-case letters, digits, - or _"
            )
        if self.value_type.binary and (self.bits is None or self.bits <= 0 or self.bits % 8):
            raise InvalidInputError(f"binary signal kind {self.name!r} needs bits, a multiple of 8")
        if self.value_type is ValueType.FLOAT_VECTOR and not self.dims:
            raise InvalidInputError(f"vector signal kind {self.name!r} needs dims")
        if self.value_type is ValueType.DIGEST and self.name not in MEDIA_DIGESTS:
            raise InvalidInputError(
                f"digest kind {self.name!r} is not stored; digests are {', '.join(MEDIA_DIGESTS)}"
            )
        if not self.label:
            object.__setattr__(self, "label", self.name.upper())

    @property
    def match_space(self) -> str:
        """The space of codes this kind compares in (see ``space``)."""
        return self.space or self.name

    @property
    def sequence(self) -> bool:
        """Whether values come in time-ordered sequences (the frames of a recording)."""
        return self.value_type is ValueType.BINARY_SEQUENCE

    @property
    def code_bytes(self) -> int | None:
        """Bytes of one packed binary code, or None for other value types."""
        return self.bits // 8 if self.bits is not None and self.value_type.binary else None

    def parse_hex(self, text: str) -> bytes:
        """A binary code or digest of this kind from its hexadecimal form.

        Raises:
            InvalidInputError: the text is not a hex value of this kind's width.
        """
        width = self.bits // 4 if self.bits else None
        value = text.strip()
        if width is None or len(value) != width or not _HEX.match(value):
            raise InvalidInputError(f"a {self.label} hash is {width} hexadecimal characters")
        return bytes.fromhex(value)


@dataclass(frozen=True, slots=True)
class Signal:
    """One value of one kind for one media item.

    Attributes:
        kind: the :class:`SignalKind` name.
        value: the compact bytes (packed code, digest, float32 vector); empty when the value
            lives in the blob store (``blob_id``).
        quality: 0-100 where the kind has a quality (PDQ), else None.
        position: index within a sequence (0 for a single value).
        time_ms: where in a recording the value was taken, for sequences.
        blob_id: the blob holding a large value.
    """

    kind: str
    value: bytes
    quality: int | None = None
    position: int = 0
    time_ms: int | None = None
    blob_id: str | None = None


@dataclass(frozen=True, slots=True)
class Variant:
    """A query form of a signal: the value of a transformed copy (a mirror, a turn).

    Searching every variant of a query finds stored originals of which the query is a
    transformed copy. ``transform`` names what turns the query into the stored item
    (``original`` for the value itself).
    """

    signal: Signal
    transform: str = "original"
    # A value looked up but not stored (a video's probe frame between its stored samples):
    # it finds pairs, but the item's share of frames matched counts stored values only.
    probe_only: bool = False
