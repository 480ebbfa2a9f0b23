"""Folders of benign generated media, good and bad, for ingest and search tests."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from sightline.domain.audit import Requester
from sightline.jobs.inline import InlineRunner
from sightline.services import synthetic
from sightline.services.context import AppContext
from sightline.services.ingest.run import IngestReport, ingest

SMALL = (480, 360)
# Who the tests are, for services that audit their callers.
TEST_REQUESTER = Requester(actor="test", source="cli")


def write_landscape(
    path: Path, seed: int, fmt: str = "JPEG", size: tuple[int, int] = SMALL
) -> Path:
    """Write a landscape in ``fmt`` and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(synthetic.encode(synthetic.landscape(seed, size), fmt))
    return path


@dataclass
class Corpus:
    """A folder of inputs and what ingesting it should produce."""

    root: Path
    good_files: int = 0
    unique_files: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # original path suffix -> reason


def mixed_corpus(root: Path) -> Corpus:
    """Good images, a duplicate, a re-encode, and one of every kind of bad input."""
    corpus = Corpus(root)
    for seed in range(1, 5):
        write_landscape(root / f"good/{seed}.jpg", seed)
    (root / "good/dup_of_1.jpg").write_bytes((root / "good/1.jpg").read_bytes())
    image = synthetic.reencode(synthetic.landscape(1, SMALL), quality=50)
    (root / "good/reencoded_1.jpg").write_bytes(synthetic.encode(image))
    write_landscape(root / "good/5.png", 5, "PNG")
    corpus.good_files, corpus.unique_files = 7, 6
    data = (root / "good/2.jpg").read_bytes()
    (root / "bad").mkdir()
    (root / "bad/truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "bad/notes.txt").write_text("hello, not an image\n")
    (root / "bad/empty.jpg").write_bytes(b"")
    corpus.failures.update(
        {
            "bad/truncated.jpg": "truncated",
            "bad/notes.txt": "not_media",
            "bad/empty.jpg": "not_media",
        }
    )
    with zipfile.ZipFile(root / "archive.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("inner/6.jpg", synthetic.encode(synthetic.landscape(6, SMALL)))
        zf.writestr("inner/copy_of_3.jpg", (root / "good/3.jpg").read_bytes())
        zf.writestr("../escape.jpg", b"never written outside")
        zf.writestr("zeros.bin", b"\0" * (4 * 1024 * 1024))  # ratio ~1000: a bomb
    corpus.good_files += 2
    corpus.unique_files += 1
    corpus.failures.update({"escape.jpg": "unsafe_archive_path", "zeros.bin": "archive_bomb"})
    return corpus


def ingest_seeds(
    ctx: AppContext, folder: Path, seeds: Iterable[int], *, agency: str, case: str
) -> IngestReport:
    """Write landscapes ``seeds`` into ``folder`` and ingest it inline into the case."""
    for seed in seeds:
        write_landscape(folder / f"{seed}.jpg", seed)
    return ingest_folder(ctx, folder, agency=agency, case=case)


def ingest_folder(ctx: AppContext, folder: Path, *, agency: str, case: str) -> IngestReport:
    """Ingest ``folder`` inline into the case (created if new)."""
    return ingest(
        ctx,
        [folder],
        agency_code=agency,
        case_reference=case,
        runner=InlineRunner(),
        requester=TEST_REQUESTER,
    )


def media_by_name(ctx: AppContext, case: str) -> dict[str, int]:
    """File name -> media id of every item sighted in the case with reference ``case``."""
    with ctx.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT s.original_path, s.media_id FROM sightings s JOIN cases c "
                "ON c.id = s.case_id WHERE c.reference = :case"
            ),
            {"case": case},
        ).all()
    return {Path(str(p)).name: int(m) for p, m in rows}


def two_agencies(ctx: AppContext, analyzers: list[str]) -> AppContext:
    """``ctx`` with these analyzers enabled and agencies AA and BB to ingest into."""
    from sightline.services.catalog import add_agency

    ctx.settings.analyzers.enabled = analyzers
    for code in ("AA", "BB"):
        add_agency(ctx, code, f"Agency {code}", "NL", requester=TEST_REQUESTER)
    return ctx
