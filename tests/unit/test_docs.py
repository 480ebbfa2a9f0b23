"""The docs stay true to the code: every setting, command, analyzer and backend appears."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.main
from pydantic import BaseModel

from sightline.analyzers.registry import analyzer_registry
from sightline.cli.main import build_app
from sightline.config import Settings
from sightline.indexes.registry import index_registry, vector_index_registry

ROOT = Path(__file__).resolve().parents[2]


def _env_names(model: type[BaseModel], prefix: str) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def _commands(command: Any, path: str) -> list[str]:
    """Leaf command paths of a click (or typer-vendored click) command tree."""
    if hasattr(command, "commands"):
        out = []
        for name, sub in command.commands.items():
            out += _commands(sub, f"{path} {name}")
        return out
    return [path]


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs/configuration.md").read_text()
    names = _env_names(Settings, "SIGHTLINE_")
    assert len(names) > 10
    assert [n for n in names if f"`{n}`" not in text] == []


def test_every_cli_command_is_documented() -> None:
    text = (ROOT / "docs/cli.md").read_text()
    commands = _commands(typer.main.get_command(build_app()), "sightline")
    assert "sightline ingest" in commands
    assert [c for c in commands if f"`{c}`" not in text] == []


def test_every_analyzer_and_index_backend_is_documented() -> None:
    text = (ROOT / "docs/architecture.md").read_text()
    names = analyzer_registry().names() + index_registry().names() + vector_index_registry().names()
    assert [n for n in names if f"`{n}`" not in text] == []


def test_readme_shows_the_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text
    assert "make test" in (ROOT / ".ci/run").read_text()
