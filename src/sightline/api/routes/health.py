"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from sightline.api.deps import ContextDep, IndexesDep
from sightline.services.signals.indexes import LISTS, MEDIA, IndexStatus

router = APIRouter(prefix="/health", tags=["health"])


class Live(BaseModel):
    """The process answers."""

    status: str = "ok"


class IndexReady(BaseModel):
    """One index of the process: its backend, size, checkpoint and the newest stored id."""

    backend: str
    count: int
    checkpoint: int
    latest: int
    ready: bool

    @classmethod
    def of(cls, status: IndexStatus) -> IndexReady:
        """The status as reported."""
        return cls(
            backend=status.backend,
            count=status.count,
            checkpoint=status.checkpoint,
            latest=status.latest,
            ready=status.ready,
        )


class Ready(BaseModel):
    """Whether this process can serve searches with complete results.

    ``indexes`` maps each signal kind to its indexes by source (``media``, ``lists``); the
    flat ``index_*``, ``latest_signal`` and ``list_*`` fields repeat the first kind's.
    """

    status: str
    database: bool
    index_backend: str
    index_count: int
    index_checkpoint: int
    latest_signal: int
    list_index_count: int
    list_index_checkpoint: int
    latest_list_entry: int
    indexes: dict[str, dict[str, IndexReady]] = {}


@router.get("/live", operation_id="health_live")
def live() -> Live:
    """Always answers while the process runs."""
    return Live()


@router.get(
    "/ready",
    operation_id="health_ready",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "Not ready: index stale or DB down."}},
)
def ready(ctx: ContextDep, indexes: IndexesDep) -> JSONResponse:
    """Ready when the database answers and every index (per kind: media, lists) is fresh."""
    try:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = True
    except Exception:  # any database failure means "not ready", never a 500
        database = False
    statuses = indexes.statuses() if database else {}
    is_ready = database and all(s.ready for by in statuses.values() for s in by.values())
    first = next(iter(statuses.values()), {})
    status, lists = first.get(MEDIA), first.get(LISTS)
    body = Ready(
        status="ready" if is_ready else "stale" if database else "unavailable",
        database=database,
        index_backend=status.backend if status else "",
        index_count=status.count if status else 0,
        index_checkpoint=status.checkpoint if status else 0,
        latest_signal=status.latest if status else 0,
        list_index_count=lists.count if lists else 0,
        list_index_checkpoint=lists.checkpoint if lists else 0,
        latest_list_entry=lists.latest if lists else 0,
        indexes={
            kind: {key: IndexReady.of(s) for key, s in by.items()} for kind, by in statuses.items()
        },
    )
    return JSONResponse(status_code=200 if is_ready else 503, content=body.model_dump())
