"""Agencies and cases.

Cases are listed and read with ``view-metadata``, and created and changed with ``edit-case``:
only the owning agency's investigators, agency administrators and coordinators change a case,
and only in their own agency (sharing lends viewing, never custody). A case the requester may
not know of is *not found*, with the same message as one that does not exist. Every read and
change, and every refusal, is audited; the local operator (``requester.access`` None) may do
everything.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sightline.domain.access import Action, CaseScope, SharingLevel, decide
from sightline.domain.audit import Requester
from sightline.domain.models import Agency, Case
from sightline.errors import AccessDenied, ConflictError, InvalidInputError, NotFoundError
from sightline.services.access.audit import authorize, record, record_denied, record_request
from sightline.services.context import AppContext
from sightline.storage.unit_of_work import UnitOfWork

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def add_agency(
    ctx: AppContext,
    code: str,
    name: str,
    country: str,
    *,
    requester: Requester,
    contact: str = "",
) -> Agency:
    """Register a member agency; ``contact`` says how other agencies reach it (deconfliction).

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
    if len(contact.strip()) > 200:
        raise InvalidInputError("agency contact: at most 200 characters")
    with ctx.uow() as uow:
        agency = uow.agencies.add(code, name.strip(), country, contact.strip())
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
    sharing: SharingLevel = SharingLevel.PRIVATE,
) -> Case:
    """Open a case for an agency (audited as ``case.create``).

    Raises:
        InvalidInputError: the reference is not 1-100 characters or the title is too long.
        NotFoundError: no such agency.
        AccessDenied: the requester may not edit cases of that agency.
        ConflictError: the agency already has a case with this reference.
    """
    reference, title = reference.strip(), title.strip()
    if not reference or len(reference) > MAX_REFERENCE:
        raise InvalidInputError(f"case reference: 1-{MAX_REFERENCE} characters")
    if len(title) > MAX_TITLE:
        raise InvalidInputError(f"case title: at most {MAX_TITLE} characters")
    with ctx.uow() as uow:
        agency = uow.agencies.get(agency_code.strip().upper())
    _require_edit_in(ctx, requester, agency.id, "case.create")
    with ctx.uow() as uow:
        case = uow.cases.add(agency.id, reference, title, sharing)
        record_request(
            uow, requester, "case.create", f"case:{case.id}", detail={"sharing": sharing.value}
        )
        uow.commit()
    return case


def find_or_add_case(
    ctx: AppContext, agency_code: str, reference: str, *, requester: Requester
) -> Case:
    """The agency's case with this reference; a new one is opened through :func:`add_case`.

    Ingest into a case that does not exist yet creates it (``sightline ingest --case``), and
    the creation is its own audited ``case.create`` event, with the same checks (reference
    length, ``edit-case`` in the agency) as ``sightline case add``.

    Raises:
        NotFoundError: no such agency.
        InvalidInputError, AccessDenied: as :func:`add_case`, when the case is new.
    """
    with ctx.uow() as uow:
        agency = uow.agencies.get(agency_code.strip().upper())
        case = uow.cases.find(agency.id, reference)
    if case is not None:
        return case
    try:
        return add_case(ctx, agency.code, reference, requester=requester)
    except ConflictError:  # opened meanwhile (or the reference differs only by spaces)
        with ctx.uow() as uow:
            case = uow.cases.find(agency.id, reference.strip())
        if case is None:
            raise
        return case


MAX_REFERENCE = 100
MAX_TITLE = 300


def list_cases(
    ctx: AppContext,
    agency_code: str | None = None,
    *,
    requester: Requester,
    after_id: int = 0,
    limit: int | None = None,
) -> list[tuple[Case, Agency]]:
    """Cases the requester may see the metadata of, with their agency, by id (audited).

    Raises:
        NotFoundError: ``agency_code`` names no agency.
    """
    with ctx.uow() as uow:
        agencies = {a.id: a for a in uow.agencies.list()}
        agency_id = uow.agencies.get(agency_code.strip().upper()).id if agency_code else None
        scope = requester.scope(Action.VIEW_METADATA)
        cases = uow.cases.list(agency_id, scope=scope, after_id=after_id, limit=limit)
        record_request(uow, requester, "case.list", "cases", detail={"cases": len(cases)})
        uow.commit()
    return [(c, agencies[c.agency_id]) for c in cases]


