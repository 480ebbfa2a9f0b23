"""The per-file half of ingest, run inside worker processes.

A worker takes one pending item, materialises it (zip entries are extracted to a scratch
file under size limits), runs the analyzers on it, and writes the encrypted original,
thumbnail and the analyzers' artifacts (a video's keyframes). It touches no database: the
parent process records results, so SQLite keeps a single writer and an interrupted run loses
at most uncommitted results, which are simply processed again (blob ids are deterministic,
so re-writing is idempotent).

Limits per file: the analyzers of one file run under a time limit (a deadline that long
loops check, ``analyzers/limits.py``, and in the main thread a timer signal that interrupts
any Python code), and a pool worker process may grow by at most a memory budget
(``RLIMIT_AS``, set when the worker starts). A file that hits either is a recorded failure
(``time_limit``, ``memory_limit``) and the worker goes on with the next file.
"""

from __future__ import annotations

import ctypes
import io
import logging
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import cv2

from sightline.analyzers.base import THUMBNAIL_ARTIFACT, Analyzer, MediaInput
from sightline.analyzers.limits import analysis_deadline
from sightline.analyzers.registry import DEFAULT_ANALYZERS, AnalyzerSet
from sightline.config import Settings
from sightline.domain.models import FeatureStatus, NewMedia
from sightline.domain.signals import IDENTITY_DIGEST, MEDIA_DIGESTS, MediaKind, Signal, Variant
from sightline.errors import (
    AnalysisFailed,
    AnalyzerSkipped,
    ConfigurationError,
    DecompressionBomb,
    MemoryLimitExceeded,
    OversizedMetadata,
    SightlineError,
    SourceRejected,
    TimeLimitExceeded,
    TruncatedMedia,
    UnsupportedMedia,
)
from sightline.services.ingest.sources import ArchiveCache, SourceLimits, materialize
from sightline.services.ingest.staged import StagedFiles
from sightline.storage.blobs.base import BlobStore
from sightline.storage.blobs.encrypted_local import EncryptedLocalBlobStore
from sightline.storage.blobs.keys import load_master_key
from sightline.storage.blobs.registry import open_blob_store

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE = 256
# Errors that mean "this file cannot be taken at all", as opposed to one analyzer failing.
_FATAL = (
    UnsupportedMedia,
    TruncatedMedia,
    DecompressionBomb,
    OversizedMetadata,
    TimeLimitExceeded,
    MemoryLimitExceeded,
)
# Why a file no enabled analyzer reads the content of is refused, by its detected kind.
_UNSUPPORTED = {
    MediaKind.VIDEO: "video files are not analysed by the enabled analyzers",
    MediaKind.AUDIO: "audio files are not analysed by the enabled analyzers",
    MediaKind.IMAGE: "images are not analysed by the enabled analyzers",
    MediaKind.OTHER: "not an image format Sightline can read",
}


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a worker process needs; plain values so it pickles cheaply."""

    key_path: Path
    media_dir: Path
    scratch_dir: Path
    max_pixels: int
    limits: SourceLimits
    analyzers: tuple[str, ...] = DEFAULT_ANALYZERS
    # The settings the blob store plugin is built from; without them, the local store.
    settings: Settings | None = None
    # Seconds the analyzers of one file may take, and bytes of address space a pool worker
    # process may add to what it holds at start (0: no limit).
    time_limit_s: float = 0.0
    memory_limit_bytes: int = 0


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One pending file."""

    item_id: int
    locator: str


