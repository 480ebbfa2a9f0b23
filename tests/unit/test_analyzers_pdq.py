from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from sightline.analyzers.base import WORKING_SIDE, MediaInput, working_luma_of
from sightline.analyzers.pdq import (
    DEFAULT_MIN_QUALITY,
    DIHEDRAL_ORDER,
    PdqAnalyzer,
    dihedral_hashes,
    dihedral_hashes_of_image,
    hash_image,
)
from sightline.config import DEFAULT_PDQ_MIN_QUALITY, DEFAULT_PDQ_THRESHOLD
from sightline.errors import AnalyzerSkipped, InvalidInputError
from sightline.features.hashes import PdqHash
from sightline.services import synthetic
from tests.support.media_files import write_flat_image
from tests.unit.test_media_input import KINDS, write_kind

SEEDS = (11, 12, 13)
SIZE = (1024, 768)


def _file_hash(path: Path) -> PdqHash:
    with closing(MediaInput(path)) as media:
        output = PdqAnalyzer().analyze(media)
    return PdqHash(output["hash"], output["quality"])


def _file_dihedral(path: Path) -> list[PdqHash]:
    with closing(MediaInput(path)) as media:
        return dihedral_hashes(media)


def _write(image: Image.Image, path: Path) -> Path:
    path.write_bytes(synthetic.encode(image, "JPEG"))
    return path


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("pdq")
    return {seed: _write(synthetic.landscape(seed, SIZE), folder / f"{seed}.jpg") for seed in SEEDS}


@pytest.mark.parametrize("transform", ["reencode", "resize", "crop"])
@pytest.mark.parametrize("seed", SEEDS)
def test_edited_copies_stay_within_threshold(
    originals: dict[int, Path], tmp_path: Path, transform: str, seed: int
) -> None:
    copy = synthetic.TRANSFORMS[transform](synthetic.landscape(seed, SIZE))
    distance = _file_hash(originals[seed]).distance(_file_hash(_write(copy, tmp_path / "c.jpg")))
    assert distance <= DEFAULT_PDQ_THRESHOLD


@pytest.mark.parametrize("transform", ["mirror", "rotate90"])
@pytest.mark.parametrize("seed", SEEDS)
def test_mirrored_and_rotated_copies_are_found_through_dihedral_hashes(
    originals: dict[int, Path], tmp_path: Path, transform: str, seed: int
) -> None:
    original = _file_hash(originals[seed])
    query = _write(
        synthetic.TRANSFORMS[transform](synthetic.landscape(seed, SIZE)), tmp_path / "q.jpg"
    )
    assert original.distance(_file_hash(query)) > DEFAULT_PDQ_THRESHOLD  # plain PDQ misses it
    assert min(variant.distance(original) for variant in _file_dihedral(query)) <= (
        DEFAULT_PDQ_THRESHOLD
    )


def test_unrelated_landscapes_are_far_apart(originals: dict[int, Path]) -> None:
    hashes = [_file_hash(path) for path in originals.values()]
    for index, first in enumerate(hashes):
        for second in hashes[index + 1 :]:
            assert first.distance(second) > DEFAULT_PDQ_THRESHOLD


def test_flat_image_is_skipped_with_its_quality(tmp_path: Path) -> None:
    media = MediaInput(write_flat_image(tmp_path / "flat.png"))
    with (
        closing(media),
        pytest.raises(AnalyzerSkipped, match=r"quality 0 is below the minimum of 50"),
    ):
        PdqAnalyzer().analyze(media)


def test_min_quality_is_a_parameter(tmp_path: Path) -> None:
    with closing(MediaInput(write_flat_image(tmp_path / "flat.png"))) as media:
        assert PdqAnalyzer(min_quality=0).analyze(media)["quality"] == 0
    assert PdqAnalyzer().params() == {
        "working_side": WORKING_SIDE,
        "min_quality": DEFAULT_PDQ_MIN_QUALITY,
    }
    with pytest.raises(InvalidInputError):
        PdqAnalyzer(min_quality=101)


def test_default_quality_floor_matches_the_settings_default() -> None:
    assert DEFAULT_MIN_QUALITY == DEFAULT_PDQ_MIN_QUALITY


def _pattern() -> Image.Image:
    """Integer arithmetic only, so the pixels are identical on every platform."""
    y, x = np.mgrid[0:256, 0:256]
    channels = [((x * 3) ^ (y * 5)) % 256, (x + 2 * y) % 256, (x * y) % 256]
    return Image.fromarray(np.stack(channels, axis=-1).astype(np.uint8))


def test_hash_of_a_fixed_pattern_is_pinned() -> None:
    """A changed value means stored hashes no longer match new ones: bump the version."""
    pinned = "df2a507e2d6b503f7fc2501f8fcab14adf72b1426d4a1142f7fc1041ebb5b040"
    assert PdqAnalyzer.version == "2"
    assert hash_image(_pattern()) == PdqHash(pinned, 100)
    # Version 1 hashed the RGB working copy: two bits away, well inside the threshold.
    version_1 = "df2a507e2d6b503f7fc2501f8fcab14adf72b142ed4a1142f7fc1041eb35b040"
    assert hash_image(_pattern()).distance(PdqHash(version_1, 100)) == 2


