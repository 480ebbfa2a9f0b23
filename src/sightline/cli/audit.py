"""``sightline audit``: verify the hash-chained audit trail, read it, print its head."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from sightline.cli.common import app_context, console, err_console, handle_errors, print_json
from sightline.domain.audit import AuditEvent, format_time
from sightline.errors import BlobIntegrityError
from sightline.services import audit as audit_service

audit_app = typer.Typer(
    help="Verify and read the audit trail (who did what, when, from where).",
    no_args_is_help=True,
)


@audit_app.command("verify")
@handle_errors
def audit_verify(
    head: str | None = typer.Option(
        None,
        "--head",
        help="ID:HASH recorded earlier by `sightline audit head`; also detects deleted newest "
        "events.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check every event against its hash and its predecessor; exit 5 if tampering is found."""
    expected = audit_service.parse_head(head) if head else None
    with app_context() as ctx:
        report = audit_service.verify(ctx, expected)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "checked": report.checked,
                "first_bad_id": report.first_bad_id,
                "problem": report.problem,
            }
        )
    elif report.ok:
        console.print(f"audit trail intact: {report.checked} events checked", highlight=False)
        if expected is None:
            console.print(
                "without --head, deleting the newest events goes unnoticed: anchor the output "
                "of `sightline audit head` outside this system",
                highlight=False,
            )
    if not report.ok:
        if not as_json:
            err_console.print(
                f"[red]tampering detected at event {report.first_bad_id}:[/red] {report.problem}",
                highlight=False,
            )
        raise typer.Exit(BlobIntegrityError.exit_code)


@audit_app.command("show")
@handle_errors
def audit_show(
    after: int = typer.Option(0, "--after", help="Only events after this id (paging)."),
    limit: int = typer.Option(100, "--limit", help="At most this many events (1-1000)."),
    actor: str | None = typer.Option(None, "--actor", help="Only this actor, e.g. user:12."),
    action: str | None = typer.Option(None, "--action", help="Only this action, e.g. search."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List audit events, oldest first."""
    with app_context() as ctx:
        events = audit_service.show(ctx, after, limit, actor, action)
    if as_json:
        print_json([_event_json(e) for e in events])
        return
    table = Table("id", "time (UTC)", "actor", "action", "resource", "outcome", "source")
    for e in events:
        time = e.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(e.id), time, e.actor, e.action, e.resource, e.outcome, e.source)
    console.print(table)


@audit_app.command("head")
@handle_errors
def audit_head(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the newest event as ID:HASH, the value to record outside this system."""
    with app_context() as ctx:
        head = audit_service.head(ctx)
    if as_json:
        print_json(None if head is None else {"id": head.id, "hash": head.hash})
    elif head is None:
        console.print("the audit trail is empty")
    else:
        typer.echo(str(head))  # never wrapped: scripts copy it verbatim


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "occurred_at": format_time(event.occurred_at),
        "actor": event.actor,
        "actor_agency_id": event.actor_agency_id,
        "action": event.action,
        "resource": event.resource,
        "outcome": event.outcome,
        "source": event.source,
        "detail": dict(event.detail),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
