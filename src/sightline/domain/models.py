"""Domain dataclasses returned by repositories and used by services.

These are plain, immutable values. ORM rows never leave ``storage/``; repositories convert
them into these classes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sightline.domain.access import CaseScope, SharingLevel


@dataclass(frozen=True, slots=True)
class Agency:
    """A member organisation (a national police unit, a coordinating unit)."""

    id: int
    code: str
    name: str
    country: str
    contact: str = ""


@dataclass(frozen=True, slots=True)
class Case:
    """An agency's investigation; it owns the media uploaded into it."""

    id: int
    agency_id: int
    reference: str
    title: str
    created_at: datetime
    sharing: SharingLevel = SharingLevel.PRIVATE

    @property
    def scope(self) -> CaseScope:
        """What the access policy needs to know about this case."""
        return CaseScope(case_id=self.id, agency_id=self.agency_id, sharing=self.sharing)


@dataclass(frozen=True, slots=True)
class NewMedia:
    """What ingest learns about a unique file before it is stored (no id yet)."""

    sha256: str
    sha1: str
    md5: str
    size: int
    media_type: str
    mime_type: str | None
    blob_id: str
    thumbnail_blob_id: str | None


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One unique file, identified by its SHA-256.

    ``blob_id`` and ``thumbnail_blob_id`` are opaque names in the encrypted blob store; they
    never reveal the content hash.
    """

    id: int
    sha256: str
    sha1: str
    md5: str
    size: int
    media_type: str
    mime_type: str | None
    blob_id: str
    thumbnail_blob_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Sighting:
    """Where a media item was seen: a case, the original path and the file's times."""

    id: int
    media_id: int
    case_id: int
    original_path: str
    size: int
    modified_at: datetime | None
    created_at: datetime | None
    device_label: str | None
    ingest_item_id: int | None
    recorded_at: datetime


class FeatureStatus(enum.StrEnum):
    """Outcome of one analyzer on one media item."""

    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Feature:
    """A signal an analyzer derived from a media item, with the analyzer's name and version."""

    media_id: int
    analyzer: str
    version: str
    status: FeatureStatus
    value: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BinarySignal:
    """A binary perceptual hash of a media item, stored for indexing (PDQ for now).

    ``id`` is the id the binary index stores; ``code`` holds the packed bits.
    """

    id: int
    media_id: int
    kind: str
    code: bytes
    quality: int


class JobStatus(enum.StrEnum):
    """Lifecycle of an ingest job."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"  # an upload whose files were lost before they were ingested


class ItemState(enum.StrEnum):
    """Lifecycle of one file inside an ingest job."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IngestJob:
    """A durable ingest run: resumable until every item is done or failed."""

    id: int
    case_id: int
    source: str
    device_label: str | None
    status: JobStatus
    created_at: datetime
    finished_at: datetime | None
    # Set for API uploads: the job id the uploader polls, who uploaded, and why it failed.
    upload_token: str | None = None
    uploader: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True, slots=True)
class IngestItem:
    """One file (or zip entry) of an ingest job, with its state and failure reason."""

    id: int
    job_id: int
    locator: str
    state: ItemState
    reason: str | None
    detail: str | None
    media_id: int | None


@dataclass(frozen=True, slots=True)
class JobSummary:
    """Counts of an ingest job by outcome."""

    job_id: int
    total: int
    pending: int
    stored: int
    duplicates: int
    failed: int
    failures_by_reason: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class SightingLocation:
    """A sighting joined with its case and agency, as search results show it."""

    media_id: int
    case_id: int
    case_reference: str
    agency_code: str
    original_path: str
    device_label: str | None


class ListKind(enum.StrEnum):
    """A hash list either marks known material or suppresses false positives."""

    POSITIVE = "positive"
    NEGATIVE = "negative"


@dataclass(frozen=True, slots=True)
class HashListEntryData:
    """One entry of an imported hash list, as parsed (no ids yet).

    Digests are lower-case hex; ``pdq`` is 64 hex characters; ``photodna`` is kept as the
    opaque base64 text it arrived as (PhotoDNA is proprietary: stored, never computed).
    """

    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    photodna: str | None = None
    external_id: str | None = None
    series: str | None = None
    victim_identified: bool | None = None
    offender_identified: bool | None = None
    is_distributed: bool | None = None
    baseline: bool | None = None
    media_type: str | None = None
    submissions: int | None = None


@dataclass(frozen=True, slots=True)
class HashList:
    """An imported list of known hashes owned by an agency."""

    id: int
    owner_agency_id: int
    name: str
    kind: ListKind
    pdq_threshold: int
    enabled: bool
    entry_count: int
    created_at: datetime


class TriageStatus(enum.StrEnum):
    """What a specialist needs to know first about an item in a case."""

    KNOWN_IDENTIFIED = "known-identified"
    KNOWN = "known"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class ListEntryRef:
    """A hash-list entry with the facts about its list that matching needs."""

    id: int
    list_id: int
    list_name: str
    list_kind: ListKind
    list_enabled: bool
    owner_agency_id: int
    pdq_threshold: int
    external_id: str | None
    series: str | None
    victim_identified: bool | None
    quarantined: bool

    @property
    def threshold(self) -> int:
        """The list's own match distance for the perceptual hashes its entries carry.

        Hash lists exchange one perceptual hash per entry (PDQ, the stored column is named
        after it); the threshold is the list's, whatever the matching code calls the kind.
        """
        return self.pdq_threshold


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """A stored match: a media item linked to another item or to a list entry."""

    id: int
    media_id: int
    signal: str
    distance: int
    threshold: int | None
    target_media_id: int | None
    entry_id: int | None
    created_at: datetime
    # Recordings: shares matched, aligned segments, sample frames (see NewMatch.detail).
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CaseTriage:
    """Triage of one media item in one case."""

    case_id: int
    media_id: int
    status: TriageStatus
    stack_media_id: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class Alert:
    """Tells an agency that material in one of its cases matches elsewhere.

    The counterpart is another agency's case (``kind`` "overlap") or a hash-list entry
    (``kind`` "hashlist"). What of the counterpart a reader may see is decided by the access
    policy when the alert is shown, not here.
    """

    id: int
    agency_id: int
    case_id: int
    media_id: int
    kind: str
    counterpart_agency_id: int
    counterpart_case_id: int | None
    counterpart_media_id: int | None
    entry_id: int | None
    signal: str
    distance: int
    created_at: datetime
    acknowledged_at: datetime | None
