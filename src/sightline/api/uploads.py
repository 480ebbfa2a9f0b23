"""Uploads: size-limited, spooled to a nameless file in the private data directory.

The file is unlinked from the start (``scratch.anonymous_file``), so a killed server leaves
no plaintext copy of the upload behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import Request, UploadFile

from sightline.errors import PayloadTooLargeError
from sightline.services.context import AppContext
from sightline.services.ingest.scratch import anonymous_file, scratch_root

_CHUNK = 1024 * 1024


@contextmanager
def uploaded_file(ctx: AppContext, request: Request, upload: UploadFile) -> Iterator[Path]:
    """The upload as a temporary file; more than ``server.max_upload_bytes`` is refused (413)."""
    limit = ctx.settings.server.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _CHUNK:
        raise PayloadTooLargeError(f"upload exceeds the limit of {limit} bytes")
    with anonymous_file(scratch_root(ctx.settings.data_dir)) as (out, path):
        written = 0
        upload.file.seek(0)
        while chunk := upload.file.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise PayloadTooLargeError(f"upload exceeds the limit of {limit} bytes")
            out.write(chunk)
        out.flush()
        yield path
