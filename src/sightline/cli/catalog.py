"""``sightline agency`` and ``sightline case``."""

from __future__ import annotations

import typer
from rich.table import Table

from sightline.cli.common import app_context, cli_requester, console, handle_errors, print_json
from sightline.services import catalog

agency_app = typer.Typer(help="Manage member agencies.", no_args_is_help=True)
case_app = typer.Typer(help="Manage cases.", no_args_is_help=True)


@agency_app.command("add")
@handle_errors
def agency_add(
    code: str = typer.Argument(..., help="Short unique code, e.g. UK-NCA."),
    name: str = typer.Option(..., "--name", help="Full name."),
    country: str = typer.Option(..., "--country", help="ISO 3166-1 alpha-2 country code."),
) -> None:
    """Register a member agency."""
    with app_context() as ctx:
        agency = catalog.add_agency(ctx, code, name, country, requester=cli_requester())
    console.print(f"agency {agency.code} created")


@agency_app.command("list")
@handle_errors
def agency_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List agencies."""
    with app_context() as ctx:
        agencies = catalog.list_agencies(ctx)
    if as_json:
        print_json([{"code": a.code, "name": a.name, "country": a.country} for a in agencies])
        return
    table = Table("code", "name", "country")
    for a in agencies:
        table.add_row(a.code, a.name, a.country)
    console.print(table)


@case_app.command("add")
@handle_errors
def case_add(
    reference: str = typer.Argument(..., help="The agency's case reference."),
    agency: str = typer.Option(..., "--agency", help="Owning agency code."),
    title: str = typer.Option("", "--title", help="Short title."),
) -> None:
    """Open a case."""
    with app_context() as ctx:
        case = catalog.add_case(ctx, agency, reference, title, requester=cli_requester())
    console.print(f"case {case.reference} created")


@case_app.command("list")
@handle_errors
def case_list(
    agency: str | None = typer.Option(None, "--agency", help="Only this agency's cases."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List cases."""
    with app_context() as ctx:
        rows = catalog.list_cases(ctx, agency)
    if as_json:
        print_json(
            [{"agency": a.code, "reference": c.reference, "title": c.title} for c, a in rows]
        )
        return
    table = Table("agency", "reference", "title")
    for c, a in rows:
        table.add_row(a.code, c.reference, c.title)
    console.print(table)
