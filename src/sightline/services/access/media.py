"""Media for one requester: metadata and signals, thumbnails, originals; authorised, audited.

An item belongs to no agency by itself: it is reachable through the cases it was sighted in.
The requester reaches it through any case the policy lets through for the action
(:attr:`~sightline.domain.access.Action.VIEW_METADATA` for metadata,
:attr:`~sightline.domain.access.Action.VIEW_MEDIA` for bytes); the query is scoped in the
repository. An item in no case the requester may know of is *not found*; one whose metadata
the requester may see but whose bytes it may not (a tool's token has no second factor, a
certification lapsed) is *forbidden*. Both refusals are audited.

Thumbnails are served greyscale and blurred (the wellness rule: reviewers see material blurred
by default); the blur is applied at serve time so the stored thumbnail stays useful, and
asking for the unblurred one is audited separately as ``media.reveal``. A video's keyframes
(the thumbnails of its scene changes, stored by ingest as artifacts) are served the same way,
audited ``media.keyframe`` or ``media.reveal``. Originals are streamed decrypted and audited
``media.view_original``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PIL import Image, ImageFilter

from sightline.analyzers.frames import keyframe_artifact
from sightline.domain.access import Action, decide
from sightline.domain.audit import Requester
from sightline.domain.models import Case, Feature, FeatureStatus, MediaItem, SightingLocation
from sightline.domain.signals import Signal, ValueType
from sightline.errors import AccessDenied, NotFoundError
from sightline.services.access.audit import record_denied, record_request
from sightline.services.context import AppContext

BLUR_RADIUS = 12
"""Gaussian blur radius in pixels on a thumbnail of at most 256 pixels a side: shapes and
overall layout stay recognisable, faces and detail do not (about a twentieth of the side)."""

THUMBNAIL_QUALITY = 80

_HIDDEN = "not_visible"
"""Audit reason: the item is in no case the requester may know of."""

_DESCRIPTIVE = frozenset({"format", "mime_type", "width", "height"})

MAX_KEYFRAME = 9_999
"""The largest keyframe number asked for (analyzers keep a few dozen at most)."""


@dataclass(frozen=True, slots=True)
class Keyframe:
    """A keyframe thumbnail of a recording: its number (for the URL) and time."""

    n: int
    time_ms: int


@dataclass(frozen=True, slots=True)
class SignalInfo:
    """A signal stored for an item: its analyzer, version, status and quality, if any."""

    name: str
    version: str
    status: str
    quality: int | None = None


@dataclass(frozen=True, slots=True)
class MediaMetadata:
    """What the requester may know about one item (no bytes)."""

    item: MediaItem
    width: int | None
    height: int | None
    format: str | None
    exif: Mapping[str, Any]
    signals: list[SignalInfo]
    hashes: Mapping[str, str]
    sightings: list[SightingLocation] = field(default_factory=list)
    keyframes: list[Keyframe] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Original:
    """An original, ready to stream: the item and its decrypted chunks."""

    item: MediaItem
    chunks: Iterator[bytes]


def metadata(ctx: AppContext, requester: Requester, media_id: int) -> MediaMetadata:
    """Type, size, dimensions, EXIF, signals, hashes and the visible sightings of an item.

    Raises:
        NotFoundError: no such item, or none of its cases is visible to the requester.
    """
    scope = requester.scope(Action.VIEW_METADATA, now=datetime.now(UTC))
    resource = f"media:{media_id}"
    with ctx.uow() as uow:
        sightings = uow.media_access.sightings(media_id, scope)
        item = uow.media.get_many([media_id]).get(media_id)
        features = uow.features.for_media(media_id)
        kinds = ctx.signal_kinds
        signals = [
            s
            for s in uow.signals.of_media(media_id)
            if s.kind in kinds and kinds[s.kind].value_type is ValueType.BINARY_HASH
        ]
    if item is None or not sightings:
        record_denied(ctx, requester, "media.metadata", resource, _HIDDEN)
        raise NotFoundError(f"no media item {media_id}")
    with ctx.uow() as uow:
        cases = sorted({s.case_id for s in sightings})
        record_request(uow, requester, "media.metadata", resource, detail={"cases": cases})
        uow.commit()
    return _metadata(item, features, signals, sightings)


def thumbnail(ctx: AppContext, requester: Requester, media_id: int, *, reveal: bool) -> bytes:
    """The item's thumbnail as a greyscale JPEG, blurred unless ``reveal``.

    Audited ``media.thumbnail``, or ``media.reveal`` for the unblurred one.

    Raises:
        NotFoundError: no such item or thumbnail, or the item is hidden from the requester.
        AccessDenied: the requester may know the item but not see it (no second factor...).
    """
    action = "media.reveal" if reveal else "media.thumbnail"
    item, case = _reachable(ctx, requester, media_id, action)
    if item.thumbnail_blob_id is None:
        raise NotFoundError(f"media item {media_id} has no thumbnail")
    data = ctx.blobs.read_bytes(item.thumbnail_blob_id)
    image = _greyscale_jpeg(data, blur=not reveal)
    with ctx.uow() as uow:
        record_request(uow, requester, action, f"media:{media_id}", detail={"case": case.id})
        uow.commit()
    return image


def keyframe(
    ctx: AppContext, requester: Requester, media_id: int, n: int, *, reveal: bool
) -> bytes:
    """A recording's ``n``-th keyframe as a greyscale JPEG, blurred unless ``reveal``.

    Checked and audited exactly as :func:`thumbnail`: ``media.keyframe``, or ``media.reveal``
    for the unblurred one (the detail names the keyframe).

    Raises:
        NotFoundError: no such item or keyframe, or the item is hidden from the requester.
        AccessDenied: the requester may know the item but not see it (no second factor...).
    """
    action = "media.reveal" if reveal else "media.keyframe"
    item, case = _reachable(ctx, requester, media_id, action)
    missing = NotFoundError(f"media item {media_id} has no keyframe {n}")
    if not 0 <= n <= MAX_KEYFRAME:
        raise missing
    blob_id = ctx.blobs.blob_id_for(item.sha256, keyframe_artifact(n))
    if not ctx.blobs.exists(blob_id):
        raise missing
    image = _greyscale_jpeg(ctx.blobs.read_bytes(blob_id), blur=not reveal)
    with ctx.uow() as uow:
        detail = {"case": case.id, "keyframe": n}
        record_request(uow, requester, action, f"media:{media_id}", detail=detail)
        uow.commit()
    return image


def original(ctx: AppContext, requester: Requester, media_id: int) -> Original:
    """The decrypted original, chunk by chunk; audited ``media.view_original`` before it flows.

    Raises:
        NotFoundError: no such item, or the item is hidden from the requester.
        AccessDenied: the requester may know the item but not see it.
    """
    item, case = _reachable(ctx, requester, media_id, "media.view_original")
    with ctx.uow() as uow:
        detail = {"case": case.id, "size": item.size}
        record_request(uow, requester, "media.view_original", f"media:{media_id}", detail=detail)
        uow.commit()
    return Original(item, ctx.blobs.stream(item.blob_id))


def download_name(item: MediaItem) -> str:
    """An opaque file name for a download: never the seized file's name."""
    return f"media-{item.id}.bin"


