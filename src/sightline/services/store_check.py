"""``sightline store check``: the blob store against the database, and what crashes leave.

A killed process can leave three kinds of debris, none of them lost data:
- **temp files** of a blob write that never finished (``.<id>.<pid>-<random>.tmp``);
- **orphan blobs**: complete encrypted blobs no media row refers to (written by a worker
  whose batch was never committed, and not reused because the resumed run did not meet the
  same file again);
- **scratch** folders of dead processes (plaintext uploads and archive entries).

And the store can be damaged from outside: a blob a media row needs may be **missing**, or
**corrupt** (it fails authentication when decrypted; only checked with ``verify``, which reads
every blob). ``check`` reports all of it; ``repair`` removes the debris. Missing and corrupt
blobs cannot be repaired here: they must come back from a backup.

A blob written in the last ``min_age_s`` seconds is never called an orphan: an ingest running
now writes its blobs before it commits the rows that refer to them. Nor is an upload's staging
blob while its ingest runs (ADR 0014): it may wait in the queue for longer than that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sightline.analyzers.frames import keyframe_artifact
from sightline.analyzers.registry import analyzer_registry
from sightline.domain.audit import Requester
from sightline.domain.signals import MediaKind
from sightline.errors import BlobIntegrityError, MissingDependency, NotFoundError
from sightline.services.access.audit import record
from sightline.services.context import AppContext
from sightline.services.ingest.scratch import scratch_root, sweep
from sightline.services.ingest.staged import staged_blob_ids
from sightline.storage.unit_of_work import UnitOfWork

ORPHAN_MIN_AGE_S = 3600.0
"""Blobs younger than this are left alone: a running ingest may be about to refer to them."""

_CHUNK = 500


@dataclass
class StoreReport:
    """What ``check_store`` found (and removed, when repairing)."""

    blobs: int = 0
    referenced: int = 0
    temp_files: int = 0
    orphan_blobs: list[str] = field(default_factory=list)
    recent_unreferenced: int = 0
    missing: list[int] = field(default_factory=list)  # media ids whose blobs are gone
    corrupt: list[int] = field(default_factory=list)  # media ids whose blobs fail to verify
    verified: int = 0
    scratch_folders: int = 0
    scratch_bytes: int = 0
    repaired: bool = False

    @property
    def healthy(self) -> bool:
        """No damage (missing or corrupt blobs) and, unless repaired, no debris."""
        damage = self.missing or self.corrupt
        debris = self.temp_files or self.orphan_blobs or self.scratch_folders
        return not damage and (self.repaired or not debris)


def check_store(
    ctx: AppContext,
    *,
    requester: Requester,
    repair: bool = False,
    verify: bool = False,
    min_age_s: float = ORPHAN_MIN_AGE_S,
) -> StoreReport:
    """Compare the blob store with the database; with ``repair``, remove the debris.

    Args:
        ctx: The open store.
        requester: Who asks (audited as ``store.check`` or ``store.repair``, counts only).
        repair: Remove temp files, orphan blobs and abandoned scratch folders.
        verify: Decrypt and authenticate every referenced blob (reads the whole store).
        min_age_s: Unreferenced blobs younger than this are not orphans yet.
    """
    report = StoreReport(repaired=repair)
    blobs = ctx.blobs
    report.temp_files = len(blobs.stale_temp_files(remove=repair))
    swept = sweep(scratch_root(ctx.settings.data_dir), remove=repair)
    report.scratch_folders, report.scratch_bytes = swept.folders + swept.files, swept.bytes
    with ctx.uow() as uow:
        refs = uow.media.blob_references()
        staging = staged_blob_ids(uow.ingest.staged_locators())
        refs.update(_keyframe_references(ctx, uow, sorted(set(refs.values()))))
        refs.update(_feature_references(ctx, uow, sorted(set(refs.values()))))
    report.referenced = len(refs)
    stored = set(blobs.iter_blob_ids())
    report.blobs = len(stored)
    cutoff = time.time() - min_age_s
    for blob_id in sorted(stored - refs.keys() - staging):
        if _modified_at(ctx, blob_id) > cutoff:
            report.recent_unreferenced += 1
        else:
            report.orphan_blobs.append(blob_id)
            if repair:
                blobs.delete(blob_id)
    report.missing = sorted({media for blob, media in refs.items() if blob not in stored})
    if verify:
        _verify(ctx, refs, stored, report)
    _audit(ctx, requester, report)
    return report


def _keyframe_references(ctx: AppContext, uow: UnitOfWork, media_ids: list[int]) -> dict[str, int]:
    """The keyframe blobs of recordings (analyzer artifacts no media row names).

    Keyframe ``n`` of an item is stored under ``blob_id_for(sha256, "keyframe.<n>")``, the
    numbers counting up from 0: each recording is probed until one is missing.
    """
    found: dict[str, int] = {}
    for start in range(0, len(media_ids), _CHUNK):
        items = uow.media.get_many(media_ids[start : start + _CHUNK])
        for item in items.values():
            if item.media_type == MediaKind.IMAGE:
                continue
            n = 0
            while ctx.blobs.exists(
                blob_id := ctx.blobs.blob_id_for(item.sha256, keyframe_artifact(n))
            ):
                found[blob_id] = item.id
                n += 1
    return found


def _feature_artifacts() -> list[str]:
    """Artifact names of local features any installed analyzer stores (enabled or not).

    An analyzer switched off later leaves its artifacts behind; they are still the items'
    and must never be taken for orphans.
    """
    names: set[str] = set()
    registry = analyzer_registry()
    for name in registry.names():
        try:
            emits = registry.get(name).emits
        except MissingDependency:  # an analyzer whose optional dependency is missing
            continue
        names.update(k.features_artifact for k in emits if k.features_artifact)
    return sorted(names)


def _feature_references(ctx: AppContext, uow: UnitOfWork, media_ids: list[int]) -> dict[str, int]:
    """The local-feature artifacts of items (for scene verification), where they exist."""
    artifacts = _feature_artifacts()
    found: dict[str, int] = {}
    if not artifacts:
        return found
    for start in range(0, len(media_ids), _CHUNK):
        for item in uow.media.get_many(media_ids[start : start + _CHUNK]).values():
            for artifact in artifacts:
                if ctx.blobs.exists(blob_id := ctx.blobs.blob_id_for(item.sha256, artifact)):
                    found[blob_id] = item.id
    return found


def _modified_at(ctx: AppContext, blob_id: str) -> float:
    try:
        return ctx.blobs.modified_at(blob_id)
    except NotFoundError:
        return time.time()  # deleted meanwhile: not an orphan to remove


def _verify(ctx: AppContext, refs: dict[str, int], stored: set[str], report: StoreReport) -> None:
    corrupt: set[int] = set()
    for blob_id, media_id in refs.items():
        if blob_id not in stored:
            continue
        try:
            for _ in ctx.blobs.stream(blob_id):
                pass
        except BlobIntegrityError:
            corrupt.add(media_id)
        report.verified += 1
    report.corrupt = sorted(corrupt)


def _audit(ctx: AppContext, requester: Requester, report: StoreReport) -> None:
    with ctx.uow() as uow:
        record(
            uow,
            actor=requester.actor,
            action="store.repair" if report.repaired else "store.check",
            resource="store",
            source=requester.source,
            agency_id=requester.agency_id,
            detail={
                "blobs": report.blobs,
                "temp_files": report.temp_files,
                "orphan_blobs": len(report.orphan_blobs),
                "missing": len(report.missing),
                "corrupt": len(report.corrupt),
                "verified": report.verified,
                "scratch_folders": report.scratch_folders,
            },
        )
        uow.commit()
