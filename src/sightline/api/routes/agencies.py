"""The directory of member agencies: ``/api/v1/agencies``.

Every authenticated requester may read it (agencies must know whom to contact about an
overlap); only a system administrator, signed in with a second factor, registers one.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sightline.api.auth import AdminRequester, AnyRequester
from sightline.api.deps import ContextDep
from sightline.api.errors import ERROR_RESPONSES
from sightline.api.pagination import AfterId, Limit, Page, page_of
from sightline.domain.models import Agency
from sightline.errors import NotFoundError
from sightline.services.access import accounts
from sightline.services.catalog import list_agencies

router = APIRouter(prefix="/api/v1/agencies", tags=["agencies"])


class AgencyRead(BaseModel):
    """A member agency and how to reach it."""

    id: int = Field(examples=[3])
    code: str = Field(examples=["DE-BKA"])
    name: str = Field(examples=["Bundeskriminalamt SO12"])
    country: str = Field(description="ISO 3166-1 alpha-2.", examples=["DE"])
    contact: str = Field(
        description="Whom to contact about an overlap.", examples=["so12@bka.example"]
    )


class AgencyCreate(BaseModel):
    """A new member agency."""

    code: str = Field(
        min_length=2,
        max_length=32,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$",
        description="Letters, digits, '-' and '_' (stored in capitals).",
        examples=["NL-NP"],
    )
    name: str = Field(
        min_length=1, max_length=200, pattern=r"\S", examples=["Politie, Team Kinderporno"]
    )
    country: str = Field(
        min_length=2,
        max_length=2,
        pattern=r"^[A-Za-z]{2}$",
        description="ISO 3166-1 alpha-2 (stored in capitals).",
        examples=["NL"],
    )
    contact: str = Field(
        default="",
        max_length=200,
        description="How other agencies reach this one about an overlap.",
        examples=["duty desk +31 88 000 0000, vic@example.org"],
    )


def _read(agency: Agency) -> AgencyRead:
    return AgencyRead(
        id=agency.id,
        code=agency.code,
        name=agency.name,
        country=agency.country,
        contact=agency.contact,
    )


@router.get(
    "", operation_id="list_agencies", response_model=Page[AgencyRead], responses=ERROR_RESPONSES
)
def list_all(
    requester: AnyRequester, ctx: ContextDep, after_id: AfterId = 0, limit: Limit = 100
) -> Page[AgencyRead]:
    """Every member agency, by id."""
    return page_of([_read(a) for a in list_agencies(ctx)], lambda a: a.id, after_id, limit)


@router.get(
    "/{code}",
    operation_id="get_agency",
    response_model=AgencyRead,
    responses={**ERROR_RESPONSES, 404: {"description": "No such agency."}},
)
def get_one(code: str, requester: AnyRequester, ctx: ContextDep) -> AgencyRead:
    """One agency by its code."""
    wanted = code.strip().upper()
    for agency in list_agencies(ctx):
        if agency.code == wanted:
            return _read(agency)
    raise NotFoundError(f"no agency with code {wanted!r}")


@router.post(
    "",
    operation_id="create_agency",
    status_code=201,
    response_model=AgencyRead,
    responses={**ERROR_RESPONSES, 409: {"description": "The code is taken."}},
)
def create(body: AgencyCreate, requester: AdminRequester, ctx: ContextDep) -> AgencyRead:
    """Register an agency (system administrators, signed in; audited ``agency.add``)."""
    agency = accounts.create_agency(
        ctx, requester, code=body.code, name=body.name, country=body.country, contact=body.contact
    )
    return _read(agency)
