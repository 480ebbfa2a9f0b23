"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from sightline.api.deps import ContextDep, IndexDep

router = APIRouter(prefix="/health", tags=["health"])


class Live(BaseModel):
    """The process answers."""

    status: str = "ok"


class Ready(BaseModel):
    """Whether this process can serve searches with complete results."""

    status: str
    database: bool
    index_backend: str
    index_count: int
    index_checkpoint: int
    latest_signal: int
    list_index_count: int
    list_index_checkpoint: int
    latest_list_entry: int


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
def ready(ctx: ContextDep, index: IndexDep) -> JSONResponse:
    """Ready when the database answers and both PDQ indexes (media, hash lists) are fresh."""
    try:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = True
    except Exception:  # any database failure means "not ready", never a 500
        database = False
    groups = index.statuses() if database else {}
    media, listed = groups.get("media", []), groups.get("lists", [])
    status = media[0] if media else None
    lists = listed[0] if listed else None
    is_ready = database and all(s.ready for s in [*media, *listed])
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
    )
    return JSONResponse(status_code=200 if is_ready else 503, content=body.model_dump())
