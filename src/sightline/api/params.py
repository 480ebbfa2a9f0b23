"""Bounded integer types shared by every route, so the schema states each limit once.

Ids are database integers: a signed 64-bit ``BIGINT`` on PostgreSQL, a 64-bit ``INTEGER`` on
SQLite. An unbounded ``int`` parameter let ``/cases/9223372036854775808`` reach the driver,
which cannot bind it and answered HTTP 500. Bounding ids in the schema refuses such a value
with the usual 422 envelope, before any service runs, and tells clients (and the
property-based tests that read ``/openapi.json``) what an id may be.

The bound is ``2**53 - 1``, not ``2**63 - 1``: it is the largest integer that every JSON
client represents exactly (JavaScript numbers are doubles, and so are the bounds of many JSON
Schema tools: ``2**63 - 1`` rounds up to ``2**63`` there, so a generator "within the bound"
sent ids the database cannot hold). Sequences never come near either limit.

Path ids use :data:`IdPath`, body ids :data:`IdField`; pagination's ``after_id`` is in
``api/pagination.py`` with the same upper bound.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator, Field

MAX_ID = 2**53 - 1
"""The largest id: exact in every JSON client, and far inside a 64-bit database integer."""

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A positive id (at most 2**53 - 1).")]
"""An id in a path, such as ``/cases/{case_id}``."""


def _json_number(value: object) -> object:
    """Refuse what lax validation would turn into an int: ``true`` and ``"17"`` are not numbers.

    A JSON number with no fraction (``17.0``) is an integer to JSON Schema, so it stays valid.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a JSON integer")
    return value


JSON_INTEGER = BeforeValidator(_json_number)
"""Put after the bounds: ``Annotated[int, Field(ge=..., le=...), JSON_INTEGER]`` (placed
before them, pydantic can no longer write the bounds into the schema)."""

IdField = Annotated[int, Field(ge=1, le=MAX_ID, examples=[17]), JSON_INTEGER]
"""An id in a JSON request body."""
