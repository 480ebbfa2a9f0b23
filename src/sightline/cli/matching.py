"""``sightline hashlist``, ``sightline triage``, ``sightline alerts`` and ``sightline match``."""

from __future__ import annotations

from pathlib import Path

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
from sightline.domain.models import ListKind
from sightline.services.context import AppContext
from sightline.services.exchange import hashlists
from sightline.services.matching.engine import MatchingEngine
from sightline.services.matching.match import match_as_dict, match_query
from sightline.services.matching.search import query_from_file
from sightline.services.matching.triage import (
    agency_alerts,
    alert_as_dict,
    case_triage,
    triage_as_dict,
)
from sightline.services.signals.indexes import IndexSet

hashlist_app = typer.Typer(help="Import and manage hash lists (banks).", no_args_is_help=True)


def _engine(ctx: AppContext) -> MatchingEngine:
    return MatchingEngine(ctx, IndexSet(ctx))


def _retro_hunt(ctx: AppContext, list_id: int) -> None:
    engine = _engine(ctx)
    report = hashlists.retro_hunt(ctx, engine, list_id)
    engine.indexes.save()  # the next process loads it instead of rebuilding
    console.print(
        f"retro-hunt: {report.items} stored items checked, {report.new_matches} new matches, "
        f"{report.triage_changed} triage statuses raised"
    )


@hashlist_app.command("import")
@handle_errors
def hashlist_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or ICSE export."),
    owner: str = typer.Option(..., "--owner", help="Owning agency code."),
    name: str = typer.Option(..., "--name", help="Name of the list (unique per owner)."),
    negative: bool = typer.Option(False, "--negative", help="A list that suppresses matches."),
    threshold: int = typer.Option(31, "--threshold", min=0, max=31, help="PDQ threshold."),
    fmt: str | None = typer.Option(None, "--format", help="csv or icse (default: detected)."),
    retro: bool = typer.Option(True, "--retro-hunt/--no-retro-hunt", help="Re-match stored."),
) -> None:
    """Import a hash list, then re-match everything already stored against it."""
    kind = ListKind.NEGATIVE if negative else ListKind.POSITIVE
    with app_context() as ctx, file.open("rb") as stream:
        report = hashlists.import_list(
            ctx,
            stream,
            requester=cli_requester(),
            owner=owner,
            name=name,
            kind=kind,
            threshold=threshold,
            fmt=fmt,
        )
        console.print(
            f"list {report.hash_list.id} {visible(repr(report.hash_list.name))}: "
            f"{report.imported} entries "
            f"imported, {report.rejected} rows rejected"
        )
        for error in report.errors:
            console.print(f"  line {error.line}: {visible(error.message)}", highlight=False)
        if retro:
            _retro_hunt(ctx, report.hash_list.id)


