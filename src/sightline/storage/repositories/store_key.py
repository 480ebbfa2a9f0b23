"""The store's record of its master key, and whether a store holds any data at all.

Both are read before a unit of work exists (``sightline init``, opening a store), so these are
functions over a connection or a session rather than a repository of the unit of work.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, insert, inspect, select, table
from sqlalchemy.orm import Session

from sightline.domain.audit import GENESIS_HASH, KeyRecord, LegacySegment
from sightline.storage.orm import AuditEventRow, StoreKeyRow, utcnow

_RECORD_ID = 1
_NOT_DATA = frozenset({"alembic_version"})


def read_key_record(db: Connection | Session) -> KeyRecord | None:
    """The recorded key (None when no record was written, or the table does not exist yet)."""
    if isinstance(db, Connection) and not inspect(db).has_table(StoreKeyRow.__tablename__):
        return None
    row = db.execute(
        select(
            StoreKeyRow.key_id,
            StoreKeyRow.key_check,
            StoreKeyRow.legacy_last_id,
            StoreKeyRow.legacy_head_hash,
            StoreKeyRow.mac,
        ).where(StoreKeyRow.id == _RECORD_ID)
    ).first()
    if row is None:
        return None
    legacy = LegacySegment(last_id=row.legacy_last_id, head_hash=row.legacy_head_hash)
    return KeyRecord(key_id=row.key_id, key_check=row.key_check, legacy=legacy, mac=row.mac)


def write_key_record(connection: Connection, record: KeyRecord) -> None:
    """Write the record (once: the database refuses a second one)."""
    connection.execute(
        insert(StoreKeyRow).values(
            id=_RECORD_ID,
            key_id=record.key_id,
            key_check=record.key_check,
            legacy_last_id=record.legacy.last_id,
            legacy_head_hash=record.legacy.head_hash,
            mac=record.mac,
            created_at=utcnow(),
        )
    )


def audit_tip(connection: Connection) -> LegacySegment:
    """The newest audit event's id and hash (0 and the genesis hash for an empty trail)."""
    row = connection.execute(
        select(AuditEventRow.id, AuditEventRow.hash).order_by(AuditEventRow.id.desc()).limit(1)
    ).first()
    if row is None:
        return LegacySegment(last_id=0, head_hash=GENESIS_HASH)
    return LegacySegment(last_id=row.id, head_hash=row.hash)


def database_holds_data(connection: Connection) -> bool:
    """Whether any table of the database (Alembic's own aside) has a row."""
    for name in inspect(connection).get_table_names():
        if name in _NOT_DATA:
            continue
        if connection.execute(select(1).select_from(table(name)).limit(1)).first():
            return True
    return False


def blob_store_holds_data(media_dir: Path) -> bool:
    """Whether the blob store holds any file (empty shard directories do not count)."""
    return media_dir.is_dir() and any(p.is_file() for p in media_dir.rglob("*"))
