"""The indexes a process builds from its enabled signal kinds, for tests that need one."""

from __future__ import annotations

from sightline.analyzers.scene import FEATURES_ARTIFACT
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


def scene_windows(ctx: AppContext) -> int:
    """How many scene window descriptors the store holds (what the scene index counts)."""
    with ctx.uow() as uow:
        return sum(len(batch) for batch in uow.signals.iter_after("scene", 0))


def item_blob_ids(ctx: AppContext) -> set[str]:
    """Every blob the stored items own: originals, thumbnails and local-feature artifacts."""
    with ctx.uow() as uow:
        owned = set(uow.media.blob_references())
        items = uow.media.get_many(range(1, uow.media.count() + 1)).values()
    for item in items:
        blob_id = ctx.blobs.blob_id_for(item.sha256, FEATURES_ARTIFACT)
        if ctx.blobs.exists(blob_id):
            owned.add(blob_id)
    return owned
