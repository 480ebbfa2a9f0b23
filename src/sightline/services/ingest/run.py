"""Ingest: take files, folders and zip archives into a case, resumably.

The job and every file in it are recorded first; workers then process pending files in
parallel and the parent records each result (media item if new, features, PDQ signal,
sighting, item state) and matches the batch (matches, triage, alerts) in one transaction per
batch, so an item is never done without its matches. Killing the process at any point loses
only uncommitted results; running the same command again (same case, same inputs, same
device label) finds the job, skips what is done, and finishes without duplicates (media are
unique by SHA-256, sightings by ingest item). Files added to the inputs since are picked up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sightline.domain.audit import Requester
from sightline.domain.models import (
    Feature,
    IngestItem,
    ItemState,
    JobStatus,
    JobSummary,
)
from sightline.services.access.audit import record
from sightline.services.catalog import find_or_add_case
from sightline.services.context import AppContext
from sightline.services.ingest.faults import fault_point
from sightline.services.ingest.scratch import ScratchDir, scratch_root
from sightline.services.ingest.sources import SourceFailure, SourceLimits, enumerate_sources
from sightline.services.ingest.worker import (
    ItemFailure,
    ItemResult,
    WorkerConfig,
    WorkItem,
    close_worker,
    init_worker,
    run_item,
)
from sightline.services.jobs.runner import TaskRunner
from sightline.services.matching.engine import MatchingEngine, Sighted
from sightline.services.matching.evidence import Probe
from sightline.services.signals.indexes import IndexSet
from sightline.storage.repositories.ingest import NewItem, PendingItem, text_key
from sightline.storage.repositories.media import NewSighting
from sightline.storage.repositories.signals import NewSignal, SignalConfig
from sightline.storage.unit_of_work import UnitOfWork

_ENUMERATION_BATCH = 1_000


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """Counts reported while an ingest runs."""

    total: int
    processed: int
    stored: int
    duplicates: int
    failed: int
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class IngestReport:
    """Outcome of one ingest run."""

    job_id: int
    resumed: bool
    summary: JobSummary
    failures: list[IngestItem]
    elapsed_s: float
    processed_this_run: int
    alerts_raised: int = 0


ProgressCallback = Callable[[IngestProgress], None]


def ingest(
    ctx: AppContext,
    paths: Sequence[Path],
    *,
    agency_code: str,
    case_reference: str,
    runner: TaskRunner,
    requester: Requester,
    device_label: str | None = None,
    on_progress: ProgressCallback | None = None,
    engine: MatchingEngine | None = None,
) -> IngestReport:
    """Ingest ``paths`` into the agency's case (created if new) and report the outcome."""
    started = time.perf_counter()
    source = canonical_source(paths, device_label)
    limits = SourceLimits.from_settings(ctx.settings.ingest)
    # A new case is opened with its own audited case.create event (services/catalog.py).
    case = find_or_add_case(ctx, agency_code, case_reference, requester=requester)
    with ctx.uow() as uow:
        job = uow.ingest.find_latest(case.id, source)
        resumed = job is not None
        if job is None:
            job = uow.ingest.create_job(case.id, source, device_label)
        uow.commit()
        _record_items(uow, job.id, paths, limits)
        pending = uow.ingest.pending(job.id)
        if pending and job.status is JobStatus.FINISHED:
            uow.ingest.reopen(job.id)
            uow.commit()
    return process_job(
        ctx,
        job.id,
        runner=runner,
        requester=requester,
        resumed=resumed,
        on_progress=on_progress,
        engine=engine,
        started=started,
    )


