"""The access policy: who may do what with which case (DESIGN rule 7: decided here only).

Services call :func:`decide` or :func:`require` before acting, and repositories scope their
queries with :func:`case_filter`, so no route, command or job re-implements a rule.

Three things decide: the actor's **role**, the actor's **relation** to the case (the owning
agency, or another agency whose case is private, signals-only or shared) and the **action**.
The role and relation say whether an action is *granted*; the action then says what the
actor must hold *now*: a valid certification (``C``), a second factor this session (``M``)
or both (``CM``). ``-`` means never.

==============  ==========  =====  ========  =====  ====  ======  ==========
role            relation    media  metadata  match  edit  export  administer
==============  ==========  =====  ========  =====  ====  ======  ==========
viewer          own         CM     C         C      -     -       -
investigator    own         CM     C         C      C     CM      -
agency-admin    own         CM     C         C      C     CM      M
coordinator     own         CM     C         C      C     CM      -
system-admin    own         -      -         -      -     -       M
content roles   shared      CM     C         C      -     -       -
content roles   signals     -      -         C      -     -       -
coordinator     private     -      -         C      -     -       -
other roles     private     -      -         -      -     -       -
system-admin    any other   -      -         -      -     -       M
==============  ==========  =====  ========  =====  ====  ======  ==========

"Content roles" are viewer, investigator, agency-admin and coordinator; "own" ignores the
sharing level; "match" is :attr:`Action.SEE_MATCH_EXISTS` (the agency and case reference to
contact, nothing else). Choices where the issue is silent, and why:

* **Certification gates all case content**, own agency included, not only media: paths,
  EXIF and victim code names are material too, and certification is what says a person is
  trained to handle it. An expired certification cuts everything at once; a certification
  that ends exactly at ``now`` has expired.
* **Media leaves only behind a second factor**: viewing and exporting need certification and
  MFA for every role. Metadata, match existence and edits need certification only, so forensic
  tools can query and annotate with API tokens.
* **The system administrator is a technical role**: it administers every agency (users,
  certification) and never sees case content, even when certified (separation of duties: a
  person who must look at material gets a second, ordinary account).
* **Administering needs MFA** but no certification: it grants access without showing material.
* **Only the owning agency edits or exports** a case; sharing lends viewing, never custody.
* **The coordinator** (a unit like INTERPOL's) works its own agency's cases like an
  investigator, sees that matches exist in every agency's cases so it can deconflict, and sees
  other agencies' media only where the case is shared. It does not administer.

Denials carry a stable :class:`Reason` for the audit log, never case content or ids. The
structural reason (role or relation) wins over a missing certification, which wins over a
missing second factor, so the reason names what would have to change. Reasons are for the
audit log; the actor gets a generic message (:class:`~sightline.errors.AccessDenied`), and a
case the actor may not know of should be *not found*, which :func:`case_filter` gives for free.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sightline.errors import AccessDenied


class Role(enum.StrEnum):
    """What a user is for, within their agency."""

    VIEWER = "viewer"
    INVESTIGATOR = "investigator"
    AGENCY_ADMIN = "agency-admin"
    COORDINATOR = "coordinator"
    SYSTEM_ADMIN = "system-admin"


class SharingLevel(enum.StrEnum):
    """How much of a case other agencies may see; the owning agency decides."""

    PRIVATE = "private"
    SIGNALS = "signals"
    SHARED = "shared"


class Action(enum.StrEnum):
    """What an actor asks to do with a case (or, for ``ADMINISTER``, with an agency)."""

    VIEW_MEDIA = "view-media"
    VIEW_METADATA = "view-metadata"
    SEE_MATCH_EXISTS = "see-match-exists"
    EDIT_CASE = "edit-case"
    EXPORT = "export"
    ADMINISTER = "administer"


class Relation(enum.StrEnum):
    """Where a case stands relative to the actor: the columns' second key in the table."""

    OWN = "own"
    OTHER_SHARED = "other-shared"
    OTHER_SIGNALS = "other-signals"
    OTHER_PRIVATE = "other-private"


