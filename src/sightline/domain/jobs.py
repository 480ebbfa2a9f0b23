"""Durable jobs: work that outlives the request that asked for it (DESIGN rule 9).

A job is a row, not a thread. Whoever asks for work (an API upload, a hash-list change,
``sightline index rebuild``) *enqueues* a job and goes on; a worker *leases* it, which makes it
``running`` under the worker's name until ``lease_expires_at``, and keeps the lease alive with
heartbeats while it works. A worker that dies stops heartbeating, its lease expires, and the
next worker leases the job again: every job kind is written so that running it again resumes
without loss or duplicates (ingest skips the items it finished; a retro-hunt and an index
rebuild are idempotent).

::

    queued --lease--> running --complete--> succeeded
      ^                 |----cancel-------> cancelled
      |                 |----fail, no attempts left--> failed
      +-----------------+  fail with attempts left, release (clean stop), lease expired

A payload holds ids, never case content (no file names, no digests): jobs are listed to
operators who may not see the case. The requester (actor and agency) is recorded so that the
worker's outcome is audited in the name of whoever asked, and so that access to the job
follows the access policy (``domain/access.py``: :func:`~sightline.domain.access.job_filter`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class JobState(enum.StrEnum):
    """Where a durable job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        """Whether the job is over for good (nothing will run it again)."""
        return self in _ENDED


_ENDED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

DEFAULT_MAX_ATTEMPTS = 3
"""Runs of a job before a failure is final: a crash or a passing fault gets two more tries."""


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue.

    Attributes:
        kind: The handler's name, for example ``ingest.upload``.
        payload: A small JSON object of ids (never case content).
        requester: The audit actor who asked (``user:3``, ``token:5``, ``cli:alice``).
        requester_agency_id: That actor's agency; ``None`` for the local operator.
        source: Where the request came from (a client address, ``cli``).
        resource: What the job works on, as the audit trail names it (``ingest:12``,
            ``hashlist:4``, ``index``); lets a caller find the job of a resource.
        max_attempts: Runs before a failure is final.
    """

    kind: str
    payload: dict[str, Any]
    requester: str
    requester_agency_id: int | None
    source: str
    resource: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


@dataclass(frozen=True, slots=True)
class JobError:
    """Why a job (or its last attempt) failed: a stable code and a message safe to show."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Job:
    """A durable job as stored."""

    id: int
    kind: str
    payload: dict[str, Any]
    resource: str | None
    state: JobState
    attempts: int
    max_attempts: int
    requester: str
    requester_agency_id: int | None
    source: str
    created_at: datetime
    run_after: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    heartbeat_at: datetime | None = None
    cancel_requested: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    error: JobError | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a heartbeat learned: whether the lease is still ours, and whether to stop."""

    held: bool
    cancel_requested: bool = False
