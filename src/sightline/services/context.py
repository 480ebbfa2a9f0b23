"""Wiring: build the objects every service needs from the settings.

``initialise`` creates a new embedded store (data directory, master key, schema);
``open_context`` opens an existing one and refuses, with a clear message, one that was never
initialised or whose schema is behind the code.
"""

from __future__ import annotations

import dataclasses
import hmac
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from sightline.analyzers.registry import DEFAULT_ANALYZERS, AnalyzerSet
from sightline.config import Settings
from sightline.domain.audit import KeyRecord, key_record_mac
from sightline.domain.signals import SignalKind, ValueType
from sightline.errors import ConfigurationError, MasterKeyError
from sightline.services.signals.freshness import watch_index_writes
from sightline.storage import migrate
from sightline.storage.blobs.base import BlobStore
from sightline.storage.blobs.keys import MasterKey, create_master_key, load_master_key
from sightline.storage.blobs.registry import open_blob_store
from sightline.storage.db import make_engine, make_session_factory
from sightline.storage.permissions import private_directory
from sightline.storage.repositories.store_key import (
    audit_tip,
    blob_store_holds_data,
    database_holds_data,
    read_key_record,
    write_key_record,
)
from sightline.storage.unit_of_work import UnitOfWork, UowFactory

KEY_RECORD_REVISION = "0007"
"""The schema revision that added the key record: stores upgraded across it get one."""


@dataclass
class AppContext:
    """Everything a service call needs: settings, master key, database and blob store."""

    settings: Settings
    engine: Engine
    uow: UowFactory
    blobs: BlobStore
    master_key: MasterKey

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    @cached_property
    def analyzers(self) -> AnalyzerSet:
        """The analyzers the settings enable (loaded once per context)."""
        return AnalyzerSet(tuple(self.settings.analyzers.enabled) or DEFAULT_ANALYZERS)

    @property
    def signal_kinds(self) -> dict[str, SignalKind]:
        """The enabled signal kinds, with the thresholds the settings give them now."""
        match = self.settings.match
        return {
            name: dataclasses.replace(
                kind,
                threshold=match.threshold_for(name, kind.threshold),
                min_quality=match.min_quality_for(name, kind.min_quality),
            )
            for name, kind in self.analyzers.kinds.items()
        }

    def binary_kinds(self) -> tuple[SignalKind, ...]:
        """The enabled binary-hash kinds with their effective thresholds, in run order."""
        return tuple(k for k in self.signal_kinds.values() if k.value_type.binary)

    def scene_kinds(self) -> tuple[SignalKind, ...]:
        """The enabled float-vector kinds matched by geometric verification, in run order."""
        return tuple(
            k
            for k in self.signal_kinds.values()
            if k.value_type is ValueType.FLOAT_VECTOR and k.features_artifact is not None
        )

    def sound_kinds(self) -> tuple[SignalKind, ...]:
        """The enabled fingerprint kinds (soundtracks), in run order."""
        return tuple(k for k in self.signal_kinds.values() if k.value_type is ValueType.FINGERPRINT)


def initialise(settings: Settings, *, create_key: bool = True) -> list[str]:
    """Create the data directory, the master key (0600) and the schema; returns what was done.

    Safe to run twice: an existing key is kept, the schema is only upgraded, and the store's
    record of its key is written once. A key is only ever created for a store that holds no
    data: without the old key, a new one could read none of it and the store would end up
    half under each.

    Raises:
        MasterKeyError: the key is missing from a store that holds data, is unusable, or is
            not the key this store was initialised with.
    """
    done: list[str] = []
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    if create_key and not settings.key_path.exists():
        if _store_holds_data(settings):
            raise MasterKeyError(_lost_key_message(settings))
        create_master_key(settings.key_path)
        done.append(f"created master key {settings.key_path}")
    key = load_master_key(settings.key_path)
    engine = make_engine(settings)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
        if before != after:
            done.append(f"database schema {before or 'empty'} -> {after}")
        done += _record_key(engine, key, upgraded_from=before)
    finally:
        engine.dispose()
    for folder in (settings.media_dir, settings.data_dir / "scratch"):
        private_directory(folder)  # 0700 whatever the umask, and tightened if it predates us
    return done


