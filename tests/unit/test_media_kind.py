"""Media kind comes from the content (magic bytes, then the image decoder), never the name."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import Image

from sightline.analyzers.base import MediaInput
from sightline.analyzers.registry import AnalyzerSet
from sightline.domain.signals import MediaKind
from sightline.errors import ConfigurationError, UnknownPlugin


def _image(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "teal").save(buffer, format=fmt)
    return buffer.getvalue()


def _wav() -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    data = b"\x00\x00" * 800
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _mp4() -> bytes:
    ftyp = b"ftypisom" + b"\x00\x00\x02\x00" + b"isomiso2avc1mp41"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + b"\x00\x00\x00\x08free"


def _transport_stream() -> bytes:
    return b"".join(b"\x47" + bytes(187) for _ in range(4))


def _matroska() -> bytes:
    doctype = bytes.fromhex("4282") + bytes([0x80 | 8]) + b"matroska"
    return bytes.fromhex("1a45dfa3") + bytes([0x80 | len(doctype)]) + doctype + bytes(32)


CASES = [
    ("photo.jpg", _image("JPEG"), MediaKind.IMAGE),
    ("scan.png", _image("PNG"), MediaKind.IMAGE),
    ("old.pcx", _image("PCX"), MediaKind.IMAGE),  # no signature: the decoder knows it
    ("clip.mp4", _mp4(), MediaKind.VIDEO),
    ("clip.mkv", _matroska(), MediaKind.VIDEO),
    ("stream.ts", _transport_stream(), MediaKind.VIDEO),
    ("voice.wav", _wav(), MediaKind.AUDIO),
    ("notes.txt", b"hello, not an image\n", MediaKind.OTHER),
    ("empty.bin", b"", MediaKind.OTHER),
    # Names lie: a JPEG called .mp4 is an image, a recording called .jpg is a video.
    ("disguised.mp4", _image("JPEG"), MediaKind.IMAGE),
    ("disguised.jpg", _mp4(), MediaKind.VIDEO),
]


@pytest.mark.parametrize(("name", "content", "kind"), CASES, ids=[c[0] for c in CASES])
def test_kind_is_detected_from_content(
    tmp_path: Path, name: str, content: bytes, kind: MediaKind
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    media = MediaInput(path)
    try:
        assert media.kind is kind
    finally:
        media.close()


def test_mime_type_follows_the_content(tmp_path: Path) -> None:
    for content, mime in ((_image("PNG"), "image/png"), (_wav(), "audio/x-wav")):
        path = tmp_path / "x.bin"
        path.write_bytes(content)
        media = MediaInput(path)
        try:
            assert media.mime_type == mime
        finally:
            media.close()


def test_the_default_analyzers_declare_their_kinds() -> None:
    enabled = AnalyzerSet()
    assert list(enabled.kinds) == [
        "md5",
        "sha1",
        "sha256",
        "pdq",
        "scene",
        "vpdq",
        "chromaprint",
        "speech",
        "hum",
    ]
    assert [k.name for k in enabled.binary_kinds()] == ["pdq", "vpdq"]
    # Recordings: frames, sound, speech, hum and container metadata.
    assert [a.name for a in enabled.for_media(MediaKind.VIDEO)] == [
        "crypto",
        "vpdq",
        "chromaprint",
        "speech",
        "hum",
        "metadata",
    ]
    assert enabled.reads_content(MediaKind.IMAGE)
    assert not AnalyzerSet(("crypto", "pdq")).reads_content(MediaKind.VIDEO)
    with_video = AnalyzerSet(("crypto", "pdq", "vpdq", "metadata"))
    assert [a.name for a in with_video.for_media(MediaKind.VIDEO)] == [
        "crypto",
        "vpdq",
        "metadata",
    ]
    assert with_video.reads_content(MediaKind.VIDEO)
    assert enabled.emitter("pdq").name == "pdq"


@pytest.mark.parametrize(
    ("names", "error", "message"),
    [
        (("pdq", "metadata"), ConfigurationError, "sha256"),
        (("crypto", "crypto"), ConfigurationError, "twice"),
        (("crypto", "no-such-analyzer"), UnknownPlugin, "valid: .*crypto, .*metadata, pdq, .*vpdq"),
    ],
)
def test_unusable_analyzer_sets_are_refused(
    names: tuple[str, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        AnalyzerSet(names)
