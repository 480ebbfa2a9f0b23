"""``POST /api/v1/search``: have we seen this file anywhere before?"""

from __future__ import annotations

from fastapi import APIRouter, Request, UploadFile
from pydantic import BaseModel, Field

from sightline.api.auth import SearchRequester
from sightline.api.deps import ContextDep, IndexesDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.uploads import uploaded_file
from sightline.services.matching.search import result_as_dict, search_file

router = APIRouter(prefix="/api/v1", tags=["search"])

_CHUNK = 1024 * 1024


class QueryHashes(BaseModel):
    """What was computed from the uploaded file."""

    md5: str | None = Field(description="Absent when a tool sent hashes without this one.")
    sha1: str | None
    sha256: str | None
    pdq: str | None = Field(description="PDQ of the file as uploaded (64 hex).")
    pdq_quality: int | None
    frames: int = Field(
        default=0,
        description="Frame hashes searched (sampled frames of a video, or frames sent).",
    )


class SightingRead(BaseModel):
    """Where a matching item was seen, as far as the requester may know it."""

    visibility: str = Field(
        description="full (the requester may see the case's metadata) or signal-only (only "
        "that a match exists: agency and case reference to contact, no path, no device).",
        examples=["full"],
    )
    agency: str = Field(examples=["TEST-DE"])
    case: str = Field(examples=["AZ-1"])
    original_path: str | None = Field(
        description="Null for signal-only sightings.", examples=["/evidence/disk1/img_0001.jpg"]
    )
    device: str | None = Field(examples=["laptop-1"])


class SegmentRead(BaseModel):
    """A stretch of the query aligned with a stretch of the stored recording."""

    query_start_ms: int
    query_end_ms: int
    stored_start_ms: int
    stored_end_ms: int
    offset_ms: int = Field(description="stored_start_ms - query_start_ms.")
    speed: float = Field(description="Stored time per query time (1.0: the same speed).")
    pairs: int = Field(description="Matching frame pairs supporting the alignment.")
    mean_distance: float = Field(description="Mean distance of those pairs.")


class MatchDetailRead(BaseModel):
    """Where two recordings (or a still and a recording) match."""

    frames: list[list[int | None]] = Field(
        description="A sample of matched frame pairs: [query time ms, stored time ms, "
        "distance]; a still's time is null."
    )
    share_query: float | None = Field(
        default=None, description="Share of the query's frames with a match (vPDQ's rule)."
    )
    share_stored: float | None = Field(
        default=None, description="Share of the stored recording's frames with a match."
    )
    segments: list[SegmentRead] = Field(default_factory=list)


class MatchRead(BaseModel):
    """A stored item that matches, with the signal that matched and the distance.

    A ``signal-only`` match (seen only in cases whose owners share match signals) shows the
    signals and whom to contact, never the item's id, digest, distance or transform.
    """

    visibility: str = Field(description="full or signal-only.", examples=["full"])
    media_id: int | None = Field(description="Null for signal-only matches.", examples=[17])
    sha256: str | None = Field(description="Null for signal-only matches.")
    signals: list[str] = Field(
        description="Signals that matched: sha256, sha1, md5, pdq.", examples=[["sha256", "pdq"]]
    )
    distance: int | None = Field(
        description="PDQ Hamming distance (0 for exact matches); null for signal-only matches.",
        examples=[0],
    )
    threshold: int | None = Field(description="PDQ threshold applied, for perceptual matches.")
    transform: str | None = Field(
        description="Rotation or mirror of the query that matched (PDQ), if not the original."
    )
    detail: MatchDetailRead | None = Field(
        default=None,
        description="For recordings: shares matched, aligned segments and matched frames; "
        "null for two stills and for signal-only matches.",
    )
    sightings: list[SightingRead]


class SearchResponse(BaseModel):
    """Search results."""

    query: QueryHashes
    notes: list[str]
    elapsed_ms: float
    matches: list[MatchRead]


@router.post(
    "/search",
    operation_id="search_file",
    response_model=SearchResponse,
    responses=ERROR_RESPONSES,
)
def search(
    file: UploadFile,
    request: Request,
    requester: SearchRequester,
    ctx: ContextDep,
    index: IndexesDep,
) -> SearchResponse:
    """Search for exact (MD5, SHA-1, SHA-256) and PDQ matches of an uploaded file.

    Matches in cases the requester may not know of are left out; see ``MatchRead``.
    """
    with uploaded_file(ctx, request, file) as path:
        result = search_file(ctx, index, path, requester=requester)
    return SearchResponse.model_validate(result_as_dict(result))
