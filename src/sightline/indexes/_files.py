"""Persistence shared by the binary index backends: atomic writes, checksums, ``.npy``.

A saved index is a directory of data files plus a JSON manifest (``IndexManifest``) that
records a SHA-256 checksum of every data file. Data files are written atomically and the
manifest last, so a manifest only ever names complete files. On load every file is verified
against its checksum before any parser (numpy's or FAISS's) sees it, so a truncated or
garbled index is refused with ``IndexFileError`` instead of reaching native code that was
never hardened against hostile input. The checksums catch corruption and torn saves, not a
deliberate forger who can also rewrite the manifest.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from sightline.errors import IndexFileError
from sightline.indexes.base import BinaryIndex, Ids, IndexManifest

IDS_FILE = "ids.npy"

IndexT = TypeVar("IndexT", bound=BinaryIndex)


def write_atomic(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` via a synced temporary file and ``os.replace``.

    Returns:
        The SHA-256 hex digest of ``data``, for the manifest.
    """
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def npy_bytes(array: npt.NDArray[Any]) -> bytes:
    """Serialise an array in ``.npy`` format (no pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_load(data: bytes, name: str) -> npt.NDArray[Any]:
    """Parse ``.npy`` bytes with pickle disabled.

    Raises:
        IndexFileError: the bytes are not a valid ``.npy`` file.
    """
    try:
        return np.asarray(np.load(io.BytesIO(data), allow_pickle=False))
    except (ValueError, OSError, EOFError) as exc:
        raise IndexFileError(f"index file {name} is not a valid .npy array: {exc}") from exc


def save_files(index: BinaryIndex, directory: Path, files: Mapping[str, bytes]) -> None:
    """Write each data file atomically, then the manifest naming them and their checksums."""
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {name: write_atomic(directory / name, data) for name, data in files.items()}
    IndexManifest(
        index.name, index.bits, len(index), index.checkpoint, index.params(), checksums
    ).write(directory)


def start_load(cls: type[IndexT], directory: Path) -> tuple[IndexT, IndexManifest]:
    """Read the manifest, check it was written by ``cls``, and make the empty index.

    The returned index has the manifest's width and checkpoint; the caller fills it from
    the data files.

    Raises:
        FileNotFoundError: there is no manifest (no index was saved here).
        IndexFileError: the manifest is invalid, belongs to another backend, or records a
            width or build parameters this backend does not accept.
    """
    manifest = IndexManifest.read(directory)
    if manifest.backend != cls.name:
        raise IndexFileError(
            f"index in {directory} was built by {manifest.backend!r}, not {cls.name!r}"
        )
    try:
        index = cls(manifest.bits)
    except ValueError as exc:
        raise IndexFileError(f"index manifest in {directory}: {exc}") from exc
    if manifest.params != index.params():
        raise IndexFileError(f"index in {directory} was built with other parameters")
    index.checkpoint = manifest.checkpoint
    return index, manifest


def read_verified(directory: Path, manifest: IndexManifest, name: str) -> bytes:
    """Read one data file and check it against the manifest's checksum.

    Raises:
        IndexFileError: the file is missing, not listed, or its checksum differs.
    """
    expected = manifest.files_sha256.get(name)
    if expected is None:
        raise IndexFileError(f"index manifest in {directory} has no checksum for {name}")
    try:
        data = (directory / name).read_bytes()
    except OSError as exc:
        raise IndexFileError(f"index file {directory / name} is unreadable: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != expected:
        raise IndexFileError(f"index file {directory / name} is corrupt (checksum mismatch)")
    return data


def load_ids(directory: Path, manifest: IndexManifest) -> Ids:
    """Read, verify and check ``ids.npy``: ``manifest.count`` distinct int64 ids.

    Raises:
        IndexFileError: the file is missing, corrupt, or inconsistent with the manifest.
    """
    ids = npy_load(read_verified(directory, manifest, IDS_FILE), IDS_FILE)
    if ids.dtype != np.int64 or ids.shape != (manifest.count,):
        raise IndexFileError(f"{IDS_FILE} in {directory} does not match the manifest")
    if len(np.unique(ids)) != len(ids):
        raise IndexFileError(f"{IDS_FILE} in {directory} holds duplicate ids")
    return ids
