"""Two writers at once: ids that commit out of order, and the same new file stored twice.

Each test interleaves two real transactions deterministically (open A, write, then B writes
and commits, then A commits), in one thread where neither waits for the other and in two
threads where PostgreSQL makes B wait for A.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from sightline.domain.models import (
    CaseTriage,
    HashListEntryData,
    ListKind,
    NewMedia,
    TriageStatus,
)
from sightline.domain.signals import Signal
from sightline.features.hashes import PDQ_KIND
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.ingest.run import IngestReport
from sightline.services.matching import engine as matching
from sightline.services.signals.indexes import ListSignals, SignalIndexService
from sightline.storage.repositories.matching import NewMatch
from sightline.storage.repositories.signals import NewSignal
from sightline.storage.unit_of_work import UnitOfWork
from tests.support.corpus import TEST_REQUESTER, ingest_seeds
from tests.support.indexes import list_index, media_index

postgres_only = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)]
)


def _pdq(media_id: int, code: bytes, quality: int) -> NewSignal:
    return NewSignal(media_id, Signal(PDQ_KIND, code, quality))


def _code(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8).tobytes()


def _found(service: SignalIndexService, codes: list[bytes]) -> list[list[int]]:
    queries = np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(len(codes), -1)
    return [[hit.id for hit in hits] for hits in service.search(queries, 0)]


def _media(seed: int) -> NewMedia:
    sha256 = hashlib.sha256(str(seed).encode()).hexdigest()
    return NewMedia(
        sha256=sha256,
        sha1=sha256[:40],
        md5=sha256[:32],
        size=seed,
        media_type="image",
        mime_type="image/jpeg",
        blob_id=f"blob-{seed}",
        thumbnail_blob_id=None,
    )


def _stored_media(ctx: AppContext, seeds: range) -> list[int]:
    with ctx.uow() as uow:
        ids = uow.media.add_many([_media(s) for s in seeds])
        uow.commit()
    return [ids[_media(s).sha256] for s in seeds]


def _new_list(ctx: AppContext, name: str, codes: list[bytes]) -> int:
    with ctx.uow() as uow:
        list_id = _add_list(uow, name, codes)
        uow.commit()
    return list_id


def _add_list(uow: UnitOfWork, name: str, codes: list[bytes]) -> int:
    agency = uow.agencies.get("TEST-GB")
    list_id = uow.hashlists.create(agency.id, name, ListKind.POSITIVE, 31).id
    uow.hashlists.add_entries(list_id, [HashListEntryData(pdq=c.hex()) for c in codes])
    return list_id


def _delete_list(uow: UnitOfWork, list_id: int) -> None:
    uow.signals.record_removals(ListSignals(PDQ_KIND).name, uow.hashlists.delete(list_id))


def _wait_until_blocked(ctx: AppContext, worker: threading.Thread) -> None:
    """Wait until another session of this database waits for a lock (B waiting for A)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and worker.is_alive():
        with ctx.engine.connect() as connection:
            if connection.scalar(query):
                return
        time.sleep(0.02)
    pytest.fail("the second writer never waited for the first")


def _in_thread(
    work: Callable[[], object], name: str = "writer"
) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:  # reported by the test's assertion
            outcome.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, outcome


@pytest.fixture
def agency(ctx: AppContext) -> AppContext:
    add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    return ctx


@postgres_only
def test_signal_committed_after_a_higher_id_is_still_indexed(ctx: AppContext) -> None:
    first, second = _stored_media(ctx, range(1, 3))
    service = media_index(ctx)
    service.open()
    with ctx.uow() as a:
        a.signals.add_many([_pdq(first, _code(1), 100)])  # takes the lower id
        with ctx.uow() as b:
            b.signals.add_many([_pdq(second, _code(2), 100)])
            b.commit()
        assert service.refresh() == 1  # only B's signal is visible yet
        service.save()  # persisted while A is open: the checkpoint must not pass A's id
        a.commit()
    assert (service.refresh(), service.refresh()) == (1, 0)  # A's signal, once
    assert len(service.open()) == 2
    [[low], [high]] = _found(service, [_code(1), _code(2)])
    assert low < high
    reloaded = media_index(ctx)
    assert _found(reloaded, [_code(1), _code(2)]) == [[low], [high]]
    assert reloaded.status().ready and service.status().ready


