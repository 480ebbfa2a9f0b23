"""Why a scene match is one, drawn: the two pictures side by side, matched keypoints joined.

The stored picture is its thumbnail, fetched through the access policy exactly as the API
serves it (audited ``media.thumbnail``, or ``media.reveal`` when unblurred), so drawing an
explanation shows an investigator nothing the thumbnail would not. The query picture is the
investigator's own file, shown the same way (greyscale, blurred unless revealed). On top:
a line per matched keypoint pair of the verdict's sample, and the outline of the query (or
of the searched region) where it was found in the stored picture.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageOps

from sightline.analyzers.base import MediaInput
from sightline.domain.audit import Requester
from sightline.services.access.media import BLUR_RADIUS, thumbnail
from sightline.services.context import AppContext
from sightline.services.matching.search import FULL, Region, SearchResult

__all__ = ["draw_correspondences", "explain_best"]

# Height of each picture in the drawing (a thumbnail's longest side).
PANEL_HEIGHT = 256
_GAP = 16
_LINE = (255, 64, 64)
_OUTLINE = (64, 200, 255)


def explain_best(
    ctx: AppContext,
    requester: Requester,
    query_path: Path,
    region: Region | None,
    result: SearchResult,
    *,
    reveal: bool = False,
) -> bytes | None:
    """A PNG explaining the result's best scene match the requester may see; None if none."""
    match = next(
        (
            m
            for m in result.matches
            if m.visibility == FULL and m.detail is not None and "scene" in m.detail
        ),
        None,
    )
    if match is None or match.detail is None:
        return None
    stored = Image.open(io.BytesIO(thumbnail(ctx, requester, match.media.id, reveal=reveal)))
    query = _query_picture(ctx, query_path, region)
    return draw_correspondences(query, stored, match.detail["scene"], blur=not reveal)


def _query_picture(ctx: AppContext, path: Path, region: Region | None) -> Image.Image:
    media = MediaInput(path, max_pixels=ctx.settings.ingest.max_pixels)
    try:
        picture = ImageOps.exif_transpose(media.image_header()).convert("L")
    finally:
        media.close()
    if region is not None:
        x, y, w, h = region
        picture = picture.crop((x, y, x + w, y + h))
    picture.thumbnail((4 * PANEL_HEIGHT, PANEL_HEIGHT))
    return picture


def draw_correspondences(
    query: Image.Image, stored: Image.Image, scene: Mapping[str, Any], *, blur: bool = True
) -> bytes:
    """The drawing as PNG bytes.

    Args:
        query: the query picture (any size; drawn greyscale).
        stored: the stored picture (its thumbnail).
        scene: the match's scene explanation (``pairs`` in each side's feature pixels,
            ``query_size``/``stored_size`` of those pixels, optional ``quad``).
        blur: blur both pictures as thumbnails are served.
    """
    left, right = _panel(query, blur), _panel(stored, blur)
    canvas = Image.new("RGB", (left.width + _GAP + right.width, PANEL_HEIGHT), (0, 0, 0))
    canvas.paste(left.convert("RGB"), (0, 0))
    canvas.paste(right.convert("RGB"), (left.width + _GAP, 0))
    draw = ImageDraw.Draw(canvas)
    q_scale = _scale(left, scene.get("query_size"))
    s_scale = _scale(right, scene.get("stored_size"))
    offset = left.width + _GAP
    for qx, qy, sx, sy in scene.get("pairs", []):
        a = (qx * q_scale[0], qy * q_scale[1])
        b = (offset + sx * s_scale[0], sy * s_scale[1])
        draw.line([a, b], fill=_LINE, width=1)
        draw.ellipse([a[0] - 2, a[1] - 2, a[0] + 2, a[1] + 2], outline=_LINE)
        draw.ellipse([b[0] - 2, b[1] - 2, b[0] + 2, b[1] + 2], outline=_LINE)
    quad = scene.get("quad")
    if quad:
        points = [(offset + x * s_scale[0], y * s_scale[1]) for x, y in quad]
        draw.line([*points, points[0]], fill=_OUTLINE, width=2)
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def _panel(picture: Image.Image, blur: bool) -> Image.Image:
    grey = picture.convert("L")
    scale = PANEL_HEIGHT / max(grey.height, 1)
    grey = grey.resize((max(1, round(grey.width * scale)), PANEL_HEIGHT))
    return grey.filter(ImageFilter.GaussianBlur(BLUR_RADIUS)) if blur else grey


def _scale(panel: Image.Image, size: Sequence[float] | None) -> tuple[float, float]:
    """Feature pixels -> panel pixels."""
    if not size or size[0] <= 0 or size[1] <= 0:
        return (1.0, 1.0)
    return (panel.width / float(size[0]), panel.height / float(size[1]))
