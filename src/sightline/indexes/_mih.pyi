"""Type stub for the ``_mih`` C extension (see ``_mih.c`` and ``mih.py``)."""

from typing import Any, TypeAlias

import numpy.typing as npt
from typing_extensions import Buffer

# numpy declares ``__buffer__`` on arrays only for Python >= 3.12, so name arrays explicitly.
_Buffer: TypeAlias = Buffer | npt.NDArray[Any]

CODE_BYTES: int
MIN_TABLES: int
MAX_TABLES: int
MAX_FLIPS: int
MAX_RADIUS: int

class Core:
    """Exact radius search over 256-bit codes by multi-index hashing."""

    def __init__(self, merge_threshold: int, *, tables: int = 0) -> None: ...
    def add(self, ids: _Buffer, codes: _Buffer, /) -> None:
        """Add int64 ids and 32-byte codes; a stored id is replaced."""

    def remove(self, ids: _Buffer, /) -> int:
        """Tombstone the stored ids among ``ids``; returns how many were stored."""

    def search(self, queries: _Buffer, radius: int, /) -> tuple[bytes, bytes, bytes]:
        """(lims int64, ids int64, distances int32) bytes; hits sorted by (distance, id)."""

    def merge(self) -> None:
        """Merge the delta segment into the tables."""

    def export(self) -> tuple[bytes, bytes]:
        """The live entries: (ids int64 bytes, codes bytes)."""

    def stats(self) -> dict[str, int]:
        """Counts and allocated bytes."""

    def __len__(self) -> int: ...
