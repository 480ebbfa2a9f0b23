"""Agencies and cases."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from sightline.domain.models import Agency, Case
from sightline.errors import ConflictError, NotFoundError
from sightline.storage.orm import AgencyRow, CaseRow


def _agency(row: AgencyRow) -> Agency:
    return Agency(id=row.id, code=row.code, name=row.name, country=row.country)


def _case(row: CaseRow) -> Case:
    return Case(
        id=row.id,
        agency_id=row.agency_id,
        reference=row.reference,
        title=row.title,
        created_at=row.created_at,
    )


class AgencyRepository:
    """Member agencies."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, code: str, name: str, country: str) -> Agency:
        """Create an agency; codes are unique."""
        if self.find(code) is not None:
            raise ConflictError(f"agency {code!r} already exists")
        row = AgencyRow(code=code, name=name, country=country.upper())
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

    def add(self, agency_id: int, reference: str, title: str = "") -> Case:
        """Create a case; references are unique within an agency."""
        if self.find(agency_id, reference) is not None:
            raise ConflictError(f"case {reference!r} already exists in this agency")
        row = CaseRow(agency_id=agency_id, reference=reference, title=title)
        self._session.add(row)
        self._session.flush()
        return _case(row)

    def find(self, agency_id: int, reference: str) -> Case | None:
        """The agency's case with this reference, if any."""
        row = self._session.scalar(
            select(CaseRow).where(CaseRow.agency_id == agency_id, CaseRow.reference == reference)
        )
        return None if row is None else _case(row)

    def get_by_id(self, case_id: int) -> Case:
        """The case with this id; NotFoundError otherwise."""
        row = self._session.get(CaseRow, case_id)
        if row is None:
            raise NotFoundError(f"no case with id {case_id}")
        return _case(row)

    def owners(self, case_ids: Iterable[int]) -> dict[int, int]:
        """Case id -> owning agency id, for the given cases."""
        wanted = list(set(case_ids))
        if not wanted:
            return {}
        rows = self._session.execute(
            select(CaseRow.id, CaseRow.agency_id).where(CaseRow.id.in_(wanted))
        )
        return {int(c): int(a) for c, a in rows}

    def list(self, agency_id: int | None = None) -> list[Case]:
        """Cases, optionally of one agency, by id."""
        query = select(CaseRow).order_by(CaseRow.id)
        if agency_id is not None:
            query = query.where(CaseRow.agency_id == agency_id)
        return [_case(row) for row in self._session.scalars(query)]
