"""The search path without locks or queries: steady searches run no SQL, catch-ups run beside.

A search catches up only when this process committed a write to an indexed table; otherwise
it reads the current index and searches it, also while a catch-up is running (or stuck) in
another thread. Writes made by this process are found by its next search at once.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event

from sightline.analyzers.base import MediaInput
from sightline.analyzers.pdq import PdqAnalyzer
from sightline.domain.models import NewMedia
from sightline.domain.signals import Signal
from sightline.features.hashes import PDQ_BITS, PDQ_KIND
from sightline.jobs.inline import InlineRunner
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.ingest.run import ingest
from sightline.services.matching.engine import MatchingEngine
from sightline.services.signals.freshness import INDEX_CHANGES
from sightline.services.signals.indexes import (
    BinaryKindSpec,
    IndexSet,
    MediaSignals,
    SignalIndexService,
)
from sightline.storage.db import make_engine, make_session_factory
from sightline.storage.repositories.signals import NewSignal
from sightline.storage.unit_of_work import UnitOfWork
from tests.support.corpus import TEST_REQUESTER, write_landscape
from tests.support.indexes import pdq_indexes

# mih searches without a Python lock; brute is serialised by the service's own lock.
BACKENDS = ["mih", "brute"]


def _code(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8).tobytes()


def _queries(codes: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(len(codes), -1)


def _store(ctx: AppContext, seeds: range) -> list[bytes]:
    """Store one media item with a PDQ signal per seed, committed; returns the codes."""
    items = [_media(seed) for seed in seeds]
    with ctx.uow() as uow:
        ids = uow.media.add_many(items)
        rows = [
            NewSignal(ids[m.sha256], Signal(PDQ_KIND, _code(s), 100))
            for m, s in zip(items, seeds, strict=True)
        ]
        uow.signals.add_many(rows)
        uow.commit()
    return [_code(seed) for seed in seeds]


def _media(seed: int) -> NewMedia:
    sha256 = hashlib.sha256(f"concurrency {seed}".encode()).hexdigest()
    return NewMedia(sha256, sha256[:40], sha256[:32], seed, "image", "image/jpeg", f"b{seed}", None)


def _service(ctx: AppContext, backend: str, source: Any = None) -> SignalIndexService:
    return SignalIndexService(
        ctx, source or MediaSignals(PDQ_KIND), bits=PDQ_BITS, backend=backend, max_threshold=31
    )


class _Statements:
    """Every SQL statement the engine sends while the block runs."""

    def __init__(self, ctx: AppContext) -> None:
        self._engine = ctx.engine
        self.seen: list[str] = []

    def _note(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        self.seen.append(statement)

    def __enter__(self) -> _Statements:
        event.listen(self._engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._note)


@pytest.fixture
def stored(ctx: AppContext) -> AppContext:
    _store(ctx, range(1, 5))
    return ctx


@pytest.mark.parametrize("index_backend", BACKENDS)
def test_a_steady_state_search_runs_no_query(stored: AppContext, index_backend: str) -> None:
    service = _service(stored, index_backend)
    service.open()
    with _Statements(stored) as steady:
        [[hit]] = service.search(_queries([_code(2)]), 0)
    assert steady.seen == []
    assert hit.distance == 0
    _store(stored, range(5, 6))  # committed by this process: the next search catches up
    with _Statements(stored) as catching_up:
        [[new]] = service.search(_queries([_code(5)]), 0)
    assert catching_up.seen != []
    assert new.id > hit.id
    with _Statements(stored) as steady_again:
        assert len(service.search(_queries([_code(1), _code(5)]), 0)[1]) == 1
    assert steady_again.seen == []


def test_only_committed_writes_to_indexed_tables_move_the_counter(stored: AppContext) -> None:
    before = INDEX_CHANGES.value
    with stored.uow() as uow:
        uow.signals.add_many([NewSignal(_media_id(uow, 6), Signal(PDQ_KIND, _code(6), 100))])
        uow.rollback()
    with stored.uow() as uow:
        uow.agencies.add("TEST-XX", "not an indexed table", "XX")
        uow.commit()
    assert INDEX_CHANGES.value == before
    _store(stored, range(7, 9))
    assert INDEX_CHANGES.value > before


def _media_id(uow: UnitOfWork, seed: int) -> int:
    return uow.media.add_many([_media(seed)])[_media(seed).sha256]


class _HeldSource(MediaSignals):
    """Media signals whose reads wait on ``release`` while ``hold`` is set."""

    def __init__(self) -> None:
        super().__init__(PDQ_KIND)
        self.hold, self.entered, self.release = False, threading.Event(), threading.Event()

    def batches_after(self, uow: UnitOfWork, after_id: int) -> Iterator[list[tuple[int, bytes]]]:
        """Block the catch-up mid-read when asked to."""
        if self.hold:
            self.entered.set()
            self.release.wait(60)
        return super().batches_after(uow, after_id)


@pytest.mark.parametrize("index_backend", BACKENDS)
def test_searches_complete_while_a_catch_up_is_blocked(
    stored: AppContext, index_backend: str
) -> None:
    source = _HeldSource()
    service = _service(stored, index_backend, source)
    service.open()
    source.hold = True
    with ThreadPoolExecutor(4) as pool:
        stuck = pool.submit(service.refresh)
        assert source.entered.wait(30)
        searches = [pool.submit(service.search, _queries([_code(s)]), 0) for s in range(1, 5)]
        try:
            found = [future.result(timeout=30) for future in searches]
        finally:
            source.release.set()
        assert stuck.result(timeout=30) == 0
    assert [len(hits) for [hits] in found] == [1, 1, 1, 1]


@pytest.mark.parametrize("index_backend", BACKENDS)
def test_own_writes_are_found_at_once_while_threads_search_and_refresh(
    ctx: AppContext, index_backend: str
) -> None:
    """A writer commits codes one by one; readers check every committed code is found.

    A background refresher ticks every 20 ms beside them, so catch-ups triggered by the
    counter, by the refresher and searches all overlap.
    """
    ctx.settings.match.index_backend = index_backend
    indexes = IndexSet(ctx, [BinaryKindSpec(PDQ_KIND, PDQ_BITS, 31)])
    service = indexes.media(PDQ_KIND)
    service.open()
    committed: list[bytes] = []
    done, missed = threading.Event(), list[bytes]()

    def write() -> None:
        for seed in range(100, 140):
            committed.extend(_store(ctx, range(seed, seed + 1)))
        done.set()

    def read() -> int:
        searches = 0
        while not done.is_set():
            known = list(committed)  # each committed before this search started
            if known:
                hits = service.search(_queries(known), 0)
                missed.extend(code for code, row in zip(known, hits, strict=True) if not row)
                searches += 1
        return searches

    indexes.start_refresher(0.02)
    try:
        with ThreadPoolExecutor(4) as pool:
            readers = [pool.submit(read) for _ in range(3)]
            pool.submit(write).result(timeout=120)
            assert sum(r.result(timeout=60) for r in readers) > 0
    finally:
        indexes.close()
    assert missed == []
    assert all(service.search(_queries(committed), 0))
    assert service.status().count == 40 and service.status().ready


def test_ingest_matches_against_what_another_process_committed(
    ctx: AppContext, tmp_path: Path
) -> None:
    """``match_in`` catches up first: a hash no change counter of ours announced is matched.

    The "other process" is an engine this process does not watch; its signal reaches the
    long-lived engine's index only through the catch-up ingest runs before matching.
    """
    add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    engine = MatchingEngine(ctx, pdq_indexes(ctx))
    engine.indexes.open()
    image = write_landscape(tmp_path / "in/9.jpg", 9)
    media = MediaInput(image)
    code = bytes.fromhex(str(PdqAnalyzer().analyze(media)["hash"]))
    media.close()
    other = make_engine(ctx.settings)
    try:
        factory = make_session_factory(other)
        with UnitOfWork(factory, audit_key=ctx.master_key.audit_chain_key()) as uow:
            elsewhere = uow.media.add_many([_media(900)])[_media(900).sha256]
            uow.signals.add_many([NewSignal(elsewhere, Signal(PDQ_KIND, code, 100))])
            uow.commit()
    finally:
        other.dispose()
    ingest(
        ctx,
        [tmp_path / "in"],
        agency_code="TEST-GB",
        case_reference="C",
        runner=InlineRunner(),
        requester=TEST_REQUESTER,
        engine=engine,
    )
    with ctx.uow() as uow:
        matches = uow.matches.for_media([elsewhere])
    assert [(m.signal, m.distance, m.target_media_id) for m in matches] == [("pdq", 0, elsewhere)]
