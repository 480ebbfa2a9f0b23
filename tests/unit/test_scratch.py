"""Scratch folders: owned while their process lives, swept once it is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sightline.services.ingest.scratch import (
    OWNER_FILE,
    ScratchDir,
    anonymous_file,
    is_owned,
    scratch_root,
    sweep,
)

_HOLDER = """
import sys, time
from pathlib import Path
from sightline.services.ingest.scratch import ScratchDir
folder = ScratchDir(Path(sys.argv[1]), "upload")
(folder.path / "0000").write_bytes(b"plaintext case file")
print(folder.path, flush=True)
time.sleep(600)
"""


def test_a_folder_is_swept_only_once_its_owner_is_dead(tmp_path: Path) -> None:
    root = scratch_root(tmp_path / "var")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    try:
        folder = Path(holder.stdout.readline().strip())
        assert is_owned(folder)
        assert sweep(root).folders == 0
        assert (folder / "0000").exists()
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs
        holder.wait()
        holder.stdout.close()
    assert not is_owned(folder)
    report = sweep(root)
    assert (report.folders, report.bytes) == (1, len(b"plaintext case file"))
    assert list(root.iterdir()) == []


def test_own_folders_survive_a_sweep_and_are_deleted_on_close(tmp_path: Path) -> None:
    root = scratch_root(tmp_path)
    with ScratchDir(root, "ingest") as folder:
        (folder.path / "x").write_bytes(b"data")
        assert sweep(root, grace_s=0).folders == 0
        assert (folder.path / OWNER_FILE).exists()
    assert not folder.path.exists()


def test_unowned_leftovers_go_after_the_grace_period(tmp_path: Path) -> None:
    root = scratch_root(tmp_path)
    (root / "upload-legacy").mkdir()  # an older version's folder: no owner file
    (root / "upload-legacy" / "holiday.jpg").write_bytes(b"abc")
    (root / "upload-abcd").write_bytes(b"a spooled upload")
    assert sweep(root) == sweep(root, remove=False)  # nothing old enough yet
    assert sweep(root).folders == 0
    old = time.time() - 3600
    for path in (root / "upload-legacy", root / "upload-abcd"):
        os.utime(path, (old, old))
    assert sweep(root, remove=False).folders == 1
    report = sweep(root)
    assert (report.folders, report.files) == (1, 1)
    assert list(root.iterdir()) == []


def test_scratch_root_is_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        root = scratch_root(tmp_path / "var")
    finally:
        os.umask(previous)
    assert root.stat().st_mode & 0o777 == 0o700


def test_anonymous_files_have_no_name_on_disk(tmp_path: Path) -> None:
    with anonymous_file(tmp_path) as (handle, path):
        handle.write(b"entry content")
        handle.flush()
        assert path.read_bytes() == b"entry content"
        assert list(tmp_path.iterdir()) == []
    assert list(tmp_path.iterdir()) == []
