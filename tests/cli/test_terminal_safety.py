"""Text from outside the program prints literally: no escape sequences, no forged rows, no markup.

A seized device can hold a file named ``"x\\n\\x1b[2J..."``: printed raw it clears the
investigator's screen and forges table rows. Every printer escapes such text through
``sightline.cli.common.visible``.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from sightline.cli import common
from sightline.cli.common import visible
from sightline.cli.main import build_app

ESC = "\x1b"
EVIL_NAME = "evil\n\x1b[2J\x1b[31m[bold]red :warning:.txt"  # a name cannot hold "/"
EVIL_SHOWN = "evil\\n\\x1b[2J\\x1b[31m[bold]red :warning:.txt"


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised store with one agency; a wide terminal so that no cell wraps."""
    monkeypatch.setenv("SIGHTLINE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SIGHTLINE_ENVIRONMENT", "development")
    monkeypatch.setenv("COLUMNS", "400")
    # The CLI's consoles read COLUMNS when they are created, at import, which another test in
    # the same worker process may have done first: set their width as a terminal of 400 would.
    for console in (common.console, common.err_console):
        monkeypatch.setattr(console, "_width", 400)
    _run("init")
    _run("agency", "add", "TEST-GB", "--name", "Test [i]unit[/i]", "--country", "GB")
    return tmp_path / "var"


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(build_app(), list(args))
    assert result.exit_code == code, result.output
    assert ESC not in result.output  # not a single raw escape character, stdout or stderr
    return result.output


def _rendered(value: str) -> str:
    out = io.StringIO()
    Console(file=out, width=400, emoji=False).print(visible(value))
    return out.getvalue()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (EVIL_NAME, EVIL_SHOWN),
        ("[bold]x[/bold] [/] \\[i]", "[bold]x[/bold] [/] \\[i]"),
        ("tab\there\rcr", "tab\\there\\rcr"),
        ("bell\x07 del\x7f csi\x9b", "bell\\x07 del\\x7f csi\\x9b"),
        ("invoice\u202etxt.exe", "invoice\\u202etxt.exe"),  # right-to-left override
        ("zero\u200bwidth \u2066isolate\u2069", "zero\\u200bwidth \\u2066isolate\\u2069"),
        ("[link=https://example.org]x[/link]", "[link=https://example.org]x[/link]"),
        ("C:\\cases\\[b]\\", "C:\\cases\\[b]\\"),
        ("café 東京 ✓", "café 東京 ✓"),  # printable text outside ASCII is left as it is
    ],
)
def test_visible_text_prints_exactly_what_the_name_holds(raw: str, shown: str) -> None:
    assert _rendered(raw) == shown + "\n"


def test_a_hostile_file_name_prints_escaped_on_one_row_of_files_not_taken(
    var: Path, tmp_path: Path
) -> None:
    source = tmp_path / "seized"
    source.mkdir()
    (source / EVIL_NAME).write_text("not an image")
    out = _run("ingest", str(source), "--case", "C-1", "--agency", "TEST-GB", "--workers", "1")
    assert "files not taken" in out
    [row] = [line for line in out.splitlines() if "evil" in line]
    assert EVIL_SHOWN in row
    assert "not_media" in row  # the reason sits on the same row: no forged line break
    assert "⚠" not in out


def test_case_titles_and_names_with_markup_print_literally(var: Path) -> None:
    title = "[bold red]urgent[/] \x1b[8mhidden"
    assert "case [blink]C-1[/blink] created" in _run(
        "case", "add", "[blink]C-1[/blink]", "--agency", "TEST-GB", "--title", title
    )
    listed = _run("case", "list")
    assert "[bold red]urgent[/] \\x1b[8mhidden" in listed
    assert "[blink]C-1[/blink]" in listed
    assert "Test [i]unit[/i]" in _run("agency", "list")


def test_error_messages_quote_user_text_literally(var: Path) -> None:
    out = _run("case", "share", "TEST-GB", "[red]C-9\x1b[2J", "shared", code=6)
    assert "no case '[red]C-9\\x1b[2J'" in out
