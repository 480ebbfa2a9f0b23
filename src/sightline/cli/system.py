"""``sightline index``, ``sightline demo`` and ``sightline serve``.

``sightline serve`` runs a job worker inside the API process unless
``SIGHTLINE_WORKER__EMBEDDED`` is false, so ``make run`` stays one command; ``sightline index
rebuild`` enqueues an ``index.rebuild`` job and runs it here unless ``--no-wait``.
"""

from __future__ import annotations

import ipaddress

import typer

from sightline.cli.common import (
    app_context,
    cli_requester,
    console,
    handle_errors,
    load_settings,
    print_json,
    visible,
)
from sightline.domain.jobs import Job, JobState
from sightline.errors import ConfigurationError, SightlineError
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.context import AppContext, open_context
from sightline.services.demo import is_loaded, load_demo
from sightline.services.jobs import queue as job_service
from sightline.services.jobs.handlers import IndexRebuildHandler, default_handlers
from sightline.services.jobs.queue import JobResources
from sightline.services.jobs.runner import make_runner
from sightline.services.jobs.worker import JobWorker
from sightline.services.signals.indexes import LISTS, MEDIA, IndexSet, IndexStatus

index_app = typer.Typer(
    help="Inspect, persist and rebuild the binary indexes.", no_args_is_help=True
)
demo_app = typer.Typer(help="Benign demonstration data.", no_args_is_help=True)


# How a source key reads in a sentence ("3 media hashes, 0 hash-list hashes").
_SOURCE_NAMES = {MEDIA: "media", LISTS: "hash-list"}


def _indexes(ctx: AppContext) -> IndexSet:
    return IndexSet(ctx)


def _status_dict(status: IndexStatus) -> dict[str, object]:
    return {
        "backend": status.backend,
        "count": status.count,
        "checkpoint": status.checkpoint,
        "latest": status.latest,
        "ready": status.ready,
    }


def _summary(statuses: dict[str, dict[str, IndexStatus]], key: str) -> dict[str, object]:
    """Codes held and readiness over every kind's index of one source (media or lists)."""
    mine = [by[key] for by in statuses.values() if key in by]
    return {"count": sum(s.count for s in mine), "ready": all(s.ready for s in mine)}