class Reason(enum.StrEnum):
    """Why a decision went the way it did: a short, stable code for the audit log."""

    OWN_AGENCY = "own_agency"
    SHARED_CASE = "shared_case"
    SIGNALS_CASE = "signals_case"
    COORDINATOR = "coordinator"
    SYSTEM_ADMIN = "system_admin"
    NOT_CERTIFIED = "not_certified"
    CERTIFICATION_EXPIRED = "certification_expired"
    MFA_REQUIRED = "mfa_required"
    SYSTEM_ADMIN_NO_CONTENT = "system_admin_no_content"
    ROLE_CANNOT_EDIT = "role_cannot_edit"
    ROLE_CANNOT_EXPORT = "role_cannot_export"
    ROLE_CANNOT_ADMINISTER = "role_cannot_administer"
    OTHER_AGENCY = "other_agency"
    OTHER_AGENCY_PRIVATE = "other_agency_private"
    SIGNALS_ONLY = "signals_only"


class Scope(enum.StrEnum):
    """What an API token may be used for (a session may do all of these).

    Scopes narrow a token below its user's rights; they never widen them: the policy above
    still decides every request.
    """

    SEARCH = "search"
    MATCH = "match"
    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"
    INGEST = "ingest"
    MEDIA_READ = "media:read"
    HASHLISTS_READ = "hashlists:read"
    HASHLISTS_WRITE = "hashlists:write"
    ALERTS_READ = "alerts:read"
    AUDIT_READ = "audit:read"
    ADMIN = "admin"
    TOKENS = "tokens"
    """List and revoke the user's own tokens. Issuing one needs a signed-in session: a token
    that could mint tokens could grant itself every scope."""


class _Needs(enum.Flag):
    """What an action requires the actor to hold at the moment of asking."""

    NOTHING = 0
    CERTIFICATION = enum.auto()
    MFA = enum.auto()


_NEEDS: Mapping[Action, _Needs] = {
    Action.VIEW_MEDIA: _Needs.CERTIFICATION | _Needs.MFA,
    Action.EXPORT: _Needs.CERTIFICATION | _Needs.MFA,
    Action.VIEW_METADATA: _Needs.CERTIFICATION,
    Action.SEE_MATCH_EXISTS: _Needs.CERTIFICATION,
    Action.EDIT_CASE: _Needs.CERTIFICATION,
    Action.ADMINISTER: _Needs.MFA,
}

_VIEW = frozenset({Action.VIEW_MEDIA, Action.VIEW_METADATA, Action.SEE_MATCH_EXISTS})
_WORK = _VIEW | {Action.EDIT_CASE, Action.EXPORT}
_MATCH = frozenset({Action.SEE_MATCH_EXISTS})
_ADMIN = frozenset({Action.ADMINISTER})
_NONE: frozenset[Action] = frozenset()
_CONTENT_ROLES = (Role.VIEWER, Role.INVESTIGATOR, Role.AGENCY_ADMIN, Role.COORDINATOR)

# The table of the module docstring, row by row: what each role is granted in each relation.
_GRANTS: Mapping[Relation, Mapping[Role, frozenset[Action]]] = {
    Relation.OWN: {
        Role.VIEWER: _VIEW,
        Role.INVESTIGATOR: _WORK,
        Role.AGENCY_ADMIN: _WORK | _ADMIN,
        Role.COORDINATOR: _WORK,
        Role.SYSTEM_ADMIN: _ADMIN,
    },
    Relation.OTHER_SHARED: {**dict.fromkeys(_CONTENT_ROLES, _VIEW), Role.SYSTEM_ADMIN: _ADMIN},
    Relation.OTHER_SIGNALS: {**dict.fromkeys(_CONTENT_ROLES, _MATCH), Role.SYSTEM_ADMIN: _ADMIN},
    Relation.OTHER_PRIVATE: {
        **dict.fromkeys(_CONTENT_ROLES, _NONE),
        Role.COORDINATOR: _MATCH,
        Role.SYSTEM_ADMIN: _ADMIN,
    },
}

