"""The per-file deadline analyzers check in their long loops (decoding a video, say).

Ingest runs the analyzers of one file under ``analysis_deadline(seconds)``; a loop that may
run long calls ``check_deadline()`` now and then (the video frame sampler does, once a
frame), which raises ``TimeLimitExceeded`` once the time is up. The deadline lives in a
context variable, so it holds for the thread that set it and works where signals cannot be
used (ingest run in a server's job thread). Pool workers are also interrupted by a timer
signal (``services/ingest/worker.py``), which reaches code that never checks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sightline.errors import TimeLimitExceeded

_DEADLINE: ContextVar[float | None] = ContextVar("sightline_analysis_deadline", default=None)


@contextmanager
def analysis_deadline(seconds: float | None) -> Iterator[None]:
    """Run the block with a deadline ``seconds`` from now (``None``: no deadline)."""
    deadline = None if seconds is None else time.monotonic() + seconds
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline() -> None:
    """Raise ``TimeLimitExceeded`` if the current deadline has passed.

    Raises:
        TimeLimitExceeded: the file's analysis ran past its time limit.
    """
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise TimeLimitExceeded("the file took longer to analyse than the time limit allows")
