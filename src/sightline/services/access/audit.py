"""The audit trail as services see it: record an event with the action, verify, read.

Every state-changing service call, and every read of sensitive material (an original, an
unblurred image, a search, an export), calls :func:`record` inside its own unit of work,
before ``uow.commit()``: the event then commits with the action or not at all. A denied
attempt is recorded too (``outcome="denied"``), in a unit of work of its own that commits even
though the action does not happen.

Call :func:`record` last, just before the commit: an append holds the trail's lock until its
transaction ends, so a long transaction that records early makes every other audited action
wait for it.

Events hold ids and codes only. :func:`record` refuses, with ``ValueError``, any text that
looks like a file path, a file name of a media type, or a hex digest (a run of 32 or more hex
digits: MD5, SHA-1, SHA-256, PDQ, blob names): the trail must never leak case material to
whoever reads it.
"""

from __future__ import annotations

import getpass
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sightline.domain.access import Action, CaseScope, Decision, decide
from sightline.domain.audit import (
    AuditEvent,
    AuditHead,
    AuditOutcome,
    NewAuditEvent,
    Requester,
    VerifyReport,
    canonical_json,
)
from sightline.errors import AccessDenied, InvalidInputError, NotFoundError
from sightline.services.context import AppContext
from sightline.storage.unit_of_work import UnitOfWork

ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
"""Actions are dotted lower-case names: ``search``, ``media.view_original``."""

MAX_DETAIL_CHARS = 2000
"""A detail is a few ids and codes; anything longer is probably content that does not belong."""

_LIMITS = {"actor": 200, "action": 64, "resource": 200, "source": 100}  # the column sizes
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")
_MEDIA_FILE_NAME = re.compile(
    r"\.(jpe?g|png|gif|bmp|tiff?|webp|heic|avif|mp4|m4v|mov|avi|mkv|wmv|webm|3gp|"
    r"zip|rar|7z|tar|gz|e01|dd|pdf|docx?)$",
    re.IGNORECASE,
)
_MAX_DEPTH = 3
_HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")


