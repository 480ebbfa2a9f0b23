"""Agencies and cases."""

from __future__ import annotations

import re

from sightline.domain.audit import Requester
from sightline.domain.models import Agency, Case
from sightline.errors import InvalidInputError
from sightline.services.audit import record
from sightline.services.context import AppContext
from sightline.storage.unit_of_work import UnitOfWork

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def add_agency(
    ctx: AppContext, code: str, name: str, country: str, *, requester: Requester
) -> Agency:
    """Register a member agency.

    Raises:
        InvalidInputError: the code is not 2-32 upper-case letters, digits, '-' or '_', or the
            country is not an ISO 3166-1 alpha-2 code.
        ConflictError: an agency with this code exists.
    """
    code, country = code.strip().upper(), country.strip().upper()
    if not _CODE.match(code):
        raise InvalidInputError("agency code: 2-32 characters of A-Z, 0-9, '-' and '_'")
    if not _COUNTRY.match(country):
        raise InvalidInputError("country: an ISO 3166-1 alpha-2 code such as GB or DE")
    if not name.strip():
        raise InvalidInputError("agency name must not be empty")
    with ctx.uow() as uow:
        agency = uow.agencies.add(code, name.strip(), country)
        _audit(uow, requester, "agency.add", f"agency:{agency.id}")
        uow.commit()
    return agency


def list_agencies(ctx: AppContext) -> list[Agency]:
    """Every agency, by code."""
    with ctx.uow() as uow:
        return uow.agencies.list()


def add_case(
    ctx: AppContext,
    agency_code: str,
    reference: str,
    title: str = "",
    *,
    requester: Requester,
) -> Case:
    """Open a case for an agency.

    Raises:
        NotFoundError: no such agency.
        ConflictError: the agency already has a case with this reference.
    """
    reference = reference.strip()
    if not reference or len(reference) > 100:
        raise InvalidInputError("case reference: 1-100 characters")
    with ctx.uow() as uow:
        agency = uow.agencies.get(agency_code.strip().upper())
        case = uow.cases.add(agency.id, reference, title.strip())
        _audit(uow, requester, "case.add", f"case:{case.id}")
        uow.commit()
    return case


def list_cases(ctx: AppContext, agency_code: str | None = None) -> list[tuple[Case, Agency]]:
    """Cases with their agency, optionally of one agency."""
    with ctx.uow() as uow:
        agencies = {a.id: a for a in uow.agencies.list()}
        agency_id = uow.agencies.get(agency_code.upper()).id if agency_code else None
        return [(c, agencies[c.agency_id]) for c in uow.cases.list(agency_id)]


def _audit(uow: UnitOfWork, requester: Requester, action: str, resource: str) -> None:
    record(
        uow,
        actor=requester.actor,
        action=action,
        resource=resource,
        source=requester.source,
        agency_id=requester.agency_id,
    )