@dataclass(frozen=True, slots=True)
class AnalyzedFeature:
    """One analyzer's outcome."""

    analyzer: str
    version: str
    status: FeatureStatus
    value: dict[str, Any]
    params: dict[str, Any]
    reason: str | None
    # The kinds of the signals stored from this outcome (digests live on the media item).
    emitted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemResult:
    """A processed file, ready to be recorded.

    ``signals`` are stored (every kind but the digests, which the media item carries);
    ``variants`` are what matching searches with (for PDQ, the 8 rotations and mirrors).
    """

    item_id: int
    media: NewMedia
    features: tuple[AnalyzedFeature, ...]
    signals: tuple[Signal, ...] = ()
    variants: tuple[Variant, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """A file that could not be taken, with a stable reason code."""

    item_id: int
    reason: str
    detail: str


_Analyzed = tuple[
    list[AnalyzedFeature], dict[str, str], list[Signal], list[Variant], dict[str, bytes]
]


class Worker:
    """Processes items; one instance per worker process."""

    def __init__(self, config: WorkerConfig) -> None:
        self._config = config
        # Durability is deferred: the parent syncs the filesystem once per batch, before the
        # database rows that refer to these blobs are committed.
        key = load_master_key(config.key_path)
        if config.settings is None:
            self._blobs: BlobStore = EncryptedLocalBlobStore(config.media_dir, key, durable=False)
        else:  # the SIGHTLINE_STORAGE__BLOB_STORE plugin, as every process builds it
            self._blobs = open_blob_store(config.settings, key, durable=False)
        self._analyzers = AnalyzerSet(config.analyzers)
        # Parsing a zip's directory once per process, not once per entry: an archive of
        # 100,000 entries would otherwise cost hours.
        self._archives = ArchiveCache()
        self._staged = StagedFiles(self._blobs, config.scratch_dir)

    def close(self) -> None:
        """Close archives kept open between items."""
        self._archives.close()
        self._staged.close()

    def process(self, item: WorkItem) -> ItemResult | ItemFailure:
        """Process one item; never raises for bad input."""
        try:
            with materialize(
                item.locator,
                self._config.limits,
                self._config.scratch_dir,
                archives=self._archives,
                staged=self._staged,
            ) as path:
                return self._process_path(item.item_id, path)
        except (SourceRejected, AnalysisFailed) as exc:
            reason = getattr(exc, "reason", exc.code)
            return ItemFailure(item.item_id, reason, exc.message)
        except MemoryError:  # the worker's memory limit (RLIMIT_AS) or the machine's
            detail = "the file needs more memory than an ingest worker may use"
            return ItemFailure(item.item_id, MemoryLimitExceeded.reason, detail)
        except Exception as exc:  # a bug must not stop the batch; the item is reported
            # Only the type: an exception's message may quote a path or a file's content.
            logger.error("internal error %s on ingest item %s", type(exc).__name__, item.item_id)
            return ItemFailure(item.item_id, "internal_error", type(exc).__name__)

    def _process_path(self, item_id: int, path: Path) -> ItemResult:
        media = MediaInput(path, max_pixels=self._config.max_pixels)
        try:
            with file_time_limit(self._config.time_limit_s):
                kind = media.kind
                if not self._analyzers.reads_content(kind):
                    reason = _UNSUPPORTED.get(kind, _UNSUPPORTED[MediaKind.OTHER])
                    raise UnsupportedMedia(reason)
                media.decode()  # decode now: truncation is a failure of the whole item
                analyzed = self._analyze(media, kind)
            features, digests, signals, variants, artifacts = analyzed
            if IDENTITY_DIGEST not in digests:
                raise AnalysisFailed(f"no {IDENTITY_DIGEST} digest was computed")
            media_facts = self._store(path, media, kind, digests, artifacts)
            return ItemResult(
                item_id, media_facts, tuple(features), tuple(signals), tuple(variants)
            )
        finally:
            media.close()

    def _analyze(self, media: MediaInput, kind: MediaKind) -> _Analyzed:
        """Run every enabled analyzer of ``kind``: features, digests, signals, artifacts."""
        features: list[AnalyzedFeature] = []
        digests: dict[str, str] = {}
        signals: list[Signal] = []
        variants: list[Variant] = []
        artifacts: dict[str, bytes] = {}
        for analyzer in self._analyzers.for_media(kind):
            feature = self._run(analyzer, media)
            made: Sequence[Signal] = ()
            if feature.status is FeatureStatus.OK:
                made = analyzer.signals(feature.value, media)
                artifacts.update(analyzer.artifacts(feature.value, media))
            digests.update((s.kind, s.value.hex()) for s in made if s.kind in MEDIA_DIGESTS)
            kept = tuple(s for s in made if s.kind not in MEDIA_DIGESTS)
            signals.extend(kept)
            variants.extend(analyzer.variants(kept, media))
            features.append(replace(feature, emitted=tuple(sorted({s.kind for s in kept}))))
        return features, digests, signals, variants, artifacts

    def _store(
        self,
        path: Path,
        media: MediaInput,
        kind: MediaKind,
        digests: dict[str, str],
        artifacts: dict[str, bytes],
    ) -> NewMedia:
        """Write the encrypted original, thumbnail and artifacts; describe the media item.

        An image's thumbnail is made here from its working luma; other kinds get theirs from
        an analyzer's ``THUMBNAIL_ARTIFACT`` (a video's first keyframe), if any.
        """
        sha256 = digests[IDENTITY_DIGEST]
        blob_id = self._blobs.blob_id_for(sha256, "original")
        if not self._blobs.exists(blob_id):
            self._blobs.put_file(blob_id, path)
        if kind is MediaKind.IMAGE:
            artifacts = {**artifacts, THUMBNAIL_ARTIFACT: thumbnail_jpeg(media)}
        for name, data in artifacts.items():
            artifact_id = self._blobs.blob_id_for(sha256, name)
            if not self._blobs.exists(artifact_id):
                self._blobs.put_bytes(artifact_id, data)
        thumb_id: str | None = None
        if THUMBNAIL_ARTIFACT in artifacts:
            thumb_id = self._blobs.blob_id_for(sha256, THUMBNAIL_ARTIFACT)
        return NewMedia(
            sha256=sha256,
            sha1=digests.get("sha1", ""),
            md5=digests.get("md5", ""),
            size=path.stat().st_size,
            media_type=kind.value,
            mime_type=media.mime_type,
            blob_id=blob_id,
            thumbnail_blob_id=thumb_id,
        )

    def _run(self, analyzer: Analyzer, media: MediaInput) -> AnalyzedFeature:
        params = dict(analyzer.params())
        try:
            value = dict(analyzer.analyze(media))
        except AnalyzerSkipped as exc:
            return AnalyzedFeature(
                analyzer.name, analyzer.version, FeatureStatus.SKIPPED, {}, params, exc.message
            )
        except _FATAL:
            raise
        except AnalysisFailed as exc:
            return AnalyzedFeature(
                analyzer.name, analyzer.version, FeatureStatus.FAILED, {}, params, exc.message
            )
        return AnalyzedFeature(
            analyzer.name, analyzer.version, FeatureStatus.OK, value, params, None
        )


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    """The timer signal of ``file_time_limit``: interrupt the file's analysis."""
    del signum, frame
    raise TimeLimitExceeded("the file took longer to analyse than the time limit allows")


@contextmanager
def file_time_limit(seconds: float) -> Iterator[None]:
    """Run the block under a time limit of ``seconds`` (0: none).

    The limit is a deadline the analyzers' long loops check (any thread), and in the main
    thread also a ``SIGALRM`` timer that raises ``TimeLimitExceeded`` in whatever Python
    code runs when it fires. Code stuck inside one C call is interrupted when it returns.

    Raises:
        TimeLimitExceeded: the block ran past the limit.
    """
    if seconds <= 0:
        yield
        return
    with analysis_deadline(seconds):
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only: the deadline alone applies
            return
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def limit_worker_memory(extra_bytes: int) -> bool:
    """Cap this pool worker's address space at its current size plus ``extra_bytes``.

    Only in a process-pool worker (its name says so), never in a process that runs ingest
    inline (a server, the CLI): the cap is for the whole process. Allocations past the cap
    fail with ``MemoryError`` (NumPy, Pillow, PyAV), which fails the file, not the worker.
    Address space, not resident memory, is what the kernel can cap per process; a worker
    holds some hundreds of megabytes of it mapped at start (libraries, thread arenas).

    Returns:
        Whether the cap was set (False: no limit asked, not a pool worker, or not Linux).
    """
    if extra_bytes <= 0 or "PoolWorker" not in multiprocessing.current_process().name:
        return False
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return False
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return True


def thumbnail_jpeg(media: MediaInput) -> bytes:
    """A greyscale JPEG of at most ``THUMBNAIL_SIDE`` pixels a side.

    Greyscale because reviewers see thumbnails blurred and in greyscale by default (the
    wellness rule), and because it is the luma PDQ already decoded: no colour decode at all.
    The original keeps its colours; it is stored encrypted exactly as it was seized.
    """
    image = media.working_luma()
    # An integer box reduction of the working copy: 0.3 ms against 2 ms for a resample.
    factor = -(-max(image.size) // THUMBNAIL_SIDE)
    if factor > 1:
        image = image.reduce(factor)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


# Per-process state for process pools: set once by ``init_worker`` (the pool initializer).
_WORKER: Worker | None = None
# Why this process's worker could not be built, if it could not.
_INIT_ERROR: SightlineError | None = None


def init_worker(config: WorkerConfig) -> None:
    """Pool initializer: build this process's worker, or remember why it cannot be built.

    An initializer that raises kills its process, and ``multiprocessing.Pool`` starts a new
    one at once, forever: with the master key gone (removed while the server runs) that was
    a respawn loop at ~90 % CPU writing tracebacks. Instead the error is kept and every task
    raises it (:func:`run_item`), which ends the pool's run and fails the job with a reason.
    """
    global _WORKER, _INIT_ERROR
    _keep_freed_heap()
    limit_worker_memory(config.memory_limit_bytes)
    # The pool is the parallelism (a worker per core): OpenCV (SIFT) must not start a thread
    # per core in each worker too.
    cv2.setNumThreads(1)
    try:
        _WORKER, _INIT_ERROR = Worker(config), None
    except SightlineError as exc:
        _WORKER, _INIT_ERROR = None, exc
    except Exception as exc:  # a bug or the environment: reported by type, never looped on
        _WORKER = None
        _INIT_ERROR = ConfigurationError(
            f"an ingest worker could not start ({type(exc).__name__}); see the server log"
        )


# glibc's ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks below this come from the heap; larger ones (a decoded full-size image) are mapped
# on their own and go back to the system as soon as they are freed.
HEAP_BLOCK_LIMIT = 4 << 20
# Freed heap a worker keeps instead of handing it back to the system.
HEAP_KEEP = 32 << 20


def _keep_freed_heap() -> bool:
    """Stop glibc from unmapping and re-faulting the same memory for every image.

    Each image allocates and frees a few megabytes of short-lived buffers (pdqhash's float
    luma and its temporaries, 0.8-1.5 MB each). With glibc's defaults the heap top is
    trimmed after every image and re-grown by the next, so every page is faulted in again:
    measured ~2 ms an image, a third of the PDQ time. Keeping up to ``HEAP_KEEP`` bytes of
    freed heap per worker process avoids that, and bounds what is kept.

    Returns:
        Whether the C library took the settings (False on non-glibc systems, which keep
        their defaults: only the speed differs).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, HEAP_BLOCK_LIMIT)) and bool(
        mallopt(_M_TRIM_THRESHOLD, HEAP_KEEP)
    )


def close_worker() -> None:
    """Release this process's worker (pool processes simply exit; inline runs need this)."""
    global _WORKER
    if _WORKER is not None:
        _WORKER.close()
        _WORKER = None


def run_item(item: WorkItem) -> ItemResult | ItemFailure:
    """Pool task: process one item with this process's worker.

    Raises:
        SightlineError: the worker could not start (the error ``init_worker`` kept, for
            example :class:`~sightline.errors.MasterKeyError`): the run stops, its items
            stay pending, and the same command resumes once the cause is fixed.
    """
    if _WORKER is None:
        if _INIT_ERROR is not None:
            message = f"an ingest worker could not start: {_INIT_ERROR.message}"
            try:
                error = type(_INIT_ERROR)(message)
            except TypeError:  # an error class with other constructor arguments
                error = ConfigurationError(message)
            raise error
        raise RuntimeError("init_worker was not called in this process")
    return _WORKER.process(item)