@hashlist_app.command("list")
@handle_errors
def hashlist_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List hash lists."""
    with app_context() as ctx:
        lists = hashlists.list_lists(ctx)
    rows = [
        {
            "id": h.id,
            "name": h.name,
            "kind": h.kind.value,
            "threshold": h.pdq_threshold,
            "enabled": h.enabled,
            "entries": h.entry_count,
        }
        for h in lists
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(*rows[0].keys()) if rows else Table("id", "name")
    for row in rows:
        table.add_row(*(visible(v) for v in row.values()))
    console.print(table)


@hashlist_app.command("configure")
@handle_errors
def hashlist_configure(
    list_id: int = typer.Argument(..., help="List id."),
    enabled: bool | None = typer.Option(None, "--enable/--disable", help="Use the list or not."),
    threshold: int | None = typer.Option(None, "--threshold", min=0, max=31, help="PDQ."),
) -> None:
    """Enable, disable or re-threshold a list; stored items are re-matched when it widens."""
    with app_context() as ctx:
        updated = hashlists.configure(
            ctx, list_id, requester=cli_requester(), enabled=enabled, threshold=threshold
        )
        console.print(
            f"list {updated.id}: enabled={updated.enabled} threshold={updated.pdq_threshold}"
        )
        if updated.enabled and (enabled or threshold is not None):
            _retro_hunt(ctx, list_id)


@hashlist_app.command("delete")
@handle_errors
def hashlist_delete(list_id: int = typer.Argument(..., help="List id.")) -> None:
    """Delete a list, its entries and the matches and votes recorded against them."""
    with app_context() as ctx:
        entries = hashlists.delete_list(ctx, list_id, requester=cli_requester())
    console.print(f"list {list_id} deleted with its {entries} entries")


@hashlist_app.command("vote")
@handle_errors
def hashlist_vote(
    verdict: str = typer.Argument(..., help="confirm or reject"),
    entry: int = typer.Option(..., "--entry", help="List entry id."),
    media: int = typer.Option(..., "--media", help="Media id that matched it."),
    agency: str = typer.Option(..., "--agency", help="The reviewer's agency."),
    reviewer: str = typer.Option(..., "--reviewer", help="Who reviewed the match."),
) -> None:
    """Confirm or reject a match against a list entry (reported to the list's owner)."""
    with app_context() as ctx:
        hashlists.vote(
            ctx,
            requester=cli_requester(),
            entry_id=entry,
            media_id=media,
            agency=agency,
            reviewer=reviewer,
            verdict=verdict,
        )
    console.print("vote recorded")


@hashlist_app.command("report")
@handle_errors
def hashlist_report(
    list_id: int = typer.Argument(..., help="List id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Per entry: matches, confirm and reject votes, quarantine (for the list's owner)."""
    with app_context() as ctx:
        rows = hashlists.owner_report(ctx, list_id, requester=cli_requester())
    data = [_row(r) for r in rows]
    if as_json:
        print_json(data)
        return
    table = Table("entry", "external id", "matches", "confirmed", "rejected", "quarantined")
    for row in data:
        table.add_row(*(visible(v) for v in row.values()))
    console.print(table)


def _row(report: hashlists.EntryReport) -> dict[str, object]:
    return {
        "entry_id": report.entry_id,
        "external_id": report.external_id,
        "matches": report.matches,
        "confirmed": report.confirmed,
        "rejected": report.rejected,
        "quarantined": report.quarantined,
    }


@handle_errors
def triage_command(
    case: str = typer.Argument(..., help="Case reference."),
    agency: str = typer.Option(..., "--agency", help="Owning agency code."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Counts by status (known-identified, known, new) and the stacks, new items first."""
    with app_context() as ctx:
        report = case_triage(ctx, agency, case, requester=cli_requester())
    if as_json:
        print_json(triage_as_dict(report))
        return
    console.print(visible(", ".join(f"{k}: {v}" for k, v in report.counts.items())))
    table = Table("media", "status", "file", "stacked", "reason")
    for stack in report.stacks:
        head = stack.representative
        stacked = str(len(stack.members)) if stack.members else ""
        table.add_row(
            str(head.media_id),
            head.status.value,
            visible(stack.file_name),
            stacked,
            visible(head.reason or ""),
        )
    console.print(table)


@handle_errors
def alerts_command(
    agency: str = typer.Option(..., "--agency", help="Agency code."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """An agency's overlap alerts: which of its items match which other agency's case."""
    with app_context() as ctx:
        lines = agency_alerts(ctx, agency, requester=cli_requester())
    data = [alert_as_dict(line) for line in lines]
    if as_json:
        print_json(data)
        return
    table = Table("id", "case", "media", "other agency", "other case", "signal", "distance")
    for row in data:
        table.add_row(
            *(
                visible(row[key])
                for key in ("id", "case", "media_id", "other_agency", "other_case", "signal")
            ),
            visible(row["distance"]),
        )
    console.print(table)


@handle_errors
def match_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The query file."),
) -> None:
    """Match FILE against stored media and hash lists; print JSON with every explanation."""
    with app_context() as ctx:
        query = query_from_file(ctx, file)
        result = match_query(ctx, _engine(ctx), query, requester=cli_requester())
    print_json(match_as_dict(result))
