"""A unit of work: one session, its repositories, one transaction.

Services open one per use case (``with uow_factory() as uow: ...; uow.commit()``); leaving
the block without ``commit()`` rolls everything back.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from sightline.storage.repositories.accounts import AccountRepository
from sightline.storage.repositories.audit import AuditRepository
from sightline.storage.repositories.catalog import AgencyRepository, CaseRepository
from sightline.storage.repositories.hashlists import HashListRepository
from sightline.storage.repositories.ingest import IngestRepository
from sightline.storage.repositories.jobs import JobRepository
from sightline.storage.repositories.matching import (
    AlertRepository,
    MatchRepository,
    TriageRepository,
)
from sightline.storage.repositories.media import (
    FeatureRepository,
    MediaRepository,
    SightingRepository,
)
from sightline.storage.repositories.media_access import MediaAccessRepository
from sightline.storage.repositories.signals import SignalRepository
from sightline.storage.repositories.users import (
    ApiTokenRepository,
    UserRepository,
    WebSessionRepository,
)


class UnitOfWork:
    """Repositories sharing one session and transaction."""

    agencies: AgencyRepository
    cases: CaseRepository
    media: MediaRepository
    sightings: SightingRepository
    features: FeatureRepository
    signals: SignalRepository
    ingest: IngestRepository
    hashlists: HashListRepository
    matches: MatchRepository
    triage: TriageRepository
    alerts: AlertRepository
    audit: AuditRepository
    users: UserRepository
    tokens: ApiTokenRepository
    web_sessions: WebSessionRepository
    media_access: MediaAccessRepository
    accounts: AccountRepository
    jobs: JobRepository

    def __init__(self, session_factory: sessionmaker[Session], *, audit_key: bytes) -> None:
        """``audit_key`` is the audit chain's HMAC key (:meth:`MasterKey.audit_chain_key`)."""
        self._factory = session_factory
        self._audit_key = audit_key
        self._session: Session | None = None

    def __enter__(self) -> UnitOfWork:
        session = self._factory()
        self._session = session
        self.agencies = AgencyRepository(session)
        self.cases = CaseRepository(session)
        self.media = MediaRepository(session)
        self.sightings = SightingRepository(session)
        self.features = FeatureRepository(session)
        self.signals = SignalRepository(session)
        self.ingest = IngestRepository(session)
        self.hashlists = HashListRepository(session)
        self.matches = MatchRepository(session)
        self.triage = TriageRepository(session)
        self.alerts = AlertRepository(session)
        self.audit = AuditRepository(session, self._audit_key)
        self.users = UserRepository(session)
        self.tokens = ApiTokenRepository(session)
        self.web_sessions = WebSessionRepository(session)
        self.media_access = MediaAccessRepository(session)
        self.accounts = AccountRepository(session)
        self.jobs = JobRepository(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._require()
        session.rollback()
        session.close()
        self._session = None

    def _require(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not open")
        return self._session

    def commit(self) -> None:
        """Commit everything done so far; the unit stays open for more work."""
        self._require().commit()

    def rollback(self) -> None:
        """Discard everything since the last commit."""
        self._require().rollback()


UowFactory = Callable[[], UnitOfWork]
