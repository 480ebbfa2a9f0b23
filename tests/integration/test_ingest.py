"""Ingest end to end on SQLite and PostgreSQL (inline runner: same code path as workers)."""

from __future__ import annotations

import io
import platform
from contextlib import closing
from pathlib import Path

from PIL import Image

from sightline.analyzers.base import MediaInput
from sightline.analyzers.pdq import dihedral_hashes
from sightline.domain.models import FeatureStatus
from sightline.jobs.inline import InlineRunner
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.ingest.run import IngestProgress, IngestReport, ingest
from sightline.services.ingest.worker import THUMBNAIL_SIDE, _keep_freed_heap
from tests.support.corpus import TEST_REQUESTER, mixed_corpus, write_landscape


def _ingest(ctx: AppContext, root: Path, **kwargs: object) -> IngestReport:
    return ingest(
        ctx,
        [root],
        agency_code="TEST-GB",
        case_reference="CASE-1",
        runner=InlineRunner(),
        device_label="laptop",
        requester=TEST_REQUESTER,
        **kwargs,  # type: ignore[arg-type]
    )


def test_ingest_mixed_folder_records_everything(ctx: AppContext, tmp_path: Path) -> None:
    add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    corpus = mixed_corpus(tmp_path / "in")
    seen: list[IngestProgress] = []

    report = _ingest(ctx, corpus.root, on_progress=seen.append)

    s = report.summary
    assert s.pending == 0
    assert s.failed == len(corpus.failures)
    assert s.stored == corpus.unique_files
    assert s.duplicates == corpus.good_files - corpus.unique_files
    reasons = [(f.locator, f.reason) for f in report.failures]
    for suffix, reason in corpus.failures.items():
        assert [r for path, r in reasons if path.endswith(suffix)] == [reason], (suffix, reasons)
    assert seen and seen[-1].processed == s.total
    assert not (tmp_path / "escape.jpg").exists()
    with ctx.uow() as uow:
        assert uow.media.count() == corpus.unique_files
        assert uow.sightings.count() == corpus.good_files


def test_features_signals_and_encrypted_blobs(ctx: AppContext, tmp_path: Path) -> None:
    add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    path = write_landscape(tmp_path / "in/1.jpg", 1)
    _ingest(ctx, tmp_path / "in")
    plaintext = path.read_bytes()
    with ctx.uow() as uow:
        [media] = uow.media.by_digests(sha256=_sha256(plaintext))
        features = {f.analyzer: f for f in uow.features.for_media(media.id)}
        signals = list(uow.signals.iter_after("pdq", 0))
    assert set(features) == {"crypto", "pdq", "scene", "metadata"}
    assert all(f.status is FeatureStatus.OK for f in features.values())
    assert features["metadata"].value["width"] == 480
    assert features["pdq"].version and features["pdq"].params
    assert len(signals) == 1 and len(signals[0]) == 1
    assert ctx.blobs.read_bytes(media.blob_id) == plaintext
    stored = [p for p in ctx.settings.media_dir.rglob("*") if p.is_file()]
    assert len(stored) == 3  # original, thumbnail and the scene's local features
    for blob in stored:
        raw = blob.read_bytes()
        assert plaintext[:64] not in raw
        assert media.sha256 not in blob.name and media.sha256 not in raw.hex()
    assert media.thumbnail_blob_id is not None
    assert ctx.blobs.read_bytes(media.thumbnail_blob_id)[:2] == b"\xff\xd8"


def test_thumbnail_is_greyscale_and_pdq_matches_search(ctx: AppContext, tmp_path: Path) -> None:
    """Thumbnails are stored greyscale (the wellness default); the original keeps colour.

    The stored PDQ and its variants are exactly what a search of the same file computes.
    """
    add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    path = write_landscape(tmp_path / "in/1.jpg", 1, size=(1024, 768))
    png = write_landscape(tmp_path / "in/2.png", 2, "PNG", size=(640, 480))
    report = _ingest(ctx, tmp_path / "in")
    assert report.summary.stored == 2
    for source in (path, png):
        plaintext = source.read_bytes()
        with ctx.uow() as uow:
            [media] = uow.media.by_digests(sha256=_sha256(plaintext))
            features = {f.analyzer: f for f in uow.features.for_media(media.id)}
        assert media.thumbnail_blob_id is not None
        with Image.open(io.BytesIO(ctx.blobs.read_bytes(media.thumbnail_blob_id))) as thumb:
            assert thumb.format == "JPEG"
            assert thumb.mode == "L"
            assert max(thumb.size) <= THUMBNAIL_SIDE
        assert ctx.blobs.read_bytes(media.blob_id) == plaintext  # the original, in colour
        with closing(MediaInput(source)) as query:
            searched = dihedral_hashes(query)[0]
        assert features["pdq"].version == "2"
        assert features["pdq"].value == {"hash": searched.hex, "quality": searched.quality}


def test_rerun_is_idempotent_and_picks_up_new_files(ctx: AppContext, tmp_path: Path) -> None:
    add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    for seed in range(3):
        write_landscape(tmp_path / f"in/{seed}.jpg", seed)
    first = _ingest(ctx, tmp_path / "in")
    again = _ingest(ctx, tmp_path / "in")
    assert again.job_id == first.job_id and again.processed_this_run == 0
    write_landscape(tmp_path / "in/new.jpg", 99)
    third = _ingest(ctx, tmp_path / "in")
    assert third.job_id == first.job_id and third.processed_this_run == 1
    assert third.summary.stored == 4
    with ctx.uow() as uow:
        assert uow.sightings.count() == 4


def test_pixel_limit_refuses_decompression_bombs(ctx: AppContext, tmp_path: Path) -> None:
    add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    ctx.settings.ingest.max_pixels = 100 * 100
    write_landscape(tmp_path / "in/big.jpg", 1)
    report = _ingest(ctx, tmp_path / "in")
    assert [f.reason for f in report.failures] == ["decompression_bomb"]


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_agency_and_ingest_are_audited_with_counts_only(ctx: AppContext, tmp_path: Path) -> None:
    add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    write_landscape(tmp_path / "in/secret-name.jpg", 1)
    report = _ingest(ctx, tmp_path / "in")
    with ctx.uow() as uow:
        events = uow.audit.page(0, 100)
        assert uow.audit.verify().ok
    # The case is new: ingest opens it with its own case.create event (issue 9, item 6).
    assert [e.action for e in events] == ["agency.add", "case.create", "ingest.run"]
    run = events[2]
    assert run.resource.startswith("case:")
    assert run.detail == {
        "job": report.job_id,
        "processed": 1,
        "stored": 1,
        "duplicates": 0,
        "failed": 0,
        "pending": 0,
    }
    assert "secret-name" not in str([e.detail for e in events])


def test_workers_keep_freed_heap_on_glibc() -> None:
    """The pool initializer's malloc settings take on glibc and are skipped elsewhere."""
    assert _keep_freed_heap() is (platform.libc_ver()[0] == "glibc")