def process_job(
    ctx: AppContext,
    job_id: int,
    *,
    runner: TaskRunner,
    requester: Requester,
    resumed: bool,
    on_progress: ProgressCallback | None = None,
    engine: MatchingEngine | None = None,
    started: float | None = None,
) -> IngestReport:
    """Process the pending items of a recorded ingest job; audited as ``ingest.run``.

    :func:`ingest` records a job's items from paths first; an API upload's items are recorded
    when they arrive (``services/ingest/uploads.py``). ``on_progress`` is called after each
    committed batch, and raising from it stops the run there, losing nothing committed: a
    durable job's cancellation and a stopping worker do that.
    """
    started = time.perf_counter() if started is None else started
    with ctx.uow() as uow:
        job = uow.ingest.get_job(job_id)
        pending = uow.ingest.pending(job_id)
    case_id, device_label = job.case_id, job.device_label
    if resumed and job.status is JobStatus.RUNNING:
        # An earlier run was interrupted (even one killed after its last commit, with nothing
        # left pending): its workers may have left partial blob writes, which the resumed run
        # removes (one pass over the store's folders; the server does it at start too).
        ctx.blobs.remove_stale_temp_files()
    scratch = ScratchDir(scratch_root(ctx.settings.data_dir), "ingest")
    try:
        config = WorkerConfig(
            key_path=ctx.settings.key_path,
            media_dir=ctx.settings.media_dir,
            scratch_dir=scratch.path,
            max_pixels=ctx.settings.ingest.max_pixels,
            limits=SourceLimits.from_settings(ctx.settings.ingest),
            analyzers=ctx.analyzers.names,
            settings=ctx.settings,
            time_limit_s=ctx.settings.ingest.file_time_limit_seconds,
            memory_limit_bytes=ctx.settings.ingest.worker_memory_bytes,
        )
        work = [WorkItem(p.id, p.locator) for p in pending]
        results = runner.map_unordered(run_item, work, initializer=init_worker, initargs=(config,))
        engine = engine or MatchingEngine(ctx, IndexSet(ctx))
        recorder = _Recorder(
            ctx, job.id, case_id, device_label, engine, pending, started, on_progress
        )
        recorder.consume(results)
        alerts = recorder.alerts
    finally:
        close_worker()
        scratch.close()
    with ctx.uow() as uow:
        summary = uow.ingest.summary(job.id)
        if summary.pending == 0:
            uow.ingest.finish(job.id)
        failures = uow.ingest.failures(job.id)
        record(
            uow,
            actor=requester.actor,
            action="ingest.run",
            resource=f"case:{case_id}",
            source=requester.source,
            agency_id=requester.agency_id,
            detail={
                "job": job.id,
                "processed": len(pending),
                "stored": summary.stored,
                "duplicates": summary.duplicates,
                "failed": summary.failed,
                "pending": summary.pending,
            },
        )
        uow.commit()
    return IngestReport(
        job_id=job.id,
        resumed=resumed,
        summary=summary,
        failures=failures,
        elapsed_s=time.perf_counter() - started,
        processed_this_run=len(pending),
        alerts_raised=alerts,
    )


def canonical_source(paths: Sequence[Path], device_label: str | None) -> str:
    """A stable description of the inputs: the same command resumes the same job."""
    resolved = sorted(str(p.expanduser().absolute()) for p in paths)
    return json.dumps({"paths": resolved, "device": device_label}, sort_keys=True)


def _record_items(
    uow: UnitOfWork, job_id: int, paths: Sequence[Path], limits: SourceLimits
) -> None:
    """Record every input not yet known to the job (enumeration itself may be resumed)."""
    known = uow.ingest.known_locators(job_id)
    batch: list[NewItem] = []
    for entry in enumerate_sources([p.expanduser().absolute() for p in paths], limits):
        key = text_key(entry.locator)
        if key in known:
            continue
        known.add(key)
        if isinstance(entry, SourceFailure):
            batch.append(
                NewItem(
                    entry.locator,
                    entry.original_path,
                    None,
                    None,
                    ItemState.FAILED,
                    entry.reason,
                    entry.detail,
                )
            )
        else:
            batch.append(NewItem(entry.locator, entry.original_path, entry.size, entry.modified_at))
        if len(batch) >= _ENUMERATION_BATCH:
            uow.ingest.add_items(job_id, batch)
            uow.commit()
            batch = []
    uow.ingest.add_items(job_id, batch)
    uow.commit()


