"""The ``sightline`` command: one Typer app assembled from the noun modules."""

from __future__ import annotations

import typer

from sightline import __version__
from sightline.cli import (
    admin,
    analyzers,
    audit,
    catalog,
    jobs,
    matching,
    media,
    store,
    system,
    users,
)


def build_app() -> typer.Typer:
    """Assemble the command tree."""
    app = typer.Typer(
        name="sightline",
        help="Sightline: victim identification database for child-protection investigators.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.command("init")(admin.init)
    app.add_typer(admin.config_app, name="config")
    app.add_typer(catalog.agency_app, name="agency")
    app.add_typer(catalog.case_app, name="case")
    app.command("analyzers")(analyzers.analyzers_command)
    app.command("ingest")(media.ingest_command)
    app.command("search")(media.search_command)
    app.command("match")(matching.match_command)
    app.add_typer(matching.hashlist_app, name="hashlist")
    app.command("triage")(matching.triage_command)
    app.command("alerts")(matching.alerts_command)
    app.add_typer(system.index_app, name="index")
    app.add_typer(system.demo_app, name="demo")
    app.add_typer(audit.audit_app, name="audit")
    app.add_typer(store.store_app, name="store")
    app.add_typer(users.user_app, name="user")
    app.add_typer(users.token_app, name="token")
    app.add_typer(jobs.jobs_app, name="jobs")
    app.command("worker")(jobs.worker)
    app.command("serve")(system.serve)
    app.command("version")(_version)
    return app


def _version() -> None:
    """Print the version."""
    typer.echo(__version__)


def run() -> None:
    """Console-script entry point."""
    build_app()()
