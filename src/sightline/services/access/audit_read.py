"""Reading the audit trail over the API, scoped by the policy and itself audited.

A system administrator reads every event; an agency administrator reads the events whose actor
belongs to its agency (:func:`~sightline.domain.access.audit_filter`); nobody else reads the
trail. Every read is recorded as ``audit.read`` (``audit.verify`` for a verification), so who
looked at the trail is in the trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sightline.domain.access import AuditFilter, audit_filter, decide_system_administration
from sightline.domain.audit import AuditEvent, AuditHead, Requester, VerifyReport
from sightline.errors import AccessDenied, InvalidInputError
from sightline.services.access.audit import record_denied, record_request
from sightline.services.context import AppContext

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of walking the chain, and the head to anchor outside the database."""

    report: VerifyReport
    head: AuditHead | None


def read_events(
    ctx: AppContext,
    requester: Requester,
    *,
    after_id: int = 0,
    limit: int = 100,
    action: str | None = None,
    actor: str | None = None,
) -> list[AuditEvent]:
    """Events after ``after_id`` the requester may read, oldest first.

    Raises:
        AccessDenied: the requester may not read the trail (audited).
        InvalidInputError: ``after_id`` is negative or ``limit`` is not 1 to 500.
    """
    if after_id < 0 or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"after_id: 0 or more; limit: 1 to {MAX_PAGE}")
    scope = _scope(ctx, requester)
    with ctx.uow() as uow:
        events = uow.audit.page(
            after_id,
            limit,
            actor=actor,
            action=action,
            actor_agency_id=None if scope is None else scope.agency_id,
        )
        detail = {"after_id": after_id, "returned": len(events), "filtered": bool(action or actor)}
        record_request(uow, requester, "audit.read", _resource(scope), detail=detail)
        uow.commit()
    return events


def verify_chain(ctx: AppContext, requester: Requester) -> Verification:
    """Walk the whole chain (system administrators only); audited ``audit.verify``.

    Raises:
        AccessDenied: the requester is not a system administrator with a second factor.
    """
    if requester.access is not None:
        decision = decide_system_administration(requester.access, now=datetime.now(UTC))
        if not decision.allowed:
            record_denied(ctx, requester, "audit.verify", "audit:all", decision.reason)
            raise AccessDenied(decision.reason)
    with ctx.uow() as uow:
        report = uow.audit.verify()
        head = uow.audit.head()
        detail = {"ok": report.ok, "checked": report.checked}
        record_request(uow, requester, "audit.verify", "audit:all", detail=detail)
        uow.commit()
    return Verification(report, head)


def _scope(ctx: AppContext, requester: Requester) -> AuditFilter | None:
    """What the requester may read (None: everything, the local operator); audited refusal."""
    if requester.access is None:
        return None
    try:
        return audit_filter(requester.access, now=datetime.now(UTC))
    except AccessDenied as exc:
        record_denied(ctx, requester, "audit.read", "audit:all", exc.reason)
        raise


def _resource(scope: AuditFilter | None) -> str:
    if scope is None or scope.agency_id is None:
        return "audit:all"
    return f"audit:agency:{scope.agency_id}"