class _Recorder:
    """Records worker results in the parent process, batching transactions."""

    def __init__(
        self,
        ctx: AppContext,
        job_id: int,
        case_id: int,
        device_label: str | None,
        engine: MatchingEngine,
        pending: list[PendingItem],
        started: float,
        on_progress: ProgressCallback | None,
    ) -> None:
        self._ctx = ctx
        self._job_id = job_id
        self._case_id = case_id
        self._device = device_label
        self._engine = engine
        self.alerts = 0
        self._items = {item.id: item for item in pending}
        self._started = started
        self._on_progress = on_progress
        # Signal configuration ids already stored: one run makes its signals under a handful
        # of configurations, so each is looked up once, not once per batch.
        self._configs: dict[tuple[str, str, str], int] = {}
        with ctx.uow() as uow:
            summary = uow.ingest.summary(job_id)
        self._counts = {
            "stored": summary.stored,
            "duplicates": summary.duplicates,
            "failed": summary.failed,
        }
        self._total = summary.total

    def consume(self, results: Iterable[ItemResult | ItemFailure]) -> None:
        """Record every result, one transaction every few results or every second."""
        commit_every = self._ctx.settings.ingest.commit_every
        batch: list[ItemResult | ItemFailure] = []
        last_commit = time.perf_counter()
        with self._ctx.uow() as uow:
            for result in results:
                batch.append(result)
                if len(batch) >= commit_every or time.perf_counter() - last_commit > 1.0:
                    self._record(uow, batch)
                    batch, last_commit = [], time.perf_counter()
            self._record(uow, batch)

    def _record(self, uow: UnitOfWork, batch: list[ItemResult | ItemFailure]) -> None:
        """Write one batch of results and match it, in one transaction.

        Media, features, signals, sightings, item states, matches, triage and alerts commit
        together: killed anywhere before the commit, the batch is simply processed again by
        the resumed run; after it, everything about the batch is there.
        """
        fault_point("ingest.batch.start")
        results = [r for r in batch if isinstance(r, ItemResult)]
        uow.ingest.mark_failed_many(
            [(f.item_id, f.reason, f.detail) for f in batch if isinstance(f, ItemFailure)]
        )
        media_ids = uow.media.ids_by_sha256(r.media.sha256 for r in results)
        new: dict[str, ItemResult] = {}
        for r in results:
            if r.media.sha256 not in media_ids:
                new.setdefault(r.media.sha256, r)  # the first copy in the batch is the stored one
        added, inserted = uow.media.add_new([r.media for r in new.values()])
        media_ids.update(added)
        # A file another ingest stored first (between our lookup and insert) is a duplicate.
        new = {sha: r for sha, r in new.items() if sha in inserted}
        fault_point("ingest.batch.after_media")
        stored = list(new.values())
        uow.features.add_many([f for r in stored for f in _features(r, media_ids)])
        uow.signals.add_many(_signals(uow, stored, media_ids, self._configs))
        media_of = [media_ids[r.media.sha256] for r in results]
        uow.sightings.add_many(
            [self._sighting(r, m) for r, m in zip(results, media_of, strict=True)]
        )
        fault_point("ingest.batch.after_sightings")
        uow.ingest.mark_done_many(
            [
                (r.item_id, m, new.get(r.media.sha256) is not r)
                for r, m in zip(results, media_of, strict=True)
            ]
        )
        fault_point("ingest.batch.after_done")
        fresh: dict[str, dict[int, list[tuple[bytes, int | None]]]] = {}
        for r in stored:
            for signal in r.signals:
                codes = fresh.setdefault(signal.kind, {})
                codes.setdefault(media_ids[r.media.sha256], []).append(
                    (signal.value, signal.time_ms)
                )
        alerts = self._engine.match_in(uow, self._sighted(results, media_of, new), fresh)
        fault_point("ingest.batch.after_matching")
        if results:
            self._ctx.blobs.sync()  # workers defer fsync: blobs are durable before rows commit
        fault_point("ingest.batch.before_commit")
        uow.commit()
        fault_point("ingest.batch.after_commit")
        self.alerts += alerts
        self._counts["stored"] += len(stored)
        self._counts["duplicates"] += len(results) - len(stored)
        self._counts["failed"] += len(batch) - len(results)
        self._report()

    def _sighted(
        self, results: list[ItemResult], media_of: list[int], new: dict[str, ItemResult]
    ) -> list[Sighted]:
        return [
            Sighted(
                case_id=self._case_id,
                media_id=m,
                md5=r.media.md5,
                sha1=r.media.sha1,
                sha256=r.media.sha256,
                new_media=new.get(r.media.sha256) is r,
                queries=_queries(r),
            )
            for r, m in zip(results, media_of, strict=True)
        ]

    def _sighting(self, result: ItemResult, media_id: int) -> NewSighting:
        item = self._items[result.item_id]
        return NewSighting(
            media_id=media_id,
            case_id=self._case_id,
            original_path=item.original_path,
            size=result.media.size,
            modified_at=item.modified_at,
            device_label=self._device,
            ingest_item_id=result.item_id,
        )

    def _report(self) -> None:
        if self._on_progress is None:
            return
        processed = sum(self._counts.values())
        self._on_progress(
            IngestProgress(
                total=self._total,
                processed=processed,
                elapsed_s=time.perf_counter() - self._started,
                **self._counts,
            )
        )


def _queries(result: ItemResult) -> dict[str, tuple[Probe, ...]]:
    """Per signal kind, the codes matching searches with: every variant of the item."""
    out: dict[str, list[Probe]] = {}
    for variant in result.variants:
        signal = variant.signal
        out.setdefault(signal.kind, []).append(
            Probe(signal.value, signal.time_ms, variant.transform, variant.probe_only)
        )
    return {kind: tuple(probes) for kind, probes in out.items()}


def _signals(
    uow: UnitOfWork,
    stored: Sequence[ItemResult],
    media_ids: dict[str, int],
    known: dict[tuple[str, str, str], int],
) -> list[NewSignal]:
    """The signals of newly stored items, each linked to the configuration that made it.

    ``known`` caches configuration ids across the batches of one run. An id learnt in a batch
    that then fails to commit is never used again: a failed batch ends the run, and the cache
    with it.
    """
    maker = {
        (r.item_id, kind): SignalConfig(f.analyzer, f.version, f.params)
        for r in stored
        for f in r.features
        for kind in f.emitted
    }
    new = {c.key: c for c in maker.values() if c.key not in known}
    if new:
        known.update(uow.signals.config_ids(new.values()))
    ids = known
    return [
        NewSignal(media_ids[r.media.sha256], s, ids.get(maker[(r.item_id, s.kind)].key))
        for r in stored
        for s in r.signals
    ]


def _features(result: ItemResult, media_ids: dict[str, int]) -> list[Feature]:
    media_id = media_ids[result.media.sha256]
    return [
        Feature(
            media_id=media_id,
            analyzer=f.analyzer,
            version=f.version,
            status=f.status,
            value=f.value,
            params=f.params,
            reason=f.reason,
        )
        for f in result.features
    ]
