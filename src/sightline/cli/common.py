"""Shared CLI plumbing: settings, context, the single error-to-exit-code mapping, safe text.

Everything printed to a terminal that came from outside the program (file names from a
seized device, case references, titles, agency and user names, list names, error details)
goes through :func:`visible` first: a file name can carry ANSI escape sequences (clear the
screen, recolour or rewrite earlier lines), newlines (forge extra table rows) or Rich markup
(``[bold]``), and an investigator must see exactly what the name holds. JSON output needs
nothing: ``json.dumps`` escapes control characters itself.
"""

from __future__ import annotations

import json
import re
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
from sightline.services.access.audit import cli_actor
from sightline.services.context import AppContext, open_context
from sightline.services.ingest.scratch import scratch_root, sweep

P = ParamSpec("P")
R = TypeVar("R")

# emoji=False: ":warning:" in a file name prints as typed, not as a pictogram.
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

# C0 and C1 controls and DEL; zero-width characters, line and paragraph separators, and the
# bidirectional marks, embeddings, overrides and isolates that reorder what a name appears to
# say ("Trojan Source"); the byte-order mark.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What Rich reads as a markup tag, with the backslashes before it (rich.markup.escape's own).
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def visible(value: object) -> str:
    r"""``value`` as text that a terminal prints literally, for Rich (markup escaped).

    Control and invisible formatting characters become visible escapes (``\x1b``, ``\n``,
    ``\u202e``) and Rich markup is escaped, so ``[bold]`` prints as typed. Backslashes are
    left alone: Windows paths stay readable, at the cost that a literal ``\n`` typed in a
    name reads the same as an escaped newline.

    Unlike ``rich.markup.escape``, a trailing backslash is not doubled, so ``C:\cases\``
    prints as it is; the price is that the result must not be followed directly by a markup
    tag (the backslash would escape it): put it last or before plain text.
    """
    return _TAG.sub(_escape_tag, _UNSAFE.sub(_escape_character, str(value)))


def _escape_tag(match: re.Match[str]) -> str:
    backslashes, tag = match.groups()
    return f"{backslashes}{backslashes}\\{tag}"


def _escape_character(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def load_settings() -> Settings:
    """Read settings from the environment, turning validation errors into a clean exit."""
    try:
        return Settings()
    except ValidationError as exc:
        err_console.print(f"[red]error:[/red] invalid settings: {visible(exc)}")
        raise typer.Exit(3) from exc


@contextmanager
def app_context() -> Iterator[AppContext]:
    """Open the configured store for one command, first sweeping abandoned scratch files.

    What a killed command or server left in ``DATA_DIR/scratch`` is plaintext case material;
    only what no live process owns is removed (``services/ingest/scratch.py``).
    """
    ctx = open_context(load_settings())
    try:
        sweep(scratch_root(ctx.settings.data_dir))
        yield ctx
    finally:
        ctx.close()


def cli_requester() -> Requester:
    """The operator at this terminal, for the audit trail."""
    return Requester(actor=cli_actor(), source="cli")


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Map Sightline errors to a one-line message and the error's exit code.

    Any other exception is a bug: it prints its type only, with exit code 1, and no
    traceback, because an exception's message or a traceback's frames may quote a path or a
    file name of case material, and stderr is often kept in a log.
    """

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SightlineError as exc:
            err_console.print(f"[red]error:[/red] {visible(exc.message)}")
            raise typer.Exit(exc.exit_code) from exc
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
            raise  # the command's own exit, an abort or a usage error (Exit is a RuntimeError)
        except Exception as exc:
            err_console.print(f"[red]error:[/red] internal error ({type(exc).__name__})")
            raise typer.Exit(1) from None

    return wrapper


def print_json(data: Any) -> None:
    """Write JSON to standard output (no colour, no wrapping), for scripts."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
