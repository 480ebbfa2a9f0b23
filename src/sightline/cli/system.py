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
from sightline.services import jobs as job_service
from sightline.services.context import AppContext, open_context
from sightline.services.demo import is_loaded, load_demo
from sightline.services.job_handlers import IndexRebuildHandler, default_handlers
from sightline.services.job_worker import JobWorker
from sightline.services.jobs import JobResources
from sightline.services.pdq_index import ListSignals, PdqIndexService
from sightline.services.runner import make_runner

index_app = typer.Typer(help="Inspect and rebuild the PDQ index.", no_args_is_help=True)
demo_app = typer.Typer(help="Benign demonstration data.", no_args_is_help=True)


@index_app.command("status")
@handle_errors
def index_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the size, checkpoint and freshness of the media and hash-list PDQ indexes."""
    with app_context() as ctx:
        statuses = {
            "media": PdqIndexService(ctx).status(),
            "lists": PdqIndexService(ctx, ListSignals()).status(),
        }
    data = {
        name: {
            "backend": status.backend,
            "count": status.count,
            "checkpoint": status.checkpoint,
            "latest": status.latest,
            "ready": status.ready,
        }
        for name, status in statuses.items()
    }
    if as_json:
        print_json(data)
    else:
        for name, values in data.items():
            for key, value in values.items():
                console.print(f"{name}.{key} = {visible(value)}", highlight=False)


@index_app.command("rebuild")
@handle_errors
def index_rebuild(
    no_wait: bool = typer.Option(
        False, "--no-wait", help="Only enqueue the job; a worker (or the server) runs it."
    ),
) -> None:
    """Rebuild both PDQ indexes (media, hash lists) from the database and persist them.

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
    media, lists = job.result.get("media"), job.result.get("lists")
    console.print(f"indexes rebuilt: {media} media hashes, {lists} hash-list hashes")


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
        PdqIndexService(ctx).save()
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
