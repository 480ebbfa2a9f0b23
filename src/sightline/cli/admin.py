"""``sightline init`` and ``sightline config``."""

from __future__ import annotations

import typer

from sightline.cli.common import console, handle_errors, load_settings, print_json, visible
from sightline.services.context import initialise

config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@handle_errors
def init() -> None:
    """Create the embedded store: data directory, master key (0600) and database schema.

    Safe to run again: an existing key is kept and the schema is upgraded if needed.
    """
    settings = load_settings()
    done = initialise(settings)
    for line in done or ["already initialised; nothing to do"]:
        console.print(visible(line))


@config_app.command("show")
@handle_errors
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the effective settings, secrets redacted."""
    data = load_settings().redacted()
    if as_json:
        print_json(data)
        return
    for key, value in _flatten(data):
        console.print(f"{key} = {visible(value)}", highlight=False)


def _flatten(data: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in sorted(data.items()):
        if isinstance(value, dict):
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out
