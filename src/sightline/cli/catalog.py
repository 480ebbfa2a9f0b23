"""``sightline agency`` and ``sightline case``."""

from __future__ import annotations

import typer
from rich.table import Table

from sightline.cli.common import (
    app_context,
    cli_requester,
    console,
    handle_errors,
    print_json,
    visible,
)
from sightline.domain.access import SharingLevel
from sightline.services import catalog

_SHARING = (
    "private (other agencies see nothing), signals (they learn a match exists: agency and "
    "reference) or shared (they see metadata, and media with a second factor)."
)

agency_app = typer.Typer(help="Manage member agencies.", no_args_is_help=True)
case_app = typer.Typer(help="Manage cases.", no_args_is_help=True)


@agency_app.command("add")
@handle_errors
def agency_add(
    code: str = typer.Argument(..., help="Short unique code, e.g. UK-NCA."),
    name: str = typer.Option(..., "--name", help="Full name."),
    country: str = typer.Option(..., "--country", help="ISO 3166-1 alpha-2 country code."),
    contact: str = typer.Option("", "--contact", help="How other agencies reach this one."),
) -> None:
    """Register a member agency."""
    with app_context() as ctx:
        agency = catalog.add_agency(
            ctx, code, name, country, requester=cli_requester(), contact=contact
        )
    console.print(f"agency {visible(agency.code)} created")


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
        table.add_row(visible(a.code), visible(a.name), visible(a.country))
    console.print(table)


@case_app.command("add")
@handle_errors
def case_add(
    reference: str = typer.Argument(..., help="The agency's case reference."),
    agency: str = typer.Option(..., "--agency", help="Owning agency code."),
    title: str = typer.Option("", "--title", help="Short title."),
    sharing: SharingLevel = typer.Option(SharingLevel.PRIVATE, "--sharing", help=_SHARING),
) -> None:
    """Open a case."""
    with app_context() as ctx:
        case = catalog.add_case(
            ctx, agency, reference, title, requester=cli_requester(), sharing=sharing
        )
    console.print(f"case {visible(case.reference)} created ({case.sharing.value})")


@case_app.command("share")
@handle_errors
def case_share(
    agency: str = typer.Argument(..., help="Owning agency code."),
    reference: str = typer.Argument(..., help="The agency's case reference."),
    sharing: SharingLevel = typer.Argument(..., help=_SHARING),
) -> None:
    """Set who outside the owning agency may see a case (audited)."""
    with app_context() as ctx:
        case = catalog.share_case(ctx, agency, reference, sharing, requester=cli_requester())
    console.print(f"case {visible(case.reference)} is now {case.sharing.value}")


@case_app.command("list")
@handle_errors
def case_list(
    agency: str | None = typer.Option(None, "--agency", help="Only this agency's cases."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List cases with their sharing level."""
    with app_context() as ctx:
        rows = catalog.list_cases(ctx, agency, requester=cli_requester())
    data = [
        {"agency": a.code, "reference": c.reference, "title": c.title, "sharing": c.sharing.value}
        for c, a in rows
    ]
    if as_json:
        print_json(data)
        return
    table = Table("agency", "reference", "title", "sharing")
    for row in data:
        table.add_row(*(visible(v) for v in row.values()))
    console.print(table)