def open_context(settings: Settings) -> AppContext:
    """Open an initialised store, with the key it was initialised with.

    Raises:
        MasterKeyError: the master key is missing, unusable, or another store's key.
        ConfigurationError: the database schema is missing or out of date.
    """
    if not settings.key_path.exists():
        raise MasterKeyError(_missing_key_message(settings))
    key = load_master_key(settings.key_path)
    engine = make_engine(settings)
    try:
        current, head = migrate.current_revision(engine), migrate.head_revision()
        if current != head:
            raise ConfigurationError(
                f"database schema is at {current or 'nothing'}, this version needs {head}: "
                "run `sightline init` (it creates or upgrades the store)"
            )
        with engine.connect() as connection:
            record = read_key_record(connection)
        if record is None:
            raise MasterKeyError(
                "the database holds no record of its master key (it is written by init and "
                "never removed): restore the database from backup"
            )
        _check_key(settings, key, record)
    except BaseException:
        engine.dispose()
        raise
    try:
        blobs = open_blob_store(settings, key)  # the SIGHTLINE_STORAGE__BLOB_STORE plugin
    except BaseException:
        engine.dispose()
        raise
    watch_index_writes(engine)  # this process's writes reach its indexes' next search
    factory = make_session_factory(engine)
    audit_key = key.audit_chain_key()
    return AppContext(
        settings=settings,
        engine=engine,
        uow=lambda: UnitOfWork(factory, audit_key=audit_key),
        blobs=blobs,
        master_key=key,
    )


def _record_key(engine: Engine, key: MasterKey, *, upgraded_from: str | None) -> list[str]:
    """Check the key against the store's record, or write the record where there is none.

    A record is written for a new store and for one upgraded across
    :data:`KEY_RECORD_REVISION` in this very call: its existing audit events become the
    legacy (unkeyed) segment and the keyed chain starts after them. A store already at that
    revision that holds data but no record lost it; writing one now would let whoever deleted
    it move the legacy boundary, so it is refused.
    """
    with engine.begin() as connection:
        record = read_key_record(connection)
        if record is not None:
            _check_key_record(key, record)
            return []
        crossed = upgraded_from is None or upgraded_from < KEY_RECORD_REVISION
        if not crossed and database_holds_data(connection):
            raise MasterKeyError(
                "the database holds data but no record of its master key (it is written by "
                "init and never removed): restore the database from backup"
            )
        legacy = audit_tip(connection)
        check = key.check_value()
        mac = key_record_mac(key.audit_chain_key(), key.key_id, check, legacy)
        write_key_record(connection, KeyRecord(key.key_id, check, legacy, mac))
    if legacy.last_id:
        return [f"audit trail: events 1 to {legacy.last_id} kept unkeyed; new events keyed"]
    return []


def _check_key(settings: Settings, key: MasterKey, record: KeyRecord) -> None:
    try:
        _check_key_record(key, record)
    except MasterKeyError as exc:
        raise MasterKeyError(f"master key file {settings.key_path}: {exc.message}") from None


def _check_key_record(key: MasterKey, record: KeyRecord) -> None:
    """Refuse a key that is not the one the store was initialised with."""
    if record.key_id == key.key_id and hmac.compare_digest(record.key_check, key.check_value()):
        return
    raise MasterKeyError(
        f"this is not the store's master key (key id {key.key_id}; the store was initialised "
        f"with key id {record.key_id}): restore the store's key file from backup"
    )


def _store_holds_data(settings: Settings) -> bool:
    """Whether the blob store or the database holds anything (True when it cannot tell)."""
    if blob_store_holds_data(settings.media_dir):
        return True
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).exists()):
        return False  # never create a database file just to look into it
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            return database_holds_data(connection)
    except SQLAlchemyError:
        return True  # unreachable: never suggest starting afresh on a store we cannot see
    finally:
        engine.dispose()


def _missing_key_message(settings: Settings) -> str:
    if _store_holds_data(settings):
        return _lost_key_message(settings)
    return (
        f"master key file {settings.key_path} not found and the store is empty: "
        "run `sightline init` to create a new store"
    )


def _lost_key_message(settings: Settings) -> str:
    return (
        f"master key file {settings.key_path} not found, but this store already holds data "
        "encrypted and chained under it: restore the key file from backup. A new key could "
        "read none of the existing data, so none is created."
    )
