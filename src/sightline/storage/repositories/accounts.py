"""Account changes that touch sessions beyond what sign-in needs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sightline.storage.orm import WebSessionRow


class AccountRepository:
    """Session housekeeping for account changes (password changes, resets)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def revoke_other_sessions(self, user_id: int, keep_session_id: int, at: datetime) -> int:
        """End every live session of a user but ``keep_session_id``; returns how many."""
        rows = self._session.scalars(
            select(WebSessionRow).where(
                WebSessionRow.user_id == user_id,
                WebSessionRow.revoked_at.is_(None),
                WebSessionRow.id != keep_session_id,
            )
        ).all()
        for row in rows:
            row.revoked_at = at
        self._session.flush()
        return len(rows)
