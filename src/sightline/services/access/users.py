"""User accounts, certification, sign-in and API tokens.

* **Passwords** are hashed with argon2id (``argon2.PasswordHasher`` defaults, rehashed on the
  next sign-in when the defaults grow). There is no default password anywhere: the first
  system administrator is created once, by ``sightline user create-admin``.
* **Second factor**: every user gets a TOTP secret at creation and must give a current code
  at every sign-in; the access policy wants MFA for media and for administering, which
  covers every role. The secret is sealed with AES-GCM under a key derived from the master
  key (purpose ``totp-secrets``), bound to the username, so a database dump alone reveals no
  seed.
* **Throttling**: :data:`MAX_FAILED_LOGINS` consecutive failures lock the account for
  :data:`LOCKOUT`. Every failure gives the same message, whether the username exists, the
  password or the code was wrong, or the account is locked or disabled; the audit trail
  records the real reason.
* **API tokens** live in :mod:`sightline.services.access.tokens`.

Every change records its audit event in the same transaction (``actor`` is who did it).
"""

from __future__ import annotations

import functools
import re
import secrets
from datetime import UTC, datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sightline.domain.access import Actor, Role
from sightline.domain.audit import AuditOutcome
from sightline.domain.users import Credentials, User
from sightline.errors import (
    AuthenticationFailed,
    BlobIntegrityError,
    ConflictError,
    InvalidInputError,
)
from sightline.services.access.audit import record, record_credential_refusal
from sightline.services.context import AppContext
from sightline.storage.blobs.keys import load_master_key
from sightline.storage.unit_of_work import UnitOfWork

MIN_PASSWORD_LENGTH = 12
"""NIST SP 800-63B asks for at least 8; 12 leaves margin for accounts that reach case material."""

MAX_PASSWORD_LENGTH = 1024
"""Hashing cost grows with length; a cap keeps a sign-in request from becoming a DoS."""

MAX_FAILED_LOGINS = 5
"""Consecutive failures before a lock: enough for typos, far too few to guess a password."""

LOCKOUT = timedelta(minutes=15)
"""How long a lock lasts: slows guessing to 20 tries an hour without a help-desk call."""

TOTP_ISSUER = "Sightline"
TOTP_VALID_WINDOW = 1
"""Codes of the previous and next 30-second step are accepted too (clock drift)."""

LOGIN_FAILED = "invalid username, password or one-time code"
"""The one message for every failed sign-in: it never tells whether the username exists."""

TOTP_KEY_PURPOSE = "totp-secrets"
_SEAL_VERSION = b"\x01"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


def create_admin(
    ctx: AppContext,
    *,
    actor: str,
    agency_code: str,
    username: str,
    password: str,
    display_name: str = "",
) -> tuple[User, str]:
    """Create the first system administrator; returns it and its TOTP provisioning URI.

    Raises:
        ConflictError: a system administrator exists already (add others with
            :func:`create_user`).
        NotFoundError: no such agency.
        InvalidInputError: the username or password breaks the rules.
    """
    with ctx.uow() as uow:
        if uow.users.count_with_role(Role.SYSTEM_ADMIN):
            raise ConflictError("a system administrator exists already; create-admin runs once")
        return _create(
            ctx, uow, actor, agency_code, username, password, display_name, Role.SYSTEM_ADMIN, "cli"
        )


def create_user(
    ctx: AppContext,
    *,
    actor: str,
    agency_code: str,
    username: str,
    password: str,
    role: Role,
    display_name: str = "",
    source: str = "cli",
) -> tuple[User, str]:
    """Create a user of an agency; returns it and its TOTP provisioning URI (show it once).

    Raises:
        ConflictError: the username is taken.
        NotFoundError: no such agency.
        InvalidInputError: the username or password breaks the rules.
    """
    with ctx.uow() as uow:
        return _create(ctx, uow, actor, agency_code, username, password, display_name, role, source)


def list_users(ctx: AppContext, agency_code: str | None = None) -> list[User]:
    """Users, optionally of one agency, by username."""
    with ctx.uow() as uow:
        agency_id = uow.agencies.get(agency_code.strip().upper()).id if agency_code else None
        return uow.users.list(agency_id)


