"""Bounded integer types shared by every route, so the schema states each limit once.

Ids are database integers: a signed 64-bit ``BIGINT`` on PostgreSQL, a 64-bit ``INTEGER`` on
SQLite. An unbounded ``int`` parameter let ``/cases/9223372036854775808`` reach the driver,
which cannot bind it and answered HTTP 500. Bounding ids to ``1..2**63-1`` in the schema
refuses such a value with the usual 422 envelope, before any service runs, and tells clients
(and the property-based tests that read ``/openapi.json``) what an id may be.

Path ids use :data:`IdPath`, body ids :data:`IdField`; pagination's ``after_id`` is in
``api/pagination.py`` with the same upper bound.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

MAX_ID = 2**63 - 1
"""The largest value a signed 64-bit database integer holds."""

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A positive 64-bit id.")]
"""An id in a path, such as ``/cases/{case_id}``."""

IdField = Annotated[int, Field(ge=1, le=MAX_ID, examples=[17])]
"""An id in a request body."""
