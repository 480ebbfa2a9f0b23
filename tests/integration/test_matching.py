"""Real-time matching on ingest: triage, stacks, overlap alerts, hash lists, retro-hunt."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sightline.analyzers.base import MediaInput
from sightline.analyzers.pdq import PdqAnalyzer
from sightline.domain.access import SharingLevel
from sightline.domain.models import HashListEntryData, ListKind, TriageStatus
from sightline.jobs.inline import InlineRunner
from sightline.services import synthetic
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.exchange.hashlists import configure, retro_hunt
from sightline.services.ingest.run import IngestReport, ingest
from sightline.services.matching.engine import FLOOD_MIN_MATCHES, MatchingEngine
from sightline.storage.unit_of_work import UnitOfWork
from tests.support.corpus import SMALL, TEST_REQUESTER, write_landscape
from tests.support.indexes import pdq_indexes


@pytest.fixture
def agencies(ctx: AppContext) -> AppContext:
    for code, country in (("TEST-GB", "GB"), ("TEST-DE", "DE"), ("TEST-JP", "JP")):
        add_agency(ctx, code, f"{code} unit", country, requester=TEST_REQUESTER)
    return ctx


def _ingest(ctx: AppContext, folder: Path, agency: str, case: str) -> IngestReport:
    return ingest(
        ctx,
        [folder],
        agency_code=agency,
        case_reference=case,
        runner=InlineRunner(),
        requester=TEST_REQUESTER,
    )


def _status(ctx: AppContext, agency: str, case: str) -> dict[str, TriageStatus]:
    """File name -> triage status in the case."""
    with ctx.uow() as uow:
        case_id = _case_id(uow, agency, case)
        rows = uow.triage.for_case(case_id)
        names = uow.sightings.names_in_case(case_id)
    return {names[row.media_id]: row.status for row in rows}


def _case_id(uow: UnitOfWork, agency: str, reference: str) -> int:
    case = uow.cases.find(uow.agencies.get(agency).id, reference)
    assert case is not None
    return case.id


def _write(path: Path, seed: int, transform: str | None = None) -> Path:
    image = synthetic.landscape(seed, SMALL)
    if transform:
        image = synthetic.TRANSFORMS[transform](image)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(synthetic.encode(image))
    return path


def _pdq_hex(path: Path) -> str:
    media = MediaInput(path)
    try:
        return str(PdqAnalyzer().analyze(media)["hash"])
    finally:
        media.close()


def test_overlap_between_agencies_triage_and_alerts(agencies: AppContext, tmp_path: Path) -> None:
    ctx = agencies
    for seed in (1, 2, 3):
        write_landscape(tmp_path / f"gb/{seed}.jpg", seed)
    first = _ingest(ctx, tmp_path / "gb", "TEST-GB", "GB-1")
    assert first.alerts_raised == 0
    assert set(_status(ctx, "TEST-GB", "GB-1").values()) == {TriageStatus.NEW}

    (tmp_path / "de0").mkdir()
    (tmp_path / "de0/copy.jpg").write_bytes((tmp_path / "gb/3.jpg").read_bytes())
    _ingest(ctx, tmp_path / "de0", "TEST-DE", "DE-6")
    # GB-1 is private: "known" would tell DE that GB holds the file, so it stays new for DE.
    assert _status(ctx, "TEST-DE", "DE-6") == {"copy.jpg": TriageStatus.NEW}
    with ctx.uow() as uow:
        uow.cases.set_sharing(_case_id(uow, "TEST-GB", "GB-1"), SharingLevel.SIGNALS)
        uow.commit()

    (tmp_path / "de").mkdir()
    (tmp_path / "de/copy.jpg").write_bytes((tmp_path / "gb/2.jpg").read_bytes())
    _write(tmp_path / "de/reencoded.jpg", 1, "reencode")
    _write(tmp_path / "de/fresh.jpg", 50)
    _write(tmp_path / "de/mirrored.jpg", 3, "mirror")  # found through its dihedral hashes
    second = _ingest(ctx, tmp_path / "de", "TEST-DE", "DE-7")

    assert _status(ctx, "TEST-DE", "DE-7") == {
        "copy.jpg": TriageStatus.KNOWN,
        "reencoded.jpg": TriageStatus.KNOWN,
        "mirrored.jpg": TriageStatus.KNOWN,
        "fresh.jpg": TriageStatus.NEW,
    }
    assert second.alerts_raised == 6  # three overlapping items, one alert to each side
    with ctx.uow() as uow:
        gb, de = uow.agencies.get("TEST-GB"), uow.agencies.get("TEST-DE")
        to_gb = [view.alert for view in uow.alerts.for_agency(gb.id)]
        to_de = [view.alert for view in uow.alerts.for_agency(de.id)]
    assert {a.signal for a in to_gb} == {"sha256", "pdq"}
    assert all(a.counterpart_agency_id == de.id for a in to_gb)
    assert all(a.counterpart_agency_id == gb.id for a in to_de)
    assert {a.distance == 0 for a in to_de if a.signal == "sha256"} == {True}


def test_near_duplicates_in_one_case_are_stacked(agencies: AppContext, tmp_path: Path) -> None:
    ctx = agencies
    _write(tmp_path / "in/a.jpg", 5)
    _write(tmp_path / "in/b_resized.jpg", 5, "resize")
    _write(tmp_path / "in/c_other.jpg", 6)
    _ingest(ctx, tmp_path / "in", "TEST-GB", "GB-2")
    with ctx.uow() as uow:
        case_id = _case_id(uow, "TEST-GB", "GB-2")
        rows = {r.media_id: r for r in uow.triage.for_case(case_id)}
        names = uow.sightings.names_in_case(case_id)
    by_name = {names[m]: r for m, r in rows.items()}
    assert by_name["b_resized.jpg"].stack_media_id == by_name["a.jpg"].media_id
    assert by_name["c_other.jpg"].stack_media_id == by_name["c_other.jpg"].media_id
    assert by_name["b_resized.jpg"].status is TriageStatus.KNOWN


def _make_list(
    ctx: AppContext, name: str, entries: list[HashListEntryData], kind: ListKind, owner: str
) -> int:
    with ctx.uow() as uow:
        hash_list = uow.hashlists.create(uow.agencies.get(owner).id, name, kind, 31)
        uow.hashlists.add_entries(hash_list.id, entries)
        uow.commit()
    return hash_list.id


def test_hash_list_hits_mark_items_known_and_known_identified(
    agencies: AppContext, tmp_path: Path
) -> None:
    ctx = agencies
    md5_item = _write(tmp_path / "ref/md5.jpg", 11)
    pdq_item = _write(tmp_path / "ref/pdq.jpg", 12)
    _make_list(
        ctx,
        "ICSE export",
        [
            HashListEntryData(md5=hashlib.md5(md5_item.read_bytes()).hexdigest()),
            HashListEntryData(pdq=_pdq_hex(pdq_item), victim_identified=True, series="S-1"),
        ],
        ListKind.POSITIVE,
        "TEST-JP",
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "in/md5.jpg").write_bytes(md5_item.read_bytes())
    _write(tmp_path / "in/pdq_reencoded.jpg", 12, "reencode")
    _write(tmp_path / "in/unknown.jpg", 13)
    _ingest(ctx, tmp_path / "in", "TEST-GB", "GB-3")
    assert _status(ctx, "TEST-GB", "GB-3") == {
        "md5.jpg": TriageStatus.KNOWN,
        "pdq_reencoded.jpg": TriageStatus.KNOWN_IDENTIFIED,
        "unknown.jpg": TriageStatus.NEW,
    }


def test_negative_list_suppresses_perceptual_matches(agencies: AppContext, tmp_path: Path) -> None:
    ctx = agencies
    write_landscape(tmp_path / "gb/20.jpg", 20)
    _ingest(ctx, tmp_path / "gb", "TEST-GB", "GB-4")
    _make_list(
        ctx,
        "stock images",
        [HashListEntryData(pdq=_pdq_hex(tmp_path / "gb/20.jpg"))],
        ListKind.NEGATIVE,
        "TEST-GB",
    )
    _write(tmp_path / "de/20_reencoded.jpg", 20, "reencode")
    report = _ingest(ctx, tmp_path / "de", "TEST-DE", "DE-4")
    assert report.alerts_raised == 0
    assert _status(ctx, "TEST-DE", "DE-4") == {"20_reencoded.jpg": TriageStatus.NEW}


def test_retro_hunt_after_list_import_and_threshold_change(
    agencies: AppContext, tmp_path: Path
) -> None:
    ctx = agencies
    for seed in (30, 31):
        write_landscape(tmp_path / f"gb/{seed}.jpg", seed)
    _ingest(ctx, tmp_path / "gb", "TEST-GB", "GB-5")
    reference = _write(tmp_path / "ref/31_crop.jpg", 31, "crop")
    list_id = _make_list(
        ctx,
        "late list",
        [HashListEntryData(pdq=_pdq_hex(reference), victim_identified=False)],
        ListKind.POSITIVE,
        "TEST-JP",
    )
    engine = MatchingEngine(ctx, pdq_indexes(ctx))
    configure(ctx, list_id, requester=TEST_REQUESTER, threshold=0)
    assert retro_hunt(ctx, engine, list_id).new_matches == 0  # a crop is not at distance 0
    configure(ctx, list_id, requester=TEST_REQUESTER, threshold=31)
    report = retro_hunt(ctx, engine, list_id)
    assert (report.new_matches, report.triage_changed) == (1, 1)
    assert _status(ctx, "TEST-GB", "GB-5")["31.jpg"] is TriageStatus.KNOWN
    assert _status(ctx, "TEST-GB", "GB-5")["30.jpg"] is TriageStatus.NEW
    assert retro_hunt(ctx, engine, list_id).new_matches == 0  # idempotent


def test_flooding_entry_is_quarantined(agencies: AppContext) -> None:
    ctx = agencies
    entries = [HashListEntryData(md5=f"{i:032x}") for i in range(3)]
    list_id = _make_list(ctx, "flood", entries, ListKind.POSITIVE, "TEST-JP")
    engine = MatchingEngine(ctx, pdq_indexes(ctx))
    with ctx.uow() as uow:
        ids = uow.hashlists.entry_ids(list_id)
        uow.hashlists.count_matches([ids[0]] * (FLOOD_MIN_MATCHES + 5) + ids[1:])
        engine._flood_check(uow, [list_id])
        uow.commit()
        refs = uow.hashlists.refs(ids)
    assert [refs[i].quarantined for i in ids] == [True, False, False]