def certify(
    ctx: AppContext,
    *,
    actor: str,
    username: str,
    until: datetime,
    source: str = "cli",
    now: datetime | None = None,
) -> User:
    """Certify a user to handle case material until ``until`` (timezone-aware).

    A certification says the person's training is current, so it ends within
    ``access.max_certification_days`` (``SIGHTLINE_ACCESS__MAX_CERTIFICATION_DAYS``, three
    years by default) of ``now``: a certification "until 3003" would never be reviewed.

    Raises:
        InvalidInputError: ``until`` is naive, or later than the longest period allows.
        NotFoundError: no such user.
    """
    if until.tzinfo is None or until.utcoffset() is None:
        raise InvalidInputError("until: a timezone-aware moment (UTC)")
    check_certification_end(ctx, until, now or datetime.now(UTC))
    return _set_certification(ctx, actor, username, until.astimezone(UTC), "user.certify", source)


def check_certification_end(ctx: AppContext, until: datetime, now: datetime) -> None:
    """Refuse a certification ending more than the configured maximum after ``now``.

    Raises:
        InvalidInputError: naming the limit in days, the latest allowed end and the setting.
    """
    days = ctx.settings.access.max_certification_days
    latest = now.astimezone(UTC) + timedelta(days=days)
    if until > latest:
        raise InvalidInputError(
            f"until: a certification lasts at most {days} days, so it must end by "
            f"{latest.isoformat(timespec='seconds')} (SIGHTLINE_ACCESS__MAX_CERTIFICATION_DAYS)"
        )


def revoke_certification(
    ctx: AppContext, *, actor: str, username: str, source: str = "cli"
) -> User:
    """Withdraw a user's certification at once.

    Raises:
        NotFoundError: no such user.
    """
    return _set_certification(ctx, actor, username, None, "user.certification_revoke", source)


def authenticate(
    ctx: AppContext,
    *,
    username: str,
    password: str,
    totp_code: str,
    source: str = "cli",
    now: datetime | None = None,
) -> Actor:
    """Check a password and a TOTP code; return the actor for this session (MFA verified).

    Failures are counted, audited (``login.failed``, and ``login.locked`` when the account
    gets locked) and committed before the error is raised.

    Raises:
        AuthenticationFailed: with :data:`LOGIN_FAILED` whatever went wrong.
    """
    now = now or datetime.now(UTC)
    with ctx.uow() as uow:
        creds = uow.users.credentials(username.strip().lower())
        reason = _sign_in_refusal(ctx, creds, password, totp_code, now)
        if creds is None:
            record_credential_refusal(
                uow, "login.failed", "user:unknown", source=source, reason=reason
            )
            raise AuthenticationFailed(reason or "unknown_user", LOGIN_FAILED)
        user = creds.user
        if reason is not None:
            _count_failure(uow, user, reason, source, now)
            uow.commit()
            raise AuthenticationFailed(reason, LOGIN_FAILED)
        uow.users.set_sign_in_state(user.id, failed_logins=0, locked_until=None)
        if creds.sealed_totp_secret is not None:
            seed = _unseal(_totp_key(ctx), user.username, creds.sealed_totp_secret)
            uow.users.set_totp_last_step(user.id, totp_step(seed, totp_code, now) or 0)
        if _hasher().check_needs_rehash(creds.password_hash):
            uow.users.set_password_hash(user.id, _hasher().hash(password))
        record(
            uow,
            actor=f"user:{user.id}",
            action="login.succeeded",
            resource=f"user:{user.id}",
            source=source,
            agency_id=user.agency_id,
        )
        uow.commit()
    return actor_for(user, mfa_verified=True)


def _create(
    ctx: AppContext,
    uow: UnitOfWork,
    actor: str,
    agency_code: str,
    username: str,
    password: str,
    display_name: str,
    role: Role,
    source: str,
) -> tuple[User, str]:
    username = username.strip().lower()
    _check_username(username)
    check_password(username, password)
    agency = uow.agencies.get(agency_code.strip().upper())
    seed = pyotp.random_base32()
    user = uow.users.add(
        agency_id=agency.id,
        username=username,
        display_name=display_name.strip()[:200],
        role=role,
        password_hash=_hasher().hash(password),
        sealed_totp_secret=_seal(_totp_key(ctx), username, seed),
    )
    record(
        uow,
        actor=actor,
        action="user.create",
        resource=f"user:{user.id}",
        source=source,
        agency_id=agency.id,
        detail={"role": role.value, "agency_id": agency.id},
    )
    uow.commit()
    uri = pyotp.TOTP(seed).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)
    return user, uri


