"""Every registered analyzer passes the analyzer contract; a new one without a test fails."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pdqhash
import pytest
from PIL import Image

from sightline.analyzers.base import MediaInput
from sightline.analyzers.crypto import CryptoHashAnalyzer
from sightline.analyzers.hum import HumAnalyzer
from sightline.analyzers.metadata import MetadataAnalyzer
from sightline.analyzers.pdq import PdqAnalyzer, dihedral_hashes
from sightline.analyzers.registry import analyzer_registry
from sightline.analyzers.scene import FEATURES_ARTIFACT, SCENE_SIGNAL, SceneAnalyzer
from sightline.analyzers.soundtrack import ChromaprintAnalyzer
from sightline.analyzers.speech import SpeechAnalyzer
from sightline.analyzers.testing import AnalyzerContract
from sightline.analyzers.video import VideoPdqAnalyzer
from sightline.errors import AnalyzerSkipped
from sightline.features.hashes import PDQ_MIN_QUALITY
from sightline.features.scene import decode
from sightline.services import scenes
from tests.support import audio
from tests.support.media_files import (
    CAMERA_FIELDS,
    camera_exif,
    write_image,
    write_jpeg,
    write_random_bytes,
)
from tests.support.video import write_pan


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


# Independent reference for PDQ (issue 9, item 6): the expected hash and quality of every
# example are Meta's PDQ as the `pdqhash` package computes it (`pdqhash.compute`, Meta's C++
# hasher), called here directly, never through Sightline's analyzer, its `MediaInput` or its
# working-image helpers. PDQ itself is specified on the picture's luma; Sightline hashes an
# 8-bit luma working image (docs/adr/0008-greyscale-working-image.md), so the reference is run
# on that same working image, rebuilt here with plain Pillow and numpy from the ADR's rule:
#   - a greyscale image no larger than WORKING_SIDE: its pixels as they are, taken straight
#     from the numpy array the test generated (no decoder involved);
#   - an RGB image: Pillow's ITU-R 601-2 8-bit luma (`convert("L")`), then, if its longest
#     side exceeds WORKING_SIDE, Pillow's `thumbnail((WORKING_SIDE,) * 2, BOX)` shrink;
#   - a colour JPEG no larger than WORKING_SIDE: the decoder's Y plane at full scale
#     (`draft("L", size)`), which is that luma as the JPEG stores it.
# `pdqhash.compute` takes three channels and forms 0.299 R + 0.587 G + 0.114 B itself; it is
# given three contiguous copies of the luma plane, whose such sum is the luma value. The hex
# text is Meta's format, written here from the bit vector (most significant bit, bit 255,
# first), not with Sightline's codec. Meta's published test images are not available offline.
_REFERENCE_SIDE = 512  # WORKING_SIDE, spelt out: the reference must not read Sightline's value


def _grey_pixels(seed: int, size: tuple[int, int] = (400, 300)) -> npt.NDArray[np.uint8]:
    """A greyscale test picture (gradients, a block and mild noise) as a ``uint8`` array."""
    width, height = size
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(seed)
    picture = 90 + 60 * np.sin(cols / 23.0 + seed) + 40 * np.cos(rows / 17.0)
    picture[height // 4 : height // 2, width // 3 : width // 2] += 60
    picture += rng.normal(0, 4, size=picture.shape)
    pixels: npt.NDArray[np.uint8] = np.clip(picture, 0, 255).astype(np.uint8)
    return pixels


def _reference_luma(path: Path) -> npt.NDArray[np.uint8]:
    """The documented working image of an example, rebuilt without Sightline (see above)."""
    if path.name == "grey.png":
        return _grey_pixels(seed=6)
    with Image.open(path) as image:
        if image.format == "JPEG":
            assert max(image.size) <= _REFERENCE_SIDE, "the reference covers unscaled JPEGs"
            image.draft("L", image.size)
            luma = image.convert("L")
        else:
            luma = image.convert("RGB").convert("L")
    luma.thumbnail((_REFERENCE_SIDE, _REFERENCE_SIDE), Image.Resampling.BOX)
    return np.asarray(luma, dtype=np.uint8)


def _reference_input(path: Path) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(np.stack([_reference_luma(path)] * 3, axis=-1))


def _meta_hex(bits: npt.NDArray[np.integer]) -> str:
    """Meta's 64-hex-digit text of a ``pdqhash`` bit vector (which lists bit 255 first)."""
    return f"{int(''.join(str(int(b)) for b in bits), 2):064x}"


