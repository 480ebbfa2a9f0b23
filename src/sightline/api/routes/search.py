"""``POST /api/v1/search``: have we seen this file anywhere before?"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Form, Request, UploadFile
from pydantic import BaseModel, Field

from sightline.api.auth import SearchRequester
from sightline.api.deps import ContextDep, IndexesDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.uploads import uploaded_file
from sightline.services.matching.search import parse_region, result_as_dict, search_file

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


class CopyRead(BaseModel):
    """How a scene match that is a copy was transformed."""

    label: str = Field(description="crop, rotation, resize, border or copy.")
    scale: float = Field(description="Stored picture pixels per query pixel.")
    rotation_deg: float = Field(description="Rotation of the query against the stored picture.")
    covered_stored: float = Field(description="Share of the stored picture the query shows.")
    covered_query: float = Field(description="Share of the query the stored picture fills.")


class SceneMatchRead(BaseModel):
    """Why a scene match is one: the geometric verification of matched keypoints."""

    accepted: bool
    score: float = Field(description="The accept rule's score for this pair.")
    threshold: float = Field(description="The score the rule accepts from.")
    model: str | None = Field(description="homography (a plane, a copy) or fundamental (3-D).")
    inliers: int = Field(description="Matched keypoints that fit the model.")
    inlier_ratio: float
    spread_query: float = Field(description="Share of the query the inliers spread over.")
    spread_stored: float = Field(description="Share of the stored picture they spread over.")
    pairs: list[list[float]] = Field(
        description="A sample of inlier pairs: [query x, query y, stored x, stored y] in "
        "each picture's analysis pixels (query_size, stored_size)."
    )
    quad: list[list[float]] | None = Field(
        description="The query (or searched region) outline in the stored picture's pixels."
    )
    similarity: float = Field(description="Cosine similarity of the best region descriptors.")
    query_size: list[int]
    stored_size: list[int]
    copy_: CopyRead | None = Field(
        alias="copy", description="Set when the query is a copy of (part of) the stored picture."
    )


class MatchDetailRead(BaseModel):
    """Where two recordings (or a still and a recording) match, or why two scenes do."""

    frames: list[list[int | None]] = Field(
        default_factory=list,
        description="A sample of matched frame pairs: [query time ms, stored time ms, "
        "distance]; a still's time is null.",
    )
    share_query: float | None = Field(
        default=None, description="Share of the query's frames with a match (vPDQ's rule)."
    )
    share_stored: float | None = Field(
        default=None, description="Share of the stored recording's frames with a match."
    )
    segments: list[SegmentRead] = Field(default_factory=list)
    scene: SceneMatchRead | None = Field(
        default=None, description="For scene matches: the geometric verification."
    )


class MatchRead(BaseModel):
    """A stored item that matches, with the signal that matched and the distance.

    A ``signal-only`` match (seen only in cases whose owners share match signals) shows the
    signals and whom to contact, never the item's id, digest, distance or transform.
    """

    visibility: str = Field(description="full or signal-only.", examples=["full"])
    media_id: int | None = Field(description="Null for signal-only matches.", examples=[17])
    sha256: str | None = Field(description="Null for signal-only matches.")
    signals: list[str] = Field(
        description="Signals that matched: sha256, sha1, md5, pdq, vpdq, chromaprint, scene.",
        examples=[["sha256", "pdq"]],
    )
    distance: int | None = Field(
        description="PDQ Hamming distance (0 for exact matches); for scene matches 100 times "
        "the accept threshold over the score (lower is better, 100 just accepted); null for "
        "signal-only matches.",
        examples=[0],
    )
    threshold: int | None = Field(description="PDQ threshold applied, for perceptual matches.")
    transform: str | None = Field(
        description="Rotation or mirror of the query that matched (PDQ), if not the original; "
        "for scene matches the copy's transform (crop, rotation, resize, border, copy) or "
        "'same scene'."
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
    mode: Literal["copies", "scene"] = Form(
        "copies",
        description="copies: exact, perceptual and soundtrack matches and hard copies (crops, "
        "rotations, borders, captions, thumbnails); scene: also other pictures of the same "
        "scene or object.",
    ),
    region: str | None = Form(
        None,
        description="x,y,width,height in pixels: search only this rectangle of the picture "
        "(an object, a logo, a patch of wallpaper); implies mode=scene. A rectangle outside "
        "the picture is refused (422); a file that is not a still image gets a note.",
        examples=["120,80,200,150"],
        # Empty: no region (a form sends empty fields for inputs left blank).
        pattern=r"^$|^[0-9]{1,6},[0-9]{1,6},[1-9][0-9]{0,5},[1-9][0-9]{0,5}$",
    ),
) -> SearchResponse:
    """Search for exact (MD5, SHA-1, SHA-256), PDQ, scene and soundtrack matches of a file.

    Matches in cases the requester may not know of are left out; see ``MatchRead``.
    """
    box = parse_region(region) if region else None
    with uploaded_file(ctx, request, file) as path:
        result = search_file(
            ctx, index, path, requester=requester, scene=mode == "scene", region=box
        )
    return SearchResponse.model_validate(result_as_dict(result))
