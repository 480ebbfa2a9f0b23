"""When a process's indexes catch up: on its own writes at once, on others' writes in time.

The search path must not query the database or take a lock when nothing changed (ADR 0010),
yet a hash this process has just committed must be matchable by its very next search. Two
triggers cover the two kinds of writer:

- **This process.** :func:`watch_index_writes` hooks an engine so that every transaction
  that wrote to a table an index reads (signals, hash-list entries, the removal log) bumps
  one process-wide :class:`ChangeCounter` once it has committed. A search compares the
  counter with the value its index last caught up at (an int read, no lock) and catches up
  only when it moved. The counter is process-wide rather than per context because a
  process may write through one context and search through another (the API and a service
  opened beside it); an unrelated bump only costs one catch-up.
- **Other processes.** :class:`Refresher` catches every index of a long-lived process (the
  server) up at a fixed interval (``match.index_refresh_seconds``), beside the searches.

Trade-off: the counter watches table names in the SQL text rather than hooking every
repository's writes, so it stays one small module outside ``storage``; a write that only
reaches an indexed table through a cascade (no statement naming it) is caught by the
removal log insert that must accompany it, or else by the refresher.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event

logger = logging.getLogger(__name__)

INDEXED_TABLES = frozenset({"signals", "hash_list_entries", "index_removals"})
"""Tables index sources read: a committed write to one of them moves the change counter."""

_WRITE = re.compile(
    r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+(?:\"?\w+\"?\.)?\"?(\w+)",
    re.IGNORECASE,
)
_WROTE = "sightline.index_write"  # in Connection.info: this transaction wrote an indexed table
_COMMITTED = "sightline.index_commit"  # ... and has committed; published once it is visible


class ChangeCounter:
    """A number that moves after every committed write to an indexed table.

    Readers compare ``value`` with what they saw last, without a lock: an int read is atomic.
    Only writers (commits) take the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def value(self) -> int:
        """The current count."""
        return self._value

    def bump(self) -> None:
        """Record one committed change."""
        with self._lock:
            self._value += 1


INDEX_CHANGES = ChangeCounter()
"""This process's counter (a plain object: importing this module does nothing else)."""


def writes_indexed_table(statement: str) -> bool:
    """Whether an SQL statement inserts, updates or deletes rows of an indexed table."""
    match = _WRITE.match(statement)
    return match is not None and match.group(1).lower() in INDEXED_TABLES


def watch_index_writes(engine: Engine, counter: ChangeCounter = INDEX_CHANGES) -> None:
    """Make committed writes through ``engine`` to indexed tables move ``counter``.

    SQLAlchemy's ``commit`` event fires *before* the driver commits, when another thread's
    catch-up could not yet see the rows, so the bump waits until the connection is used for
    its next transaction or returned to the pool (which a session does right after its
    commit): by then the rows are visible to any new transaction.
    """

    def publish(info: dict[Any, Any]) -> None:
        if info.pop(_COMMITTED, False):
            counter.bump()

    def noted(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if writes_indexed_table(statement):
            conn.info[_WROTE] = True

    def committed(conn: Connection) -> None:
        if conn.info.pop(_WROTE, False):
            conn.info[_COMMITTED] = True

    def rolled_back(conn: Connection) -> None:
        conn.info.pop(_WROTE, None)

    event.listen(engine, "after_cursor_execute", noted)
    event.listen(engine, "commit", committed)
    event.listen(engine, "rollback", rolled_back)
    event.listen(engine, "begin", lambda conn: publish(conn.info))
    event.listen(engine, "checkin", lambda _dbapi, record: publish(record.info))


class Refresher:
    """A daemon thread that calls ``refresh`` every ``interval`` seconds until stopped.

    A failing catch-up (the database restarting) is logged by exception type only and tried
    again at the next tick; searches go on with the index as it is meanwhile.
    """

    def __init__(self, refresh: Callable[[], object], interval: float) -> None:
        if interval <= 0:
            raise ValueError("the refresh interval must be positive")
        self._refresh = refresh
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-refresher", daemon=True)

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop and wait for a catch-up in progress to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._refresh()
            except Exception as exc:  # keep serving; the next tick tries again
                logger.warning("index refresh failed (%s); retrying", type(exc).__name__)
