"""Media items over the API: metadata and signals, thumbnails (blurred by default), originals.

Metadata (token scope ``cases:read``) needs
:attr:`~sightline.domain.access.Action.VIEW_METADATA` on a case holding the item; bytes (scope
``media:read``) need :attr:`~sightline.domain.access.Action.VIEW_MEDIA`: certification and a
second factor, so a signed-in session, and a tool's token gets 403. An item in no case you may
know of is 404. Every answer is audited (``media.metadata``, ``media.thumbnail``,
``media.keyframe``, ``media.reveal``, ``media.view_original``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from sightline.api.auth import CasesReader, MediaReader
from sightline.api.deps import ContextDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.params import IdPath
from sightline.services.access import media as media_access

router = APIRouter(prefix="/api/v1/media", tags=["media"])

_MEDIA_ERRORS: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    404: {"description": "No such item, or it is in no case you may know of."},
}
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class SignalRead(BaseModel):
    """A signal stored for the item: analyzer, version, outcome and quality where it has one."""

    name: str = Field(examples=["pdq"])
    version: str = Field(examples=["1"])
    status: str = Field(examples=["ok"])
    quality: int | None = Field(examples=[100])


class SightingRead(BaseModel):
    """Where the item was seen, in a case you may see."""

    agency: str = Field(examples=["DE-BKA"])
    case_id: int = Field(examples=[4])
    case: str = Field(examples=["AZ-2026-17"])
    original_path: str = Field(examples=["seizure-3/DCIM/100/IMG_0042.jpg"])
    device: str | None = Field(examples=["laptop-1"])


class KeyframeRead(BaseModel):
    """A keyframe of a recording (a scene change): ``GET /media/{id}/keyframes/{n}``."""

    n: int = Field(examples=[0])
    time_ms: int = Field(examples=[12500])


class MediaRead(BaseModel):
    """What is known about one item; hashes are for forensic tools."""

    id: int = Field(examples=[17])
    media_type: str = Field(examples=["image"])
    mime_type: str | None = Field(examples=["image/jpeg"])
    size: int = Field(examples=[482113])
    width: int | None = Field(examples=[4032])
    height: int | None = Field(examples=[3024])
    format: str | None = Field(examples=["JPEG"])
    exif: dict[str, Any] = Field(examples=[{"make": "Canon", "taken_at": "2025-05-01T10:00:00"}])
    signals: list[SignalRead]
    hashes: dict[str, str] = Field(
        description="md5, sha1, sha256 and pdq (hex) of the item.",
        examples=[{"md5": "9e10…", "sha1": "2fd4…", "sha256": "e3b0…", "pdq": "f8f8…"}],
    )
    sightings: list[SightingRead]
    keyframes: list[KeyframeRead] = Field(
        default_factory=list,
        description="A recording's keyframe thumbnails (first frame, scene changes) by time.",
    )
    created_at: datetime = Field(examples=["2026-11-25T10:15:00Z"])


def _read(found: media_access.MediaMetadata) -> MediaRead:
    item = found.item
    return MediaRead(
        id=item.id,
        media_type=item.media_type,
        mime_type=item.mime_type,
        size=item.size,
        width=found.width,
        height=found.height,
        format=found.format,
        exif=dict(found.exif),
        signals=[_signal(s) for s in found.signals],
        hashes=dict(found.hashes),
        sightings=[
            SightingRead(
                agency=s.agency_code,
                case_id=s.case_id,
                case=s.case_reference,
                original_path=s.original_path,
                device=s.device_label,
            )
            for s in found.sightings
        ],
        keyframes=[KeyframeRead(n=k.n, time_ms=k.time_ms) for k in found.keyframes],
        created_at=item.created_at,
    )


def _signal(signal: media_access.SignalInfo) -> SignalRead:
    return SignalRead(
        name=signal.name, version=signal.version, status=signal.status, quality=signal.quality
    )


@router.get(
    "/{media_id}", operation_id="get_media", response_model=MediaRead, responses=_MEDIA_ERRORS
)
def get_media(media_id: IdPath, requester: CasesReader, ctx: ContextDep) -> MediaRead:
    """Metadata, signals, hashes and the sightings you may see of one item."""
    return _read(media_access.metadata(ctx, requester, media_id))


@router.get(
    "/{media_id}/thumbnail",
    operation_id="get_media_thumbnail",
    response_class=Response,
    responses={
        **_MEDIA_ERRORS,
        200: {"content": {"image/jpeg": {}}, "description": "A greyscale JPEG."},
    },
)
def get_thumbnail(
    media_id: IdPath,
    requester: MediaReader,
    ctx: ContextDep,
    reveal: Annotated[
        bool, Query(description="Unblurred (audited as media.reveal); blurred by default.")
    ] = False,
) -> Response:
    """The item's thumbnail, greyscale and blurred unless ``reveal`` (session only)."""
    data = media_access.thumbnail(ctx, requester, media_id, reveal=reveal)
    return Response(content=data, media_type="image/jpeg", headers=_NO_STORE)


@router.get(
    "/{media_id}/keyframes/{n}",
    operation_id="get_media_keyframe",
    response_class=Response,
    responses={
        **_MEDIA_ERRORS,
        200: {"content": {"image/jpeg": {}}, "description": "A greyscale JPEG."},
    },
)
def get_keyframe(
    media_id: IdPath,
    n: Annotated[
        int, Path(ge=0, le=media_access.MAX_KEYFRAME, description="The keyframe's number.")
    ],
    requester: MediaReader,
    ctx: ContextDep,
    reveal: Annotated[
        bool, Query(description="Unblurred (audited as media.reveal); blurred by default.")
    ] = False,
) -> Response:
    """A recording's ``n``-th keyframe, greyscale and blurred unless ``reveal`` (session only)."""
    data = media_access.keyframe(ctx, requester, media_id, n, reveal=reveal)
    return Response(content=data, media_type="image/jpeg", headers=_NO_STORE)


@router.get(
    "/{media_id}/original",
    operation_id="get_media_original",
    response_class=StreamingResponse,
    responses={
        **_MEDIA_ERRORS,
        200: {"content": {"application/octet-stream": {}}, "description": "The original."},
    },
)
def get_original(media_id: IdPath, requester: MediaReader, ctx: ContextDep) -> StreamingResponse:
    """The decrypted original as seized, as a download with an opaque name (session only)."""
    found = media_access.original(ctx, requester, media_id)
    name = media_access.download_name(found.item)
    headers = {**_NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    media_type = found.item.mime_type or "application/octet-stream"
    return StreamingResponse(found.chunks, media_type=media_type, headers=headers)
