"""Hash lists (banks), their entries and reviewers' votes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict

from sqlalchemy import case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from sightline.domain.models import HashList, HashListEntryData, ListEntryRef, ListKind
from sightline.errors import ConflictError, NotFoundError
from sightline.storage.orm import (
    AlertRow,
    EntryVoteRow,
    HashListEntryRow,
    HashListRow,
    IndexRemovalRow,
    MatchRow,
    MediaRow,
)
from sightline.storage.repositories._concurrent import open_writers

_CHUNK = 5_000  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def _list(row: HashListRow, count: int) -> HashList:
    return HashList(
        id=row.id,
        owner_agency_id=row.owner_agency_id,
        name=row.name,
        kind=ListKind(row.kind),
        pdq_threshold=row.pdq_threshold,
        enabled=row.enabled,
        entry_count=count,
        created_at=row.created_at,
    )


_REF_COLUMNS = (
    HashListEntryRow.id,
    HashListEntryRow.list_id,
    HashListRow.name,
    HashListRow.kind,
    HashListRow.enabled,
    HashListRow.owner_agency_id,
    HashListRow.pdq_threshold,
    HashListEntryRow.external_id,
    HashListEntryRow.series,
    HashListEntryRow.victim_identified,
    HashListEntryRow.quarantined,
)


def _ref(row: Sequence[object]) -> ListEntryRef:
    (id_, list_id, name, kind, enabled, owner, threshold, ext, series, victim, quarantined) = row
    return ListEntryRef(
        id=int(id_),  # type: ignore[call-overload]
        list_id=int(list_id),  # type: ignore[call-overload]
        list_name=str(name),
        list_kind=ListKind(str(kind)),
        list_enabled=bool(enabled),
        owner_agency_id=int(owner),  # type: ignore[call-overload]
        pdq_threshold=int(threshold),  # type: ignore[call-overload]
        external_id=None if ext is None else str(ext),
        series=None if series is None else str(series),
        victim_identified=None if victim is None else bool(victim),
        quarantined=bool(quarantined),
    )


class HashListRepository:
    """Hash lists and their entries."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create(self, owner_agency_id: int, name: str, kind: ListKind, threshold: int) -> HashList:
        """Create an empty list; names are unique per owning agency."""
        exists = self._session.scalar(
            select(HashListRow.id).where(
                HashListRow.owner_agency_id == owner_agency_id, HashListRow.name == name
            )
        )
        if exists is not None:
            raise ConflictError(f"the agency already has a hash list named {name!r}")
        row = HashListRow(
            owner_agency_id=owner_agency_id, name=name, kind=kind.value, pdq_threshold=threshold
        )
        self._session.add(row)
        self._session.flush()
        return _list(row, 0)

    def get(self, list_id: int) -> HashList:
        """The list with this id."""
        row = self._session.get(HashListRow, list_id)
        if row is None:
            raise NotFoundError(f"no hash list {list_id}")
        return _list(row, self._count(list_id))

    def all(self) -> list[HashList]:
        """Every list, by id."""
        query = select(HashListEntryRow.list_id, func.count(HashListEntryRow.id)).group_by(
            HashListEntryRow.list_id
        )
        counts = {int(list_id): int(n) for list_id, n in self._session.execute(query)}
        rows = self._session.scalars(select(HashListRow).order_by(HashListRow.id))
        return [_list(row, int(counts.get(row.id, 0))) for row in rows]

    def _count(self, list_id: int) -> int:
        query = select(func.count(HashListEntryRow.id)).where(HashListEntryRow.list_id == list_id)
        return int(self._session.scalar(query) or 0)

    def update(
        self, list_id: int, *, enabled: bool | None = None, threshold: int | None = None
    ) -> None:
        """Enable or disable a list, or change its PDQ threshold."""
        values: dict[str, object] = {}
        if enabled is not None:
            values["enabled"] = enabled
        if threshold is not None:
            values["pdq_threshold"] = threshold
        if values:
            self._session.execute(
                update(HashListRow).where(HashListRow.id == list_id).values(values)
            )

    def add_entries(self, list_id: int, entries: Sequence[HashListEntryData]) -> None:
        """Insert parsed entries in one statement."""
        if not entries:
            return
        rows = [
            {
                **asdict(entry),
                "pdq": bytes.fromhex(entry.pdq) if entry.pdq else None,
                "list_id": list_id,
            }
            for entry in entries
        ]
        self._session.execute(insert(HashListEntryRow), rows)

    def refs(self, ids: Iterable[int]) -> dict[int, ListEntryRef]:
        """Entries with their list's facts, by id."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        query = (
            select(*_REF_COLUMNS)
            .join(HashListRow, HashListRow.id == HashListEntryRow.list_id)
            .where(HashListEntryRow.id.in_(wanted))
        )
        return {int(row[0]): _ref(row) for row in self._session.execute(query)}

    def by_digests(
        self, md5: str | None, sha1: str | None, sha256: str | None
    ) -> list[tuple[ListEntryRef, str]]:
        """Entries whose MD5, SHA-1 or SHA-256 equals the given ones, with the digest matched."""
        return self.by_digest_sets([(md5, sha1, sha256)]).get((md5, sha1, sha256), [])

    def by_digest_sets(
        self, digests: Sequence[tuple[str | None, str | None, str | None]]
    ) -> dict[tuple[str | None, str | None, str | None], list[tuple[ListEntryRef, str]]]:
        """For many ``(md5, sha1, sha256)`` at once (one query): the entries each matches.

        Each hit names the strongest digest that matched (sha256, then sha1, then md5).
        """
        wanted = {
            "md5": {d[0] for d in digests if d[0]},
            "sha1": {d[1] for d in digests if d[1]},
            "sha256": {d[2] for d in digests if d[2]},
        }
        clauses = [
            getattr(HashListEntryRow, kind).in_(sorted(values))
            for kind, values in wanted.items()
            if values
        ]
        out: dict[tuple[str | None, str | None, str | None], list[tuple[ListEntryRef, str]]] = {
            d: [] for d in digests
        }
        if not clauses:
            return out
        query = (
            select(
                *_REF_COLUMNS, HashListEntryRow.md5, HashListEntryRow.sha1, HashListEntryRow.sha256
            )
            .join(HashListRow, HashListRow.id == HashListEntryRow.list_id)
            .where(or_(*clauses))
            .order_by(HashListEntryRow.id)
        )
        rows = [(_ref(row[:-3]), row[-3], row[-2], row[-1]) for row in self._session.execute(query)]
        for key in out:
            md5, sha1, sha256 = key
            for ref, e_md5, e_sha1, e_sha256 in rows:
                if sha256 and e_sha256 == sha256:
                    out[key].append((ref, "sha256"))
                elif sha1 and e_sha1 == sha1:
                    out[key].append((ref, "sha1"))
                elif md5 and e_md5 == md5:
                    out[key].append((ref, "md5"))
        return out

    def pdq_after(self, after_id: int, batch: int = 50_000) -> Iterator[list[tuple[int, bytes]]]:
        """Yield ``(entry id, packed PDQ)`` batches with ids above ``after_id``."""
        last = after_id
        while True:
            rows = self._session.execute(
                select(HashListEntryRow.id, HashListEntryRow.pdq)
                .where(HashListEntryRow.id > last, HashListEntryRow.pdq.is_not(None))
                .order_by(HashListEntryRow.id)
                .limit(batch)
            ).all()
            if not rows:
                return
            last = int(rows[-1][0])
            yield [(int(i), bytes(c or b"")) for i, c in rows]

    def pdq_by_id(self, ids: Iterable[int]) -> list[tuple[int, bytes]]:
        """``(entry id, packed PDQ)`` of the given entries that are stored with one, by id."""
        wanted = sorted(set(ids))
        out: list[tuple[int, bytes]] = []
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(HashListEntryRow.id, HashListEntryRow.pdq)
                .where(
                    HashListEntryRow.id.in_(wanted[start : start + _CHUNK]),
                    HashListEntryRow.pdq.is_not(None),
                )
                .order_by(HashListEntryRow.id)
            )
            out.extend((int(i), bytes(c or b"")) for i, c in rows)
        return out

    def pdq_writers(self) -> frozenset[str] | None:
        """Transactions that may still commit entries or removals (None: ids commit in order).

        See :func:`~sightline.storage.repositories._concurrent.open_writers`.
        """
        tables = [HashListEntryRow.__tablename__, IndexRemovalRow.__tablename__]
        return open_writers(self._session, tables)

    def max_pdq_id(self) -> int:
        """The newest entry id holding a PDQ hash (0 when none)."""
        query = select(func.max(HashListEntryRow.id)).where(HashListEntryRow.pdq.is_not(None))
        return int(self._session.scalar(query) or 0)

    def delete(self, list_id: int) -> list[int]:
        """Delete a list with its entries, votes, matches and alerts against its entries.

        Returns the ids of the deleted entries that had a PDQ hash (to remove from indexes).
        """
        entries = select(HashListEntryRow.id).where(HashListEntryRow.list_id == list_id)
        with_pdq = [
            int(i) for i in self._session.scalars(entries.where(HashListEntryRow.pdq.is_not(None)))
        ]
        for row_type in (EntryVoteRow, MatchRow, AlertRow):
            self._session.execute(delete(row_type).where(row_type.entry_id.in_(entries)))
        self._session.execute(delete(HashListEntryRow).where(HashListEntryRow.list_id == list_id))
        self._session.execute(delete(HashListRow).where(HashListRow.id == list_id))
        return with_pdq

    def entry_ids(self, list_id: int) -> list[int]:
        """Ids of the list's entries, in import order."""
        query = select(HashListEntryRow.id).where(HashListEntryRow.list_id == list_id)
        return [int(i) for i in self._session.scalars(query.order_by(HashListEntryRow.id))]

    def media_matching_digests(self, list_id: int) -> list[int]:
        """Stored media ids whose MD5, SHA-1 or SHA-256 is an entry of the list."""
        found: set[int] = set()
        # One indexed join per digest: an OR across three columns would defeat the indexes.
        for media_column, entry_column in (
            (MediaRow.md5, HashListEntryRow.md5),
            (MediaRow.sha1, HashListEntryRow.sha1),
            (MediaRow.sha256, HashListEntryRow.sha256),
        ):
            query = (
                select(MediaRow.id)
                .join(HashListEntryRow, entry_column == media_column)
                .where(HashListEntryRow.list_id == list_id)
            )
            found.update(int(i) for i in self._session.scalars(query))
        return sorted(found)

    def pdq_entries(self, list_id: int) -> list[tuple[int, bytes]]:
        """``(entry id, packed PDQ)`` of one list (retro-hunt)."""
        rows = self._session.execute(
            select(HashListEntryRow.id, HashListEntryRow.pdq).where(
                HashListEntryRow.list_id == list_id, HashListEntryRow.pdq.is_not(None)
            )
        )
        return [(int(i), bytes(c or b"")) for i, c in rows]

    def count_matches(self, entry_ids: Iterable[int]) -> None:
        """Add one to each entry's match counter (flood protection reads it)."""
        for entry_id in entry_ids:
            self._session.execute(
                update(HashListEntryRow)
                .where(HashListEntryRow.id == entry_id)
                .values(match_count=HashListEntryRow.match_count + 1)
            )

    def match_counts(self, list_id: int) -> list[tuple[int, int]]:
        """``(entry id, match count)`` of the entries of a list that matched at least once."""
        rows = self._session.execute(
            select(HashListEntryRow.id, HashListEntryRow.match_count).where(
                HashListEntryRow.list_id == list_id, HashListEntryRow.match_count > 0
            )
        )
        return [(int(i), int(n)) for i, n in rows]

    def quarantine(self, entry_ids: Iterable[int]) -> None:
        """Flag entries that match far more than their peers; they stop producing matches."""
        ids = list(entry_ids)
        if ids:
            self._session.execute(
                update(HashListEntryRow)
                .where(HashListEntryRow.id.in_(ids))
                .values(quarantined=True)
            )

    def vote(
        self, entry_id: int, media_id: int, agency_id: int, reviewer: str, verdict: str
    ) -> None:
        """Record (or change) an agency's verdict on a match against an entry."""
        row = self._session.scalar(
            select(EntryVoteRow).where(
                EntryVoteRow.entry_id == entry_id,
                EntryVoteRow.media_id == media_id,
                EntryVoteRow.agency_id == agency_id,
            )
        )
        if row is None:
            self._session.add(
                EntryVoteRow(
                    entry_id=entry_id,
                    media_id=media_id,
                    agency_id=agency_id,
                    reviewer=reviewer,
                    verdict=verdict,
                )
            )
        else:
            row.verdict, row.reviewer = verdict, reviewer
        self._session.flush()

    def vote_report(self, list_id: int) -> list[tuple[int, str | None, int, int, int, bool]]:
        """Entries of the list with votes or matches, for its owner.

        Each row: entry id, external id, match count, confirms, rejects, quarantined.
        """
        confirms = func.sum(case((EntryVoteRow.verdict == "confirm", 1), else_=0))
        rows = self._session.execute(
            select(
                HashListEntryRow.id,
                HashListEntryRow.external_id,
                HashListEntryRow.match_count,
                func.count(EntryVoteRow.id),
                confirms,
                HashListEntryRow.quarantined,
            )
            .outerjoin(EntryVoteRow, EntryVoteRow.entry_id == HashListEntryRow.id)
            .where(
                HashListEntryRow.list_id == list_id,
                or_(HashListEntryRow.match_count > 0, EntryVoteRow.id.is_not(None)),
            )
            .group_by(HashListEntryRow.id)
            .order_by(HashListEntryRow.id)
        )
        out = []
        for entry_id, external, matches, votes, confirmed, quarantined in rows:
            confirmed = int(confirmed or 0)
            out.append(
                (
                    int(entry_id),
                    external,
                    int(matches),
                    confirmed,
                    int(votes) - confirmed,
                    bool(quarantined),
                )
            )
        return out
