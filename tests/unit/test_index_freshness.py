"""Which statements move the change counter, and the refresher's ticks and stop."""

from __future__ import annotations

import threading

import pytest

from sightline.services.signals.freshness import Refresher, writes_indexed_table


@pytest.mark.parametrize(
    ("statement", "moves"),
    [
        ("INSERT INTO signals (media_id, kind, code) VALUES (?, ?, ?)", True),
        ("INSERT INTO binary_signals (media_id, kind, code) VALUES (?, ?, ?)", False),  # gone
        ('insert into "signals" (id) values (1) ON CONFLICT DO NOTHING', True),
        ("INSERT OR IGNORE INTO hash_list_entries (id) VALUES (1)", True),
        ("\n  DELETE FROM public.index_removals WHERE id = 1", True),
        ("UPDATE hash_list_entries SET quarantined = 1", True),
        ("INSERT INTO audit_events (actor) VALUES (?)", False),
        ("INSERT INTO signals_archive (id) VALUES (1)", False),
        ("SELECT id FROM signals WHERE id > ?", False),
        ("WITH x AS (SELECT 1) SELECT * FROM signals", False),
    ],
)
def test_writes_to_indexed_tables_are_recognised(statement: str, moves: bool) -> None:
    assert writes_indexed_table(statement) is moves


def test_the_refresher_survives_a_failing_catch_up_and_stops() -> None:
    calls, twice = [], threading.Event()

    def refresh() -> None:
        calls.append(1)
        if len(calls) >= 2:
            twice.set()
        raise RuntimeError("database restarting")

    refresher = Refresher(refresh, 0.01)
    refresher.start()
    assert twice.wait(10)  # ticked again after the first failure
    refresher.stop()
    stopped_at = len(calls)
    assert not any(t.name == "index-refresher" for t in threading.enumerate())
    assert len(calls) == stopped_at
    with pytest.raises(ValueError, match="positive"):
        Refresher(refresh, 0)
