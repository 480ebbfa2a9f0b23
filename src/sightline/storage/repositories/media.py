"""Media items, sightings and features (signals: ``repositories/signals.py``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import func, not_, or_, select
from sqlalchemy.orm import Session

from sightline.domain.access import CaseFilter
from sightline.domain.models import (
    Feature,
    FeatureStatus,
    MediaItem,
    NewMedia,
    SightingLocation,
)
from sightline.storage.orm import (
    AgencyRow,
    CaseRow,
    FeatureRow,
    MediaRow,
    SightingRow,
    utcnow,
)
from sightline.storage.repositories._concurrent import insert_ignoring
from sightline.storage.repositories.catalog import case_scope_clause

_CHUNK = 5_000  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def _media(row: MediaRow) -> MediaItem:
    return MediaItem(
        id=row.id,
        sha256=row.sha256,
        sha1=row.sha1,
        md5=row.md5,
        size=row.size,
        media_type=row.media_type,
        mime_type=row.mime_type,
        blob_id=row.blob_id,
        thumbnail_blob_id=row.thumbnail_blob_id,
        created_at=row.created_at,
    )


@dataclass(frozen=True, slots=True)
class NewSighting:
    """A sighting to insert."""

    media_id: int
    case_id: int
    original_path: str
    size: int
    modified_at: datetime | None
    device_label: str | None
    ingest_item_id: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MatchedCase:
    """A case an item was seen in, as a reader who may only know the match exists sees it.

    The agency code and case reference say whom to contact; nothing of the case's content.
    """

    media_id: int
    case_id: int
    case_reference: str
    agency_code: str


class MediaRepository:
    """Unique media files."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, items: Sequence[NewMedia]) -> dict[str, int]:
        """Insert media items in one statement; returns SHA-256 -> id of the stored row.

        An item another transaction stored meanwhile (two ingests of the same new file) is
        not inserted again: its id is the other row's, read once that transaction committed
        (PostgreSQL makes this insert wait for it). Ids follow the order of ``items``.
        """
        return self.add_new(items)[0]

    def add_new(self, items: Sequence[NewMedia]) -> tuple[dict[str, int], frozenset[str]]:
        """Like ``add_many``, and also which SHA-256s this call inserted itself.

        The others were stored by a concurrent transaction first: for the caller they are
        duplicates, not new media (their features and signals are the winner's).
        """
        if not items:
            return {}, frozenset()
        now = utcnow()
        unique: dict[str, NewMedia] = {}
        for item in items:
            unique.setdefault(item.sha256, item)
        rows = self._session.execute(
            insert_ignoring(self._session, MediaRow, ["sha256"]).returning(
                MediaRow.sha256, MediaRow.id
            ),
            [{**asdict(item), "created_at": now} for item in unique.values()],
        )
        ids = {str(sha): int(i) for sha, i in rows}
        inserted = frozenset(ids)
        if len(ids) < len(unique):  # stored by a concurrent writer: take the winner's id
            ids.update(self.ids_by_sha256(sha for sha in unique if sha not in ids))
        return ids, inserted

    def ids_by_sha256(self, hashes: Iterable[str]) -> dict[str, int]:
        """SHA-256 -> id of the items already stored among ``hashes``."""
        wanted = list(set(hashes))
        if not wanted:
            return {}
        rows = self._session.execute(
            select(MediaRow.sha256, MediaRow.id).where(MediaRow.sha256.in_(wanted))
        )
        return {str(sha): int(i) for sha, i in rows}

    def by_sha256(self, sha256: str) -> MediaItem | None:
        """The item with this SHA-256, if stored."""
        row = self._session.scalar(select(MediaRow).where(MediaRow.sha256 == sha256))
        return None if row is None else _media(row)

    def by_digests(
        self, *, md5: str | None = None, sha1: str | None = None, sha256: str | None = None
    ) -> list[MediaItem]:
        """Items matching any of the given digests."""
        clauses = []
        if md5:
            clauses.append(MediaRow.md5 == md5)
        if sha1:
            clauses.append(MediaRow.sha1 == sha1)
        if sha256:
            clauses.append(MediaRow.sha256 == sha256)
        if not clauses:
            return []
        rows = self._session.scalars(select(MediaRow).where(or_(*clauses)).order_by(MediaRow.id))
        return [_media(row) for row in rows]

    def get_many(self, ids: Iterable[int]) -> dict[int, MediaItem]:
        """Items by id."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = self._session.scalars(select(MediaRow).where(MediaRow.id.in_(wanted)))
        return {row.id: _media(row) for row in rows}

    def blob_references(self) -> dict[str, int]:
        """Every blob id the media refer to (originals and thumbnails) -> the media item id."""
        rows = self._session.execute(
            select(MediaRow.id, MediaRow.blob_id, MediaRow.thumbnail_blob_id)
        )
        refs: dict[str, int] = {}
        for media_id, blob_id, thumbnail_id in rows:
            refs[blob_id] = media_id
            if thumbnail_id is not None:
                refs[thumbnail_id] = media_id
        return refs

    def count(self) -> int:
        """Number of unique media items."""
        return int(self._session.scalar(select(func.count(MediaRow.id))) or 0)


class SightingRepository:
    """Where each media item was seen."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, sightings: Sequence[NewSighting]) -> None:
        """Record sightings in one statement."""
        if not sightings:
            return
        now = utcnow()
        # A sighting is recorded once per ingest item: a second writer recording the same
        # item (two runs resuming one job) leaves the first one's row.
        self._session.execute(
            insert_ignoring(self._session, SightingRow, ["ingest_item_id"]),
            [
                {
                    "media_id": s.media_id,
                    "case_id": s.case_id,
                    "original_path": s.original_path,
                    "size": s.size,
                    "file_modified_at": s.modified_at,
                    "file_created_at": s.created_at,
                    "device_label": s.device_label,
                    "ingest_item_id": s.ingest_item_id,
                    "recorded_at": now,
                }
                for s in sightings
            ],
        )

    def names_in_case(self, case_id: int) -> dict[int, str]:
        """Media id -> file name of its first sighting in the case."""
        rows = self._session.execute(
            select(SightingRow.media_id, SightingRow.original_path)
            .where(SightingRow.case_id == case_id)
            .order_by(SightingRow.id.desc())
        )
        return {int(m): str(p).rsplit("/", 1)[-1] for m, p in rows}

    def locations(
        self, media_ids: Iterable[int], *, scope: CaseFilter | None = None
    ) -> dict[int, list[SightingLocation]]:
        """Every sighting of the given items in cases within ``scope`` (None: every case).

        Pass the reader's :attr:`~sightline.domain.access.Action.VIEW_METADATA` scope: paths
        and devices are case content, and the database drops what the reader may not see.
        """
        wanted = list(set(media_ids))
        out: dict[int, list[SightingLocation]] = defaultdict(list)
        if not wanted or (scope is not None and scope.nothing):
            return out
        query = (
            select(SightingRow, CaseRow.reference, AgencyRow.code)
            .join(CaseRow, CaseRow.id == SightingRow.case_id)
            .join(AgencyRow, AgencyRow.id == CaseRow.agency_id)
            .where(SightingRow.media_id.in_(wanted))
            .order_by(SightingRow.id)
        )
        if scope is not None:
            query = query.where(case_scope_clause(scope, CaseRow))
        for row, reference, code in self._session.execute(query):
            out[row.media_id].append(
                SightingLocation(
                    media_id=row.media_id,
                    case_id=row.case_id,
                    case_reference=reference,
                    agency_code=code,
                    original_path=row.original_path,
                    device_label=row.device_label,
                )
            )
        return out

    def matched_cases(
        self, media_ids: Iterable[int], *, scope: CaseFilter, exclude: CaseFilter | None = None
    ) -> dict[int, list[MatchedCase]]:
        """The cases the given items were seen in, within ``scope`` but outside ``exclude``.

        For a reader who may only know that a match exists (``scope`` is their
        :attr:`~sightline.domain.access.Action.SEE_MATCH_EXISTS` scope, ``exclude`` the cases
        whose sightings they see in full): one row per item and case, and no path or device
        is read at all.
        """
        wanted = list(set(media_ids))
        out: dict[int, list[MatchedCase]] = defaultdict(list)
        if not wanted or scope.nothing:
            return out
        query = (
            select(SightingRow.media_id, CaseRow.id, CaseRow.reference, AgencyRow.code)
            .join(CaseRow, CaseRow.id == SightingRow.case_id)
            .join(AgencyRow, AgencyRow.id == CaseRow.agency_id)
            .where(SightingRow.media_id.in_(wanted), case_scope_clause(scope, CaseRow))
            .distinct()
            .order_by(SightingRow.media_id, CaseRow.id)
        )
        if exclude is not None:
            query = query.where(not_(case_scope_clause(exclude, CaseRow)))
        for media_id, case_id, reference, code in self._session.execute(query):
            out[int(media_id)].append(MatchedCase(int(media_id), int(case_id), reference, code))
        return out

    def count(self, case_id: int | None = None) -> int:
        """Number of sightings, optionally in one case."""
        query = select(func.count(SightingRow.id))
        if case_id is not None:
            query = query.where(SightingRow.case_id == case_id)
        return int(self._session.scalar(query) or 0)


class FeatureRepository:
    """Analyzer outputs."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, features: Sequence[Feature]) -> None:
        """Store features (one per media item, analyzer and version) in one statement.

        A feature already stored (by a concurrent ingest of the same file) is kept as it is.
        """
        if not features:
            return
        key = ["media_id", "analyzer", "version"]
        self._session.execute(
            insert_ignoring(self._session, FeatureRow, key),
            [
                {
                    "media_id": f.media_id,
                    "analyzer": f.analyzer,
                    "version": f.version,
                    "status": f.status.value,
                    "value": dict(f.value),
                    "params": dict(f.params),
                    "reason": f.reason,
                }
                for f in sorted(features, key=lambda f: (f.media_id, f.analyzer, f.version))
            ],
        )

    def for_media(self, media_id: int) -> list[Feature]:
        """Every feature of one media item."""
        rows = self._session.scalars(
            select(FeatureRow).where(FeatureRow.media_id == media_id).order_by(FeatureRow.id)
        )
        return [
            Feature(
                media_id=row.media_id,
                analyzer=row.analyzer,
                version=row.version,
                status=FeatureStatus(row.status),
                value=row.value,
                params=row.params,
                reason=row.reason,
            )
            for row in rows
        ]
