"""A benign demo dataset: three agencies whose cases overlap through real transformations.

Every image is a procedurally drawn landscape (``services/synthetic.py``). The overlaps are
the ones investigators see in seized material: an identical copy, JPEG re-encodes, resized
and slightly cropped copies, mirror images and rotations, in folders and in a zip archive.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from sightline.domain.access import SharingLevel
from sightline.domain.audit import Requester
from sightline.services import synthetic
from sightline.services.catalog import add_agency, add_case
from sightline.services.context import AppContext
from sightline.services.exchange.formats import ICSE_HEADER
from sightline.services.exchange.hashlists import import_list, retro_hunt
from sightline.services.ingest.run import IngestReport, ingest
from sightline.services.jobs.runner import TaskRunner
from sightline.services.matching.engine import MatchingEngine
from sightline.services.signals.indexes import IndexSet


@dataclass(frozen=True, slots=True)
class DemoAgency:
    """A fictional agency of the demo."""

    code: str
    name: str
    country: str
    case: str
    sharing: SharingLevel


DEMO = Requester(actor="system:demo", source="cli")

AGENCIES = (
    # One case per sharing level, so the demo shows each: GB shares its media, DE lets others
    # know a match exists, JP keeps its case to itself.
    DemoAgency(
        "DEMO-GB", "Demo Online Child Protection Unit", "GB", "GB-2026-0001", SharingLevel.SHARED
    ),
    DemoAgency(
        "DEMO-DE", "Demo Landeskriminalamt Referat 5", "DE", "DE-2026-0117", SharingLevel.SIGNALS
    ),
    DemoAgency(
        "DEMO-JP", "Demo Prefectural Police Cyber Unit", "JP", "JP-2026-0042", SharingLevel.PRIVATE
    ),
)

# (seed, transform name or "copy", format) of the images the DE and JP cases share with GB.
_DE_OVERLAP = [(s, "reencode", "JPEG") for s in range(1, 5)] + [
    (5, "resize", "JPEG"),
    (6, "resize", "PNG"),
    (7, "crop", "JPEG"),
    (8, "mirror", "JPEG"),
]
_JP_OVERLAP = [
    (1, "copy", "JPEG"),
    (2, "copy", "JPEG"),
    (9, "rotate90", "JPEG"),
    (10, "mirror", "WEBP"),
]


def is_loaded(ctx: AppContext) -> bool:
    """Whether the demo agencies already exist."""
    with ctx.uow() as uow:
        return uow.agencies.find(AGENCIES[0].code) is not None


def load_demo(
    ctx: AppContext, runner: TaskRunner, size: tuple[int, int] = (1024, 768)
) -> list[IngestReport]:
    """Create the demo agencies and ingest their cases; returns one report per case."""
    for agency in AGENCIES:
        add_agency(ctx, agency.code, agency.name, agency.country, requester=DEMO)
    reports = []
    engine = MatchingEngine(ctx, IndexSet(ctx))
    with tempfile.TemporaryDirectory(prefix="sightline-demo-") as tmp:
        root = Path(tmp)
        for agency, build in zip(AGENCIES, (_gb, _de, _jp), strict=True):
            folder = root / agency.code
            folder.mkdir()
            inputs = build(folder, size)
            add_case(ctx, agency.code, agency.case, requester=DEMO, sharing=agency.sharing)
            reports.append(
                ingest(
                    ctx,
                    inputs,
                    agency_code=agency.code,
                    case_reference=agency.case,
                    runner=runner,
                    device_label=f"{agency.code} demo laptop",
                    engine=engine,
                    requester=DEMO,
                )
            )
        _demo_hash_list(ctx, engine, root / AGENCIES[0].code)
    return reports


def _demo_hash_list(ctx: AppContext, engine: MatchingEngine, gb_folder: Path) -> None:
    """An ICSE-style list owned by the JP agency: two GB images, one series identified."""
    rows = [ICSE_HEADER]
    for seed, identified in ((3, "true"), (4, "false")):
        md5 = hashlib.md5((gb_folder / f"IMG_{1000 + seed}.jpg").read_bytes()).hexdigest()  # noqa: S324 - the exchange key
        fields = [md5.upper(), "", "", f"DEMO-{seed}", "true", identified, "false"]
        rows.append(";".join([*fields, f"Demo series {seed}", "1", "true", "Image", "false"]))
    stream = io.BytesIO("\r\n".join(rows).encode())
    report = import_list(
        ctx, stream, requester=DEMO, owner=AGENCIES[2].code, name="Demo ICSE export"
    )
    retro_hunt(ctx, engine, report.hash_list.id)


def _save(image: Image.Image, path: Path, fmt: str) -> Path:
    path.write_bytes(synthetic.encode(image.convert("RGB"), fmt))
    return path


def _variant(seed: int, transform: str, size: tuple[int, int]) -> Image.Image:
    image = synthetic.landscape(seed, size)
    fn: Callable[[Image.Image], Image.Image] | None = synthetic.TRANSFORMS.get(transform)
    return image if fn is None else fn(image)


def _gb(folder: Path, size: tuple[int, int]) -> list[Path]:
    for seed in range(1, 13):
        _save(synthetic.landscape(seed, size), folder / f"IMG_{1000 + seed}.jpg", "JPEG")
    return [folder]


def _de(folder: Path, size: tuple[int, int]) -> list[Path]:
    archive = folder / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for seed, transform, fmt in _DE_OVERLAP:
            data = synthetic.encode(_variant(seed, transform, size), fmt)
            zf.writestr(f"bilder/{seed:03d}_{transform}.{fmt.lower()}", data)
        for seed in range(101, 107):
            zf.writestr(f"bilder/neu_{seed}.jpg", synthetic.encode(synthetic.landscape(seed, size)))
    return [archive]


def _jp(folder: Path, size: tuple[int, int]) -> list[Path]:
    for seed, transform, fmt in _JP_OVERLAP:
        ext = {"JPEG": "jpg", "WEBP": "webp"}[fmt]
        if transform == "copy":
            # Same bytes as the GB file: an exact (SHA-256) match.
            data = synthetic.encode(synthetic.landscape(seed, size), "JPEG")
            (folder / f"DSC{seed:04d}.{ext}").write_bytes(data)
        else:
            _save(_variant(seed, transform, size), folder / f"DSC{seed:04d}.{ext}", fmt)
    for seed in range(201, 205):
        _save(synthetic.landscape(seed, size), folder / f"DSC{seed:04d}.jpg", "JPEG")
    (folder / "notes.txt").write_text("not an image: recorded as a failure, batch goes on\n")
    return [folder]
