"""Fault injection for crash tests: kill this process at a named point, when asked to.

The crash tests and ``benchmarks.crash`` must kill an ingest at chosen moments (between the
stages of recording a batch, say) and check that the resumed run loses and duplicates nothing.
A random ``SIGKILL`` from outside rarely lands on those boundaries, so the code names them:
``fault_point("ingest.batch.after_media")``. Nothing happens unless the environment variable
``SIGHTLINE_FAULT_KILL`` names the point as ``NAME`` or ``NAME@N`` (the N-th time it is
reached, counting from 1). The variable is for tests: it can only make this process kill
itself, which an operator who can set the environment can do anyway.
"""

from __future__ import annotations

import os
import signal

ENV = "SIGHTLINE_FAULT_KILL"

_reached: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``SIGHTLINE_FAULT_KILL`` names this point now."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] >= (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
