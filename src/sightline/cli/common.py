"""Shared CLI plumbing: settings, context and the single error-to-exit-code mapping."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from sightline.config import Settings
from sightline.domain.audit import Requester
from sightline.errors import SightlineError
from sightline.services.audit import cli_actor
from sightline.services.context import AppContext, open_context

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    """Read settings from the environment, turning validation errors into a clean exit."""
    try:
        return Settings()
    except ValidationError as exc:
        err_console.print(f"[red]error:[/red] invalid settings: {exc}")
        raise typer.Exit(3) from exc


@contextmanager
def app_context() -> Iterator[AppContext]:
    """Open the configured store for one command."""
    ctx = open_context(load_settings())
    try:
        yield ctx
    finally:
        ctx.close()


def cli_requester() -> Requester:
    """The operator at this terminal, for the audit trail."""
    return Requester(actor=cli_actor(), source="cli")


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Map Sightline errors to a one-line message and the error's exit code."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SightlineError as exc:
            err_console.print(f"[red]error:[/red] {exc.message}")
            raise typer.Exit(exc.exit_code) from exc

    return wrapper


def print_json(data: Any) -> None:
    """Write JSON to standard output (no colour, no wrapping), for scripts."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
