"""``sightline audit``: verify the keyed audit chain, read it, print or sign its head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from sightline.cli.common import (
    app_context,
    console,
    err_console,
    handle_errors,
    print_json,
    visible,
)
from sightline.domain.audit import AuditEvent, format_time
from sightline.errors import BlobIntegrityError, InvalidInputError
from sightline.services.access import audit as audit_service
from sightline.services.access.audit_checkpoint import make_checkpoint, read_checkpoint

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
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="A signed checkpoint file written by `sightline audit head --checkpoint`; also "
        "detects deleted newest events and a deleted or truncated trail.",
        dir_okay=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check every event against its keyed hash and its predecessor; exit 5 on tampering."""
    if head and checkpoint:
        raise InvalidInputError("give --head or --checkpoint, not both")
    expected = audit_service.parse_head(head) if head else None
    with app_context() as ctx:
        if checkpoint is not None:
            expected = read_checkpoint(ctx, _read_text(checkpoint))
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
                "without --head or --checkpoint, deleting the newest events goes unnoticed: "
                "keep `sightline audit head --checkpoint FILE` outside this system",
                highlight=False,
            )
    if not report.ok:
        if not as_json:
            where = "" if report.first_bad_id is None else f" at event {report.first_bad_id}"
            err_console.print(
                f"[red]tampering detected{where}:[/red] {visible(report.problem)}",
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
        cells = (e.actor, e.action, e.resource, e.outcome, e.source)
        table.add_row(str(e.id), time, *(visible(cell) for cell in cells))
    console.print(table)


@audit_app.command("head")
@handle_errors
def audit_head(
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="Also write the head, signed with this store's key, to this file (for "
        "`audit verify --checkpoint`).",
        dir_okay=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the newest event as ID:HASH, the value to record outside this system."""
    with app_context() as ctx:
        head = audit_service.head(ctx)
        if checkpoint is not None:
            signed = make_checkpoint(ctx)
            if signed is None:
                raise InvalidInputError("the audit trail is empty: there is no head to sign")
            head = signed.head
            _write_text(checkpoint, signed.to_json())
    if as_json:
        print_json(None if head is None else {"id": head.id, "hash": head.hash})
    elif head is None:
        console.print("the audit trail is empty")
    else:
        typer.echo(str(head))  # never wrapped: scripts copy it verbatim


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the checkpoint file: {exc}") from None


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write the checkpoint file: {exc}") from None


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
