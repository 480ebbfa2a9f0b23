"""Durable ingest jobs and their per-file state.

Every file of a job is recorded before any is processed, so an interrupted run can be
resumed: done and failed items are never processed again, pending ones are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sightline.domain.models import IngestItem, IngestJob, ItemState, JobStatus, JobSummary
from sightline.errors import NotFoundError
from sightline.storage.orm import IngestItemRow, IngestJobRow, utcnow


def text_key(text: str) -> str:
    """A fixed-length key for a long text (B-tree indexes cannot hold arbitrary lengths)."""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewItem:
    """A file to record in a job."""

    locator: str
    original_path: str
    size: int | None
    modified_at: datetime | None
    state: ItemState = ItemState.PENDING
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class PendingItem:
    """A pending file with what the worker needs to process it."""

    id: int
    locator: str
    original_path: str
    size: int | None
    modified_at: datetime | None


def _job(row: IngestJobRow) -> IngestJob:
    return IngestJob(
        id=row.id,
        case_id=row.case_id,
        source=row.source,
        device_label=row.device_label,
        status=JobStatus(row.status),
        created_at=row.created_at,
        finished_at=row.finished_at,
        upload_token=row.upload_token,
        uploader=row.uploader,
        failure_reason=row.failure_reason,
    )


class IngestRepository:
    """Ingest jobs and items."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def create_job(
        self,
        case_id: int,
        source: str,
        device_label: str | None,
        *,
        upload_token: str | None = None,
        uploader: str | None = None,
    ) -> IngestJob:
        """Start a job for ``source`` (a canonical description of the inputs)."""
        row = IngestJobRow(
            case_id=case_id,
            source=source,
            source_key=text_key(source),
            device_label=device_label,
            status=JobStatus.RUNNING.value,
            upload_token=upload_token,
            uploader=uploader,
        )
        self._session.add(row)
        self._session.flush()
        return _job(row)

    def find_latest(self, case_id: int, source: str) -> IngestJob | None:
        """The newest job of this case over the same inputs, finished or not."""
        row = self._session.scalar(
            select(IngestJobRow)
            .where(
                IngestJobRow.case_id == case_id,
                IngestJobRow.source_key == text_key(source),
            )
            .order_by(IngestJobRow.id.desc())
        )
        return None if row is None else _job(row)

    def reopen(self, job_id: int) -> None:
        """Mark a finished job running again (new files appeared in its inputs)."""
        self._session.execute(
            update(IngestJobRow)
            .where(IngestJobRow.id == job_id)
            .values(status=JobStatus.RUNNING.value, finished_at=None)
        )

    def find_upload(self, upload_token: str) -> IngestJob | None:
        """The job of an API upload, by the id its uploader polls."""
        row = self._session.scalar(
            select(IngestJobRow).where(IngestJobRow.upload_token == upload_token)
        )
        return None if row is None else _job(row)

    def running_uploads(self) -> list[IngestJob]:
        """Upload jobs not finished or failed yet."""
        rows = self._session.scalars(
            select(IngestJobRow).where(
                IngestJobRow.upload_token.is_not(None),
                IngestJobRow.status == JobStatus.RUNNING.value,
            )
        )
        return [_job(row) for row in rows]

    def fail_job(self, job_id: int, reason: str, item_reason: str) -> None:
        """Mark the job failed with ``reason``, and its pending items with ``item_reason``."""
        self._session.execute(
            update(IngestItemRow)
            .where(
                IngestItemRow.job_id == job_id,
                IngestItemRow.state == ItemState.PENDING.value,
            )
            .values(state=ItemState.FAILED.value, reason=item_reason, detail=reason)
        )
        self._session.execute(
            update(IngestJobRow)
            .where(IngestJobRow.id == job_id)
            .values(status=JobStatus.FAILED.value, failure_reason=reason, finished_at=utcnow())
        )

    def get_job(self, job_id: int) -> IngestJob:
        """The job with this id."""
        row = self._session.get(IngestJobRow, job_id)
        if row is None:
            raise NotFoundError(f"no ingest job {job_id}")
        return _job(row)

    def known_locators(self, job_id: int) -> set[str]:
        """Locator keys already recorded for the job."""
        keys = self._session.scalars(
            select(IngestItemRow.locator_key).where(IngestItemRow.job_id == job_id)
        )
        return set(keys)

    def add_items(self, job_id: int, items: Sequence[NewItem]) -> None:
        """Record new items (callers skip locators already known)."""
        self._session.add_all(
            IngestItemRow(
                job_id=job_id,
                locator=item.locator,
                locator_key=text_key(item.locator),
                original_path=item.original_path,
                size=item.size,
                file_modified_at=item.modified_at,
                state=item.state.value,
                reason=item.reason,
                detail=item.detail,
            )
            for item in items
        )
        self._session.flush()

    def replace_item(self, item_id: int, items: Sequence[NewItem]) -> None:
        """Replace a pending item by ``items`` of the same job (an uploaded zip by its entries)."""
        row = self._session.get(IngestItemRow, item_id)
        if row is None:
            raise NotFoundError(f"no ingest item {item_id}")
        job_id = row.job_id
        self._session.delete(row)
        self._session.flush()
        self.add_items(job_id, items)

    def staged_locators(self) -> list[str]:
        """Locators of the items of running jobs that name staged uploads (ADR 0014)."""
        rows = self._session.scalars(
            select(IngestItemRow.locator)
            .join(IngestJobRow, IngestJobRow.id == IngestItemRow.job_id)
            .where(
                IngestJobRow.status == JobStatus.RUNNING.value,
                IngestItemRow.locator.startswith("staged:"),
            )
        )
        return list(rows)

    def locators(self, job_id: int) -> list[str]:
        """Every locator of a job's items."""
        return list(
            self._session.scalars(
                select(IngestItemRow.locator).where(IngestItemRow.job_id == job_id)
            )
        )

    def pending(self, job_id: int) -> list[PendingItem]:
        """Items still to process, in recording order."""
        rows = self._session.execute(
            select(
                IngestItemRow.id,
                IngestItemRow.locator,
                IngestItemRow.original_path,
                IngestItemRow.size,
                IngestItemRow.file_modified_at,
            )
            .where(
                IngestItemRow.job_id == job_id,
                IngestItemRow.state == ItemState.PENDING.value,
            )
            .order_by(IngestItemRow.id)
        ).all()
        return [PendingItem(*row) for row in rows]

    def mark_done_many(self, done: Sequence[tuple[int, int, bool]]) -> None:
        """Record processed items: ``(item id, media id, duplicate)``, in one statement."""
        if done:
            self._session.execute(
                update(IngestItemRow),
                [
                    {"id": i, "state": ItemState.DONE.value, "media_id": m, "duplicate": d}
                    for i, m, d in done
                ],
            )

    def mark_failed_many(self, failed: Sequence[tuple[int, str, str]]) -> None:
        """Record items that could not be taken: ``(item id, reason, detail)``."""
        if failed:
            self._session.execute(
                update(IngestItemRow),
                [
                    {"id": i, "state": ItemState.FAILED.value, "reason": r, "detail": d}
                    for i, r, d in failed
                ],
            )

    def failures(self, job_id: int) -> list[IngestItem]:
        """Failed items of a job."""
        rows = self._session.scalars(
            select(IngestItemRow)
            .where(IngestItemRow.job_id == job_id, IngestItemRow.state == ItemState.FAILED.value)
            .order_by(IngestItemRow.id)
        )
        return [
            IngestItem(
                id=row.id,
                job_id=row.job_id,
                locator=row.original_path,
                state=ItemState(row.state),
                reason=row.reason,
                detail=row.detail,
                media_id=row.media_id,
            )
            for row in rows
        ]

    def summary(self, job_id: int) -> JobSummary:
        """Counts by outcome."""
        rows = self._session.execute(
            select(
                IngestItemRow.state,
                IngestItemRow.duplicate,
                IngestItemRow.reason,
                func.count(IngestItemRow.id),
            )
            .where(IngestItemRow.job_id == job_id)
            .group_by(IngestItemRow.state, IngestItemRow.duplicate, IngestItemRow.reason)
        ).all()
        counts = {"pending": 0, "stored": 0, "duplicates": 0, "failed": 0}
        reasons: dict[str, int] = {}
        for state, duplicate, reason, n in rows:
            if state == ItemState.PENDING.value:
                counts["pending"] += n
            elif state == ItemState.FAILED.value:
                counts["failed"] += n
                reasons[reason or "unknown"] = reasons.get(reason or "unknown", 0) + n
            elif duplicate:
                counts["duplicates"] += n
            else:
                counts["stored"] += n
        return JobSummary(
            job_id=job_id,
            total=sum(counts.values()),
            failures_by_reason=dict(sorted(reasons.items())),
            **counts,
        )

    def finish(self, job_id: int) -> None:
        """Mark the job finished."""
        self._session.execute(
            update(IngestJobRow)
            .where(IngestJobRow.id == job_id)
            .values(status=JobStatus.FINISHED.value, finished_at=utcnow())
        )
