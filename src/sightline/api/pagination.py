"""Keyset pagination shared by list endpoints: ``?after_id=&limit=`` -> ``{items, next_after_id}``.

Lists are ordered by id; a client passes the page's ``next_after_id`` as ``after_id`` to get the
next page, until it is ``null``. Keyset pages stay correct while rows are added, unlike offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from sightline.api.params import MAX_ID

T = TypeVar("T")

MAX_LIMIT = 500

AfterId = Annotated[
    int,
    Query(ge=0, le=MAX_ID, description="Return items with an id above this (0: from the start)."),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 500.")]


class Page(BaseModel, Generic[T]):
    """One page of a list, oldest first; pass ``next_after_id`` as ``after_id`` for the next."""

    items: list[T]
    next_after_id: int | None = Field(
        description="The id to pass as after_id for the next page; null on the last page.",
        examples=[42],
    )


def page_of(items: Sequence[T], key: Callable[[T], int], after_id: int, limit: int) -> Page[T]:
    """The page after ``after_id`` of ``items`` (any order; they are sorted by ``key``)."""
    ordered = sorted((item for item in items if key(item) > after_id), key=key)
    return page(ordered[:limit], key, limit)


def page(items: Sequence[T], key: Callable[[T], int], limit: int) -> Page[T]:
    """A page of ``items`` already selected after ``after_id`` with ``limit``, in id order."""
    more = len(items) == limit and bool(items)
    return Page[T](items=list(items), next_after_id=key(items[-1]) if more else None)
