"""The soundtrack fingerprint: Chromaprint's raw fingerprint of a recording, with positions.

Every audio file and the soundtrack of every video is decoded once (``decode_audio``: mono
16-bit PCM at 16 kHz) and fed to Debian's libchromaprint through ``pyacoustid``'s
``chromaprint.Fingerprinter`` (default algorithm). Chromaprint hands back its compressed,
base64 fingerprint; ``chromaprint.decode_fingerprint`` expands it losslessly into the raw
sequence of 32-bit items (one every 123.8 ms), which is what we keep: the compressed string
only serves whole-track lookups, and finding *where* two recordings share sound needs the
items (``sightline.features.fingerprint``). Decoding the string costs 0.4 ms for ten minutes
of sound; reading the raw items through the library's ``chromaprint_get_raw_fingerprint``
with ctypes gives the same items and would need pyacoustid's private handle.

Signals: the raw items in chunks of ``CHUNK_ITEMS`` (about 63 s each), each a little-endian
uint32 byte string with ``position`` = chunk number and ``time_ms`` = nominal time of its
first item. Joined in position order they are the whole sequence (``join_chunks``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import chromaprint
import numpy as np
import numpy.typing as npt

from sightline.analyzers.audio import decode_audio
from sightline.analyzers.base import Analyzer, MediaInput
from sightline.domain.signals import CostClass, MediaKind, Signal, SignalKind, ValueType
from sightline.errors import AnalysisFailed, AnalyzerSkipped
from sightline.features.fingerprint import (
    CHROMAPRINT_TIMING,
    DEFAULT_RULE,
    ITEM_BITS,
    Fingerprint,
    from_bytes,
    to_bytes,
)

CHROMAPRINT_KIND = "chromaprint"
CHROMAPRINT_SIGNAL = SignalKind(
    name=CHROMAPRINT_KIND,
    value_type=ValueType.FINGERPRINT,
    label="soundtrack fingerprint",
    search_label="soundtrack",
)
"""The raw Chromaprint items of a recording's sound, in chunks with their times."""

CHUNK_ITEMS = 512
"""Items per stored signal: 512 x 123.8 ms = 63.4 s, 2 KiB of bytes per chunk."""

ALGORITHM = chromaprint.Fingerprinter.ALGORITHM_DEFAULT
"""Chromaprint's default algorithm (TEST2), the one AcoustID uses."""

ITEM_SOUND_MS = 30_031 / 11_025 * 1000
"""Sound one item is computed from: 20 frames of 4,096 samples, 1,365 apart, at 11,025 Hz."""

MIN_SOUND_MS = math.ceil((DEFAULT_RULE.min_items - 1) * CHROMAPRINT_TIMING.item_ms + ITEM_SOUND_MS)
"""Shorter sound is skipped: it gives fewer items than the shortest stretch the decision rule
links (``DEFAULT_RULE.min_items``: 40 items, 7.55 s of sound), so it could never be linked;
skipping says so instead of storing a fingerprint that silently matches nothing."""

MIN_LEVEL_DBFS = -60.0
"""Quieter sound (RMS over the whole recording) is skipped as silence: Chromaprint's
normalised chroma would turn dither and codec noise into items that match nothing."""

_FEED_SAMPLES = 16_000 * 30
"""Samples handed to Chromaprint per call, so a long recording is never copied at once."""

# Where ``analyze`` leaves the raw items for ``signals``.
ITEMS_KEY = "chromaprint.items"


def library_version() -> str:
    """The libchromaprint version in use (pyacoustid exposes it only on its private handle)."""
    library = getattr(chromaprint, "_libchromaprint", None)
    version = library.chromaprint_get_version() if library is not None else None
    return version.decode() if isinstance(version, bytes) else "unknown"


def raw_fingerprint(samples: npt.NDArray[np.int16], rate: int) -> Fingerprint:
    """Chromaprint's raw items for mono 16-bit ``samples`` at ``rate`` Hz.

    Raises:
        AnalysisFailed: libchromaprint refused the sound.
    """
    try:
        printer = chromaprint.Fingerprinter(ALGORITHM)
        printer.start(rate, 1)
        for start in range(0, len(samples), _FEED_SAMPLES):
            printer.feed(np.ascontiguousarray(samples[start : start + _FEED_SAMPLES]).tobytes())
        items, algorithm = chromaprint.decode_fingerprint(printer.finish())
    except chromaprint.FingerprintError as exc:
        raise AnalysisFailed("Chromaprint could not fingerprint the sound") from exc
    if algorithm != ALGORITHM:
        raise AnalysisFailed(f"Chromaprint answered with algorithm {algorithm}, not {ALGORITHM}")
    return np.asarray(items, dtype=np.uint32)


