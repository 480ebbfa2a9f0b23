"""Media as an actor may reach it: the cases holding an item, within an access scope.

Every query here joins ``cases`` and applies
:func:`~sightline.storage.repositories.catalog.case_scope_clause`, so which sightings of an
item an actor learns about is decided by the policy module and applied in the database.
"""

from __future__ import annotations

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from sightline.domain.access import CaseFilter
from sightline.domain.models import Case, SightingLocation
from sightline.storage.orm import AgencyRow, CaseRow, SightingRow
from sightline.storage.repositories.catalog import case_from_row, case_scope_clause


class MediaAccessRepository:
    """Cases and sightings of one media item, scoped by a :class:`CaseFilter`."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def cases_of(self, media_id: int, scope: CaseFilter | None) -> list[Case]:
        """The cases in which ``media_id`` was sighted and that ``scope`` lets through, by id.

        ``scope`` None (the local operator) lets every case through.
        """
        clause = true() if scope is None else case_scope_clause(scope, CaseRow)
        sighted = select(SightingRow.case_id).where(SightingRow.media_id == media_id)
        query = select(CaseRow).where(CaseRow.id.in_(sighted), clause).order_by(CaseRow.id)
        return [case_from_row(row) for row in self._session.scalars(query)]

    def sightings(self, media_id: int, scope: CaseFilter | None) -> list[SightingLocation]:
        """Sightings of ``media_id`` in the cases ``scope`` lets through, by sighting id."""
        clause = true() if scope is None else case_scope_clause(scope, CaseRow)
        query = (
            select(SightingRow, CaseRow.reference, AgencyRow.code)
            .join(CaseRow, CaseRow.id == SightingRow.case_id)
            .join(AgencyRow, AgencyRow.id == CaseRow.agency_id)
            .where(SightingRow.media_id == media_id, clause)
            .order_by(SightingRow.id)
        )
        return [
            SightingLocation(
                media_id=row.media_id,
                case_id=row.case_id,
                case_reference=reference,
                agency_code=code,
                original_path=row.original_path,
                device_label=row.device_label,
            )
            for row, reference, code in self._session.execute(query)
        ]