@postgres_only
def test_list_entry_committed_after_a_higher_id_is_still_indexed(agency: AppContext) -> None:
    service = list_index(agency)
    service.open()
    with agency.uow() as a:
        _add_list(a, "first", [_code(1)])
        _new_list(agency, "second", [_code(2)])
        assert service.refresh() == 1
        a.commit()
    assert [len(ids) for ids in _found(service, [_code(1), _code(2)])] == [1, 1]
    assert service.refresh() == 0  # seen ids are not added twice


@postgres_only
def test_removal_logged_before_a_later_one_commits_is_applied(agency: AppContext) -> None:
    first = _new_list(agency, "first", [_code(1)])
    second = _new_list(agency, "second", [_code(2)])
    service = list_index(agency)
    assert [len(ids) for ids in _found(service, [_code(1), _code(2)])] == [1, 1]
    with agency.uow() as a:
        _delete_list(a, first)  # takes the lower removal log id
        with agency.uow() as b:
            _delete_list(b, second)
            b.commit()
        assert _found(service, [_code(1), _code(2)]) == [[1], []]
        a.commit()
    assert _found(service, [_code(1), _code(2)]) == [[], []]


def test_ids_reused_after_the_newest_rows_are_deleted_are_indexed(agency: AppContext) -> None:
    # SQLite numbers a new row after the highest id left, so a list imported after the newest
    # one was deleted gets that list's ids back; PostgreSQL never reuses them.
    service = list_index(agency)
    wrong = _new_list(agency, "wrong", [_code(1), _code(2)])
    assert [len(ids) for ids in _found(service, [_code(1), _code(2)])] == [1, 1]
    with agency.uow() as uow:
        _delete_list(uow, wrong)
        uow.commit()
    _new_list(agency, "corrected", [_code(3), _code(4)])
    found = _found(service, [_code(1), _code(2), _code(3), _code(4)])
    assert [len(ids) for ids in found] == [0, 0, 1, 1]
    assert len(service.open()) == 2


def test_storing_an_already_stored_file_returns_the_stored_id(ctx: AppContext) -> None:
    [stored] = _stored_media(ctx, range(1, 2))
    with ctx.uow() as uow:
        ids = uow.media.add_many([_media(2), _media(1), _media(2)])
        uow.signals.add_many([_pdq(stored, _code(9), 50)])
        uow.signals.add_many([_pdq(stored, _code(8), 10)])  # ignored: one per item and kind
        uow.commit()
        assert ids[_media(1).sha256] == stored and len(ids) == 2
        assert uow.media.count() == 2
        assert uow.signals.codes_of("pdq", [stored]) == {stored: _code(9)}


@postgres_only
def test_two_writers_storing_the_same_new_file_share_one_row(ctx: AppContext) -> None:
    shared, own = _media(1), _media(2)
    with ctx.uow() as a:
        mine = a.media.add_many([shared])[shared.sha256]
        a.signals.add_many([_pdq(mine, _code(1), 100)])

        def second_writer() -> dict[str, int]:
            with ctx.uow() as b:
                ids = b.media.add_many([own, shared])  # waits for A's uncommitted row
                b.signals.add_many([_pdq(i, _code(i), 100) for i in ids.values()])
                b.commit()
                return ids

        worker, outcome = _in_thread(second_writer)
        _wait_until_blocked(ctx, worker)
        a.commit()
    worker.join(30)
    [ids] = outcome
    assert isinstance(ids, dict) and ids[shared.sha256] == mine
    with ctx.uow() as uow:
        assert uow.media.count() == 2
        assert uow.signals.codes_of("pdq", ids.values()) == {
            mine: _code(1),  # the first writer's signal stays
            ids[own.sha256]: _code(ids[own.sha256]),
        }


