"""Ingest into a case that does not exist yet opens it with its own audited ``case.create``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sightline.domain.access import Actor, Role
from sightline.domain.audit import AuditEvent, Requester
from sightline.errors import AccessDenied, InvalidInputError
from sightline.jobs.inline import InlineRunner
from sightline.services.catalog import add_agency, add_case
from sightline.services.context import AppContext
from sightline.services.ingest.run import IngestReport, ingest
from tests.support.corpus import TEST_REQUESTER, write_landscape

GB = "TEST-GB"


def _ingest(
    ctx: AppContext, root: Path, reference: str, requester: Requester = TEST_REQUESTER
) -> IngestReport:
    return ingest(
        ctx,
        [root],
        agency_code=GB,
        case_reference=reference,
        runner=InlineRunner(),
        requester=requester,
    )


def _events(ctx: AppContext) -> list[AuditEvent]:
    with ctx.uow() as uow:
        assert uow.audit.verify().ok
        return uow.audit.page(0, 100)


@pytest.fixture
def folder(ctx: AppContext, tmp_path: Path) -> Path:
    add_agency(ctx, GB, "Test unit", "GB", requester=TEST_REQUESTER)
    write_landscape(tmp_path / "in/1.jpg", 1)
    return tmp_path / "in"


def test_ingest_opens_a_new_case_with_its_own_audit_event(ctx: AppContext, folder: Path) -> None:
    _ingest(ctx, folder, "NEW-1")

    with ctx.uow() as uow:
        agency = uow.agencies.get(GB)
        case = uow.cases.find(agency.id, "NEW-1")
    assert case is not None
    events = _events(ctx)
    assert [e.action for e in events] == ["agency.add", "case.create", "ingest.run"]
    created = events[1]
    # The same event as `sightline case add` records (services/catalog.add_case).
    assert (created.actor, created.source, created.outcome) == ("test", "cli", "allowed")
    assert created.resource == f"case:{case.id}"
    assert created.detail == {"sharing": "private"}
    assert events[2].resource == f"case:{case.id}"


def test_ingest_into_an_existing_case_creates_nothing(ctx: AppContext, folder: Path) -> None:
    case = add_case(ctx, GB, "OLD-1", requester=TEST_REQUESTER)

    _ingest(ctx, folder, "OLD-1")
    _ingest(ctx, folder, "OLD-1")  # the resumed run

    actions = [e.action for e in _events(ctx)]
    assert actions == ["agency.add", "case.create", "ingest.run", "ingest.run"]
    assert {e.resource for e in _events(ctx)[1:]} == {f"case:{case.id}"}


def test_a_new_case_gets_add_cases_checks(ctx: AppContext, folder: Path) -> None:
    with pytest.raises(InvalidInputError, match="case reference"):
        _ingest(ctx, folder, "X" * 101)
    with ctx.uow() as uow:
        agency = uow.agencies.get(GB)
        viewer = Actor(
            user_id=7,
            agency_id=agency.id,
            role=Role.VIEWER,
            certified_until=datetime.now(UTC) + timedelta(days=30),
            mfa_verified=True,
        )
    with pytest.raises(AccessDenied):
        _ingest(ctx, folder, "NEW-2", Requester("user:7", "198.51.100.7", agency.id, viewer))

    events = _events(ctx)
    assert [(e.action, e.outcome) for e in events] == [
        ("agency.add", "allowed"),
        ("case.create", "denied"),
    ]
    with ctx.uow() as uow:
        assert uow.cases.find(agency.id, "NEW-2") is None
        assert uow.media.count() == 0
