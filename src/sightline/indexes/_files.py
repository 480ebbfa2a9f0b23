"""Persistence shared by the index backends of both families: atomic writes, checksums, ``.npy``.

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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from sightline.errors import IndexFileError
from sightline.indexes.base import BinaryIndex, Ids
from sightline.indexes.manifest import BINARY_FAMILY, VECTOR_FAMILY, IndexManifest
from sightline.indexes.vector import VectorIndex

IDS_FILE = "ids.npy"
_HASH_CHUNK = 2**20

IndexT = TypeVar("IndexT", bound=BinaryIndex)
VectorT = TypeVar("VectorT", bound=VectorIndex)


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


def write_atomic_with(path: Path, write: Callable[[str], None]) -> str:
    """Let ``write`` create a temporary file beside ``path``, sync it, then ``os.replace``.

    For native writers that take a file name (``faiss.write_index``): the index goes
    straight to disk instead of through a second in-memory copy. The checksum is computed
    by reading the synced file back in chunks.

    Returns:
        The SHA-256 hex digest of the file written, for the manifest.
    """
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        digest = hashlib.sha256()
        with open(tmp, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def manifest_for(index: BinaryIndex | VectorIndex, checksums: dict[str, str]) -> IndexManifest:
    """The manifest describing ``index`` as it is now, with its data files' checksums."""
    if isinstance(index, VectorIndex):
        return IndexManifest.for_vectors(
            index.name,
            dims=index.dims,
            metric=index.metric,
            count=len(index),
            checkpoint=index.checkpoint,
            params=index.params(),
            files_sha256=checksums,
        )
    return IndexManifest(
        index.name, index.bits, len(index), index.checkpoint, index.params(), checksums
    )


def save_files(
    index: BinaryIndex | VectorIndex,
    directory: Path,
    files: Mapping[str, bytes],
    written: Mapping[str, str] | None = None,
) -> None:
    """Write each data file atomically, then the manifest naming them and their checksums.

    Args:
        index: the index being saved (its family, shape, size, checkpoint and params).
        directory: where to save; created if missing.
        files: data file name -> bytes to write.
        written: data files the caller already wrote atomically (name -> SHA-256 hex).
    """
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {name: write_atomic(directory / name, data) for name, data in files.items()}
    checksums.update(written or {})
    manifest_for(index, checksums).write(directory)


def _read_own(name: str, family: str, directory: Path) -> IndexManifest:
    """Read the manifest and check it was written by backend ``name`` of ``family``."""
    manifest = IndexManifest.read(directory)
    if manifest.backend != name:
        raise IndexFileError(
            f"index in {directory} was built by {manifest.backend!r}, not {name!r}"
        )
    if manifest.family != family:
        raise IndexFileError(f"index in {directory} is a {manifest.family} index, not {family}")
    return manifest


def start_load(cls: type[IndexT], directory: Path) -> tuple[IndexT, IndexManifest]:
    """Read the manifest, check it was written by ``cls``, and make the empty index.

    The returned index has the manifest's width and checkpoint; the caller fills it from
    the data files.

    Raises:
        FileNotFoundError: there is no manifest (no index was saved here).
        IndexFileError: the manifest is invalid, belongs to another backend or family, or
            records a width or build parameters this backend does not accept.
    """
    manifest = _read_own(cls.name, BINARY_FAMILY, directory)
    try:
        index = cls(manifest.bits or 0)  # a binary manifest always has bits
    except ValueError as exc:
        raise IndexFileError(f"index manifest in {directory}: {exc}") from exc
    _finish_start(index, manifest, directory)
    return index, manifest


def start_vector_load(
    cls: type[VectorT], directory: Path, *, check_params: bool = True
) -> tuple[VectorT, IndexManifest]:
    """``start_load`` for the vector family: the empty index has the manifest's dims and metric.

    ``check_params=False`` leaves the build parameters to the caller, for a backend whose
    parameters record a state that a fresh index does not have (``auto-vector``).

    Raises:
        FileNotFoundError: there is no manifest (no index was saved here).
        IndexFileError: the manifest is invalid, belongs to another backend or family, or
            records dims, a metric or build parameters this backend does not accept.
    """
    manifest = _read_own(cls.name, VECTOR_FAMILY, directory)
    try:
        index = cls(manifest.dims or 0, manifest.metric or "")  # set for the vector family
    except ValueError as exc:
        raise IndexFileError(f"index manifest in {directory}: {exc}") from exc
    _finish_start(index, manifest, directory, check_params=check_params)
    return index, manifest


def _finish_start(
    index: BinaryIndex | VectorIndex,
    manifest: IndexManifest,
    directory: Path,
    *,
    check_params: bool = True,
) -> None:
    """Check the build parameters match the backend's and take over the checkpoint."""
    if check_params and manifest.params != index.params():
        raise IndexFileError(f"index in {directory} was built with other parameters")
    index.checkpoint = manifest.checkpoint


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


def load_npy(directory: Path, manifest: IndexManifest, name: str) -> npt.NDArray[Any]:
    """Read one ``.npy`` data file, verified against the manifest before numpy parses it.

    Raises:
        IndexFileError: the file is missing, corrupt, or not a valid ``.npy`` array.
    """
    return npy_load(read_verified(directory, manifest, name), name)


def load_ids(directory: Path, manifest: IndexManifest) -> Ids:
    """Read, verify and check ``ids.npy``: ``manifest.count`` distinct int64 ids.

    Raises:
        IndexFileError: the file is missing, corrupt, or inconsistent with the manifest.
    """
    ids = load_npy(directory, manifest, IDS_FILE)
    if ids.dtype != np.int64 or ids.shape != (manifest.count,):
        raise IndexFileError(f"{IDS_FILE} in {directory} does not match the manifest")
    if len(np.unique(ids)) != len(ids):
        raise IndexFileError(f"{IDS_FILE} in {directory} holds duplicate ids")
    return ids
