"""Users and API tokens. Secrets arrive here already hashed or sealed by the service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sightline.domain.access import Role
from sightline.domain.users import ApiToken, Credentials, User, WebSession
from sightline.errors import ConflictError, NotFoundError
from sightline.storage.orm import ApiTokenRow, UserRow, WebSessionRow


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        agency_id=row.agency_id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        certified_until=row.certified_until,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
        disabled=row.disabled,
        created_at=row.created_at,
    )


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        scopes=tuple(row.scopes),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


class UserRepository:
    """User accounts, their credentials and their sign-in counters."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        agency_id: int,
        username: str,
        display_name: str,
        role: Role,
        password_hash: str,
        sealed_totp_secret: bytes | None,
    ) -> User:
        """Create a user; usernames are unique."""
        if self._row(username) is not None:
            raise ConflictError(f"user {username!r} already exists")
        row = UserRow(
            agency_id=agency_id,
            username=username,
            display_name=display_name,
            role=role.value,
            password_hash=password_hash,
            totp_secret=sealed_totp_secret,
            failed_logins=0,
            disabled=False,
        )
        self._session.add(row)
        self._session.flush()
        return _user(row)

    def find(self, username: str) -> User | None:
        """The user with this username, if any."""
        row = self._row(username)
        return None if row is None else _user(row)

    def get(self, username: str) -> User:
        """The user with this username; NotFoundError otherwise."""
        user = self.find(username)
        if user is None:
            raise NotFoundError(f"no user {username!r}")
        return user

    def get_by_id(self, user_id: int) -> User:
        """The user with this id; NotFoundError otherwise."""
        row = self._session.get(UserRow, user_id)
        if row is None:
            raise NotFoundError(f"no user with id {user_id}")
        return _user(row)

    def credentials(self, username: str) -> Credentials | None:
        """The user with the password hash and sealed TOTP secret, locked for update."""
        row = self._session.scalar(
            select(UserRow).where(UserRow.username == username).with_for_update()
        )
        if row is None:
            return None
        return Credentials(_user(row), row.password_hash, row.totp_secret, row.totp_last_step)

    def count_with_role(self, role: Role) -> int:
        """How many users have ``role``."""
        query = select(func.count()).select_from(UserRow).where(UserRow.role == role.value)
        return int(self._session.scalar(query) or 0)

    def list(self, agency_id: int | None = None) -> list[User]:
        """Users, optionally of one agency, by username."""
        query = select(UserRow).order_by(UserRow.username)
        if agency_id is not None:
            query = query.where(UserRow.agency_id == agency_id)
        return [_user(row) for row in self._session.scalars(query)]

    def set_certified_until(self, user_id: int, until: datetime | None) -> User:
        """Grant (a moment) or withdraw (``None``) the certification."""
        row = self._require(user_id)
        row.certified_until = until
        self._session.flush()
        return _user(row)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace the stored hash (a new password, or a rehash with stronger parameters)."""
        self._require(user_id).password_hash = password_hash
        self._session.flush()

    def set_totp_last_step(self, user_id: int, step: int) -> None:
        """Remember the TOTP time step just used, so its code cannot be replayed."""
        self._require(user_id).totp_last_step = step
        self._session.flush()

    def set_disabled(self, user_id: int, disabled: bool) -> User:
        """Switch the account off (or on again)."""
        row = self._require(user_id)
        row.disabled = disabled
        self._session.flush()
        return _user(row)

    def set_sign_in_state(
        self, user_id: int, *, failed_logins: int, locked_until: datetime | None
    ) -> User:
        """Store the failed-attempt counter and the lock after a sign-in attempt."""
        row = self._require(user_id)
        row.failed_logins = failed_logins
        row.locked_until = locked_until
        self._session.flush()
        return _user(row)

    def _row(self, username: str) -> UserRow | None:
        return self._session.scalar(select(UserRow).where(UserRow.username == username))

    def _require(self, user_id: int) -> UserRow:
        row = self._session.get(UserRow, user_id)
        if row is None:
            raise NotFoundError(f"no user with id {user_id}")
        return row


class ApiTokenRepository:
    """API tokens, found by the SHA-256 of their secret."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self, *, user_id: int, name: str, token_hash: str, scopes: list[str], expires_at: datetime
    ) -> ApiToken:
        """Store a new token (its hash only)."""
        row = ApiTokenRow(
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            scopes=list(scopes),
            expires_at=expires_at,
        )
        self._session.add(row)
        self._session.flush()
        return _token(row)

    def find_by_hash(self, token_hash: str) -> ApiToken | None:
        """The token whose secret hashes to ``token_hash``, if any."""
        row = self._session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash))
        return None if row is None else _token(row)

    def get(self, token_id: int) -> ApiToken:
        """The token with this id; NotFoundError otherwise."""
        return _token(self._require(token_id))

    def list(self, user_id: int | None = None) -> list[ApiToken]:
        """Tokens, optionally of one user, by id."""
        query = select(ApiTokenRow).order_by(ApiTokenRow.id)
        if user_id is not None:
            query = query.where(ApiTokenRow.user_id == user_id)
        return [_token(row) for row in self._session.scalars(query)]

    def revoke(self, token_id: int, at: datetime) -> ApiToken:
        """Mark the token revoked at ``at``."""
        row = self._require(token_id)
        row.revoked_at = at
        self._session.flush()
        return _token(row)

    def touch(self, token_id: int, at: datetime) -> None:
        """Remember when the token was last presented."""
        self._require(token_id).last_used_at = at
        self._session.flush()

    def _require(self, token_id: int) -> ApiTokenRow:
        row = self._session.get(ApiTokenRow, token_id)
        if row is None:
            raise NotFoundError(f"no API token with id {token_id}")
        return row


def _web_session(row: WebSessionRow) -> WebSession:
    return WebSession(
        id=row.id,
        user_id=row.user_id,
        csrf_hash=row.csrf_hash,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


class WebSessionRepository:
    """Browser sessions, found by the SHA-256 of their cookie secret."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        user_id: int,
        token_hash: str,
        csrf_hash: str,
        source: str,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        """Store a new session (hashes only); returns its id."""
        row = WebSessionRow(
            user_id=user_id,
            token_hash=token_hash,
            csrf_hash=csrf_hash,
            source=source,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
        self._session.add(row)
        self._session.flush()
        return row.id

    def find_by_hash(self, token_hash: str) -> WebSession | None:
        """The session whose secret hashes to ``token_hash``, if any."""
        query = select(WebSessionRow).where(WebSessionRow.token_hash == token_hash)
        row = self._session.scalar(query)
        return None if row is None else _web_session(row)

    def touch(self, session_id: int, at: datetime) -> None:
        """Remember the session's latest request."""
        row = self._session.get(WebSessionRow, session_id)
        if row is not None:
            row.last_seen_at = at
            self._session.flush()

    def revoke(self, session_id: int, at: datetime) -> None:
        """End one session (sign-out)."""
        row = self._session.get(WebSessionRow, session_id)
        if row is None:
            raise NotFoundError(f"no session with id {session_id}")
        if row.revoked_at is None:
            row.revoked_at = at
            self._session.flush()

    def revoke_all(self, user_id: int, at: datetime) -> int:
        """End every live session of a user; returns how many were live."""
        rows = self._session.scalars(
            select(WebSessionRow).where(
                WebSessionRow.user_id == user_id, WebSessionRow.revoked_at.is_(None)
            )
        ).all()
        for row in rows:
            row.revoked_at = at
        self._session.flush()
        return len(rows)
