"""Uploads: size-limited, spooled inside the private data directory, deleted after use."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import Request, UploadFile

from sightline.errors import PayloadTooLargeError
from sightline.services.context import AppContext

_CHUNK = 1024 * 1024


@contextmanager
def uploaded_file(ctx: AppContext, request: Request, upload: UploadFile) -> Iterator[Path]:
    """The upload as a temporary file; more than ``server.max_upload_bytes`` is refused (413)."""
    limit = ctx.settings.server.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _CHUNK:
        raise PayloadTooLargeError(f"upload exceeds the limit of {limit} bytes")
    scratch = ctx.settings.data_dir / "scratch"
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=scratch, prefix="upload-") as out:
        written = 0
        upload.file.seek(0)
        while chunk := upload.file.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise PayloadTooLargeError(f"upload exceeds the limit of {limit} bytes")
            out.write(chunk)
        out.flush()
        yield Path(out.name)