@postgres_only
def test_two_ingests_of_the_same_new_file_both_succeed(
    agency: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_agency(agency, "TEST-FR", "Test unit", "FR", requester=TEST_REQUESTER)
    inserted, release = threading.Event(), threading.Event()
    match_in = matching.MatchingEngine.match_in

    def held(self: matching.MatchingEngine, *args: object, **kwargs: object) -> object:
        if threading.current_thread().name == "first":  # media stored, not committed yet
            inserted.set()
            release.wait(30)
        return match_in(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(matching.MatchingEngine, "match_in", held)

    def run(agency_code: str, folder: str) -> Callable[[], IngestReport]:
        return lambda: ingest_seeds(agency, tmp_path / folder, [7], agency=agency_code, case="C")

    first, first_outcome = _in_thread(run("TEST-GB", "a"), "first")
    assert inserted.wait(60)
    second, second_outcome = _in_thread(run("TEST-FR", "b"))
    try:
        _wait_until_blocked(agency, second)
    finally:
        release.set()
    first.join(60)
    second.join(60)
    reports = first_outcome + second_outcome
    assert len(reports) == 2, reports
    for report in reports:
        assert isinstance(report, IngestReport), report
        assert (report.summary.failed, report.summary.stored + report.summary.duplicates) == (0, 1)
    # The ingest that lost the race counts the file as a duplicate, not as new media.
    done = [r for r in reports if isinstance(r, IngestReport)]
    assert sorted((r.summary.stored, r.summary.duplicates) for r in done) == [(0, 1), (1, 0)]
    with agency.uow() as uow:
        assert uow.media.count() == 1
        assert uow.sightings.count() == 2


@postgres_only
@pytest.mark.parametrize("record", ["match", "triage"])
def test_two_writers_recording_the_same_match_or_triage_both_succeed(
    agency: AppContext, record: str
) -> None:
    first, second = _stored_media(agency, range(1, 3))
    match = NewMatch(media_id=second, signal="pdq", distance=3, threshold=31, target_media_id=first)
    with agency.uow() as uow:
        case_id = uow.cases.add(uow.agencies.get("TEST-GB").id, "C").id
        uow.commit()

    def write(uow: UnitOfWork, reason: str) -> object:
        if record == "match":
            return uow.matches.add_many([match])
        uow.triage.put([CaseTriage(case_id, second, TriageStatus.NEW, first, reason)])
        return reason

    def second_writer() -> object:
        with agency.uow() as b:
            outcome = write(b, "second")  # waits for A's uncommitted row
            b.commit()
            return outcome

    with agency.uow() as a:
        assert write(a, "first") == ([match] if record == "match" else "first")
        worker, outcome = _in_thread(second_writer)
        _wait_until_blocked(agency, worker)
        a.commit()
    worker.join(30)
    with agency.uow() as uow:
        if record == "match":
            assert outcome == [[]]  # recorded once, by the first writer
            assert len(uow.matches.for_media([second])) == 1
        else:
            assert outcome == ["second"]
            assert [t.reason for t in uow.triage.for_case(case_id)] == ["second"]


@postgres_only
def test_the_checkpoint_waits_for_an_open_writer_then_catches_up(agency: AppContext) -> None:
    service = list_index(agency)
    service.open()
    with agency.uow() as slow:
        _add_list(slow, "slow", [_code(100)])  # holds the lowest id, uncommitted
        for seed in range(1, 4):
            _new_list(agency, f"list {seed}", [_code(seed)])
            assert service.refresh() == 1
        assert service.open().checkpoint == 0  # an id below every one seen may still come
        slow.commit()
    assert service.refresh() == 1
    service.refresh()  # the writers seen by the previous refresh have ended
    with agency.uow() as uow:
        latest = uow.hashlists.max_pdq_id()
    assert service.open().checkpoint == latest == 4
    assert service.refresh() == 0 and len(service.open()) == 4