_OTHER: Mapping[SharingLevel, Relation] = {
    SharingLevel.SHARED: Relation.OTHER_SHARED,
    SharingLevel.SIGNALS: Relation.OTHER_SIGNALS,
    SharingLevel.PRIVATE: Relation.OTHER_PRIVATE,
}


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got a naive datetime")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: a user of one agency, as authenticated for this request.

    Attributes:
        user_id: The user's id.
        agency_id: The agency the user belongs to.
        role: The user's role.
        certified_until: When the user's certification ends (timezone-aware); ``None`` if the
            user was never certified or the certification was withdrawn.
        mfa_verified: Whether the user passed the second factor (TOTP) for this session or
            token.
    """

    user_id: int
    agency_id: int
    role: Role
    certified_until: datetime | None
    mfa_verified: bool

    def __post_init__(self) -> None:
        if self.certified_until is not None:
            _require_aware(self.certified_until, "certified_until")

    def is_certified(self, now: datetime) -> bool:
        """Whether the certification is valid at ``now`` (it ends *at* ``certified_until``)."""
        _require_aware(now, "now")
        return self.certified_until is not None and self.certified_until > now


@dataclass(frozen=True, slots=True)
class CaseScope:
    """The facts about a case that access depends on: its owner and its sharing level."""

    case_id: int
    agency_id: int
    sharing: SharingLevel


@dataclass(frozen=True, slots=True)
class AgencyScope:
    """An agency as the target of :attr:`Action.ADMINISTER` (its users and certifications)."""

    agency_id: int


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one access check; ``reason`` is safe to write to the audit log."""

    allowed: bool
    reason: Reason


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which cases a query may return for one actor and action, for repositories to apply.

    A case passes when it belongs to ``agency_id`` and ``own_agency`` is true, or when it
    belongs to another agency and its sharing level is in ``other_levels``. In SQL::

        (cases.agency_id = :agency_id AND :own_agency)
        OR (cases.agency_id <> :agency_id AND cases.sharing IN :other_levels)

    It is derived from the same table as :func:`decide`, so ``allows(case)`` equals
    ``decide(...).allowed`` for every case. A case the filter hides should be reported as not
    found, so a denial never tells the actor that a case exists.
    """

    agency_id: int
    own_agency: bool
    other_levels: frozenset[SharingLevel]

    @property
    def nothing(self) -> bool:
        """No case passes: the query can return an empty result without running."""
        return not self.own_agency and not self.other_levels

    @property
    def everything(self) -> bool:
        """Every case passes: the query needs no agency condition."""
        return self.own_agency and self.other_levels == frozenset(SharingLevel)

    def allows(self, case: CaseScope) -> bool:
        """Whether ``case`` passes the filter."""
        if case.agency_id == self.agency_id:
            return self.own_agency
        return case.sharing in self.other_levels


def relation(actor: Actor, target: CaseScope | AgencyScope) -> Relation:
    """Where ``target`` stands relative to ``actor``.

    An agency has no sharing level: administering another agency is decided like
    administering its most private case.
    """
    if target.agency_id == actor.agency_id:
        return Relation.OWN
    if isinstance(target, AgencyScope):
        return Relation.OTHER_PRIVATE
    return _OTHER[target.sharing]


def decide(
    actor: Actor, action: Action, target: CaseScope | AgencyScope, *, now: datetime
) -> Decision:
    """Decide whether ``actor`` may do ``action`` with ``target`` at ``now``.

    Args:
        actor: Who asks.
        action: What they ask to do.
        target: A case, or an agency for :attr:`Action.ADMINISTER` of its users.
        now: The current time, timezone-aware; certification is checked against it.

    Returns:
        Whether it is allowed, with a reason code for the audit log.

    Raises:
        ValueError: ``now`` is naive, or ``target`` is an agency and ``action`` is not
            ``ADMINISTER``.
    """
    _require_aware(now, "now")
    if isinstance(target, AgencyScope) and action is not Action.ADMINISTER:
        raise ValueError(f"{action} needs a case; only {Action.ADMINISTER} applies to an agency")
    return _decide(actor, action, relation(actor, target), now)


def require(
    actor: Actor, action: Action, target: CaseScope | AgencyScope, *, now: datetime
) -> Decision:
    """Like :func:`decide`, but raise when the action is not allowed.

    Returns:
        The decision (allowed), so the caller can audit its reason.

    Raises:
        AccessDenied: The action is not allowed; its ``reason`` is the decision's reason and
            its message says nothing about the case.
        ValueError: As for :func:`decide`.
    """
    decision = decide(actor, action, target, now=now)
    if not decision.allowed:
        raise AccessDenied(decision.reason)
    return decision


def case_filter(actor: Actor, action: Action, *, now: datetime) -> CaseFilter:
    """Which cases ``actor`` may do ``action`` with at ``now``, as a repository filter.

    Use :attr:`Action.SEE_MATCH_EXISTS` to scope what a user may know exists (alerts, match
    lists, look-ups by id), :attr:`Action.VIEW_METADATA` for case lists and search results.

    Raises:
        ValueError: ``now`` is naive.
    """
    _require_aware(now, "now")
    own = _decide(actor, action, Relation.OWN, now).allowed
    levels = frozenset(
        level for level, rel in _OTHER.items() if _decide(actor, action, rel, now).allowed
    )
    return CaseFilter(agency_id=actor.agency_id, own_agency=own, other_levels=levels)


def scope_for(actor: Actor | None, action: Action, *, now: datetime) -> CaseFilter | None:
    """:func:`case_filter` for an authenticated actor; ``None`` (no filter) for the operator.

    ``actor`` is ``None`` only for the local operator (the command line on the server, which
    holds the master key and the database and so can read everything anyway; ADR 0007).
    """
    return None if actor is None else case_filter(actor, action, now=now)


def agency_may_know(agency_id: int, case: CaseScope) -> bool:
    """Whether an agency's people (content roles) may learn that ``case`` holds a match.

    What automatic work done for an agency (the triage status of its new material) may take
    into account: its own cases and other agencies' signals-only and shared cases, never a
    private one. It is the table's "match" column for an investigator, read for the agency.
    """
    rel = Relation.OWN if case.agency_id == agency_id else _OTHER[case.sharing]
    return Action.SEE_MATCH_EXISTS in _GRANTS[rel][Role.INVESTIGATOR]


def allowed_actions(actor: Actor, case: CaseScope, *, now: datetime) -> frozenset[Action]:
    """Every action ``actor`` may take on ``case`` at ``now`` (to show or hide controls).

    An alert shows its counterpart case by this set: nothing without
    :attr:`Action.SEE_MATCH_EXISTS`, the agency and case reference with it, details with
    :attr:`Action.VIEW_METADATA`, media with :attr:`Action.VIEW_MEDIA`.
    """
    return frozenset(a for a in Action if decide(actor, a, case, now=now).allowed)


def _decide(actor: Actor, action: Action, rel: Relation, now: datetime) -> Decision:
    if action not in _GRANTS[rel][actor.role]:
        return Decision(allowed=False, reason=_refusal(actor.role, action, rel))
    needs = _NEEDS[action]
    if _Needs.CERTIFICATION in needs and not actor.is_certified(now):
        expired = actor.certified_until is not None
        return Decision(
            allowed=False,
            reason=Reason.CERTIFICATION_EXPIRED if expired else Reason.NOT_CERTIFIED,
        )
    if _Needs.MFA in needs and not actor.mfa_verified:
        return Decision(allowed=False, reason=Reason.MFA_REQUIRED)
    return Decision(allowed=True, reason=_grant_reason(actor.role, rel))


def _grant_reason(role: Role, rel: Relation) -> Reason:
    if role is Role.SYSTEM_ADMIN:
        return Reason.SYSTEM_ADMIN
    if rel is Relation.OTHER_PRIVATE:
        return Reason.COORDINATOR
    return {
        Relation.OWN: Reason.OWN_AGENCY,
        Relation.OTHER_SHARED: Reason.SHARED_CASE,
        Relation.OTHER_SIGNALS: Reason.SIGNALS_CASE,
    }[rel]


def _refusal(role: Role, action: Action, rel: Relation) -> Reason:
    """The structural reason a role in a relation is not granted an action."""
    if action is Action.ADMINISTER:
        if role is Role.AGENCY_ADMIN:
            return Reason.OTHER_AGENCY
        return Reason.ROLE_CANNOT_ADMINISTER
    if role is Role.SYSTEM_ADMIN:
        return Reason.SYSTEM_ADMIN_NO_CONTENT
    if rel is Relation.OTHER_PRIVATE:
        return Reason.OTHER_AGENCY_PRIVATE
    if rel is Relation.OTHER_SIGNALS:
        return Reason.SIGNALS_ONLY
    if rel is Relation.OTHER_SHARED:
        return Reason.OTHER_AGENCY
    if action is Action.EDIT_CASE:
        return Reason.ROLE_CANNOT_EDIT
    return Reason.ROLE_CANNOT_EXPORT


# --- Administration beyond one case: agencies, roles, the audit trail ----------------------

_GRANTABLE: Mapping[Role, frozenset[Role]] = {
    Role.SYSTEM_ADMIN: frozenset(Role),
    Role.AGENCY_ADMIN: frozenset({Role.VIEWER, Role.INVESTIGATOR, Role.AGENCY_ADMIN}),
}
"""Which roles an administrator may give (or act on): nobody grants above their own reach.

