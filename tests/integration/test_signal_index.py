"""The process's binary indexes: persisted, caught up incrementally, rebuilt when unusable.

Most tests use the PDQ media index (the kind every store has); the last ones index a toy
64-bit kind beside it, to show the service holds nothing specific to PDQ's 256 bits.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sightline.domain.signals import Signal
from sightline.errors import ConfigurationError
from sightline.features.hashes import PDQ_BITS, PDQ_KIND
from sightline.indexes.base import IndexManifest
from sightline.indexes.registry import index_registry
from sightline.services import synthetic
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.matching.search import search_file
from sightline.services.signals.indexes import BinaryKindSpec, IndexSet, SignalIndexService
from sightline.storage.repositories.signals import NewSignal
from tests.support.corpus import SMALL, TEST_REQUESTER, ingest_seeds
from tests.support.indexes import media_index, pdq_indexes

# Every registered binary backend; mih is the default (SIGHTLINE_MATCH__INDEX_BACKEND).
BACKENDS = ["mih", "faiss-multihash", "faiss-flat", "brute"]


def _media(ctx: AppContext) -> SignalIndexService:
    return IndexSet(ctx).media("pdq")


def _ingest_seeds(ctx: AppContext, folder: Path, seeds: range) -> None:
    ingest_seeds(ctx, folder, seeds, agency="TEST-GB", case="C")


def test_every_registered_backend_is_covered() -> None:
    assert sorted(index_registry().names()) == sorted(BACKENDS)


@pytest.fixture
def stored(sqlite_ctx: AppContext, tmp_path: Path) -> AppContext:
    add_agency(sqlite_ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    _ingest_seeds(sqlite_ctx, tmp_path / "a", range(1, 5))
    return sqlite_ctx


@pytest.mark.parametrize("backend", BACKENDS)
def test_persisted_index_is_loaded_then_caught_up(
    stored: AppContext, tmp_path: Path, backend: str
) -> None:
    stored.settings.match.index_backend = backend
    first = media_index(stored)
    first.save()
    manifest = IndexManifest.read(first.directory)
    with stored.uow() as uow:
        latest = uow.signals.max_id("pdq")  # other kinds' signals (scene windows) interleave
    assert (manifest.backend, manifest.count, manifest.checkpoint) == (backend, 4, latest)

    _ingest_seeds(stored, tmp_path / "b", range(5, 8))
    second = media_index(stored)
    assert second.status().count == 7  # loaded 4 from disk, caught up 3 from the database
    assert second.status().ready
    assert second.refresh() == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_new_signals_make_the_status_stale_until_refreshed(
    stored: AppContext, tmp_path: Path, backend: str
) -> None:
    stored.settings.match.index_backend = backend
    service = media_index(stored)
    service.open()
    assert service.status().ready
    _ingest_seeds(stored, tmp_path / "b", range(5, 7))
    with stored.uow() as uow:
        latest = uow.signals.max_id("pdq")
    index = service.open()
    assert index.checkpoint < latest  # not refreshed yet: stale
    stale = service.status()
    assert not stale.ready
    assert (stale.backend, stale.count, stale.latest) == (backend, 4, latest)
    assert stale.checkpoint < stale.latest
    assert service.refresh() == 2
    fresh = service.status()
    assert fresh.ready
    assert (fresh.count, fresh.checkpoint, fresh.latest) == (6, latest, latest)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_missing_or_damaged_index_is_rebuilt_from_the_database(
    stored: AppContext, damage: str, backend: str
) -> None:
    stored.settings.match.index_backend = backend
    service = media_index(stored)
    service.save()
    if damage == "delete":
        shutil.rmtree(service.directory)
    else:
        for path in service.directory.iterdir():
            if path.name != "manifest.json":
                path.write_bytes(b"not an index")
    assert media_index(stored).status().count == 4
    assert media_index(stored).rebuild() == 4


def test_looser_thresholds_need_a_flat_index(stored: AppContext, tmp_path: Path) -> None:
    stored.settings.match.pdq_threshold = 52
    with pytest.raises(ConfigurationError, match="faiss-flat"):
        media_index(stored)
    for exact_to_31 in ("mih", "faiss-multihash"):
        stored.settings.match.index_backend = exact_to_31
        with pytest.raises(ConfigurationError, match=f"{exact_to_31}.*faiss-flat"):
            media_index(stored)
    stored.settings.match.index_backend = "faiss-flat"
    image = synthetic.landscape(3, SMALL)
    near = image.crop((0, 0, image.width * 97 // 100, image.height))  # ~38 bits from stored
    (tmp_path / "q.jpg").write_bytes(synthetic.encode(near))
    indexes = pdq_indexes(stored)
    [match] = search_file(stored, indexes, tmp_path / "q.jpg", requester=TEST_REQUESTER).matches
    assert 31 < match.distance <= 52


def test_indexes_keep_their_persisted_directory_names(stored: AppContext) -> None:
    indexes = pdq_indexes(stored)
    indexes.save()
    names = sorted(p.name for p in stored.settings.index_dir.iterdir())
    # PDQ's as PdqIndexService wrote them; the default set adds frames, scene windows and
    # soundtracks.
    assert names == [
        "chromaprint-inverted-fingerprint",
        "pdq-lists-mih",
        "pdq-mih",
        "scene-auto-vector",
        "vpdq-mih",
    ]
    statuses = indexes.statuses()
    assert {kind: sorted(by) for kind, by in statuses.items()} == {
        "pdq": ["lists", "media"],
        "vpdq": ["media"],
        "scene": ["media"],
        "chromaprint": ["media"],
    }
    assert statuses["pdq"]["media"].count == 4


def _toy_codes(stored: AppContext) -> dict[int, bytes]:
    """A 64-bit code of a toy kind for every stored media item, committed."""
    with stored.uow() as uow:
        media_ids = list(uow.signals.codes_of(PDQ_KIND, range(1, 100)))
        codes = {m: np.random.default_rng(m).bytes(8) for m in media_ids}
        uow.signals.add_many([NewSignal(m, Signal("toy", code, 100)) for m, code in codes.items()])
        uow.commit()
    return codes


def test_a_second_kind_of_another_width_is_indexed_beside_pdq(stored: AppContext) -> None:
    codes = _toy_codes(stored)
    toy = BinaryKindSpec("toy", 64, 10, backend="brute")
    indexes = IndexSet(stored, [BinaryKindSpec(PDQ_KIND, PDQ_BITS, 31), toy])
    assert indexes.kinds == ("pdq", "toy")
    assert indexes.lists("toy") is None  # hash lists carry PDQ only
    queries = np.frombuffer(b"".join(codes.values()), dtype=np.uint8).reshape(len(codes), 8)
    hits = indexes.media("toy").search(queries, 0)
    assert [len(row) for row in hits] == [1] * len(codes)
    statuses = indexes.statuses()
    assert (statuses["toy"]["media"].count, statuses["pdq"]["media"].count) == (4, 4)
    assert "lists" not in statuses["toy"]
    assert indexes.rebuild() == {"pdq": {"media": 4, "lists": 0}, "toy": {"media": 4}}
    assert (stored.settings.index_dir / "toy-brute").is_dir()


def test_kinds_and_widths_a_backend_cannot_serve_are_refused(stored: AppContext) -> None:
    with pytest.raises(ConfigurationError, match="64-bit"):
        IndexSet(stored, [BinaryKindSpec("toy", 64, 10)])  # mih: 256-bit codes only
    with pytest.raises(ConfigurationError, match="twice"):
        IndexSet(stored, [BinaryKindSpec("toy", 64, 10, "brute")] * 2)
    indexes = pdq_indexes(stored)
    with pytest.raises(ConfigurationError, match="no index for signal kind 'toy'"):
        indexes.media("toy")
    with pytest.raises(ConfigurationError, match="no index for signal kind 'toy'"):
        indexes.lists("toy")
    toy_only = IndexSet(stored, [BinaryKindSpec("toy", 64, 10, "brute")])
    with pytest.raises(ConfigurationError, match="hash lists hold no 'toy' hashes"):
        toy_only.require_lists("toy")