def _set_certification(
    ctx: AppContext, actor: str, username: str, until: datetime | None, action: str, source: str
) -> User:
    with ctx.uow() as uow:
        user = uow.users.set_certified_until(uow.users.get(username.strip().lower()).id, until)
        detail = {"until": None if until is None else until.isoformat()}
        record(
            uow,
            actor=actor,
            action=action,
            resource=f"user:{user.id}",
            source=source,
            agency_id=user.agency_id,
            detail=detail,
        )
        uow.commit()
    return user


def _sign_in_refusal(
    ctx: AppContext, creds: Credentials | None, password: str, code: str, now: datetime
) -> str | None:
    """Why this sign-in fails (an audit code), or None if it succeeds."""
    if creds is None:
        verify_password(_dummy_hash(), password)  # same cost as a real user: no timing oracle
        return "unknown_user"
    user = creds.user
    if user.locked_until is not None and user.locked_until > now:
        return "locked"
    if not verify_password(creds.password_hash, password):
        return "bad_password"
    if user.disabled:
        return "disabled"
    if creds.sealed_totp_secret is None:
        return None  # never set by this code: every user gets a secret at creation
    seed = _unseal(_totp_key(ctx), user.username, creds.sealed_totp_secret)
    step = totp_step(seed, code, now)
    if step is None:
        return "bad_totp"
    if creds.totp_last_step is not None and step <= creds.totp_last_step:
        return "totp_replayed"
    return None


def totp_step(seed: str, code: str, now: datetime) -> int | None:
    """The 30-second step whose code ``code`` is, within the drift window; None if none.

    pyotp's ``verify`` says only yes or no; the step is needed to refuse a replayed code.
    """
    totp = pyotp.TOTP(seed)
    current = totp.timecode(now)
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(step), code.strip()):
            return step
    return None


def _count_failure(uow: UnitOfWork, user: User, reason: str, source: str, now: datetime) -> None:
    """Count a failed attempt and lock the account at the limit (a locked one stays as is)."""
    _audit_denied(uow, user, "login.failed", source, {"reason": reason})
    if reason == "locked":
        return
    failures = user.failed_logins + 1
    if failures < MAX_FAILED_LOGINS:
        uow.users.set_sign_in_state(user.id, failed_logins=failures, locked_until=None)
        return
    until = now + LOCKOUT
    uow.users.set_sign_in_state(user.id, failed_logins=0, locked_until=until)
    _audit_denied(
        uow, user, "login.locked", source, {"failures": failures, "until": until.isoformat()}
    )


def _audit_denied(
    uow: UnitOfWork, user: User, action: str, source: str, detail: dict[str, object]
) -> None:
    record(
        uow,
        actor="anonymous",
        action=action,
        resource=f"user:{user.id}",
        outcome=AuditOutcome.DENIED,
        source=source,
        agency_id=user.agency_id,
        detail=detail,
    )


def actor_for(user: User, *, mfa_verified: bool) -> Actor:
    """The access-policy actor for ``user`` (a session with MFA, or a token without)."""
    return Actor(
        user_id=user.id,
        agency_id=user.agency_id,
        role=user.role,
        certified_until=user.certified_until,
        mfa_verified=mfa_verified,
    )


def _check_username(username: str) -> None:
    if not _USERNAME.match(username):
        raise InvalidInputError("username: 3-64 characters of a-z, 0-9, '.', '_' and '-'")


def check_password(username: str, password: str) -> None:
    """Refuse a password that breaks the rules (length, equal to the username).

    Raises:
        InvalidInputError: naming the rule.
    """
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"password: {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    if password.strip().lower() == username:
        raise InvalidInputError("password: must not be the username")


def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password`` (check it with :func:`check_password` first)."""
    return _hasher().hash(password)


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches the stored argon2id hash (never raises on a bad hash)."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _totp_key(ctx: AppContext) -> bytes:
    return load_master_key(ctx.settings.key_path).derive(TOTP_KEY_PURPOSE)


def _seal(key: bytes, username: str, seed: str) -> bytes:
    nonce = secrets.token_bytes(12)
    aad = b"sightline/totp/v1/" + username.encode("utf-8")
    return _SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, seed.encode("ascii"), aad)


def _unseal(key: bytes, username: str, sealed: bytes) -> str:
    if sealed[:1] != _SEAL_VERSION:
        raise BlobIntegrityError("TOTP secret: unknown format")
    aad = b"sightline/totp/v1/" + username.encode("utf-8")
    try:
        return AESGCM(key).decrypt(sealed[1:13], sealed[13:], aad).decode("ascii")
    except InvalidTag:
        raise BlobIntegrityError(
            "TOTP secret does not decrypt: wrong master key or tampered"
        ) from None