def level_dbfs(samples: npt.NDArray[np.int16]) -> float:
    """RMS level of ``samples`` in dB relative to full scale (-inf for digital silence)."""
    if not len(samples):
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64))))) / 32768.0
    return 20.0 * float(np.log10(rms)) if rms > 0 else float("-inf")


def join_chunks(chunks: Sequence[Signal]) -> Fingerprint:
    """The whole raw sequence from its chunk signals (in any order).

    Raises:
        ValueError: a chunk is missing, repeated, or not a whole number of items.
    """
    ordered = sorted(chunks, key=lambda s: s.position)
    if [s.position for s in ordered] != list(range(len(ordered))):
        raise ValueError("fingerprint chunks must be numbered 0, 1, 2, ... without gaps")
    parts = [from_bytes(s.value) for s in ordered]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)


class ChromaprintAnalyzer(Analyzer):
    """Chromaprint's raw fingerprint of the sound of an audio file or a video's soundtrack."""

    name: ClassVar[str] = "chromaprint"
    version: ClassVar[str] = "1"
    media_kinds: ClassVar[frozenset[str]] = frozenset({MediaKind.AUDIO, MediaKind.VIDEO})
    emits: ClassVar[tuple[SignalKind, ...]] = (CHROMAPRINT_SIGNAL,)
    cost: ClassVar[CostClass] = CostClass.MODERATE

    def params(self) -> Mapping[str, Any]:
        """Algorithm, chunking and the skip rules."""
        return {
            "algorithm": ALGORITHM,
            "chunk_items": CHUNK_ITEMS,
            "min_sound_ms": MIN_SOUND_MS,
            "min_level_dbfs": MIN_LEVEL_DBFS,
        }

    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Fingerprint the sound; return its description and the fingerprint's shape.

        Raises:
            UnsupportedMedia: the content is neither audio nor video.
            AnalyzerSkipped: no audio stream, less than ``MIN_SOUND_MS`` of sound, or sound
                quieter than ``MIN_LEVEL_DBFS``.
            TruncatedMedia: an audio file is truncated or corrupt before any sound decodes.
            AnalysisFailed: so is a video's soundtrack, or Chromaprint refuses the sound.
        """
        pcm = decode_audio(media)
        if pcm.duration_ms < MIN_SOUND_MS:
            raise AnalyzerSkipped(
                f"{pcm.duration_ms} ms of sound, under the {MIN_SOUND_MS} ms a soundtrack link "
                "needs"
            )
        level = level_dbfs(pcm.samples)
        if level < MIN_LEVEL_DBFS:
            raise AnalyzerSkipped(f"the sound is silent (below {MIN_LEVEL_DBFS:g} dBFS)")
        items = raw_fingerprint(pcm.samples, pcm.rate)
        media.derived[ITEMS_KEY] = items
        return {
            **pcm.describe(),
            "items": len(items),
            "item_ms": CHROMAPRINT_TIMING.item_ms,
            "item_bits": ITEM_BITS,
            "algorithm": ALGORITHM,
            "library": f"libchromaprint {library_version()}",
        }

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """The raw items in chunks of ``CHUNK_ITEMS``, each with the time of its first item."""
        items: Fingerprint | None = media.derived.get(ITEMS_KEY)
        if items is None or len(items) != value.get("items"):  # another file's value
            pcm = decode_audio(media)
            items = raw_fingerprint(pcm.samples, pcm.rate)
        return tuple(
            Signal(
                CHROMAPRINT_KIND,
                to_bytes(items[start : start + CHUNK_ITEMS]),
                position=start // CHUNK_ITEMS,
                time_ms=round(start * CHROMAPRINT_TIMING.item_ms),
            )
            for start in range(0, len(items), CHUNK_ITEMS)
        )
