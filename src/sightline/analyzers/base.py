"""The analyzer interface and the media input every analyzer reads from.

An analyzer is a small class with an explicit ``name`` (never derived from the class name, so
renaming code never orphans stored features), a ``version`` that changes whenever its output
would, and the media kinds it accepts. ``analyze`` returns a JSON-serialisable mapping or
raises ``AnalyzerSkipped`` / ``AnalysisFailed``; it never returns a sentinel.
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from sightline.analyzers.media_kind import kind_from_magic, mime_from_magic, recording_kind
from sightline.domain.signals import CostClass, MediaKind, Signal, SignalKind, Variant
from sightline.errors import (
    AnalysisFailed,
    AnalyzerSkipped,
    DecompressionBomb,
    OversizedMetadata,
    TruncatedMedia,
    UnsupportedMedia,
)

# Images are decoded once per file and shared by every analyzer. Pillow's own bomb guard is
# replaced by ours (a configurable limit checked before any pixel is decoded).
DEFAULT_MAX_PIXELS = 89_478_485
# PDQ, thumbnails and other image signals work on a copy whose longest side is at most this
# many pixels. One fixed rule matters more than the value: full-resolution and resized PDQ
# hashes of the same image differ by ~12 bits, so ingest and search must resize identically.
WORKING_SIDE = 512

# The artifact (``Analyzer.artifacts``) that is the media item's thumbnail: a greyscale
# JPEG of at most 256 pixels a side, blurred when served.
THUMBNAIL_ARTIFACT = "thumbnail"

_HEIF_REGISTERED = False


def _register_heif() -> None:
    """Teach Pillow to open HEIC/HEIF files (done lazily, once per process)."""
    global _HEIF_REGISTERED
    if not _HEIF_REGISTERED:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _HEIF_REGISTERED = True


def _open_unguarded(path: Path) -> Image.Image:
    """``Image.open`` with Pillow's global bomb guard off; callers apply ``max_pixels``.

    Pillow's other warnings at open time are about malformed metadata (a JPEG plugin reads
    EXIF for its DPI while opening: "Corrupt EXIF data"). Seized media is full of such files;
    they are expected, not news, and the fields are simply missing, so they are silenced.
    """
    _register_heif()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None  # our own limit applies, in MediaInput.image_header
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


# Box averaging: the cheapest filter that still averages every source pixel (no aliasing).
# PDQ low-pass filters again internally, so a sharper filter buys nothing; measured 1.5 ms
# against bilinear's 2.2 ms for a 576x432 -> 512x384 shrink.
WORKING_RESAMPLING = Image.Resampling.BOX


def shrink_to_working(image: Image.Image) -> None:
    """Shrink ``image`` in place so its longest side is at most ``WORKING_SIDE``.

    Every image signal (PDQ at ingest and at search, thumbnails) goes through this one rule.
    """
    image.thumbnail((WORKING_SIDE, WORKING_SIDE), WORKING_RESAMPLING)


def to_luma(image: Image.Image) -> Image.Image:
    """A new 8-bit greyscale (mode ``L``) image: Pillow's ITU-R 601-2 luma of ``image``.

    ``L`` images are copied and ``RGB`` ones converted directly. Every other mode (palette,
    alpha, CMYK, 16-bit, bilevel) is converted to ``RGB`` first, so its luma is that of
    exactly the colour picture the ``RGB`` path shows. ``image`` itself is never modified.
    """
    if image.mode == "L":
        return image.copy()
    if image.mode == "RGB":
        return image.convert("L")
    return image.convert("RGB").convert("L")


def working_luma_of(image: Image.Image) -> Image.Image:
    """``to_luma(image)`` shrunk by ``shrink_to_working``: what PDQ and thumbnails read.

    Luma first, then the shrink: resampling one channel costs a quarter of resampling
    ``RGB`` (which Pillow stores as four bytes a pixel), and a file decoded by
    ``MediaInput.working_luma`` follows the same order, so both hash alike.
    """
    if image.mode != "L":
        grey = to_luma(image)
        shrink_to_working(grey)
        return grey
    # Already luma (a greyscale file, or a colour JPEG decoded luma-only): resample straight
    # from it instead of copying it first. Same size and call as ``Image.thumbnail`` makes,
    # so the same pixels as ``shrink_to_working`` on a copy (tests compare the two).
    size = _working_size(*image.size)
    if size == image.size:
        return image.copy()
    return image.resize(size, WORKING_RESAMPLING, reducing_gap=_THUMBNAIL_REDUCING_GAP)


# ``Image.thumbnail``'s default, which ``shrink_to_working`` uses.
_THUMBNAIL_REDUCING_GAP = 2.0


def _working_size(width: int, height: int) -> tuple[int, int]:
    """The size ``shrink_to_working`` gives a ``width`` x ``height`` image.

    Pillow's ``thumbnail`` rule: the aspect ratio is kept, and the side that is not the
    longest is rounded (down or up) to whichever integer keeps the ratio closest.
    """
    if width <= WORKING_SIDE and height <= WORKING_SIDE:
        return width, height
    aspect = width / height
    if aspect >= 1:
        target = WORKING_SIDE / aspect
        short = min(
            math.floor(target),
            math.ceil(target),
            key=lambda n: abs(aspect - WORKING_SIDE / n) if n else 0,
        )
        return WORKING_SIDE, max(short, 1)
    target = WORKING_SIDE * aspect
    short = min(math.floor(target), math.ceil(target), key=lambda n: abs(aspect - n / WORKING_SIDE))
    return max(short, 1), WORKING_SIDE


# Pillow refuses PNG text chunks past MAX_TEXT_CHUNK (one chunk) or MAX_TEXT_MEMORY (all of
# them) with a plain ValueError; only its message tells it from corrupt pixel data.
_METADATA_LIMITS = ("MAX_TEXT_CHUNK", "MAX_TEXT_MEMORY")


def _raise_oversized_metadata(exc: Exception) -> None:
    """Raise ``OversizedMetadata`` if ``exc`` is a decoder's metadata limit."""
    if isinstance(exc, ValueError) and any(limit in str(exc) for limit in _METADATA_LIMITS):
        raise OversizedMetadata(
            "the file's metadata (text chunks) exceeds the decoder's memory limit"
        ) from exc


