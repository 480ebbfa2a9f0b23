"""Job runners and blob stores are plugins chosen by settings, like analyzers and indexes."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from sightline.config import Settings
from sightline.errors import UnknownPlugin
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.jobs.runner import InlineRunner, job_runner_registry, make_runner
from sightline.storage.blobs.encrypted_local import EncryptedLocalBlobStore
from sightline.storage.blobs.keys import MasterKey
from sightline.storage.blobs.registry import blob_store_registry, open_blob_store


def _settings(tmp_path: Path, **sections: dict[str, object]) -> Settings:
    fields = {"data_dir": tmp_path / "var", "environment": "development", **sections}
    return Settings.model_validate(fields)


def test_the_built_ins_are_entry_points() -> None:
    """Registered in pyproject.toml exactly as a third-party plugin would be."""
    runners, stores = job_runner_registry(), blob_store_registry()
    assert {"inline", "process"} <= set(runners.names())
    assert runners.get("process") is ProcessPoolRunner
    assert runners.get("inline") is InlineRunner
    assert "encrypted-local" in stores.names()
    assert stores.get("encrypted-local") is EncryptedLocalBlobStore


def test_the_setting_picks_the_runner(tmp_path: Path) -> None:
    registry = job_runner_registry()
    registry.register(InlineRunner, "inline-by-hand")  # as a test or an embedder would
    assert isinstance(make_runner(_settings(tmp_path), registry=registry), ProcessPoolRunner)
    process = make_runner(
        _settings(tmp_path, ingest={"runner": "process", "workers": 3}), registry=registry
    )
    assert isinstance(process, ProcessPoolRunner) and process.workers == 3
    inline = make_runner(_settings(tmp_path, ingest={"runner": "inline"}), registry=registry)
    assert list(inline.map_unordered(lambda x: x * 2, [1, 2, 3])) == [2, 4, 6]
    with pytest.raises(UnknownPlugin, match="valid: inline, inline-by-hand, process"):
        make_runner(_settings(tmp_path, ingest={"runner": "ray"}), registry=registry)


class _CountingStore(EncryptedLocalBlobStore):
    """A stand-in for another store plugin (an object store, say)."""

    name: ClassVar[str] = "counting"
    built: ClassVar[list[bool]] = []

    @classmethod
    def from_settings(
        cls, settings: Settings, master_key: MasterKey, *, durable: bool = True
    ) -> _CountingStore:
        cls.built.append(durable)
        return cls(settings.data_dir / "elsewhere", master_key, durable=durable)


def test_the_setting_picks_the_blob_store(tmp_path: Path) -> None:
    registry = blob_store_registry()
    registry.register(_CountingStore, "counting")
    key = MasterKey.generate()
    default = open_blob_store(_settings(tmp_path), key, registry=registry)
    assert type(default) is EncryptedLocalBlobStore
    settings = _settings(tmp_path, storage={"blob_store": "counting"})
    store = open_blob_store(settings, key, durable=False, registry=registry)
    assert isinstance(store, _CountingStore) and _CountingStore.built == [False]
    blob = store.new_blob_id()
    store.put_bytes(blob, b"staged")
    assert (tmp_path / "var/elsewhere").is_dir() and store.read_bytes(blob) == b"staged"
    with pytest.raises(UnknownPlugin, match="valid: counting, encrypted-local"):
        open_blob_store(_settings(tmp_path, storage={"blob_store": "s3"}), key, registry=registry)


def test_new_blob_ids_are_random_and_look_like_any_other(tmp_path: Path) -> None:
    store = EncryptedLocalBlobStore(tmp_path, MasterKey.generate())
    ids = {store.new_blob_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_worker_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTLINE_WORKER__KINDS", "ingest.upload, index.rebuild")
    monkeypatch.setenv("SIGHTLINE_WORKER__EMBEDDED", "false")
    monkeypatch.setenv("SIGHTLINE_INGEST__RUNNER", "inline")
    monkeypatch.setenv("SIGHTLINE_STORAGE__BLOB_STORE", "encrypted-local")
    settings = Settings()
    assert settings.worker.kinds == ["ingest.upload", "index.rebuild"]
    assert settings.worker.embedded is False
    assert (settings.ingest.runner, settings.storage.blob_store) == ("inline", "encrypted-local")


@pytest.mark.parametrize(
    ("worker", "message"),
    [
        ({"kinds": "ingest.upload,bogus"}, "unknown bogus"),
        ({"kinds": ""}, r"unknown \(none given\)"),
        ({"lease_seconds": 5, "heartbeat_seconds": 5}, "shorter than lease_seconds"),
    ],
)
def test_worker_settings_refuse_nonsense(worker: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.model_validate({"worker": worker})
