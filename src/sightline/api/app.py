"""The FastAPI application factory.

``create_app`` is a short list of ``_configure_*`` steps; importing this module does nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from sightline import __version__
from sightline.api.errors import configure_errors
from sightline.api.openapi import document_forms
from sightline.api.proxies import TrustedProxies
from sightline.api.routes import (
    agencies,
    audit,
    cases,
    hashlists,
    health,
    ingest,
    jobs,
    match,
    media,
    search,
    session,
    users,
)
from sightline.api.throttle import LoginThrottle
from sightline.config import Settings
from sightline.services.context import AppContext, open_context
from sightline.services.ingest.scratch import scratch_root, sweep
from sightline.services.ingest.uploads import UploadJobs
from sightline.services.jobs.handlers import default_handlers
from sightline.services.jobs.queue import JobResources
from sightline.services.jobs.runner import TaskRunner
from sightline.services.jobs.worker import JobWorker
from sightline.services.matching.engine import MatchingEngine
from sightline.services.signals.indexes import IndexSet

DESCRIPTION = """
Sightline's API for investigators' tools. Every response error uses one envelope:
`{"error": {"code": "...", "message": "..."}}`.
"""


def create_app(settings: Settings, ingest_runner: TaskRunner | None = None) -> FastAPI:
    """Build the API for the store described by ``settings``.

    ``ingest_runner`` runs the files of API ingest jobs in the embedded job worker
    (``sightline serve`` passes the runner ``SIGHTLINE_INGEST__RUNNER`` names, a process pool
    by default); without one they run in the worker's thread. The embedded worker runs
    unless ``SIGHTLINE_WORKER__EMBEDDED`` is false (then a ``sightline worker`` must run).
    """
    app = FastAPI(
        title="Sightline",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(settings, ingest_runner),
    )
    _configure_errors(app)
    _configure_routes(app)
    _configure_proxies(app, settings)
    users.describe_configured_limits(app, settings)
    document_forms(app)
    return app


def _lifespan(
    settings: Settings, ingest_runner: TaskRunner | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = open_context(settings)
        # Uploads over 1 MiB are spooled to a temporary file by the multipart parser: keep them
        # inside the private data directory (0700), never in a shared /tmp.
        scratch = scratch_root(settings.data_dir)
        sweep(scratch)  # what a killed process left there is plaintext case material
        ctx.blobs.remove_stale_temp_files()  # partial blob writes of killed processes
        previous_tempdir, tempfile.tempdir = tempfile.tempdir, str(scratch)
        indexes = IndexSet(ctx)
        indexes.open()  # load or rebuild before the first request
        app.state.ctx = ctx
        app.state.login_throttle = LoginThrottle()
        app.state.indexes = indexes
        app.state.engine = engine = MatchingEngine(ctx, indexes)
        worker = _embedded_worker(ctx, engine, ingest_runner)
        app.state.job_worker = worker
        app.state.upload_jobs = upload_jobs = UploadJobs(ctx, worker.wake if worker else None)
        upload_jobs.recover_interrupted()
        indexes.start_refresher()  # other processes' writes; this one's reach searches at once
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()  # a running job goes back to the queue for the next worker
            upload_jobs.close()
            indexes.close()
            tempfile.tempdir = previous_tempdir
            ctx.close()

    return lifespan


def _embedded_worker(
    ctx: AppContext, engine: MatchingEngine, runner: TaskRunner | None
) -> JobWorker | None:
    """The job worker inside the API process (``SIGHTLINE_WORKER__EMBEDDED``), not started.

    It shares the API's matching engine, so media it ingests are searchable at once.
    """
    if not ctx.settings.worker.embedded:
        return None
    resources = JobResources(engine=engine) if runner is None else JobResources(runner, engine)
    return JobWorker(ctx, default_handlers(), resources)


def _configure_errors(app: FastAPI) -> None:
    configure_errors(app)


def _configure_proxies(app: FastAPI, settings: Settings) -> None:
    """Believe ``X-Forwarded-For`` from the configured reverse proxies only (``api/proxies.py``)."""
    if settings.server.trusted_proxies:
        app.add_middleware(TrustedProxies, proxies=settings.server.trusted_proxies)


def _configure_routes(app: FastAPI) -> None:
    app.include_router(health.router)
    app.include_router(session.router)
    app.include_router(search.router)
    app.include_router(match.router)
    app.include_router(cases.router)
    app.include_router(hashlists.router)
    app.include_router(agencies.router)
    app.include_router(users.router)
    app.include_router(audit.router)
    app.include_router(media.router)
    app.include_router(ingest.router)
    app.include_router(jobs.router)