class TestPdqAnalyzer(AnalyzerContract):
    analyzer_factory = PdqAnalyzer

    def example_files(self, tmp_path: Path) -> list[Path]:
        grey = tmp_path / "grey.png"
        Image.fromarray(_grey_pixels(seed=6), mode="L").save(grey, format="PNG")
        return [
            write_jpeg(tmp_path / "landscape.jpg", seed=2),
            write_image(tmp_path / "landscape.png", seed=3, fmt="PNG"),
            # Larger than the working image: the reference shrinks it (box, longest side 512).
            write_image(tmp_path / "large.png", seed=7, fmt="PNG", size=(1000, 700)),
            grey,
        ]

    def expected_output(self, path: Path) -> Mapping[str, Any]:
        bits, quality = pdqhash.compute(_reference_input(path))
        return {"hash": _meta_hex(bits), "quality": int(quality)}

    def test_reference_examples_are_distinct_and_hashable(self, tmp_path: Path) -> None:
        """The references are real hashes: distinct per example and above the quality floor."""
        outputs = [self.expected_output(path) for path in self.example_files(tmp_path)]
        assert len({output["hash"] for output in outputs}) == len(outputs)
        assert min(output["quality"] for output in outputs) >= PDQ_MIN_QUALITY

    def test_dihedral_variants_match_pdqhash(self, tmp_path: Path) -> None:
        """Search's eight rotation/mirror hashes are ``pdqhash.compute_dihedral``'s, in order."""
        for path in self.example_files(tmp_path):
            vectors, _quality = pdqhash.compute_dihedral(_reference_input(path))
            with closing(MediaInput(path)) as media:
                hashes = dihedral_hashes(media)
            assert [h.hex for h in hashes] == [_meta_hex(v) for v in vectors], path.name


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


class TestVideoPdqAnalyzer(AnalyzerContract):
    analyzer_factory = VideoPdqAnalyzer

    def example_files(self, tmp_path: Path) -> list[Path]:
        return [
            write_pan(tmp_path / "pan.mp4", 3, seconds=4),
            write_pan(tmp_path / "phone.mov", 4, seconds=3, codec="libx264", rotation=270),
        ]

    def expected_output(self, path: Path) -> Mapping[str, Any]:
        if path.name == "phone.mov":  # stored landscape, shown in portrait
            return {"width": 320, "height": 240, "rotation": 270, "codec": "h264"}
        # Four seconds at 10 frames a second, one shot: one frame sampled per second.
        return {
            "width": 320,
            "height": 240,
            "rotation": 0,
            "codec": "mpeg4",
            "fps": 10.0,
            "frames_sampled": 4,
            "scene_changes": 0,
            "keyframes": [{"n": 0, "time_ms": 0}],
            "truncated": False,
        }

    def test_keyframe_artifacts_are_listed_in_the_value(self, tmp_path: Path) -> None:
        """Each listed keyframe is an artifact (a greyscale JPEG); the first is the thumbnail."""
        analyzer = self.make_analyzer()
        for path in self.example_files(tmp_path):
            with closing(MediaInput(path)) as media:
                value = analyzer.analyze(media)
                artifacts = analyzer.artifacts(value, media)
            names = [f"keyframe.{k['n']}" for k in value["keyframes"]]
            assert sorted(artifacts) == sorted([*names, "thumbnail"])
            assert artifacts["thumbnail"] == artifacts["keyframe.0"]
            assert all(jpeg.startswith(b"\xff\xd8") for jpeg in artifacts.values())


