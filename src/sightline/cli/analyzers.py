"""``sightline analyzers``: what is installed and enabled, and the signals each emits."""

from __future__ import annotations

import typer
from rich.table import Table

from sightline.cli.common import console, handle_errors, load_settings, print_json, visible
from sightline.services.signals.analyzers import installed_analyzers


@handle_errors
def analyzers_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List installed analyzers: enabled or not, media kinds, cost, signal kinds emitted."""
    infos = installed_analyzers(load_settings().analyzers.enabled)
    rows = [
        {
            "name": i.name,
            "enabled": i.enabled,
            "version": i.version,
            "media_kinds": list(i.media_kinds),
            "cost": i.cost,
            "signals": [
                {"kind": k.name, "value_type": k.value_type.value, "bits": k.bits} for k in i.emits
            ],
            "problem": i.problem,
        }
        for i in infos
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("analyzer", "enabled", "version", "media", "cost", "signals")
    for i in infos:
        signals = ", ".join(f"{k.name} ({k.value_type.value})" for k in i.emits)
        table.add_row(
            visible(i.name),
            "yes" if i.enabled else "no",
            visible(i.version or "-"),
            visible(", ".join(i.media_kinds)),
            visible(i.cost or "-"),
            visible(signals or i.problem or "-"),
        )
    console.print(table)
