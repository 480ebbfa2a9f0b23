"""Run tasks one after another in the calling process (see :mod:`sightline.services.runner`)."""

from __future__ import annotations

from sightline.services.runner import InlineRunner

__all__ = ["InlineRunner"]