def test_hex_follows_the_threatexchange_convention() -> None:
    """python-threatexchange reads pdqhash's bit vector most significant bit first."""
    luma_as_rgb = np.asarray(_pattern().convert("L").convert("RGB"))
    bits, quality = pdqhash.compute(luma_as_rgb)
    bin_str = "".join(str(bit) for bit in bits)
    reference = "".join(f"{int(bin_str[i : i + 8], 2):02x}" for i in range(0, 256, 8))
    assert hash_image(_pattern()) == PdqHash(reference, quality)


def _rgb_dihedral(pixels: Image.Image) -> list[PdqHash]:
    """pdqhash's own path on a contiguous RGB array: its float luma of the three channels."""
    vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(np.asarray(pixels)))
    return [PdqHash.from_bits(bits, int(quality)) for bits in vectors]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_luma_hashes_exactly_as_pdqhash_on_the_same_grey_rgb(tmp_path: Path, kind: str) -> None:
    """The zero-copy three-channel view of the luma changes nothing in pdqhash's result."""
    path = write_kind(tmp_path / f"a.{kind}", kind, size=(1024, 768))
    with closing(MediaInput(path)) as media:
        assert dihedral_hashes(media) == _rgb_dihedral(media.working_luma().convert("RGB"))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_version_2_stays_within_a_few_bits_of_version_1(tmp_path: Path, kind: str) -> None:
    """Luma rounded to 8 bits (or a JPEG's Y plane) against PDQ's float luma of RGB.

    Greyscale pictures hash identically; colour ones move by a bit pair or two when a
    coefficient sits next to the median (measured: none on about half of 200 camera-like
    JPEGs, 2 bits on the rest, 4 at most). Quality never changes.
    """
    path = write_kind(tmp_path / f"a.{kind}", kind, size=(1024, 768))
    with closing(MediaInput(path)) as media:
        version_2 = dihedral_hashes(media)
        version_1 = _rgb_dihedral(media.working_image())
    distances = [new.distance(old) for new, old in zip(version_2, version_1, strict=True)]
    assert version_2[0].quality == version_1[0].quality
    if kind in {"grey-jpeg", "grey-png", "16bit-png", "la-png", "bilevel-png"}:
        assert max(distances) == 0
    assert max(distances) <= 4


@pytest.mark.parametrize("seed", range(8))
def test_camera_like_jpegs_stay_within_a_few_bits_of_version_1(tmp_path: Path, seed: int) -> None:
    """The benchmark's kind of file: 1 MP with sensor grain, DCT-scaled when decoded."""
    image = synthetic.add_grain(synthetic.landscape(seed, (1152, 864)), seed=seed)
    path = _write(image, tmp_path / "camera.jpg")
    with closing(MediaInput(path)) as media:
        version_2 = dihedral_hashes(media)
        version_1 = _rgb_dihedral(media.working_image())
    assert version_2[0].quality == version_1[0].quality
    assert max(new.distance(old) for new, old in zip(version_2, version_1, strict=True)) <= 4


@pytest.mark.parametrize("kind", sorted(k for k in KINDS if KINDS[k][0] != "JPEG"))
def test_files_and_in_memory_images_hash_alike(tmp_path: Path, kind: str) -> None:
    """Search by upload and search by file agree wherever no DCT scaling is involved."""
    path = write_kind(tmp_path / f"a.{kind}", kind, size=(1024, 768))
    with closing(MediaInput(path)) as media, Image.open(path) as image:
        assert dihedral_hashes(media) == dihedral_hashes_of_image(image)


def test_hash_is_stable_across_runs(originals: dict[int, Path]) -> None:
    path = originals[SEEDS[0]]
    assert _file_hash(path) == _file_hash(path)
    assert _file_dihedral(path) == _file_dihedral(path)


def test_dihedral_hashes_start_with_the_plain_hash(originals: dict[int, Path]) -> None:
    path = originals[SEEDS[0]]
    variants = _file_dihedral(path)
    assert len(variants) == len(DIHEDRAL_ORDER) == 8
    assert variants[0] == _file_hash(path)
    assert len({variant.hex for variant in variants}) == 8


def test_in_memory_images_follow_the_working_copy_rule() -> None:
    image = synthetic.landscape(SEEDS[0], SIZE)
    assert hash_image(image) == hash_image(working_luma_of(image))  # shrunk once, same hash
    small = image.copy()
    small.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.BILINEAR)
    assert hash_image(image).distance(hash_image(small)) <= 4  # another filter: a few bits
    assert hash_image(image.convert("L")).quality > DEFAULT_PDQ_MIN_QUALITY
    assert dihedral_hashes_of_image(image)[0] == hash_image(image)
