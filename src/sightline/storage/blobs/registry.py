"""The blob store registry (entry-point group ``sightline.blob_stores``).

Built-in stores register as any plugin would (``pyproject.toml``); the setting
``SIGHTLINE_STORAGE__BLOB_STORE`` picks one, and :func:`open_blob_store` is the only place
that turns the setting into a store, for the API, the command line, the job worker and ingest
worker processes alike.
"""

from __future__ import annotations

from sightline.config import Settings
from sightline.domain.plugins import PluginRegistry
from sightline.storage.blobs.base import BlobStore
from sightline.storage.blobs.keys import MasterKey


def blob_store_registry() -> PluginRegistry[BlobStore]:
    """A fresh registry of every installed blob store."""
    return PluginRegistry[BlobStore]("sightline.blob_stores", BlobStore)


def open_blob_store(
    settings: Settings,
    master_key: MasterKey,
    *,
    durable: bool = True,
    registry: PluginRegistry[BlobStore] | None = None,
) -> BlobStore:
    """The blob store the settings name, encrypting under ``master_key``.

    Raises:
        UnknownPlugin: no store has that name (the message lists the valid ones).
        MissingDependency: the store's optional dependency is not installed.
    """
    cls = (registry or blob_store_registry()).get(settings.storage.blob_store)
    return cls.from_settings(settings, master_key, durable=durable)
