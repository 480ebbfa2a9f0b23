"""Concurrent writers of one process on SQLite: queued by the write gate, none lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sightline.domain.audit import Requester
from sightline.services.access import audit
from sightline.services.context import AppContext

REQUESTER = Requester("test", "127.0.0.1")


def _append(ctx: AppContext, n: int) -> None:
    for i in range(n):
        with ctx.uow() as uow:
            audit.record_request(uow, REQUESTER, "test.write", f"item:{i}")
            if i % 5 == 4:
                continue  # rolled back: the gate must be left on rollback too
            uow.commit()


def test_threads_append_to_the_audit_chain_without_loss(sqlite_ctx: AppContext) -> None:
    ctx = sqlite_ctx
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(_append, ctx, 25) for _ in range(8)]:
            future.result(timeout=120)
    events = audit.show(ctx, limit=1000)
    assert len(events) == 8 * 20  # every committed append, none of the rolled-back ones
    assert [e.id for e in events] == list(range(1, 161))
    assert audit.verify(ctx).ok
    with ctx.uow() as uow:  # the gate is free again: a later write goes straight through
        audit.record_request(uow, REQUESTER, "test.write", "item:last")
        uow.commit()
