"""The indexes a process builds from its enabled signal kinds, for tests that need one."""

from __future__ import annotations

from sightline.features.hashes import PDQ_KIND
from sightline.services.context import AppContext
from sightline.services.signals.indexes import IndexSet, SignalIndexService


def pdq_indexes(ctx: AppContext) -> IndexSet:
    """The process's index set, as the API and the CLI build it (PDQ is the binary kind)."""
    return IndexSet(ctx)


def media_index(ctx: AppContext) -> SignalIndexService:
    """A new index over stored media's PDQ hashes."""
    return pdq_indexes(ctx).media(PDQ_KIND)


def list_index(ctx: AppContext) -> SignalIndexService:
    """A new index over hash-list entries' PDQ hashes."""
    return pdq_indexes(ctx).require_lists(PDQ_KIND)
