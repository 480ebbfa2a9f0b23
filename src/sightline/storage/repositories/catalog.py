"""Agencies and cases."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from sightline.domain.access import CaseFilter, CaseScope, SharingLevel
from sightline.domain.models import Agency, Case
from sightline.errors import ConflictError, NotFoundError
from sightline.storage.orm import AgencyRow, CaseRow


def _agency(row: AgencyRow) -> Agency:
    return Agency(id=row.id, code=row.code, name=row.name, country=row.country, contact=row.contact)


def case_from_row(row: CaseRow) -> Case:
    """The domain value of a ``cases`` row (shared by the repositories that join cases)."""
    return Case(
        id=row.id,
        agency_id=row.agency_id,
        reference=row.reference,
        title=row.title,
        created_at=row.created_at,
        sharing=SharingLevel(row.sharing),
    )


class AgencyRepository:
    """Member agencies."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, code: str, name: str, country: str, contact: str = "") -> Agency:
        """Create an agency; codes are unique."""
        if self.find(code) is not None:
            raise ConflictError(f"agency {code!r} already exists")
        row = AgencyRow(code=code, name=name, country=country.upper(), contact=contact)
        self._session.add(row)
        self._session.flush()
        return _agency(row)

    def find(self, code: str) -> Agency | None:
        """The agency with this code, if any."""
        row = self._session.scalar(select(AgencyRow).where(AgencyRow.code == code))
        return None if row is None else _agency(row)

    def get(self, code: str) -> Agency:
        """The agency with this code; NotFoundError otherwise."""
        agency = self.find(code)
        if agency is None:
            raise NotFoundError(f"no agency with code {code!r}")
        return agency

    def list(self) -> list[Agency]:
        """All agencies by code."""
        rows = self._session.scalars(select(AgencyRow).order_by(AgencyRow.code))
        return [_agency(row) for row in rows]


class CaseRepository:
    """Cases, scoped by their owning agency."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        agency_id: int,
        reference: str,
        title: str = "",
        sharing: SharingLevel = SharingLevel.PRIVATE,
    ) -> Case:
        """Create a case; references are unique within an agency."""
        if self.find(agency_id, reference) is not None:
            raise ConflictError(f"case {reference!r} already exists in this agency")
        row = CaseRow(agency_id=agency_id, reference=reference, title=title, sharing=sharing.value)
        self._session.add(row)
        self._session.flush()
        return case_from_row(row)

    def find(self, agency_id: int, reference: str) -> Case | None:
        """The agency's case with this reference, if any."""
        row = self._session.scalar(
            select(CaseRow).where(CaseRow.agency_id == agency_id, CaseRow.reference == reference)
        )
        return None if row is None else case_from_row(row)

    def get_by_id(self, case_id: int) -> Case:
        """The case with this id; NotFoundError otherwise."""
        row = self._session.get(CaseRow, case_id)
        if row is None:
            raise NotFoundError(f"no case with id {case_id}")
        return case_from_row(row)

    def owners(self, case_ids: Iterable[int]) -> dict[int, int]:
        """Case id -> owning agency id, for the given cases."""
        wanted = list(set(case_ids))
        if not wanted:
            return {}
        rows = self._session.execute(
            select(CaseRow.id, CaseRow.agency_id).where(CaseRow.id.in_(wanted))
        )
        return {int(c): int(a) for c, a in rows}

    def scopes(self, case_ids: Iterable[int]) -> dict[int, CaseScope]:
        """Case id -> what the access policy needs (owner, sharing level), for the given cases."""
        wanted = list(set(case_ids))
        if not wanted:
            return {}
        rows = self._session.execute(
            select(CaseRow.id, CaseRow.agency_id, CaseRow.sharing).where(CaseRow.id.in_(wanted))
        )
        return {int(c): CaseScope(int(c), int(a), SharingLevel(s)) for c, a, s in rows}

    def set_title(self, case_id: int, title: str) -> Case:
        """Rename the case (its reference stays)."""
        row = self._session.get(CaseRow, case_id)
        if row is None:
            raise NotFoundError(f"no case with id {case_id}")
        row.title = title
        self._session.flush()
        return case_from_row(row)

    def list(
        self,
        agency_id: int | None = None,
        *,
        scope: CaseFilter | None = None,
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[Case]:
        """Cases, optionally of one agency and within an access scope, by id."""
        query = select(CaseRow).where(CaseRow.id > after_id).order_by(CaseRow.id)
        if agency_id is not None:
            query = query.where(CaseRow.agency_id == agency_id)
        if scope is not None:
            query = query.where(case_scope_clause(scope, CaseRow))
        if limit is not None:
            query = query.limit(limit)
        return [case_from_row(row) for row in self._session.scalars(query)]

    def set_sharing(self, case_id: int, sharing: SharingLevel) -> Case:
        """Change who outside the owning agency may see the case."""
        row = self._session.get(CaseRow, case_id)
        if row is None:
            raise NotFoundError(f"no case with id {case_id}")
        row.sharing = sharing.value
        self._session.flush()
        return case_from_row(row)


def case_scope_clause(scope: CaseFilter, cases: type[CaseRow] = CaseRow) -> ColumnElement[bool]:
    """The SQL condition for :class:`~sightline.domain.access.CaseFilter` on ``cases``.

    Every repository that returns case content joins ``cases`` and adds this clause, so what an
    actor may see is decided by the policy module and applied in the database.
    """
    if scope.nothing:
        return false()
    if scope.everything:
        return true()
    own = cases.agency_id == scope.agency_id
    levels = sorted(level.value for level in scope.other_levels)
    other = and_(cases.agency_id != scope.agency_id, cases.sharing.in_(levels))
    if not scope.own_agency:
        return other
    return or_(own, other) if levels else own