def get_case(ctx: AppContext, case_id: int, *, requester: Requester) -> tuple[Case, Agency]:
    """One case with its agency (``view-metadata``; audited as ``case.read``).

    Raises:
        NotFoundError: no such case, or one the requester may not know of.
        AccessDenied: the requester knows of the case but may not see its metadata.
    """
    case, agency = _case_and_agency(ctx, case_id)
    _authorize(ctx, requester, Action.VIEW_METADATA, case, "case.read")
    with ctx.uow() as uow:
        record_request(uow, requester, "case.read", f"case:{case.id}")
        uow.commit()
    return case, agency


def update_case(
    ctx: AppContext,
    case_id: int,
    *,
    requester: Requester,
    sharing: SharingLevel | None = None,
    title: str | None = None,
) -> tuple[Case, Agency]:
    """Change a case's sharing level and/or title (``edit-case``; audited as ``case.update``).

    The audit detail names the fields changed and the old and new sharing level, never the
    title (it may describe the material).

    Raises:
        NotFoundError: no such case, or one the requester may not know of.
        AccessDenied: the requester may not edit the case.
    """
    case, agency = _case_and_agency(ctx, case_id)
    _authorize(ctx, requester, Action.EDIT_CASE, case, "case.update")
    old = case.sharing
    detail: dict[str, object] = {}
    with ctx.uow() as uow:
        if sharing is not None and sharing is not old:
            case = uow.cases.set_sharing(case.id, sharing)
            detail |= {"sharing_old": old.value, "sharing_new": sharing.value}
        if title is not None and title.strip() != case.title:
            case = uow.cases.set_title(case.id, title.strip())
            detail["title_changed"] = True
        record_request(uow, requester, "case.update", f"case:{case.id}", detail=detail)
        uow.commit()
    return case, agency


def share_case(
    ctx: AppContext,
    agency_code: str,
    reference: str,
    sharing: SharingLevel,
    *,
    requester: Requester,
) -> Case:
    """Set the sharing level of an agency's case, named by its reference (see update_case).

    Raises:
        NotFoundError: no such agency or case.
        AccessDenied: the requester may not edit the case.
    """
    with ctx.uow() as uow:
        agency = uow.agencies.get(agency_code.strip().upper())
        found = uow.cases.find(agency.id, reference.strip())
    if found is None:
        raise NotFoundError(f"agency {agency.code} has no case {reference.strip()!r}")
    case, _ = update_case(ctx, found.id, requester=requester, sharing=sharing)
    return case


def _case_and_agency(ctx: AppContext, case_id: int) -> tuple[Case, Agency]:
    with ctx.uow() as uow:
        try:
            case = uow.cases.get_by_id(case_id)
        except NotFoundError:
            raise NotFoundError(_missing(case_id)) from None
        agency = next(a for a in uow.agencies.list() if a.id == case.agency_id)
    return case, agency


def _authorize(
    ctx: AppContext, requester: Requester, action: Action, case: Case, audit_action: str
) -> None:
    """The policy's check, with a hidden case reported exactly like a missing one."""
    try:
        authorize(ctx, requester, action, case.scope, audit_action=audit_action)
    except NotFoundError:
        raise NotFoundError(_missing(case.id)) from None


def _missing(case_id: int) -> str:
    return f"no case with id {case_id}"


def _require_edit_in(ctx: AppContext, requester: Requester, agency_id: int, action: str) -> None:
    """Creating a case in an agency needs ``edit-case`` there (own agency only)."""
    actor = requester.access
    if actor is None:
        return
    target = CaseScope(case_id=0, agency_id=agency_id, sharing=SharingLevel.PRIVATE)
    decision = decide(actor, Action.EDIT_CASE, target, now=datetime.now(UTC))
    if not decision.allowed:
        record_denied(ctx, requester, action, f"agency:{agency_id}", decision.reason)
        raise AccessDenied(decision.reason)


def _audit(uow: UnitOfWork, requester: Requester, action: str, resource: str) -> None:
    record(
        uow,
        actor=requester.actor,
        action=action,
        resource=resource,
        source=requester.source,
        agency_id=requester.agency_id,
    )
