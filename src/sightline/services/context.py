"""Wiring: build the objects every service needs from the settings.

``initialise`` creates a new embedded store (data directory, master key, schema);
``open_context`` opens an existing one and refuses, with a clear message, one that was never
initialised or whose schema is behind the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from sightline.config import Settings
from sightline.errors import ConfigurationError
from sightline.storage import migrate
from sightline.storage.blobs.encrypted_local import EncryptedLocalBlobStore
from sightline.storage.blobs.keys import create_master_key, load_master_key
from sightline.storage.db import make_engine, make_session_factory
from sightline.storage.unit_of_work import UnitOfWork, UowFactory


@dataclass
class AppContext:
    """Everything a service call needs: settings, database and blob store."""

    settings: Settings
    engine: Engine
    uow: UowFactory
    blobs: EncryptedLocalBlobStore

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def initialise(settings: Settings, *, create_key: bool = True) -> list[str]:
    """Create the data directory, the master key (0600) and the schema; returns what was done.

    Safe to run twice: an existing key is kept and the schema is only upgraded.
    """
    done: list[str] = []
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    if create_key and not settings.key_path.exists():
        create_master_key(settings.key_path)
        done.append(f"created master key {settings.key_path}")
    engine = make_engine(settings)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    if before != after:
        done.append(f"database schema {before or 'empty'} -> {after}")
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    return done


def open_context(settings: Settings) -> AppContext:
    """Open an initialised store.

    Raises:
        MasterKeyError: the master key is missing or unusable.
        ConfigurationError: the database schema is missing or out of date.
    """
    key = load_master_key(settings.key_path)
    engine = make_engine(settings)
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        engine.dispose()
        raise ConfigurationError(
            f"database schema is at {current or 'nothing'}, this version needs {head}: "
            "run `sightline init` (it creates or upgrades the store)"
        )
    factory = make_session_factory(engine)
    return AppContext(
        settings=settings,
        engine=engine,
        uow=lambda: UnitOfWork(factory),
        blobs=EncryptedLocalBlobStore(settings.media_dir, key),
    )
