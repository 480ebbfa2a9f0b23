"""Every registered analyzer passes the analyzer contract; a new one without a test fails."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sightline.analyzers.crypto import CryptoHashAnalyzer
from sightline.analyzers.metadata import MetadataAnalyzer
from sightline.analyzers.pdq import PdqAnalyzer
from sightline.analyzers.registry import analyzer_registry
from sightline.analyzers.testing import AnalyzerContract
from tests.support.media_files import (
    CAMERA_FIELDS,
    camera_exif,
    write_image,
    write_jpeg,
    write_random_bytes,
)


class TestCryptoHashAnalyzer(AnalyzerContract):
    analyzer_factory = CryptoHashAnalyzer
    parses_media = False
    reads_pixels = False

    def example_files(self, tmp_path: Path) -> list[Path]:
        empty = tmp_path / "empty.bin"
        empty.write_bytes(b"")
        return [
            write_jpeg(tmp_path / "landscape.jpg", seed=1),
            write_random_bytes(tmp_path / "blob.bin", size=3 * 1024 * 1024 + 7),
            empty,
        ]

    def expected_output(self, path: Path) -> Mapping[str, Any]:
        data = path.read_bytes()
        return {name: hashlib.new(name, data).hexdigest() for name in ("md5", "sha1", "sha256")}


class TestPdqAnalyzer(AnalyzerContract):
    analyzer_factory = PdqAnalyzer

    def example_files(self, tmp_path: Path) -> list[Path]:
        return [
            write_jpeg(tmp_path / "landscape.jpg", seed=2),
            write_image(tmp_path / "landscape.png", seed=3, fmt="PNG"),
        ]


class TestMetadataAnalyzer(AnalyzerContract):
    analyzer_factory = MetadataAnalyzer
    reads_pixels = False  # header only: a truncated JPEG still has a readable header

    def example_files(self, tmp_path: Path) -> list[Path]:
        return [
            write_jpeg(tmp_path / "camera.jpg", seed=4, exif=camera_exif()),
            write_image(tmp_path / "plain.png", seed=5, fmt="PNG"),
        ]

    def expected_output(self, path: Path) -> Mapping[str, Any]:
        if path.name == "camera.jpg":
            return {"format": "JPEG", "mime_type": "image/jpeg", **CAMERA_FIELDS}
        return {"format": "PNG", "make": None, "gps_latitude": None}


def test_every_registered_analyzer_has_a_contract_test() -> None:
    """Contract classes live in this module, so the check does not depend on import order."""
    contracts = [
        value
        for value in globals().values()
        if isinstance(value, type)
        and issubclass(value, AnalyzerContract)
        and value is not AnalyzerContract
    ]
    covered = {contract.analyzer_factory().name for contract in contracts}
    assert covered == set(analyzer_registry().names())