class TestChromaprintAnalyzer(AnalyzerContract):
    analyzer_factory = ChromaprintAnalyzer

    def example_files(self, tmp_path: Path) -> list[Path]:
        sound = audio.melody(31, 10.0)
        return [
            audio.write_audio(tmp_path / "melody.wav", sound),
            audio.write_av(tmp_path / "video.mp4", sound, 3, fps=2, size=(64, 48)),
        ]

    def expected_output(self, path: Path) -> Mapping[str, Any]:
        if path.suffix == ".mp4":  # AAC pads the sound a little: an item more or less
            return {"codec": "aac", "algorithm": 1, "channels": 1}
        # Ten seconds give (10 s x 11,025 - 30,031) / 1,365 + 1 = 59 items of 123.8 ms.
        return {"codec": "pcm_s16le", "duration_ms": 10_000, "items": 59, "algorithm": 1}


class TestSpeechAnalyzer(AnalyzerContract):
    analyzer_factory = SpeechAnalyzer

    def example_files(self, tmp_path: Path) -> list[Path]:
        said = audio.speech("Good morning, how are you today?", "en")
        track = audio.place(6.0, [(1.0, said)])
        return [
            audio.write_audio(tmp_path / "said.wav", track),
            audio.write_av(tmp_path / "said.mp4", track, seed=2),
            audio.write_audio(tmp_path / "tune.ogg", audio.melody(3, 4.0), "ogg"),
        ]

    def expected_output(self, path: Path) -> Mapping[str, Any]:
        if path.name == "tune.ogg":
            return {"segments": [], "speech_ms": 0, "codec": "opus"}
        return {
            "model": "silero_vad_v6",
            "sample_rate": 16_000 if path.suffix == ".wav" else 44_100,
        }


class TestHumAnalyzer(AnalyzerContract):
    analyzer_factory = HumAnalyzer

    def example_files(self, tmp_path: Path) -> list[Path]:
        tune = audio.melody(4, 12.0)
        hummed = audio.mix(tune, audio.hum(50, 12.0, level_db=audio.rms_db(tune) - 35))
        return [
            audio.write_audio(tmp_path / "hummed.flac", hummed, "flac"),
            audio.write_audio(tmp_path / "tune.mp3", tune, "mp3"),
        ]

    def expected_output(self, path: Path) -> Mapping[str, Any]:
        if path.name == "hummed.flac":
            return {"present": True, "frequency_hz": 50, "codec": "flac"}
        return {"present": False, "frequency_hz": None, "strength_db": None, "track": []}


class TestSceneAnalyzer(AnalyzerContract):
    analyzer_factory = SceneAnalyzer

    def example_files(self, tmp_path: Path) -> list[Path]:
        room = scenes.view(scenes.room(7), scenes.front_camera(), (640, 480))
        room.save(tmp_path / "room.jpg", format="JPEG", quality=90)
        return [tmp_path / "room.jpg", write_image(tmp_path / "land.png", seed=3, fmt="PNG")]

    def expected_output(self, path: Path) -> Mapping[str, Any]:
        # SIFT reads the working luma shrunk to SCENE_SIDE (384): 640x480 and 480x360 alike.
        size = {"room.jpg": (384, 288), "land.png": (384, 288)}[path.name]
        return {"width": size[0], "height": size[1], "vocabulary": "1"}

    def test_windows_vectors_and_features_agree(self, tmp_path: Path) -> None:
        """One unit vector per window; the artifact decodes to the features counted."""
        analyzer = SceneAnalyzer()
        path = self.example_files(tmp_path)[0]
        with closing(MediaInput(path)) as media:
            value = analyzer.analyze(media)
            signals = analyzer.signals(value, media)
            artifacts = analyzer.artifacts(value, media)
        assert len(signals) == len(value["windows"]) >= 2
        for signal in signals:
            vector = np.frombuffer(signal.value, dtype="<f4")
            assert vector.shape == (SCENE_SIGNAL.dims,)
            assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
        features = decode(artifacts[FEATURES_ARTIFACT])
        assert len(features) == value["keypoints"] >= 300

    def test_a_flat_picture_is_skipped(self, tmp_path: Path) -> None:
        """No scene to speak of: fewer keypoints than a scene needs."""
        path = tmp_path / "flat.png"
        Image.new("L", (300, 200), 128).save(path)
        with closing(MediaInput(path)) as media, pytest.raises(AnalyzerSkipped):
            SceneAnalyzer().analyze(media)


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
