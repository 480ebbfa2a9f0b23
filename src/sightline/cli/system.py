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
from sightline.features.hashes import PDQ_KIND
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.context import AppContext, open_context
from sightline.services.demo import is_loaded, load_demo
from sightline.services.signal_index import LISTS, MEDIA, IndexSet, IndexStatus

index_app = typer.Typer(
    help="Inspect, persist and rebuild the binary indexes.", no_args_is_help=True
)
demo_app = typer.Typer(help="Benign demonstration data.", no_args_is_help=True)


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
def index_rebuild() -> None:
    """Rebuild every index (per kind: media, hash lists) from the database and persist it."""
    with app_context() as ctx:
        sizes = _indexes(ctx).rebuild()
    for kind, by in sizes.items():
        counts = ", ".join(f"{size} {key} hashes" for key, size in by.items())
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
        counts = ", ".join(f"{s.count} {key} hashes" for key, s in by.items())
        console.print(f"{visible(kind)} indexes saved: {counts}")


@demo_app.command("load")
@handle_errors
def demo_load() -> None:
    """Load the benign demo dataset (three agencies with overlapping cases) once."""
    with app_context() as ctx:
        if is_loaded(ctx):
            console.print("demo data already loaded")
            return
        reports = load_demo(ctx, ProcessPoolRunner(ctx.settings.ingest.workers))
        _indexes(ctx).media(PDQ_KIND).save()
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