Coordinators see match existence in every agency and system administrators administer every
agency, so only a system administrator creates, certifies or disables either.
"""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit events an actor may read: all (``agency_id`` None) or one agency's actors'."""

    agency_id: int | None


def decide_system_administration(actor: Actor, *, now: datetime) -> Decision:
    """Whether ``actor`` may administer the system as a whole (create agencies, verify audit).

    A new agency has no id to decide on, so this is the system administrator's alone, with a
    second factor as for every administration.

    Raises:
        ValueError: ``now`` is naive.
    """
    _require_aware(now, "now")
    if actor.role is not Role.SYSTEM_ADMIN:
        return Decision(allowed=False, reason=Reason.ROLE_CANNOT_ADMINISTER)
    if not actor.mfa_verified:
        return Decision(allowed=False, reason=Reason.MFA_REQUIRED)
    return Decision(allowed=True, reason=Reason.SYSTEM_ADMIN)


def decide_role_administration(
    actor: Actor, agency_id: int, role: Role, *, now: datetime
) -> Decision:
    """Whether ``actor`` may create or act on a user of ``role`` in agency ``agency_id``.

    It needs :attr:`Action.ADMINISTER` on the agency and a role within the actor's reach: an
    agency administrator handles viewers, investigators and agency administrators of its own
    agency; a system administrator handles every role everywhere.

    Raises:
        ValueError: ``now`` is naive.
    """
    decision = decide(actor, Action.ADMINISTER, AgencyScope(agency_id), now=now)
    if decision.allowed and role not in _GRANTABLE.get(actor.role, frozenset()):
        return Decision(allowed=False, reason=Reason.ROLE_CANNOT_ADMINISTER)
    return decision