@index_app.command("status")
@handle_errors
def index_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the size, checkpoint and freshness of every index, per signal kind and source."""
    with app_context() as ctx:
        statuses = _indexes(ctx).statuses()
    data = {
        MEDIA: _summary(statuses, MEDIA),
        LISTS: _summary(statuses, LISTS),
        "indexes": {
            kind: {key: _status_dict(s) for key, s in by.items()} for kind, by in statuses.items()
        },
    }
    if as_json:
        print_json(data)
        return
    for kind, by in statuses.items():
        for key, status in by.items():
            for name, value in _status_dict(status).items():
                console.print(f"{kind}.{key}.{name} = {visible(value)}", highlight=False)


@index_app.command("rebuild")
@handle_errors
def index_rebuild(
    no_wait: bool = typer.Option(
        False, "--no-wait", help="Only enqueue the job; a worker (or the server) runs it."
    ),
) -> None:
    """Rebuild every index (per kind: media, hash lists) from the database and persist it.

    The rebuild is an ``index.rebuild`` job: it runs here and now (or, if a worker took it
    first, this waits for it), or with ``--no-wait`` is left to the workers.
    """
    with app_context() as ctx:
        job = job_service.enqueue(
            ctx, IndexRebuildHandler.kind, {}, requester=cli_requester(), resource="index"
        )
        if no_wait:
            console.print(f"job {job.id} queued: follow it with `sightline jobs show {job.id}`")
            return
        job = _run_here(ctx, job)
    if job.state is not JobState.SUCCEEDED:
        reason = job.error.message if job.error else job.state.value
        raise SightlineError(f"index rebuild (job {job.id}) {job.state.value}: {reason}")
    for kind, by in job.result.items():
        sizes = by if isinstance(by, dict) else {}
        counts = ", ".join(f"{size} {_SOURCE_NAMES.get(k, k)} hashes" for k, size in sizes.items())
        console.print(f"{visible(kind)} indexes rebuilt: {counts}")


@index_app.command("save")
@handle_errors
def index_save() -> None:
    """Catch every index up with the database and persist it, for faster starts."""
    with app_context() as ctx:
        indexes = _indexes(ctx)
        indexes.save()
        statuses = indexes.statuses()
    for kind, by in statuses.items():
        counts = ", ".join(f"{s.count} {_SOURCE_NAMES.get(k, k)} hashes" for k, s in by.items())
        console.print(f"{visible(kind)} indexes saved: {counts}")


def _run_here(ctx: AppContext, job: Job) -> Job:
    """Run ``job`` in this process until it ends (retries included).

    If another worker leased it first, this waits for that worker instead.
    """
    kind = IndexRebuildHandler.kind
    worker = JobWorker(ctx, default_handlers(), JobResources(), kinds=[kind])
    while not job.state.ended:
        ran = worker.run_once(job.id)
        if ran is None:
            job = job_service.wait_for(ctx, job.id, timeout_s=ctx.settings.worker.poll_seconds)
        else:
            job = ran
    return job


@demo_app.command("load")
@handle_errors
def demo_load() -> None:
    """Load the benign demo dataset (three agencies with overlapping cases) once."""
    with app_context() as ctx:
        if is_loaded(ctx):
            console.print("demo data already loaded")
            return
        reports = load_demo(ctx, ProcessPoolRunner(ctx.settings.ingest.workers))
        _indexes(ctx).save()
    for report in reports:
        s = report.summary
        console.print(
            f"job {report.job_id}: {s.stored} stored, {s.duplicates} duplicates, {s.failed} failed"
        )


@handle_errors
def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (default: settings)."),
    port: int | None = typer.Option(None, "--port", help="Port (default: settings)."),
) -> None:
    """Serve the API (OpenAPI docs at /docs) and run a job worker; HTTPS with a certificate.

    The embedded worker runs uploads, retro-hunts and index rebuilds; set
    ``SIGHTLINE_WORKER__EMBEDDED=false`` to leave them to ``sightline worker`` processes.

    Off loopback the API must speak HTTPS: session cookies are Secure and tokens are bearer
    secrets, so a plain-HTTP listener on a network would hand both to any eavesdropper.
    """
    import uvicorn

    from sightline.api.app import create_app

    settings = load_settings()
    bind = host or settings.server.host
    tls = settings.server.tls_certfile, settings.server.tls_keyfile
    if (tls[0] is None) != (tls[1] is None):
        raise ConfigurationError(
            "set both SIGHTLINE_SERVER__TLS_CERTFILE and SIGHTLINE_SERVER__TLS_KEYFILE, or neither"
        )
    if not _is_loopback(bind) and tls[0] is None:
        raise ConfigurationError(
            f"refusing to serve plain HTTP on {bind}: set SIGHTLINE_SERVER__TLS_CERTFILE and "
            "SIGHTLINE_SERVER__TLS_KEYFILE, or bind to a loopback address"
        )
    # Open the store once before the server starts: a missing or wrong master key, or a schema
    # behind the code, ends here with its message and exit code, not in a traceback from the
    # server's start-up (nor as a 500 on every media read).
    open_context(settings).close()
    uvicorn.run(
        create_app(settings, ingest_runner=make_runner(settings)),
        host=bind,
        port=port or settings.server.port,
        ssl_certfile=None if tls[0] is None else str(tls[0]),
        ssl_keyfile=None if tls[1] is None else str(tls[1]),
        # uvicorn would believe X-Forwarded-For from loopback, letting any local process pick
        # its audit address and dodge the sign-in throttle; the app believes only the proxies
        # in SIGHTLINE_SERVER__TRUSTED_PROXIES (api/app.py).
        proxy_headers=False,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
