"""Engine and session factories.

SQLite (the embedded default) gets WAL journalling, foreign keys and a busy timeout so a
reader (the API) and the writer (an ingest) can work at once; PostgreSQL needs nothing special.
The SQLite file holds paths, digests and EXIF in clear, so it is created owner-only (0600)
before SQLite first opens it, which makes its ``-wal`` and ``-shm`` files 0600 too.

SQLite takes one writer at a time, and a connection that finds the write lock taken waits in
SQLite's busy handler, which sleeps in growing steps (1, 2, 5 ... 100 ms) and so wakes late:
under 20 concurrent API clients, each request writing its audit event, that made the slowest
requests ten times slower than the median. Threads of one process therefore queue on a
:class:`_WriteGate` (a lock handed over at once) before their first write, and leave it when
the transaction ends; the busy timeout still arbitrates between processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from sightline.config import Settings
from sightline.storage.permissions import private_directory, private_sqlite_database


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    """Create the engine for the configured database URL."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        if not settings.data_dir.exists():
            private_directory(settings.data_dir)
        database = _sqlite_file(url)
        if database is not None:
            private_sqlite_database(database)  # before SQLite creates it under the umask
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        _WriteGate().attach(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory or ``file:`` URI database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_READS = ("SELECT", "PRAGMA", "WITH", "EXPLAIN")


class _WriteGate:
    """Serialises this process's SQLite write transactions (see the module docstring).

    A connection enters at its first statement that is not a read and leaves once its
    transaction has committed or rolled back in the driver. SQLAlchemy's ``commit`` and
    ``rollback`` events fire *before* the driver call, which would let the next writer in while
    the lock is still held and send it into the busy handler's sleeps, so the gate wraps the
    dialect's ``do_commit`` and ``do_rollback`` instead. The lock is re-entrant: a thread
    holding two open write transactions (which SQLite refuses anyway) fails by SQLite's
    timeout, as before, rather than hanging here.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._inside: set[int] = set()  # id() of driver connections holding the gate

    def attach(self, engine: Engine) -> None:
        """Register the gate on ``engine``'s statements and its dialect's transaction ends."""
        event.listen(engine, "before_cursor_execute", self._before_execute)
        dialect = engine.dialect
        for name in ("do_commit", "do_rollback"):
            setattr(dialect, name, self._leaving(getattr(dialect, name)))

    def _before_execute(self, conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        key = id(cursor.connection)
        if key in self._inside or statement.lstrip().upper().startswith(_READS):
            return
        self._lock.acquire()
        self._inside.add(key)

    def _leaving(self, end: Callable[[Any], None]) -> Callable[[Any], None]:
        def wrapped(dbapi_connection: Any) -> None:
            try:
                end(dbapi_connection)
            finally:
                # SQLAlchemy passes the pool's proxy; the cursor knew the driver's connection.
                key = id(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))
                if key in self._inside:
                    self._inside.discard(key)
                    self._lock.release()

        return wrapped


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``; objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