def decide_audit_read(actor: Actor, *, now: datetime) -> Decision:
    """Whether ``actor`` may read the audit trail (of its own agency at least).

    Reading who did what is administration: it needs :attr:`Action.ADMINISTER` on the actor's
    own agency (agency or system administrator, second factor).

    Raises:
        ValueError: ``now`` is naive.
    """
    return decide(actor, Action.ADMINISTER, AgencyScope(actor.agency_id), now=now)


def audit_filter(actor: Actor, *, now: datetime) -> AuditFilter:
    """Which audit events ``actor`` may read.

    A system administrator reads every event, an agency administrator those whose actor
    belongs to its agency.

    Raises:
        AccessDenied: :func:`decide_audit_read` refuses.
        ValueError: ``now`` is naive.
    """
    decision = decide_audit_read(actor, now=now)
    if not decision.allowed:
        raise AccessDenied(decision.reason)
    return AuditFilter(None if actor.role is Role.SYSTEM_ADMIN else actor.agency_id)


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which durable jobs an actor may see, and whether it may see their payloads.

    A job passes when ``everything`` is set, when its requester is ``actor``, or when its
    requester belongs to ``agency_id``. Payloads (ids of cases, lists, ingest runs) are shown
    where ``payloads`` is set, and always on the actor's own jobs. In SQL::

        :everything OR jobs.requester = :actor OR jobs.requester_agency_id = :agency_id
    """

    everything: bool
    actor: str | None
    agency_id: int | None
    payloads: bool

    def shows_payload(self, requester: str) -> bool:
        """Whether the payload of a job requested by ``requester`` may be shown."""
        return self.payloads or requester == self.actor


def job_filter(actor: Actor | None, requester: str, *, now: datetime) -> JobFilter:
    """Which jobs the requester ``requester`` (authenticated as ``actor``) may see.

    Jobs are work done for an agency, so they follow its people: the requester always sees
    its own jobs; certified content roles see every job their agency's people asked for (the
    case ids a payload names are case metadata, certification-gated like
    :attr:`Action.VIEW_METADATA`); the system administrator, who operates the workers, sees
    every job but no payload of another's (separation of duties: ids of cases are not its
    business). Nobody sees another agency's jobs otherwise. ``actor=None`` is the local
    operator (the command line), whom nothing restricts.

    Raises:
        ValueError: ``now`` is naive.
    """
    _require_aware(now, "now")
    if actor is None:
        return JobFilter(everything=True, actor=requester, agency_id=None, payloads=True)
    if actor.role is Role.SYSTEM_ADMIN:
        return JobFilter(everything=True, actor=requester, agency_id=None, payloads=False)
    agency = actor.agency_id if actor.is_certified(now) else None
    return JobFilter(everything=False, actor=requester, agency_id=agency, payloads=True)
