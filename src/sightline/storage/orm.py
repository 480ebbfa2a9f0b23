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
    contact: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseRow(Base):
    """An agency's case."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("agency_id", "reference"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    reference: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")
    # private | signals | shared (domain.access.SharingLevel); new cases start private.
    sharing: Mapped[str] = mapped_column(String(16), default="private", server_default="private")
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


class SignalConfigRow(Base):
    """How a family of signals was made: analyzer, version and parameters, stored once.

    Every signal row points here instead of repeating the parameters, so a video's thousand
    frame hashes cost one small integer each, and "which signals did version 1 make" is one
    indexed lookup. ``params_sha256`` is the digest of the canonical JSON of ``params``.
    """

    __tablename__ = "signal_configs"
    __table_args__ = (UniqueConstraint("analyzer", "version", "params_sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analyzer: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    params_sha256: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]


class SignalRow(Base):
    """One signal of one media item; its id is the index id (docs/adr/0013).

    Any number per item and kind: ``position`` orders a sequence (the frames of a video,
    0 for a single value) and ``time_ms`` places it in the recording. ``code`` holds compact
    bytes (a packed binary hash, float32 vector bytes); a large value (local features) lives
    in the blob store under ``blob_id`` instead. Never JSON.
    """

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("media_id", "kind", "position"),
        Index("ix_signals_kind_id", "kind", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_items.id"))
    kind: Mapped[str] = mapped_column(String(32))
    config_id: Mapped[int | None] = mapped_column(ForeignKey("signal_configs.id"))
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    time_ms: Mapped[int | None] = mapped_column(BigInteger)
    quality: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[bytes | None] = mapped_column(LargeBinary)
    blob_id: Mapped[str | None] = mapped_column(String(64))


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
    upload_token: Mapped[str | None] = mapped_column(String(32), unique=True)
    uploader: Mapped[str | None] = mapped_column(String(200))
    failure_reason: Mapped[str | None] = mapped_column(Text)


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


class HashListRow(Base):
    """An imported hash list (bank)."""

    __tablename__ = "hash_lists"
    __table_args__ = (UniqueConstraint("owner_agency_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    pdq_threshold: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HashListEntryRow(Base):
    """One entry of a hash list; ``pdq`` holds the packed 32 bytes."""

    __tablename__ = "hash_list_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id"), index=True)
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    sha1: Mapped[str | None] = mapped_column(String(40), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    photodna: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(200))
    series: Mapped[str | None] = mapped_column(String(300))
    victim_identified: Mapped[bool | None]
    offender_identified: Mapped[bool | None]
    is_distributed: Mapped[bool | None]
    baseline: Mapped[bool | None]
    media_type: Mapped[str | None] = mapped_column(String(50))
    submissions: Mapped[int | None] = mapped_column(Integer)
    match_count: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[bool] = mapped_column(default=False)


class EntryVoteRow(Base):
    """A reviewer's verdict on a match against a list entry, reported to the list's owner."""

    __tablename__ = "entry_votes"
    __table_args__ = (UniqueConstraint("entry_id", "media_id", "agency_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("hash_list_entries.id"), index=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_items.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    reviewer: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchRow(Base):
    """A link from a media item to another media item or to a hash-list entry."""

    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("media_id", "target_key", "signal"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_items.id"), index=True)
    # "m:<media id>" or "e:<entry id>": one non-null key, so the unique constraint holds on
    # every backend (NULLs never collide in a unique constraint).
    target_key: Mapped[str] = mapped_column(String(40))
    target_media_id: Mapped[int | None] = mapped_column(ForeignKey("media_items.id"), index=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("hash_list_entries.id"), index=True)
    signal: Mapped[str] = mapped_column(String(16))
    distance: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int | None] = mapped_column(Integer)
    # How two recordings match: the share of each side matched, the aligned segments and a
    # sample of matched frames (docs/adr/0015-recordings.md); None for stills and list hits.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseMediaRow(Base):
    """Triage of one media item within one case: status and duplicate stack."""

    __tablename__ = "case_media"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_items.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(24))
    stack_media_id: Mapped[int] = mapped_column(ForeignKey("media_items.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertRow(Base):
    """An overlap alert to one agency about one of its cases."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("case_id", "media_id", "counterpart_key"),
        Index("ix_alerts_agency_id_id", "agency_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    media_id: Mapped[int] = mapped_column(ForeignKey("media_items.id"))
    kind: Mapped[str] = mapped_column(String(16))
    # "c:<case id>/<media id>" for another case, "e:<entry id>" for a hash-list entry.
    counterpart_key: Mapped[str] = mapped_column(String(60))
    counterpart_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    counterpart_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    counterpart_media_id: Mapped[int | None] = mapped_column(ForeignKey("media_items.id"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("hash_list_entries.id"))
    signal: Mapped[str] = mapped_column(String(16))
    distance: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]


class IndexRemovalRow(Base):
    """A code removed from an index source (a deleted list entry, a removed signal).

    Indexes are caches that catch up by checkpoint; additions are found by id, removals by
    this log, which every process applies to its copy of the index.
    """

    __tablename__ = "index_removals"
    __table_args__ = (Index("ix_index_removals_kind_id", "kind", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int] = mapped_column(Integer)
    removed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEventRow(Base):
    """One link of the append-only, hash-chained audit trail (see ``sightline.domain.audit``).

    Ids are assigned by the trail itself (the previous id plus one, under a lock), not by a
    database sequence: a sequence skips the values of rolled-back transactions, and the
    verifier must be able to read a gap in ids as a deleted event. ``prev_hash`` is unique, so
    two events can never claim the same predecessor (the chain cannot fork).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor_id", "actor", "id"),
        Index("ix_audit_events_action_id", "action", "id"),
        Index("ix_audit_events_actor_agency_id_id", "actor_agency_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    actor_agency_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class StoreKeyRow(Base):
    """The store's record of its master key, written once by ``sightline init`` (ADR 0011).

    One row (``id`` 1): the key's id and check value (another store's key is refused) and where
    the keyed audit chain starts, authenticated by an HMAC under the chain key.
    """

    __tablename__ = "store_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key_id: Mapped[str] = mapped_column(String(16))
    key_check: Mapped[str] = mapped_column(String(64))
    legacy_last_id: Mapped[int] = mapped_column(Integer)
    legacy_head_hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class UserRow(Base):
    """A person who signs in: one agency, one role, a certification that expires.

    ``password_hash`` is an argon2id PHC string; ``totp_secret`` is the TOTP seed sealed with
    AES-GCM under a key derived from the master key (never stored in clear).
    """

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    certified_until: Mapped[datetime | None]
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(default=False)
    # The 30-second TOTP step last accepted: a code is good for one sign-in only (replay).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class ApiTokenRow(Base):
    """An API token for a tool: scoped, expiring, revocable; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class WebSessionRow(Base):
    """A signed-in browser session; only the SHA-256 of its cookie secret is stored.

    ``csrf_hash`` is the SHA-256 of the CSRF token the client must echo on every unsafe
    request. A session ends at ``expires_at`` (absolute), after ``idle`` without use, or when
    revoked (sign-out, password change, disabled user).
    """

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class JobRow(Base):
    """A durable job (``domain/jobs.py``): a row with a lease, run by a worker role.

    ``(state, run_after, id)`` serves the lease query (the oldest due job first); leases of
    running jobs are found by ``(state, lease_expires_at)``.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_run_after_id", "state", "run_after", "id"),
        Index("ix_jobs_state_lease_expires_at", "state", "lease_expires_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    resource: Mapped[str | None] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    requester: Mapped[str] = mapped_column(String(200))
    requester_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    source: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any]]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
