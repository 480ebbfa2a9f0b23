"""Typed FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from sightline.services.context import AppContext
from sightline.services.matching.engine import MatchingEngine
from sightline.services.signals.indexes import IndexSet


def _context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _indexes(request: Request) -> IndexSet:
    indexes: IndexSet = request.app.state.indexes
    return indexes


def _engine(request: Request) -> MatchingEngine:
    engine: MatchingEngine = request.app.state.engine
    return engine


def _wake_worker(request: Request) -> Callable[[], None]:
    worker = getattr(request.app.state, "job_worker", None)
    if worker is None:  # no embedded worker: a `sightline worker` polls for the job
        return lambda: None
    wake: Callable[[], None] = worker.wake
    return wake


def client_address(request: Request) -> str:
    """The peer's address, for the audit trail and the sign-in throttle."""
    return request.client.host if request.client else "unknown"


ContextDep = Annotated[AppContext, Depends(_context)]
IndexesDep = Annotated[IndexSet, Depends(_indexes)]
EngineDep = Annotated[MatchingEngine, Depends(_engine)]
WakeWorkerDep = Annotated[Callable[[], None], Depends(_wake_worker)]
"""Call after enqueueing a durable job: the embedded worker looks for it at once."""
