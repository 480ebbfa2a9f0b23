"""One error envelope for every API error: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sightline.errors import (
    AuthenticationFailed,
    InsufficientScope,
    SightlineError,
    TooManyAttempts,
)

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """What went wrong, with a stable machine-readable code."""

    code: str
    message: str


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    error: ErrorBody


def _envelope(status: int, code: str, message: str) -> JSONResponse:
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message))
    return JSONResponse(status_code=status, content=body.model_dump())


async def _sightline_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SightlineError)  # registered for this type only
    response = _envelope(exc.http_status, exc.code, exc.message)
    if isinstance(exc, TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, AuthenticationFailed):
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, InsufficientScope):
        response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for this type only
    fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
    return _envelope(422, "invalid_input", f"invalid request: {fields}")


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # registered for this type only
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    response = _envelope(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path, as RFC 9110 wants in a 405's ``Allow``.

    Starlette names only the first route whose path matches, and FastAPI makes one route per
    method, so ``/api/v1/cases`` (GET and POST) would advertise one of the two.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match in (Match.FULL, Match.PARTIAL):
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def configure_errors(app: FastAPI) -> None:
    """Map Sightline errors, HTTP errors and request validation errors to the envelope.

    Anything else a route raises (a bug) becomes a 500 in the same envelope and one log line
    naming only the exception's type: its message, and the traceback the server would print,
    can quote a path or a file name of case material.
    """
    app.add_exception_handler(SightlineError, _sightline_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(InternalErrors)


class InternalErrors:
    """ASGI middleware: an unexpected exception becomes a 500 envelope, logged by type only.

    An exception handler for ``Exception`` is not enough: Starlette calls it and then raises
    the exception again, for the server to log with its traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; turn an escaping exception into the 500 envelope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            logger.error("internal error %s in a %s request", type(exc).__name__, scope["method"])
            if not started:  # otherwise the client sees the connection end mid-response
                response = _envelope(500, "internal_error", "internal error; see the server log")
                await response(scope, receive, send)


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorEnvelope, "description": "The body could not be parsed."},
    401: {"model": ErrorEnvelope, "description": "Not signed in, or the token is not valid."},
    403: {
        "model": ErrorEnvelope,
        "description": "Not permitted, the CSRF token is missing, or the API token lacks the "
        "operation's scope (`insufficient_scope`).",
    },
    405: {
        "model": ErrorEnvelope,
        "description": "The path does not serve this method.",
        "headers": {
            "Allow": {
                "description": "The methods the path serves, e.g. `GET, HEAD, POST`.",
                "schema": {"type": "string"},
            }
        },
    },
    413: {"model": ErrorEnvelope, "description": "Upload too large."},
    422: {"model": ErrorEnvelope, "description": "Invalid input."},
}
