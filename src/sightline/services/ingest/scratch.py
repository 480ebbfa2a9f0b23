"""Private scratch space under ``DATA_DIR/scratch``: owned while used, swept when orphaned.

Plaintext case material touches the disk in two places: API uploads waiting for their ingest
job, and archive entries being analysed. Both live in ``DATA_DIR/scratch`` (0700), never in a
shared ``/tmp``, and a killed process must not leave them behind (ADR 0012).

- Archive entries and single-file uploads (search, match) are written to *unlinked* files
  (``O_TMPFILE``) and read through ``/proc/self/fd``: they have no name, and the kernel frees
  them when the process exits, however it exits. :func:`anonymous_file` gives one.
- Upload folders must outlive the request that filled them, so they have names, but opaque
  ones (``upload-<random>/<n>``, never a client's file name), and an owner: the process holds
  an exclusive ``flock`` on the folder's ``.owner`` file while it exists. The lock dies with
  the process, so :func:`sweep` (run at the start of every command and of the server) removes
  exactly the folders no live process owns.

A folder without an ``.owner`` file is one being created (the lock file is made under a
temporary name, locked, then renamed into place) or one left by an older version; it is
removed only once it is older than ``UNOWNED_GRACE_S``. Loose files follow the same rule.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

SCRATCH = "scratch"
OWNER_FILE = ".owner"
UNOWNED_GRACE_S = 600.0
"""Age after which a folder or file without an owner lock is taken for abandoned."""

_FD_DIR = Path("/proc/self/fd")


def scratch_root(data_dir: Path) -> Path:
    """``DATA_DIR/scratch``, created private (0700) if missing."""
    root = data_dir / SCRATCH
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)  # mkdir's mode is filtered by the umask, and the folder may predate us
    return root


class ScratchDir:
    """A private folder under the scratch root, owned by this process until closed.

    Args:
        root: The scratch root (see :func:`scratch_root`).
        kind: A prefix naming what the folder holds (``upload``, ``ingest``).
        token: The folder's name after the prefix; random when omitted. Never a client's name.
    """

    def __init__(self, root: Path, kind: str, token: str | None = None) -> None:
        self.path = root / f"{kind}-{token or secrets.token_hex(8)}"
        self.path.mkdir(mode=0o700)
        pending = self.path / f".owner-{secrets.token_hex(4)}"
        self._lock = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        os.rename(pending, self.path / OWNER_FILE)  # visible to sweepers only once locked

    def close(self) -> None:
        """Delete the folder and everything in it, then release it."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def is_owned(folder: Path) -> bool:
    """Whether a live process holds ``folder``'s owner lock."""
    try:
        fd = os.open(folder / OWNER_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)
    return False


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What a sweep removed: folders and loose files no live process owned, and their bytes."""

    folders: int = 0
    files: int = 0
    bytes: int = 0


def sweep(root: Path, *, grace_s: float = UNOWNED_GRACE_S, remove: bool = True) -> SweepReport:
    """Remove what no live process owns from the scratch root (see the module docstring).

    With ``remove=False`` only count it.
    """
    if not root.is_dir():
        return SweepReport()
    folders = files = size = 0
    cutoff = time.time() - grace_s
    for entry in os.scandir(root):
        path = Path(entry.path)
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir(follow_symlinks=False):
                if _abandoned(path, cutoff):
                    size += _size(path)
                    if remove:
                        shutil.rmtree(path, ignore_errors=True)
                    folders += 1
            elif entry.stat(follow_symlinks=False).st_mtime < cutoff:
                size += entry.stat(follow_symlinks=False).st_size
                if remove:
                    path.unlink()
                files += 1
    return SweepReport(folders, files, size)


def _abandoned(folder: Path, cutoff: float) -> bool:
    if (folder / OWNER_FILE).exists():
        return not is_owned(folder)
    return folder.stat().st_mtime < cutoff


def _size(folder: Path) -> int:
    total = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


@contextlib.contextmanager
def anonymous_file(directory: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """A writable file with no name in ``directory`` and a path that reads it back.

    The file is created unlinked (``O_TMPFILE``), so nothing remains on disk after it is
    closed or the process dies; the path is ``/proc/self/fd/<n>``, which decoders open like
    any file. Where either is unavailable (no ``/proc``, a file system without
    ``O_TMPFILE``, where Python creates the file and unlinks it at once) the path is the
    same. Without ``/proc`` it falls back to a named 0600 file deleted on exit, which a
    later :func:`sweep` removes if the process is killed first.
    """
    if _FD_DIR.is_dir():
        # On POSIX TemporaryFile is always unlinked: O_TMPFILE, or a file deleted at once.
        with tempfile.TemporaryFile(dir=directory) as handle:
            yield handle, _FD_DIR / str(handle.fileno())
        return
    with tempfile.NamedTemporaryFile(dir=directory, prefix="anon-") as named:
        yield named, Path(named.name)
