"""Run tasks one after another in the calling process.

See :mod:`sightline.services.jobs.runner`.
"""

from __future__ import annotations

from sightline.services.jobs.runner import InlineRunner

__all__ = ["InlineRunner"]