def _draft_size(width: int, height: int) -> tuple[int, int]:
    """The size to ask JPEG DCT scaling for: the working size with the image's aspect ratio.

    ``draft`` picks the smallest scale whose result is at least the requested size in both
    dimensions, so asking for a square would stop a 4:3 photo from being scaled at all.
    """
    scale = min(1.0, WORKING_SIDE / max(width, height))
    return max(1, int(width * scale)), max(1, int(height * scale))


@dataclass
class MediaInput:
    """A file to analyze, with its image decoded lazily and at most once.

    Attributes:
        path: local path of the file (zip entries are extracted to a temporary file first).
        max_pixels: images declaring more pixels are refused as decompression bombs.
    """

    path: Path
    max_pixels: int = DEFAULT_MAX_PIXELS
    _header: Image.Image | None = field(default=None, init=False, repr=False)
    _working: Image.Image | None = field(default=None, init=False, repr=False)
    _working_luma: Image.Image | None = field(default=None, init=False, repr=False)
    _kind: MediaKind | None = field(default=None, init=False, repr=False)
    # Values one analyzer derives that a caller may reuse without recomputing them (the PDQ
    # analyzer leaves the 8 dihedral hashes here for ingest-time matching).
    derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def size(self) -> int:
        """Size of the file in bytes."""
        return self.path.stat().st_size

    @property
    def kind(self) -> MediaKind:
        """What the file is, from its content (magic bytes, then the image decoder).

        Raises:
            DecompressionBomb: an image without a known signature declares too many pixels.
            OversizedMetadata: such an image's metadata exceeds the decoder's limits.
            OSError: the file cannot be read.
        """
        if self._kind is None:
            kind = kind_from_magic(self.path)
            if kind in (MediaKind.VIDEO, MediaKind.AUDIO):
                kind = recording_kind(self.path, kind)
            if kind is None:
                try:
                    self.image_header()
                    kind = MediaKind.IMAGE
                except UnsupportedMedia:
                    kind = MediaKind.OTHER
            self._kind = kind
        return self._kind

    @property
    def mime_type(self) -> str | None:
        """The MIME type of the content: the image decoder's, else the magic bytes'."""
        if self.kind is MediaKind.IMAGE:
            header = self.image_header()
            return Image.MIME.get(header.format) if header.format else None
        mime = mime_from_magic(self.path)
        if mime is not None and self.kind is MediaKind.AUDIO and mime.startswith("video/"):
            return "audio/" + mime.split("/", 1)[1]  # an M4A: an MP4 that holds only sound
        return mime

    def decode(self) -> None:
        """Decode the content once, so a truncated or corrupt file fails as a whole.

        Raises:
            TruncatedMedia: the data is truncated or corrupt.
            DecompressionBomb: the image declares more pixels than ``max_pixels``.
        """
        if self.kind is MediaKind.IMAGE:
            self.working_luma()

    def image_header(self) -> Image.Image:
        """Open the image without decoding pixels; checks format and pixel count.

        Raises:
            UnsupportedMedia: the file is not an image Pillow can read.
            DecompressionBomb: the image declares more pixels than ``max_pixels``.
        """
        if self._header is None:
            try:
                header = _open_unguarded(self.path)
            except (OSError, SyntaxError, ValueError) as exc:
                _raise_oversized_metadata(exc)
                raise UnsupportedMedia("not an image format Sightline can read") from exc
            try:
                self._check_size(*header.size)
            except AnalysisFailed:
                header.close()  # a refused file must not keep its handle open
                raise
            self._header = header
        return self._header

    def _check_size(self, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise UnsupportedMedia("image has no pixels")
        if width * height > self.max_pixels:
            raise DecompressionBomb(
                f"image declares {width * height} pixels, over the limit of {self.max_pixels}"
            )

    def working_image(self) -> Image.Image:
        """The decoded RGB image, longest side at most ``WORKING_SIDE`` pixels.

        For analyzers that need colour; PDQ and thumbnails read ``working_luma`` instead, and
        ingest never decodes colour unless an analyzer asks for it. JPEGs are decoded with
        DCT scaling (``draft``), which is several times faster than a full decode followed
        by a resize.

        Raises:
            UnsupportedMedia: the file is not an image Pillow can read.
            DecompressionBomb: the image declares more pixels than ``max_pixels``.
            TruncatedMedia: the pixel data is truncated or corrupt.
        """
        if self._working is None:
            self._working = self._decode("RGB")
        return self._working

    def working_luma(self) -> Image.Image:
        """The decoded image as 8-bit luma (mode ``L``), longest side at most ``WORKING_SIDE``.

        This is what PDQ hashes (it reads luma only) and what thumbnails show (greyscale,
        as the wellness rule wants them by default). A JPEG is decoded luma-only with DCT
        scaling: its Y plane is the luma, so the chroma planes are neither decoded nor
        upsampled nor converted to RGB. Other formats go through ``working_luma_of``.

        Raises:
            UnsupportedMedia: the file is not an image Pillow can read.
            DecompressionBomb: the image declares more pixels than ``max_pixels``.
            TruncatedMedia: the pixel data is truncated or corrupt.
        """
        if self._working_luma is None:
            self._working_luma = self._decode("L")
        return self._working_luma

    def _decode(self, mode: str) -> Image.Image:
        """Decode the pixels as ``mode`` (``RGB`` or ``L``) and shrink them to working size.

        Pixels are decoded from a second handle on the file: ``draft`` rewrites the size of
        the image it is called on, and the header must keep reporting the true dimensions
        (and keep its file open for EXIF) to other analyzers. For ``L``, ``draft`` switches
        only colour (YCbCr) JPEGs to luma-only output; CMYK and greyscale JPEGs keep their
        own mode and are converted like any other format.
        """
        header_format = self.image_header().format  # format and bomb checks come first
        try:
            with _open_unguarded(self.path) as source:
                if header_format == "JPEG":
                    source.draft(mode, _draft_size(*source.size))
                if mode == "L":
                    return working_luma_of(source)
                image = source.convert("RGB")
            shrink_to_working(image)
        except Image.DecompressionBombError as exc:
            raise DecompressionBomb("image data expands past Pillow's pixel limit") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            _raise_oversized_metadata(exc)
            raise TruncatedMedia("image data is truncated or corrupt") from exc
        return image

    def close(self) -> None:
        """Release the decoded image and the open file handle."""
        if self._header is not None:
            self._header.close()
        self._header = None
        self._working = None
        self._working_luma = None
        self.derived.clear()


class Analyzer(abc.ABC):
    """Derives signals from a media file.

    An analyzer declares what it reads (``media_kinds``), what it emits (``emits``: the
    signal kinds, with their value type and matching configuration) and how much it costs
    (``cost``). ``analyze`` returns the feature value, a small JSON mapping kept for
    people and exchange; ``signals`` turns that value into the compact signals that are
    stored, indexed and matched; ``variants`` gives the forms a query searches with.
    Services use only these declarations, never an analyzer's name.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    media_kinds: ClassVar[frozenset[str]] = frozenset({MediaKind.IMAGE})
    emits: ClassVar[tuple[SignalKind, ...]] = ()
    cost: ClassVar[CostClass] = CostClass.CHEAP

    def params(self) -> Mapping[str, Any]:
        """Parameters that, with the version, make the output reproducible."""
        return {}

    def accepts(self, kind: str) -> bool:
        """Whether the analyzer reads media of this kind."""
        return kind in self.media_kinds

    def signals(self, value: Mapping[str, Any], media: MediaInput) -> Sequence[Signal]:
        """The signals to store, derived from ``analyze``'s value (none by default).

        ``media`` is the file just analyzed: an analyzer may take values it computed on the
        way from ``media.derived`` instead of recomputing them.
        """
        del value, media
        return ()

    def artifacts(self, value: Mapping[str, Any], media: MediaInput) -> Mapping[str, bytes]:
        """Small files made on the way that ingest stores beside the original (none by default).

        Each is stored encrypted under the blob id of the file's SHA-256 and the artifact's
        name (a short lowercase name: letters, digits, ``_.-``), so storing it again is a
        no-op. The artifact named ``THUMBNAIL_ARTIFACT``, if any, becomes the media item's
        thumbnail (images get theirs from ingest itself). Like ``signals``, an analyzer takes
        what it made during ``analyze`` from ``media.derived``; it is only called after
        ``analyze`` returned a value for ``media``.
        """
        del value, media
        return {}

    def variants(self, signals: Sequence[Signal], media: MediaInput) -> Sequence[Variant]:
        """The query forms of ``signals``: by default each signal as it is.

        An analyzer whose signal is not invariant to a transform a copy may have undergone
        (PDQ and mirroring) returns the transformed values too, named.
        """
        del media
        return tuple(Variant(signal) for signal in signals)

    def query(self, media: MediaInput) -> Sequence[Variant]:
        """What a search of ``media`` looks up: its variants, whatever their quality.

        Search reports a value too poor to search with (the kind's ``min_quality``) instead
        of silently finding nothing, so an analyzer that skips low-quality values at ingest
        returns them here. By default: ``variants`` of ``signals`` of ``analyze``, none when
        the analyzer skips the file.

        Raises:
            AnalysisFailed: the file cannot be analyzed.
        """
        try:
            value = self.analyze(media)
        except AnalyzerSkipped:
            return ()
        return self.variants(self.signals(value, media), media)

    @abc.abstractmethod
    def analyze(self, media: MediaInput) -> Mapping[str, Any]:
        """Return the signal as JSON-serialisable data.

        Raises:
            AnalyzerSkipped: the analyzer chose not to produce a value; the message says why.
            AnalysisFailed: the input cannot be analyzed (subclasses give the reason).
        """
