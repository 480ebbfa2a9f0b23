"""Corrections to the generated OpenAPI document, so it states what the server accepts.

FastAPI describes an optional form field (``str | None = Form(None)``) as "a string or null",
but a multipart form has no null: a field is sent or left out, and a part holding the text
``null`` is a string (a file part holding it is not a file). :func:`document_forms` drops the
null alternative from multipart bodies, and states the rule of ``POST /api/v1/match`` that
at least one of its inputs is sent, which a list of optional fields cannot express.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ONE_OF_REQUIRED = {"match": ["file", "md5", "sha1", "sha256", "pdq"]}
"""Per operation id: form fields of which at least one must be sent."""


def document_forms(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so its multipart bodies say what the server accepts."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()  # FastAPI caches it in app.openapi_schema
            for operation, body in _multipart_bodies(schema):
                for field in body.get("properties", {}).values():
                    _drop_null(field)
                needed = ONE_OF_REQUIRED.get(operation.get("operationId", ""))
                if needed:
                    operation["requestBody"]["required"] = True  # an absent body sends nothing
                    body["anyOf"] = [_sent(f) for f in needed]
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _multipart_bodies(
    schema: dict[str, Any],
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each operation with a multipart body, and the body's schema (a component)."""
    components = schema.get("components", {}).get("schemas", {})
    found = []
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("multipart/form-data", {}).get("schema", {}).get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if name in components:
                found.append((operation, components[name]))
    return found


def _sent(name: str) -> dict[str, Any]:
    """A field that is present and, unless a file, not empty (an empty field is not sent)."""
    if name == "file":
        return {"required": [name]}
    return {"required": [name], "properties": {name: {"minLength": 1}}}


def _drop_null(field: dict[str, Any]) -> None:
    choices = field.get("anyOf")
    if not choices or {"type": "null"} not in choices:
        return
    rest = [choice for choice in choices if choice != {"type": "null"}]
    del field["anyOf"]
    if field.get("default", ...) is None:
        del field["default"]
    if len(rest) == 1:
        field.update(rest[0])
    else:
        field["anyOf"] = rest
