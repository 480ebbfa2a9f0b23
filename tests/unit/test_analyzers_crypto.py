from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from sightline.analyzers.base import MediaInput
from sightline.analyzers.crypto import (
    CHUNK_SIZE,
    CryptoHashAnalyzer,
    file_digests,
    stream_digests,
)
from sightline.errors import AnalysisFailed
from sightline.features.hashes import normalize_digest
from tests.support.media_files import write_random_bytes

# Published test vectors (RFC 1321, FIPS 180 examples).
EMPTY = {
    "md5": "d41d8cd98f00b204e9800998ecf8427e",
    "sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}
ABC = {
    "md5": "900150983cd24fb0d6963f7d28e17f72",
    "sha1": "a9993e364706816aba3e25717850c26c9cd0d89d",
    "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
}


@pytest.mark.parametrize(("content", "expected"), [(b"", EMPTY), (b"abc", ABC)])
def test_known_digests(tmp_path: Path, content: bytes, expected: dict[str, str]) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(content)
    assert file_digests(path) == expected
    assert CryptoHashAnalyzer().analyze(MediaInput(path)) == expected
    assert stream_digests(io.BytesIO(content)) == expected


@pytest.mark.parametrize("size", [CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17])
def test_files_spanning_chunks_match_whole_content(tmp_path: Path, size: int) -> None:
    path = write_random_bytes(tmp_path / "large.bin", size=size, seed=size)
    data = path.read_bytes()
    assert file_digests(path) == {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_digests_are_lower_case_hex_of_the_right_length(tmp_path: Path) -> None:
    path = write_random_bytes(tmp_path / "blob.bin")
    for kind, value in file_digests(path).items():
        assert normalize_digest(kind, value) == value


def test_reads_in_chunks_never_the_whole_file() -> None:
    class Recording(io.BytesIO):
        sizes: list[int]

        def read(self, size: int | None = -1, /) -> bytes:
            self.sizes.append(-1 if size is None else size)
            return super().read(size)

    stream = Recording(b"x" * (2 * CHUNK_SIZE + 5))
    stream.sizes = []
    stream_digests(stream)
    assert stream.sizes == [CHUNK_SIZE] * 4


def test_unreadable_file_raises_analysis_failed(tmp_path: Path) -> None:
    with pytest.raises(AnalysisFailed, match="cannot read"):
        CryptoHashAnalyzer().analyze(MediaInput(tmp_path / "vanished.jpg"))
    with pytest.raises(AnalysisFailed, match="cannot read"):
        CryptoHashAnalyzer().analyze(MediaInput(tmp_path))  # a directory


def test_file_digests_lets_os_errors_through(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        file_digests(tmp_path / "vanished.jpg")