def record(
    uow: UnitOfWork,
    *,
    actor: str,
    action: str,
    resource: str,
    outcome: AuditOutcome | str = AuditOutcome.ALLOWED,
    source: str = "cli",
    agency_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append an event in ``uow``'s transaction; the caller commits it with its action.

    Args:
        uow: The open unit of work of the action being recorded.
        actor: Who: ``"user:12"``, ``"token:5"``, ``"system"``, ``"cli:<os user>"``.
        action: What, dotted lower case: ``"search"``, ``"hashlist.import"``, ``"access.denied"``.
        resource: Which: ``"case:3"``, ``"media:17"``, ``"hashlist:2"`` (ids, never paths).
        outcome: ``"allowed"``, ``"denied"`` or ``"error"``.
        source: Where from: the client address, or ``"cli"``.
        agency_id: The actor's agency, if any.
        detail: A small JSON object of ids, codes, counts and flags.

    Raises:
        ValueError: a field is empty, too long or malformed, the outcome is unknown, or some
            text looks like a path, a media file name or a digest. These are programming
            errors in the caller, not user input.
    """
    event = NewAuditEvent(
        actor=_text("actor", actor),
        action=_action(action),
        resource=_text("resource", resource),
        outcome=_outcome(outcome),
        source=_text("source", source),
        actor_agency_id=agency_id,
        detail=_detail(detail or {}),
    )
    return uow.audit.append(event)


def record_request(
    uow: UnitOfWork,
    requester: Requester,
    action: str,
    resource: str,
    *,
    outcome: AuditOutcome | str = AuditOutcome.ALLOWED,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """:func:`record` for what ``requester`` asked: actor, source and agency filled in."""
    return record(
        uow,
        actor=requester.actor,
        action=action,
        resource=resource,
        outcome=outcome,
        source=requester.source,
        agency_id=requester.agency_id,
        detail=detail,
    )


def record_credential_refusal(
    uow: UnitOfWork, action: str, resource: str, *, source: str, reason: str | None
) -> None:
    """Record a refused credential (sign-in, token, session) as ``anonymous``, and commit.

    Nobody is authenticated yet, so the actor is ``anonymous``; ``reason`` says what was wrong
    (for the audit trail only: the caller answers with one generic message).
    """
    record(
        uow,
        actor="anonymous",
        action=action,
        resource=resource,
        outcome=AuditOutcome.DENIED,
        source=source,
        detail={"reason": reason},
    )
    uow.commit()


def record_denied(
    ctx: AppContext, requester: Requester, action: str, resource: str, reason: str
) -> None:
    """Record a refused attempt in a transaction of its own (the action does not happen)."""
    with ctx.uow() as uow:
        record_request(
            uow, requester, action, resource, outcome=AuditOutcome.DENIED, detail={"reason": reason}
        )
        uow.commit()


def authorize(
    ctx: AppContext,
    requester: Requester,
    action: Action,
    case: CaseScope,
    *,
    audit_action: str,
    now: datetime | None = None,
) -> Decision | None:
    """Check ``action`` on ``case`` with the policy; record and raise a refusal.

    The local operator (``requester.access is None``) is not checked and gets ``None``. A
    refused actor who may not even know the case exists gets :class:`NotFoundError`, one who
    may (or whose own agency owns it) gets :class:`AccessDenied`; both attempts are in the
    audit trail with the policy's reason.

    Raises:
        NotFoundError: the case is hidden from the actor.
        AccessDenied: the actor knows of the case but may not do ``action``.
    """
    actor = requester.access
    if actor is None:
        return None
    now = now or datetime.now(UTC)
    decision = decide(actor, action, case, now=now)
    if decision.allowed:
        return decision
    record_denied(ctx, requester, audit_action, f"case:{case.case_id}", decision.reason)
    hidden = case.agency_id != actor.agency_id
    if hidden and not decide(actor, Action.SEE_MATCH_EXISTS, case, now=now).allowed:
        raise NotFoundError("no such case")
    raise AccessDenied(decision.reason)


def verify(ctx: AppContext, expected_head: AuditHead | None = None) -> VerifyReport:
    """Walk the whole trail and report the first event where the chain breaks.

    Without ``expected_head`` the newest events could have been deleted unnoticed; pass a head
    recorded earlier (``sightline audit head``) to detect that too.
    """
    with ctx.uow() as uow:
        return uow.audit.verify(expected_head)


def show(
    ctx: AppContext,
    after_id: int = 0,
    limit: int = 100,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditEvent]:
    """Events after ``after_id``, oldest first, optionally of one actor and/or action.

    Raises:
        InvalidInputError: ``after_id`` is negative or ``limit`` is not 1-1000.
    """
    if after_id < 0:
        raise InvalidInputError("after: an event id, 0 or more")
    if not 1 <= limit <= 1000:
        raise InvalidInputError("limit: 1 to 1000 events")
    with ctx.uow() as uow:
        return uow.audit.page(after_id, limit, actor=actor, action=action)


def head(ctx: AppContext) -> AuditHead | None:
    """The newest event's id and hash (None while the trail is empty): the value to anchor."""
    with ctx.uow() as uow:
        return uow.audit.head()


def parse_head(text: str) -> AuditHead:
    """Read an anchored head written as ``ID:HASH`` (as ``sightline audit head`` prints it).

    Raises:
        InvalidInputError: not a positive id, a colon and 64 lower-case hex digits.
    """
    match = _HEAD.match(text.strip())
    if match is None or int(match.group(1)) < 1:
        raise InvalidInputError(
            "head: ID:HASH, e.g. 42:<64 hex digits> from `sightline audit head`"
        )
    return AuditHead(id=int(match.group(1)), hash=match.group(2))


def cli_actor() -> str:
    """The actor of a command-line call: ``cli:`` and the operating-system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = "unknown"
    return f"cli:{user}"


def _action(value: str) -> str:
    _text("action", value)
    if not ACTION.match(value):
        raise ValueError(f"audit action {value!r}: dotted lower-case names, e.g. media.view")
    return value


def _outcome(value: AuditOutcome | str) -> AuditOutcome:
    try:
        return AuditOutcome(value)
    except ValueError:
        valid = ", ".join(o.value for o in AuditOutcome)
        raise ValueError(f"audit outcome {value!r}: one of {valid}") from None


def _text(name: str, value: str) -> str:
    if not value or len(value) > _LIMITS[name]:
        raise ValueError(f"audit {name}: 1-{_LIMITS[name]} characters")
    _refuse_case_material(name, value)
    return value


def _refuse_case_material(where: str, value: str) -> None:
    """Refuse text that looks like a path, a media file name or a digest of case material."""
    if "/" in value or "\\" in value or value.startswith("~"):
        raise ValueError(f"audit {where}: looks like a file path; record ids, not paths")
    if _MEDIA_FILE_NAME.search(value):
        raise ValueError(f"audit {where}: looks like a file name; record ids, not names")
    if _HEX_RUN.search(value):
        raise ValueError(f"audit {where}: looks like a digest; record ids, not hashes")


def _detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    checked = _detail_value("detail", detail, 0)
    if not isinstance(checked, dict):
        raise ValueError("audit detail: a JSON object")
    if len(canonical_json(checked)) > MAX_DETAIL_CHARS:
        raise ValueError(f"audit detail: at most {MAX_DETAIL_CHARS} characters of JSON")
    return checked


def _detail_value(where: str, value: Any, depth: int) -> Any:
    """``value`` as plain JSON (lists, not tuples), or ValueError naming where it went wrong."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"audit {where}: numbers must be finite")
        return value
    if isinstance(value, str):
        _refuse_case_material(where, value)
        return value
    if depth >= _MAX_DEPTH:
        raise ValueError(f"audit {where}: nested more than {_MAX_DEPTH} levels")
    if isinstance(value, list | tuple):
        return [_detail_value(f"{where}[{i}]", item, depth + 1) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"audit {where}: keys must be strings")
            _refuse_case_material(f"{where} key", key)  # checked before it is echoed
            out[key] = _detail_value(f"{where}.{key}", item, depth + 1)
        return out
    raise ValueError(
        f"audit {where}: {type(value).__name__} is not allowed; use text, numbers, booleans, "
        "lists or objects"
    )
