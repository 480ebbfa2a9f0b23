"""Owner-only permissions for what the store keeps on disk, whatever the process umask.

Media blobs and thumbnails are encrypted, but the SQLite database holds file paths, digests
and EXIF in clear, and the scratch folder holds decrypted case material while it is analysed:
file permissions are their only protection on a shared host. ``mkdir(mode=0o700)`` and
``open(..., 0o600)`` are filtered by the umask and leave an existing path as it was, so these
helpers set the mode explicitly after creating.

SQLite creates a database's ``-wal``, ``-shm`` and ``-journal`` files with the database
file's own permissions (its unix VFS copies them, umask notwithstanding), so a database file
created 0600 before SQLite first opens it keeps its companions 0600 too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sightline.errors import ConfigurationError

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_directory(path: Path) -> Path:
    """Create ``path`` (and missing parents) if needed and make it owner-only (0700)."""
    path.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    _restrict(path, PRIVATE_DIRECTORY)
    return path


def private_sqlite_database(database: Path) -> None:
    """Create the SQLite file ``database`` (0600) if missing; make it and its companions 0600.

    An empty file is a valid empty SQLite database. A missing parent directory is created
    owner-only; an existing one is left as it is (it may be shared, such as ``/var/lib``).
    """
    if not database.parent.exists():
        private_directory(database.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))
    for path in (database, *(Path(f"{database}{suffix}") for suffix in SQLITE_COMPANIONS)):
        with contextlib.suppress(FileNotFoundError):
            _restrict(path, PRIVATE_FILE)


def _restrict(path: Path, mode: int) -> None:
    """Set ``mode`` on ``path`` unless it already has it (no needless metadata writes).

    Raises:
        ConfigurationError: the path belongs to another user, so its mode cannot be set.
    """
    if path.stat().st_mode & 0o777 == mode:
        return
    try:
        os.chmod(path, mode)
    except PermissionError:
        raise ConfigurationError(
            f"cannot make {path} owner-only ({mode:o}): it belongs to another user; run "
            "Sightline as the user that owns the data directory"
        ) from None
