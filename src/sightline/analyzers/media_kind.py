"""What a file is, decided from its content: magic bytes first, then the image decoder.

A seized file's extension is whatever its owner gave it (``.jpg`` on a video, nothing at
all, ``.dat``), so it is never read. The ``filetype`` package matches the leading bytes
against the signatures of the common image, video and audio containers (JPEG, PNG, GIF,
WebP, HEIC, MP4, MOV, MKV, WebM, AVI, 3GP, MP3, M4A, OGG, FLAC, WAV, AMR...). MPEG transport
streams carry no signature, only a sync byte every 188 bytes, and are recognised by that.
Whatever matches nothing is offered to Pillow (``MediaInput.kind``), whose decoders know many
older image formats (PCX, PPM, TGA...) without a signature in the table; a file neither
recognises is ``other``, which the digests still cover.

A container's signature does not say what it carries: an MP4 may hold only sound (M4A), an
MP3 may carry its cover picture as a "video" stream, an OGG may hold a Theora video. A file
whose signature declares a recording is therefore probed for its streams
(:func:`recording_kind`): a moving-picture stream makes it a video, sound alone audio.
"""

from __future__ import annotations

from pathlib import Path

import av
import av.error
import filetype

from sightline.domain.signals import MediaKind

# ``filetype`` needs at most this many leading bytes for any signature it knows.
_HEAD_BYTES = 8192
_TS_PACKET = 188
_TS_SYNC = 0x47
# Containers ``filetype`` files under "application" that hold recordings.
_APPLICATION_KINDS = {"application/x-matroska": MediaKind.VIDEO}


def _transport_stream(head: bytes) -> bool:
    """Three sync bytes at packet boundaries: an MPEG transport stream (TS, M2TS less 4)."""
    for packet in (_TS_PACKET, _TS_PACKET + 4):  # M2TS prefixes each packet with 4 bytes
        offset = packet - _TS_PACKET
        if len(head) > offset + 2 * packet and all(
            head[offset + i * packet] == _TS_SYNC for i in range(3)
        ):
            return True
    return False


def kind_of_bytes(head: bytes) -> MediaKind | None:
    """The media kind the leading bytes of a file declare, or None when they declare none."""
    guess = filetype.guess(head)
    if guess is not None:
        major = guess.mime.split("/", 1)[0]
        if major in (MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO):
            return MediaKind(major)
        if guess.mime in _APPLICATION_KINDS:
            return _APPLICATION_KINDS[guess.mime]
    if _transport_stream(head):
        return MediaKind.VIDEO
    return None


def kind_from_magic(path: Path) -> MediaKind | None:
    """The kind the file's leading bytes declare; None when they declare none.

    ``MediaInput.kind`` then asks the image decoder (``MediaInput.image_header``), so a
    decompression bomb in a format without a signature is still refused as one.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as stream:
        return kind_of_bytes(stream.read(_HEAD_BYTES))


def mime_from_magic(path: Path) -> str | None:
    """The MIME type the file's leading bytes declare, if any.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as stream:
        guess = filetype.guess(stream.read(_HEAD_BYTES))
    return str(guess.mime) if guess is not None else None


def _moving(stream: av.stream.Stream) -> bool:
    """Whether a video stream holds moving pictures (not a cover art or a thumbnail)."""
    still = av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails
    return not (stream.disposition & still)


def recording_kind(path: Path, declared: MediaKind) -> MediaKind:
    """What a file whose signature declares a recording carries: video or audio.

    ``VIDEO`` when the container has a moving-picture stream, ``AUDIO`` when it has sound
    and no such stream, else ``declared`` (a container with no stream at all, or one FFmpeg
    cannot open: the analyzers then report why).
    """
    try:
        with av.open(str(path)) as container:
            if any(_moving(s) for s in container.streams.video):
                return MediaKind.VIDEO
            if container.streams.audio:
                return MediaKind.AUDIO
    except (av.error.FFmpegError, ValueError, OSError):
        pass
    return declared
