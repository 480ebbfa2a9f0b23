"""``POST /api/v1/match``: match a file, or only its hashes, against everything."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from sightline.api.auth import MatchRequester
from sightline.api.deps import ContextDep, EngineDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.routes.search import SearchResponse
from sightline.api.uploads import uploaded_file
from sightline.errors import InvalidInputError
from sightline.services.matching.match import (
    SentFrame,
    match_as_dict,
    match_query,
    query_from_hashes,
)
from sightline.services.matching.search import query_from_file

router = APIRouter(prefix="/api/v1", tags=["match"])


class SentFrameIn(BaseModel):
    """One frame hash sent in the ``frames`` field."""

    model_config = ConfigDict(extra="forbid")

    hash: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="PDQ of the frame, 64 hex.")
    time_ms: int = Field(ge=0, le=10**10, description="Where the frame lies in the video.")
    quality: int | None = Field(default=None, ge=0, le=100)


class ListMatchRead(BaseModel):
    """A hash-list entry that matched, and why."""

    list_id: int
    list: str
    list_kind: str = Field(description="positive (known material) or negative (suppresses).")
    entry_id: int
    external_id: str | None
    series: str | None
    victim_identified: bool | None
    signal: str = Field(description="md5, sha1, sha256 or pdq.")
    distance: int
    threshold: int | None = Field(description="The list's PDQ threshold, for PDQ matches.")


class MatchResponse(SearchResponse):
    """Matches among stored media and hash lists, with the triage status they imply."""

    status: str = Field(description="known-identified, known or new.")
    suppressed_by_negative_list: bool
    list_matches: list[ListMatchRead]
    lists_hit: list[int]


@router.post(
    "/match",
    operation_id="match",
    response_model=MatchResponse,
    responses=ERROR_RESPONSES,
)
def match(
    request: Request,
    requester: MatchRequester,
    ctx: ContextDep,
    engine: EngineDep,
    file: UploadFile | None = None,
    md5: Annotated[str | None, Form(pattern=r"^([0-9a-fA-F]{32})?$")] = None,
    sha1: Annotated[str | None, Form(pattern=r"^([0-9a-fA-F]{40})?$")] = None,
    sha256: Annotated[str | None, Form(pattern=r"^([0-9a-fA-F]{64})?$")] = None,
    pdq: Annotated[
        str | None, Form(pattern=r"^([0-9a-fA-F]{64})?$", description="64 hex characters")
    ] = None,
    frames: Annotated[
        str | None,
        Form(
            max_length=2_000_000,
            description="A video's frame hashes instead of the video: a JSON array of "
            '`{"hash": "<64 hex PDQ>", "time_ms": 12000, "quality": 90}` (quality '
            "optional), at most 20,000. Answers with the matching recordings and their "
            "aligned segments; needs the vpdq analyzer enabled.",
        ),
    ] = None,
    lists: Annotated[
        str | None,
        Form(
            pattern=r"^([0-9]{1,19}(,[0-9]{1,19})*)?$",
            description="Comma-separated list ids to use, e.g. `1,4` (an unknown id matches "
            "nothing; empty: every list).",
        ),
    ] = None,
) -> MatchResponse:
    """Match an uploaded file, or hashes only, against stored media and hash lists.

    Send either ``file`` or at least one of ``md5``, ``sha1``, ``sha256``, ``pdq``, ``frames``.
    """
    list_ids = _list_ids(lists)
    if file is not None:
        with uploaded_file(ctx, request, file) as path:
            query = query_from_file(ctx, path)
    else:
        query = query_from_hashes(ctx, _frames(frames), md5=md5, sha1=sha1, sha256=sha256, pdq=pdq)
    result = match_query(ctx, engine, query, requester=requester, list_ids=list_ids)
    return MatchResponse.model_validate(match_as_dict(result))


def _list_ids(raw: str | None) -> set[int] | None:
    if not raw:  # an empty form field arrives as None or ""
        return None
    try:  # the schema's pattern has checked the form already; this is for other callers
        return {int(part) for part in raw.split(",")}
    except ValueError:
        raise InvalidInputError("lists: comma-separated list ids, e.g. 1,4") from None


class _SentFrames(RootModel[list[SentFrameIn]]):
    """The ``frames`` form field."""


def _frames(raw: str | None) -> list[SentFrame]:
    """The frame hashes of the ``frames`` form field (JSON).

    Raises:
        InvalidInputError: the field is not a JSON array of frame objects.
    """
    if not raw:
        return []
    try:
        sent = _SentFrames.model_validate_json(raw).root
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"frames: {where}: {first['msg']}") from None
    return [SentFrame(f.hash, f.time_ms, f.quality) for f in sent]
