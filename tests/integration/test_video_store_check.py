"""Analyzer artifacts are blobs no media row names: the store check must keep them.

A video's keyframes, and a still's local features (scene verification reads them), even
after the analyzer that made them is switched off.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sightline.analyzers.frames import keyframe_artifact
from sightline.analyzers.scene import FEATURES_ARTIFACT
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from sightline.services.store_check import check_store
from sightline.storage.blobs.encrypted_local import EncryptedLocalBlobStore
from tests.support.corpus import TEST_REQUESTER, ingest_seeds
from tests.support.video import cut_frames, write_video

OLD = time.time() - 7200


def test_store_repair_keeps_keyframes_and_removes_real_orphans(
    sqlite_ctx: AppContext, tmp_path: Path
) -> None:
    sqlite_ctx.settings.analyzers.enabled = ["crypto", "pdq", "vpdq", "metadata"]
    add_agency(sqlite_ctx, "AA", "Agency AA", "NL", requester=TEST_REQUESTER)
    folder = tmp_path / "in"
    folder.mkdir()
    write_video(folder / "clip.mp4", cut_frames([31, 32], seconds_each=2.5))
    ingest_seeds(sqlite_ctx, folder, [1], agency="AA", case="store")
    blobs = sqlite_ctx.blobs
    assert isinstance(blobs, EncryptedLocalBlobStore)
    with sqlite_ctx.uow() as uow:
        video = next(m for m in uow.media.get_many(range(1, 3)).values() if m.media_type == "video")
    keyframes = [blobs.blob_id_for(video.sha256, keyframe_artifact(n)) for n in range(2)]
    assert all(blobs.exists(blob_id) for blob_id in keyframes)
    assert not blobs.exists(blobs.blob_id_for(video.sha256, keyframe_artifact(2)))
    orphan = blobs.blob_id_for("ab" * 32, "original")
    blobs.put_bytes(orphan, b"a blob whose batch never committed")
    for blob_id in blobs.iter_blob_ids():  # everything is old enough to be an orphan
        os.utime(blobs._path(blob_id), (OLD, OLD))

    report = check_store(sqlite_ctx, requester=TEST_REQUESTER, repair=True)
    assert report.orphan_blobs == [orphan]
    assert report.referenced == 2 * 2 + 2  # originals and thumbnails, and two keyframes
    assert all(blobs.exists(blob_id) for blob_id in keyframes)
    assert not blobs.exists(orphan)


def test_store_repair_keeps_scene_features_even_with_the_analyzer_off(
    sqlite_ctx: AppContext, tmp_path: Path
) -> None:
    sqlite_ctx.settings.analyzers.enabled = ["crypto", "pdq", "scene", "metadata"]
    add_agency(sqlite_ctx, "AA", "Agency AA", "NL", requester=TEST_REQUESTER)
    folder = tmp_path / "in"
    folder.mkdir()
    ingest_seeds(sqlite_ctx, folder, [1, 2], agency="AA", case="store")
    blobs = sqlite_ctx.blobs
    assert isinstance(blobs, EncryptedLocalBlobStore)
    with sqlite_ctx.uow() as uow:
        items = list(uow.media.get_many(range(1, 3)).values())
    features = [blobs.blob_id_for(m.sha256, FEATURES_ARTIFACT) for m in items]
    assert len(features) == 2 and all(blobs.exists(blob_id) for blob_id in features)
    for blob_id in blobs.iter_blob_ids():
        os.utime(blobs._path(blob_id), (OLD, OLD))
    sqlite_ctx.settings.analyzers.enabled = ["crypto", "pdq", "metadata"]

    report = check_store(sqlite_ctx, requester=TEST_REQUESTER, repair=True)
    assert report.orphan_blobs == []
    assert report.referenced == 2 * 3  # originals, thumbnails and local features
    assert all(blobs.exists(blob_id) for blob_id in features)
