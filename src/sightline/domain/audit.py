"""The audit trail: who did what to which resource, when, from where, with what outcome.

Events form a keyed hash chain. Each event's ``hash`` is an HMAC-SHA256, under a key derived
from the master key and never stored in the database, of the previous event's hash followed by
a canonical JSON of every other field of the event (its id included); the first event follows
:data:`GENESIS_HASH`. Changing, deleting, reordering or inserting a stored event breaks the
chain at that event, and because the hash is keyed, someone with database access but without
the master key cannot recompute the chain after an edit nor append a well-formed event
(ADR 0011).

Trails written before the chain was keyed (plain SHA-256) are kept as they are: the store's
:class:`KeyRecord` names the last such *legacy* event and its hash, authenticated by an HMAC
under the same key, and the first keyed event links to that hash. The legacy segment is
therefore pinned by the key too: rewriting it would change its head hash.

What a chain cannot show by itself is the loss of the newest events (the remaining chain is
still consistent), or of all of them. Both are caught by comparing the chain with a head (id
and hash) recorded outside the database: operators anchor :class:`AuditHead` values, or a
signed :class:`AuditCheckpoint`, and pass one to the verifier.

Events hold ids and codes only, never media, file paths, digests of case material or victim
data: the trail must be safe to show to an auditor who may not see the case.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
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
    key: bytes | None,
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
    """The hash of an event: HMAC-SHA256 under ``key`` of ``prev_hash`` + its canonical JSON.

    ``key`` is the trail's chain key (:meth:`MasterKey.audit_chain_key`); ``None`` computes the
    plain SHA-256 of legacy events, written before the chain was keyed. ``detail`` is hashed
    as stored (normally an object); a stored value that is no longer an object still hashes,
    to a value that no longer matches.
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
    message = (prev_hash + canonical_json(content)).encode("ascii")
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def event_hash(event: AuditEvent, key: bytes | None) -> str:
    """Recompute a stored event's hash from its content and its ``prev_hash``.

    ``key`` as for :func:`chain_hash`: the chain key, or ``None`` for a legacy event.
    """
    return chain_hash(
        event.prev_hash,
        key=key,
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


@dataclass(frozen=True, slots=True)
class LegacySegment:
    """The events written before the chain was keyed: ids 1 to ``last_id`` (0: none).

    ``head_hash`` is the hash of event ``last_id`` (:data:`GENESIS_HASH` when there is none):
    the first keyed event links to it, so the legacy events are pinned by it.
    """

    last_id: int
    head_hash: str


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the database records, at ``sightline init``, about the store's master key.

    Attributes:
        key_id: The master key's id (not secret).
        key_check: The key's check value (:meth:`MasterKey.check_value`): a key that does not
            produce it is another store's key.
        legacy: Where the keyed audit chain starts.
        mac: HMAC under the chain key of the three values above (:func:`key_record_mac`), so
            the legacy boundary cannot be moved without the key.
    """

    key_id: str
    key_check: str
    legacy: LegacySegment
    mac: str


def key_record_mac(key: bytes, key_id: str, key_check: str, legacy: LegacySegment) -> str:
    """The HMAC-SHA256 under the chain key that authenticates a :class:`KeyRecord`."""
    content = {
        "key_id": key_id,
        "key_check": key_check,
        "legacy_last_id": legacy.last_id,
        "legacy_head_hash": legacy.head_hash,
    }
    message = b"sightline/audit-key-record/v1|" + canonical_json(content).encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


CHECKPOINT_FORMAT = "sightline-audit-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True, slots=True)
class AuditCheckpoint:
    """A head signed with the store's Ed25519 checkpoint key, to keep outside the database.

    Verifying the trail against a checkpoint detects everything an anchored head does
    (deleted newest events, every event deleted, a rewritten trail), and the signature shows
    the head was exported by this store and not typed in by whoever wants a trail to pass.

    Attributes:
        head: The newest event when the checkpoint was made.
        key_id: The id of the master key the signing key derives from.
        created_at: When the checkpoint was made.
        public_key: The raw Ed25519 public key, base64: anyone can check the signature.
        signature: The Ed25519 signature of :meth:`signed_bytes`, base64.
    """

    head: AuditHead
    key_id: str
    created_at: datetime
    public_key: str
    signature: str

    def signed_bytes(self) -> bytes:
        """The canonical JSON of every field but the signature: what is signed."""
        return canonical_json(self._content()).encode("ascii")

    def to_json(self) -> str:
        """The checkpoint file: the signed fields and the signature, one JSON object."""
        return json.dumps(self._content() | {"signature": self.signature}, indent=2) + "\n"

    def _content(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "head_id": self.head.id,
            "head_hash": self.head.hash,
            "key_id": self.key_id,
            "created_at": format_time(self.created_at),
            "public_key": self.public_key,
        }
