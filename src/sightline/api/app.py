"""The FastAPI application factory.

``create_app`` is a short list of ``_configure_*`` steps; importing this module does nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sightline import __version__
from sightline.api.errors import configure_errors
from sightline.api.routes import health, search
from sightline.config import Settings
from sightline.services.context import open_context
from sightline.services.pdq_index import PdqIndexService

DESCRIPTION = """
Sightline's API for investigators' tools. Every response error uses one envelope:
`{"error": {"code": "...", "message": "..."}}`.
"""


def create_app(settings: Settings) -> FastAPI:
    """Build the API for the store described by ``settings``."""
    app = FastAPI(
        title="Sightline",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(settings),
    )
    _configure_errors(app)
    _configure_routes(app)
    return app


def _lifespan(settings: Settings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = open_context(settings)
        index = PdqIndexService(ctx)
        index.open()  # load or rebuild before the first request
        app.state.ctx = ctx
        app.state.pdq_index = index
        try:
            yield
        finally:
            ctx.close()

    return lifespan


def _configure_errors(app: FastAPI) -> None:
    configure_errors(app)


def _configure_routes(app: FastAPI) -> None:
    app.include_router(health.router)
    app.include_router(search.router)
