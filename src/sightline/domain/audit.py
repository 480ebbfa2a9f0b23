"""The audit trail: who did what to which resource, when, from where, with what outcome.

Events form a hash chain. Each event's ``hash`` is the SHA-256 of the previous event's hash
followed by a canonical JSON of every other field of the event (its id included), and the
first event follows :data:`GENESIS_HASH`. Changing, deleting, reordering or inserting a stored
event therefore breaks the chain at that event, which a verifier walking the events in id order
finds without any secret.

What a plain hash chain cannot show is the loss of the newest events (the remaining chain is
still consistent) or a chain rewritten from some point on by someone who knows the recipe. Both
are caught by comparing the chain with a head (id and hash) recorded outside the database:
operators anchor :class:`AuditHead` values (a ticket, a printed report, another system) and pass
one to the verifier.

Events hold ids and codes only, never media, file paths, digests of case material or victim
data: the trail must be safe to show to an auditor who may not see the case.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sightline.domain.access import Action, Actor, CaseFilter, scope_for

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event."""


class AuditOutcome(enum.StrEnum):
    """How the audited attempt ended."""

    ALLOWED = "allowed"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks a service for something, and from where, as the audit trail records it.

    ``actor`` is ``"cli:<os user>"`` for the command line, ``"user:<id>"`` for a signed-in
    session and ``"token:<id>"`` for an API token; ``source`` is ``"cli"`` or the client
    address. ``access`` is the authenticated user as the access policy sees them; it is
    ``None`` only for the local operator (the command line), whom no case filter restricts
    (ADR 0007).
    """

    actor: str
    source: str
    agency_id: int | None = None
    access: Actor | None = None

    def scope(self, action: Action, *, now: datetime | None = None) -> CaseFilter | None:
        """Which cases this requester may do ``action`` with (``None``: every case)."""
        return scope_for(self.access, action, now=now or datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class NewAuditEvent:
    """An event to append; the trail assigns its id, time and hashes.

    Attributes:
        actor: Who acted: ``"user:12"``, ``"token:5"``, ``"system"``, ``"cli:<os user>"``.
        action: What was attempted, dotted lower case: ``"search"``, ``"media.view_original"``.
        resource: What it was done to: ``"case:3"``, ``"media:17"``, ``"hashlist:2"``.
        outcome: Whether it was allowed, denied or failed.
        source: Where from: a client address such as ``"127.0.0.1"``, or ``"cli"``.
        actor_agency_id: The actor's agency, when it has one.
        detail: A small JSON object of ids and codes (never paths or digests).
    """

    actor: str
    action: str
    resource: str
    outcome: AuditOutcome = AuditOutcome.ALLOWED
    source: str = "cli"
    actor_agency_id: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """A stored event, a link of the chain.

    ``outcome`` is the stored text (normally an :class:`AuditOutcome` value), kept as read so
    an altered value is reported by the verifier instead of failing to load.
    """

    id: int
    occurred_at: datetime
    actor: str
    actor_agency_id: int | None
    action: str
    resource: str
    outcome: str
    source: str
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The newest event's id and hash: the value to anchor outside the database."""

    id: int
    hash: str

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of walking the chain.

    Attributes:
        ok: True when every event checked links to its predecessor and matches its hash.
        checked: How many events were read.
        first_bad_id: The lowest id where the chain breaks (for a deleted event, its missing
            id); None when ``ok``.
        problem: What is wrong there, in one sentence; None when ``ok``.
    """

    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None


def format_time(value: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``: the one spelling that enters the hash."""
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, ASCII only: the same bytes on every platform and database."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def chain_hash(
    prev_hash: str,
    *,
    id: int,
    occurred_at: datetime,
    actor: str,
    actor_agency_id: int | None,
    action: str,
    resource: str,
    outcome: str,
    source: str,
    detail: Any,
) -> str:
    """The hash of an event: SHA-256 over ``prev_hash`` + the canonical JSON of its fields.

    ``detail`` is hashed as stored (normally an object); a stored value that is no longer
    an object still hashes, to a value that no longer matches.
    """
    content = {
        "id": id,
        "occurred_at": format_time(occurred_at),
        "actor": actor,
        "actor_agency_id": actor_agency_id,
        "action": action,
        "resource": resource,
        "outcome": str(outcome),
        "source": source,
        "detail": detail,
    }
    return hashlib.sha256((prev_hash + canonical_json(content)).encode("ascii")).hexdigest()


def event_hash(event: AuditEvent) -> str:
    """Recompute a stored event's hash from its content and its ``prev_hash``."""
    return chain_hash(
        event.prev_hash,
        id=event.id,
        occurred_at=event.occurred_at,
        actor=event.actor,
        actor_agency_id=event.actor_agency_id,
        action=event.action,
        resource=event.resource,
        outcome=event.outcome,
        source=event.source,
        detail=dict(event.detail),
    )
