"""Users and API tokens as the rest of the code sees them (no ORM, no secrets in ``repr``).

A user belongs to one agency and has one :class:`~sightline.domain.access.Role`. What the
user may do is decided by :mod:`sightline.domain.access` from the :class:`Actor` that
authentication builds; these values only carry the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sightline.domain.access import Role


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in (secrets are never part of this value).

    Attributes:
        id: The user's id.
        agency_id: The agency the user works for.
        username: Unique sign-in name (lower case).
        display_name: A name to show.
        role: What the user is for.
        certified_until: End of the certification (timezone-aware), ``None`` if never
            certified or withdrawn.
        failed_logins: Consecutive failed sign-ins since the last success or lock.
        locked_until: Sign-ins are refused until then (timezone-aware), if set.
        disabled: The account is switched off.
        created_at: When the account was created.
    """

    id: int
    agency_id: int
    username: str
    display_name: str
    role: Role
    certified_until: datetime | None
    failed_logins: int
    locked_until: datetime | None
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    """What sign-in checks: the user, the argon2id hash and the sealed TOTP secret.

    Only authentication reads this; ``repr`` hides both secrets.
    """

    user: User
    password_hash: str = field(repr=False)
    sealed_totp_secret: bytes | None = field(repr=False)
    totp_last_step: int | None = None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token as stored: its secret is gone, only a SHA-256 of it remains.

    Attributes:
        id: The token's id (safe to show and to audit).
        user_id: Whose rights the token carries.
        name: What the token is for ("triage-bot").
        scopes: The actions a tool may use it for.
        expires_at: The token stops working at this moment.
        revoked_at: When it was revoked, if it was.
        created_at: When it was issued.
        last_used_at: When a request last presented it.
    """

    id: int
    user_id: int
    name: str
    scopes: tuple[str, ...]
    expires_at: datetime
    revoked_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebSession:
    """A browser session as stored: only hashes of its cookie and CSRF secrets remain.

    Attributes:
        id: The session's id (safe to show and to audit).
        user_id: Who signed in.
        csrf_hash: SHA-256 of the CSRF token the client echoes on changes.
        created_at: Sign-in time.
        last_seen_at: Last request (written at most once a minute).
        expires_at: The absolute end.
        revoked_at: When it was ended by sign-out or an account change, if it was.
    """

    id: int
    user_id: int
    csrf_hash: str = field(repr=False)
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
