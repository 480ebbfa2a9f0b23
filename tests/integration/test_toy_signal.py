"""The pipeline is generic: a signal written only for this test goes end to end.

``tests/plugins/ahash`` is a separate distribution (its own ``dist-info`` with an entry point
in ``sightline.analyzers``) holding a 64-bit average-hash analyzer. Enabled by a setting,
its signal is computed at ingest, stored with its configuration, indexed (in the backend the
kind asks for), matched at ingest (near-duplicates, overlap alerts) and found by search,
without a line about it anywhere in ``src/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from sightline.analyzers.registry import AnalyzerSet
from sightline.errors import MissingDependency
from sightline.services import synthetic
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.matching.search import search_file
from sightline.services.signals.analyzers import installed_analyzers
from sightline.services.signals.indexes import IndexSet
from tests.support.corpus import SMALL, TEST_REQUESTER, ingest_seeds

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "ahash"
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def toy(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    """A store whose enabled analyzers are the digests and the toy average hash only."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    ctx.settings.analyzers.enabled = ["crypto", "ahash"]
    for code in ("AA", "BB"):
        add_agency(ctx, code, f"Agency {code}", "NL", requester=TEST_REQUESTER)
    return ctx


def _copy(folder: Path, seed: int) -> Path:
    """A half-size re-encoded copy of landscape ``seed``: new bytes, same picture."""
    folder.mkdir(parents=True)
    path = folder / "copy.jpg"
    image = synthetic.landscape(seed, SMALL)
    path.write_bytes(synthetic.encode(synthetic.resize(image, 0.5), quality=70))
    return path


def test_a_plugin_signal_is_stored_indexed_matched_and_searched(
    toy: AppContext, tmp_path: Path
) -> None:
    ingest_seeds(toy, tmp_path / "a", range(1, 4), agency="AA", case="first")
    copy = _copy(tmp_path / "b", 2)
    report = ingest_seeds(toy, copy.parent, [], agency="BB", case="second")
    assert report.summary.stored == 1 and report.alerts_raised == 2  # one alert per agency

    with toy.engine.connect() as connection:
        stored = connection.execute(
            sa.text(
                "SELECT s.kind, length(s.code), c.analyzer, c.version FROM signals s "
                "JOIN signal_configs c ON c.id = s.config_id ORDER BY s.id"
            )
        ).all()
    assert [tuple(r) for r in stored] == [("ahash", 8, "ahash", "1")] * 4

    [copy_id] = _sighted_in(toy, "second")
    with toy.uow() as uow:
        matches = uow.matches.for_media([copy_id])
    assert [(m.signal, m.threshold) for m in matches] == [("ahash", 6)]
    assert matches[0].distance <= 6

    indexes = IndexSet(toy)
    status = indexes.statuses()["ahash"]["media"]
    assert (status.backend, status.count, status.ready) == ("faiss-flat", 4, True)
    result = search_file(toy, indexes, copy, requester=TEST_REQUESTER)
    found = {m.media.id: m for m in result.matches}
    assert copy_id in found and found[copy_id].signals == ("sha256", "sha1", "md5", "ahash")
    [original] = [m for i, m in found.items() if i != copy_id]
    assert original.signals == ("ahash",) and original.distance <= 6
    assert original.threshold == 6


def test_the_plugin_signal_runs_beside_pdq(toy: AppContext, tmp_path: Path) -> None:
    toy.settings.analyzers.enabled = ["crypto", "pdq", "metadata", "ahash"]
    ingest_seeds(toy, tmp_path / "a", [5], agency="AA", case="first")
    copy = _copy(tmp_path / "b", 5)
    result = search_file(toy, IndexSet(toy), copy, requester=TEST_REQUESTER)
    [match] = result.matches
    assert match.signals == ("pdq", "ahash")
    query = result.query
    assert {v.signal.kind for v in query.variants} == {"pdq", "ahash"}


def test_nothing_in_the_product_names_the_plugin() -> None:
    names = ("ahash", "greyhist")
    named = [p for p in SRC.rglob("*.py") if any(n in p.read_text() for n in names)]
    assert named == []


def _sighted_in(ctx: AppContext, case: str) -> list[int]:
    with ctx.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT s.media_id FROM sightings s JOIN cases c ON c.id = s.case_id "
                "WHERE c.reference = :case"
            ),
            {"case": case},
        ).all()
    return [int(r[0]) for r in rows]


def test_a_missing_optional_dependency_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN.parent / "broken"))
    with pytest.raises(MissingDependency, match=r"install sightline-broken\[gpu\]"):
        AnalyzerSet(("crypto", "needs-extra"))
    [listed] = [a for a in installed_analyzers([]) if a.name == "needs-extra"]
    assert not listed.enabled and listed.problem is not None and "[gpu]" in listed.problem


def test_a_plugin_vector_signal_is_stored_indexed_and_found(
    toy: AppContext, tmp_path: Path
) -> None:
    toy.settings.analyzers.enabled = ["crypto", "greyhist"]
    ingest_seeds(toy, tmp_path / "a", range(1, 4), agency="AA", case="first")
    copy = _copy(tmp_path / "b", 2)
    ingest_seeds(toy, copy.parent, [], agency="BB", case="second")
    [copy_id] = _sighted_in(toy, "second")

    indexes = IndexSet(toy)
    vectors = indexes.vectors("greyhist")
    status = indexes.statuses()["greyhist"]["media"]
    assert (status.backend, status.count, status.ready) == ("auto-vector", 4, True)
    with toy.uow() as uow:
        [own] = [s for s in uow.signals.of_media(copy_id) if s.kind == "greyhist"]
        query = np.frombuffer(own.value, dtype="<f4").reshape(1, -1)
        [hits] = vectors.nearest(query.astype(np.float32), 2)
        owners = uow.signals.media_ids(h.id for h in hits)
    assert owners[hits[0].id] == copy_id and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(hits) == 2 and owners[hits[1].id] != copy_id

    vectors.save()  # a new process loads the persisted index and finds the same
    again = IndexSet(toy).vectors("greyhist")
    assert again.status().count == 4 and again.status().ready
    [hits_again] = again.nearest(query.astype(np.float32), 1)
    assert [h.id for h in hits_again] == [hits[0].id]
