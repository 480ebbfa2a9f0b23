"""The audit trail over the API: read it (scoped by the policy) and verify its hash chain.

A system administrator reads every event, an agency administrator the events of its agency's
actors; both need a signed-in session (administration needs a second factor). Each read is
itself audited (``audit.read``, ``audit.verify``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sightline.api.auth import AuditReader
from sightline.api.deps import ContextDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.pagination import AfterId, Limit, Page, page
from sightline.domain.audit import AuditEvent
from sightline.services.access.audit_read import read_events, verify_chain

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEventRead(BaseModel):
    """One link of the chain: who did what to which resource, when, from where, and how."""

    id: int = Field(examples=[1042])
    occurred_at: datetime = Field(examples=["2026-11-25T10:15:00.123456Z"])
    actor: str = Field(examples=["user:12"])
    actor_agency_id: int | None = Field(examples=[3])
    action: str = Field(examples=["media.reveal"])
    resource: str = Field(examples=["media:17"])
    outcome: str = Field(examples=["allowed"])
    source: str = Field(examples=["10.0.0.7"])
    detail: dict[str, Any] = Field(examples=[{"case": 4}])
    hash: str = Field(
        description="HMAC-SHA256 (under a key derived from the master key) of the previous "
        "hash and this event; plain SHA-256 for events written before the chain was keyed."
    )


class HeadRead(BaseModel):
    """The newest event's id and hash: anchor it outside the database."""

    id: int = Field(examples=[1042])
    hash: str = Field(examples=["9f2c" + "0" * 60])


class VerifyRead(BaseModel):
    """Whether the chain is intact, and where it breaks if not."""

    ok: bool = Field(examples=[True])
    checked: int = Field(examples=[1042])
    first_bad_id: int | None = Field(examples=[None])
    problem: str | None = Field(examples=[None])
    head: HeadRead | None


def _event(event: AuditEvent) -> AuditEventRead:
    return AuditEventRead.model_validate(event, from_attributes=True)


@router.get(
    "",
    operation_id="list_audit_events",
    response_model=Page[AuditEventRead],
    responses=ERROR_RESPONSES,
)
def list_events(
    requester: AuditReader,
    ctx: ContextDep,
    after_id: AfterId = 0,
    limit: Limit = 100,
    action: Annotated[str | None, Query(max_length=64, examples=["media.reveal"])] = None,
    actor: Annotated[str | None, Query(max_length=200, examples=["user:12"])] = None,
) -> Page[AuditEventRead]:
    """Audit events you may read, oldest first, optionally of one action or actor."""
    events = read_events(ctx, requester, after_id=after_id, limit=limit, action=action, actor=actor)
    return page([_event(e) for e in events], lambda e: e.id, limit)


@router.get(
    "/verify",
    operation_id="verify_audit_chain",
    response_model=VerifyRead,
    responses=ERROR_RESPONSES,
)
def verify(requester: AuditReader, ctx: ContextDep) -> VerifyRead:
    """Walk the whole chain (system administrators); returns the head to anchor."""
    found = verify_chain(ctx, requester)
    head = None if found.head is None else HeadRead(id=found.head.id, hash=found.head.hash)
    report = found.report
    return VerifyRead(
        ok=report.ok,
        checked=report.checked,
        first_bad_id=report.first_bad_id,
        problem=report.problem,
        head=head,
    )
