"""``sightline index``, ``sightline demo`` and ``sightline serve``."""

from __future__ import annotations

import ipaddress

import typer

from sightline.cli.common import (
    app_context,
    console,
    handle_errors,
    load_settings,
    print_json,
    visible,
)
from sightline.errors import ConfigurationError
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.context import open_context
from sightline.services.demo import is_loaded, load_demo
from sightline.services.signal_index import IndexSet

index_app = typer.Typer(help="Inspect and rebuild the PDQ index.", no_args_is_help=True)
demo_app = typer.Typer(help="Benign demonstration data.", no_args_is_help=True)


@index_app.command("status")
@handle_errors
def index_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the size, checkpoint and freshness of the media and hash-list PDQ indexes."""
    with app_context() as ctx:
        statuses = IndexSet(ctx).statuses()
    data = {
        name: {
            "backend": ",".join(sorted({s.backend for s in group})),
            "count": sum(s.count for s in group),
            "checkpoint": min((s.checkpoint for s in group), default=0),
            "latest": max((s.latest for s in group), default=0),
            "ready": all(s.ready for s in group),
        }
        for name, group in statuses.items()
    }
    if as_json:
        print_json(data)
    else:
        for name, values in data.items():
            for key, value in values.items():
                console.print(f"{name}.{key} = {visible(value)}", highlight=False)


@index_app.command("rebuild")
@handle_errors
def index_rebuild() -> None:
    """Rebuild both PDQ indexes (media, hash lists) from the database and persist them."""
    with app_context() as ctx:
        counts = IndexSet(ctx).rebuild()
    console.print(
        f"indexes rebuilt: {counts['media']} media hashes, {counts['lists']} hash-list hashes"
    )


@demo_app.command("load")
@handle_errors
def demo_load() -> None:
    """Load the benign demo dataset (three agencies with overlapping cases) once."""
    with app_context() as ctx:
        if is_loaded(ctx):
            console.print("demo data already loaded")
            return
        reports = load_demo(ctx, ProcessPoolRunner(ctx.settings.ingest.workers))
        IndexSet(ctx).save()
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
    """Serve the API (OpenAPI docs at /docs); HTTPS when a TLS certificate is configured.

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
        create_app(settings, ingest_runner=ProcessPoolRunner(settings.ingest.workers)),
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