def _reachable(
    ctx: AppContext, requester: Requester, media_id: int, action: str
) -> tuple[MediaItem, Case]:
    """The item and a case through which the requester may see its bytes, or an audited refusal."""
    now = datetime.now(UTC)
    with ctx.uow() as uow:
        item = uow.media.get_many([media_id]).get(media_id)
        viewable = uow.media_access.cases_of(media_id, requester.scope(Action.VIEW_MEDIA, now=now))
        holding = [] if viewable else uow.media_access.cases_of(media_id, None)
    if item is not None and viewable:
        return item, viewable[0]
    actor, resource = requester.access, f"media:{media_id}"
    # Refused: forbidden where the requester may know the item (its own agency's case, or one
    # whose metadata it may see), else not found, so a refusal confirms nothing.
    known = [
        case
        for case in holding
        if actor is not None
        and (
            case.agency_id == actor.agency_id
            or decide(actor, Action.VIEW_METADATA, case.scope, now=now).allowed
        )
    ]
    if item is None or actor is None or not known:
        record_denied(ctx, requester, action, resource, _HIDDEN)
        raise NotFoundError(f"no media item {media_id}")
    reason = decide(actor, Action.VIEW_MEDIA, known[0].scope, now=now).reason
    record_denied(ctx, requester, action, resource, reason)
    raise AccessDenied(reason)


def _metadata(
    item: MediaItem,
    features: list[Feature],
    signals: list[Signal],
    sightings: list[SightingLocation],
) -> MediaMetadata:
    described: Mapping[str, Any] = next(
        (f.value for f in features if f.analyzer == "metadata" and f.status is FeatureStatus.OK),
        {},
    )
    hashes = {"md5": item.md5, "sha1": item.sha1, "sha256": item.sha256}
    # Each binary hash by its kind's name (``pdq``), as hexadecimal.
    hashes.update((s.kind, s.value.hex()) for s in signals if s.kind not in hashes)
    return MediaMetadata(
        keyframes=_keyframes(features),
        item=item,
        width=_int(described.get("width")),
        height=_int(described.get("height")),
        format=_str(described.get("format")),
        exif={k: v for k, v in described.items() if k not in _DESCRIPTIVE and v is not None},
        signals=[_signal(f) for f in features],
        hashes=hashes,
        sightings=sightings,
    )


def _keyframes(features: list[Feature]) -> list[Keyframe]:
    """The keyframes an analyzer listed in its value (``keyframes``: ``n`` and ``time_ms``)."""
    for feature in features:
        listed = feature.value.get("keyframes")
        if feature.status is FeatureStatus.OK and isinstance(listed, list):
            return [
                Keyframe(k["n"], k["time_ms"])
                for k in listed
                if isinstance(k, dict)
                and _int(k.get("n")) is not None
                and _int(k.get("time_ms")) is not None
            ]
    return []


def _signal(feature: Feature) -> SignalInfo:
    quality = feature.value.get("quality")  # analyzers whose value has one (PDQ)
    return SignalInfo(
        name=feature.analyzer,
        version=feature.version,
        status=feature.status.value,
        quality=quality if isinstance(quality, int) else None,
    )


def _greyscale_jpeg(data: bytes, *, blur: bool) -> bytes:
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("L")
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=THUMBNAIL_QUALITY)
    return out.getvalue()


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
