"""``POST /api/v1/search``: have we seen this file anywhere before?"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request, UploadFile
from pydantic import BaseModel, Field

from sightline.api.deps import ContextDep, IndexDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.errors import PayloadTooLargeError
from sightline.services.search import result_as_dict, search_file

router = APIRouter(prefix="/api/v1", tags=["search"])

_CHUNK = 1024 * 1024


class QueryHashes(BaseModel):
    """What was computed from the uploaded file."""

    md5: str
    sha1: str
    sha256: str
    pdq: str | None = Field(description="PDQ of the file as uploaded (64 hex).")
    pdq_quality: int | None


class SightingRead(BaseModel):
    """Where a matching item was seen."""

    agency: str
    case: str
    original_path: str
    device: str | None


class MatchRead(BaseModel):
    """A stored item that matches, with the signal that matched and the distance."""

    media_id: int
    sha256: str
    signals: list[str] = Field(description="Signals that matched: sha256, sha1, md5, pdq.")
    distance: int = Field(description="PDQ Hamming distance (0 for exact matches).")
    threshold: int | None = Field(description="PDQ threshold applied, for perceptual matches.")
    transform: str | None = Field(
        description="Rotation or mirror of the query that matched (PDQ), if not the original."
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
def search(file: UploadFile, request: Request, ctx: ContextDep, index: IndexDep) -> SearchResponse:
    """Search every case for exact (MD5, SHA-1, SHA-256) and PDQ matches of an uploaded file."""
    limit = ctx.settings.server.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _CHUNK:
        raise PayloadTooLargeError(f"upload exceeds the limit of {limit} bytes")
    scratch = ctx.settings.data_dir / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=scratch, prefix="query-") as tmp:
        _copy_limited(file, tmp, limit)
        tmp.flush()
        result = search_file(ctx, index, Path(tmp.name))
    return SearchResponse.model_validate(result_as_dict(result))


def _copy_limited(
    upload: UploadFile, out: tempfile._TemporaryFileWrapper[bytes], limit: int
) -> None:
    """Copy an upload to ``out``, refusing more than ``limit`` bytes."""
    written = 0
    upload.file.seek(0)
    while chunk := upload.file.read(_CHUNK):
        written += len(chunk)
        if written > limit:
            raise PayloadTooLargeError(f"upload exceeds the limit of {limit} bytes")
        out.write(chunk)
