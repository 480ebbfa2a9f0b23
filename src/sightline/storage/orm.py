"""SQLAlchemy 2 typed ORM models. They never leave ``storage/``.

Only portable column types are used, so the same Alembic migrations run on SQLite and
PostgreSQL. Long texts that need uniqueness (ingest locators) are keyed by a SHA-256 of the
text, since PostgreSQL's B-tree cannot index arbitrarily long values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable migration names)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class AgencyRow(Base):
    """A member agency."""

    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseRow(Base):
    """An agency's case."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("agency_id", "reference"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    reference: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MediaRow(Base):
    """One unique file, by SHA-256."""

    __tablename__ = "media_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    sha1: Mapped[str] = mapped_column(String(40), index=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(16))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    blob_id: Mapped[str] = mapped_column(String(64))
    thumbnail_blob_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SightingRow(Base):
    """Where a media item was seen."""

    __tablename__ = "sightings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_items.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    ingest_item_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_items.id"), unique=True)
    original_path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    file_modified_at: Mapped[datetime | None]
    file_created_at: Mapped[datetime | None]
    device_label: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeatureRow(Base):
    """An analyzer's output for a media item."""

    __tablename__ = "features"
    __table_args__ = (UniqueConstraint("media_id", "analyzer", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_items.id"))
    analyzer: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    value: Mapped[dict[str, Any]]
    params: Mapped[dict[str, Any]]
    reason: Mapped[str | None] = mapped_column(Text)


class BinarySignalRow(Base):
    """A packed binary hash (PDQ) of a media item; its id is the index id."""

    __tablename__ = "binary_signals"
    __table_args__ = (
        UniqueConstraint("media_id", "kind"),
        Index("ix_binary_signals_kind_id", "kind", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_items.id"))
    kind: Mapped[str] = mapped_column(String(32))
    code: Mapped[bytes] = mapped_column(LargeBinary)
    quality: Mapped[int] = mapped_column(Integer)


class IngestJobRow(Base):
    """A durable ingest run."""

    __tablename__ = "ingest_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    source: Mapped[str] = mapped_column(Text)
    source_key: Mapped[str] = mapped_column(String(64), index=True)
    device_label: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class IngestItemRow(Base):
    """One file of an ingest job."""

    __tablename__ = "ingest_items"
    __table_args__ = (
        UniqueConstraint("job_id", "locator_key"),
        Index("ix_ingest_items_job_id_state", "job_id", "state"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("ingest_jobs.id"))
    locator: Mapped[str] = mapped_column(Text)
    locator_key: Mapped[str] = mapped_column(String(64))
    original_path: Mapped[str] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    file_modified_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16))
    duplicate: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    media_id: Mapped[int | None] = mapped_column(ForeignKey("media_items.id"))
