"""Encrypted local blob store: round trips, secrecy on disk, tamper detection, atomicity."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from sightline.errors import BlobIntegrityError, InvalidInputError, MasterKeyError, NotFoundError
from sightline.storage.blobs.encrypted_local import HEADER_SIZE, EncryptedLocalBlobStore
from sightline.storage.blobs.keys import MasterKey, create_master_key, load_master_key

SEGMENT = 64
SEALED = SEGMENT + 16  # ciphertext segment: plaintext plus GCM tag
# Header field offsets (format version 1): magic 0-7, version 8, key id 9-16,
# segment size 17-20, wrapped key 21-60, nonce prefix 61-67.
KEY_ID_OFFSET = 9


def _data(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(f"seed-{seed}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def store(root: Path, master_key: MasterKey) -> EncryptedLocalBlobStore:
    return EncryptedLocalBlobStore(root, master_key, segment_size=SEGMENT)


def _blob_path(root: Path, blob_id: str) -> Path:
    return root / blob_id[:2] / blob_id[2:4] / blob_id


def _put(store: EncryptedLocalBlobStore, data: bytes, role: str = "original") -> str:
    blob_id = store.blob_id_for(_sha(data), role)
    store.put_bytes(blob_id, data)
    return blob_id


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT, 5 * SEGMENT + 7]
)
def test_round_trip(store: EncryptedLocalBlobStore, size: int) -> None:
    data = _data(size)
    blob_id = _put(store, data)
    assert store.exists(blob_id)
    assert store.read_bytes(blob_id) == data
    chunks = list(store.stream(blob_id))
    assert b"".join(chunks) == data
    assert all(len(chunk) <= SEGMENT for chunk in chunks)
    out = io.BytesIO()
    assert store.copy_to(blob_id, out) == size
    assert out.getvalue() == data


def test_round_trip_with_default_segment_size(root: Path, master_key: MasterKey) -> None:
    store = EncryptedLocalBlobStore(root, master_key)
    data = _data((1 << 20) * 2 + 5)
    blob_id = _put(store, data)
    assert [len(c) for c in store.stream(blob_id)] == [1 << 20, 1 << 20, 5]
    assert store.read_bytes(blob_id) == data


def test_reader_uses_segment_size_from_the_header(root: Path, master_key: MasterKey) -> None:
    data = _data(1000)
    blob_id = _put(EncryptedLocalBlobStore(root, master_key, segment_size=100), data)
    assert EncryptedLocalBlobStore(root, master_key).read_bytes(blob_id) == data


def test_put_file_round_trip(store: EncryptedLocalBlobStore, tmp_path: Path) -> None:
    data = _data(10 * SEGMENT + 3)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    blob_id = store.blob_id_for(_sha(data), "original")
    store.put_file(blob_id, source)
    assert store.read_bytes(blob_id) == data


def test_put_file_and_copy_to_stream_in_bounded_memory(
    root: Path, master_key: MasterKey, tmp_path: Path
) -> None:
    segment, size = 64 * 1024, 8 * 1024 * 1024
    store = EncryptedLocalBlobStore(root, master_key, segment_size=segment)
    source, target = tmp_path / "big.bin", tmp_path / "out.bin"
    with source.open("wb") as out:
        for i in range(size // segment):
            out.write(_data(segment, seed=i))
    blob_id = "ab" * 16
    tracemalloc.start()
    try:
        store.put_file(blob_id, source)
        with target.open("wb") as out:
            assert store.copy_to(blob_id, out) == size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"peak {peak} bytes: not streaming"
    assert target.read_bytes() == source.read_bytes()


def test_put_file_missing_source(store: EncryptedLocalBlobStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        store.put_file("ab" * 16, tmp_path / "absent.bin")


def test_overwrite_replaces_content(store: EncryptedLocalBlobStore) -> None:
    blob_id = "cd" * 16
    store.put_bytes(blob_id, b"first")
    store.put_bytes(blob_id, b"second")
    assert store.read_bytes(blob_id) == b"second"


# -- what is on disk -----------------------------------------------------------------------


def test_disk_bytes_reveal_neither_plaintext_nor_hash(
    store: EncryptedLocalBlobStore, root: Path
) -> None:
    marker = b"SIGHTLINE-PLAINTEXT-MARKER"
    data = marker * 40
    blob_id = _put(store, data)
    path = _blob_path(root, blob_id)
    on_disk = path.read_bytes()
    digest = hashlib.sha256(data)
    for secret in (marker, marker[:16], digest.hexdigest().encode(), digest.digest()):
        assert secret not in on_disk
    assert digest.hexdigest() not in str(path)


def test_layout_and_permissions(store: EncryptedLocalBlobStore, root: Path) -> None:
    blob_id = _put(store, b"x")
    path = _blob_path(root, blob_id)
    assert path.is_file()
    assert list(store.iter_blob_ids()) == [blob_id]
    if os.name != "nt":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for directory in (root, path.parent, path.parent.parent):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_iter_blob_ids_skips_temp_and_foreign_files(
    store: EncryptedLocalBlobStore, root: Path
) -> None:
    ids = sorted(_put(store, _data(10, seed=i)) for i in range(5))
    directory = _blob_path(root, ids[0]).parent
    (directory / f".{ids[0]}.{'0' * 16}.tmp").write_bytes(b"partial")
    (directory / "README").write_text("not a blob")
    misplaced = ("00" if ids[0][:4] != "0000" else "ff") * 16
    (directory / misplaced).write_bytes(b"misplaced: wrong fan-out directory")
    assert list(store.iter_blob_ids()) == ids
    assert (
        list(EncryptedLocalBlobStore(root / "absent", MasterKey.generate()).iter_blob_ids()) == []
    )


# -- blob ids ------------------------------------------------------------------------------


def test_blob_id_is_deterministic_keyed_and_role_separated(
    store: EncryptedLocalBlobStore, root: Path, master_key: MasterKey
) -> None:
    sha = _sha(b"content")
    blob_id = store.blob_id_for(sha, "original")
    assert len(blob_id) == 32
    assert all(c in "0123456789abcdef" for c in blob_id)
    assert EncryptedLocalBlobStore(root, master_key).blob_id_for(sha, "original") == blob_id
    assert store.blob_id_for(sha.upper(), "original") == blob_id
    other_key = EncryptedLocalBlobStore(root, MasterKey.generate())
    assert other_key.blob_id_for(sha, "original") != blob_id
    assert store.blob_id_for(sha, "thumbnail") != blob_id
    assert store.blob_id_for(_sha(b"other"), "original") != blob_id
    assert blob_id not in sha
    assert sha[:32] != blob_id


@pytest.mark.parametrize(
    ("sha", "role"),
    [("abc", "original"), ("g" * 64, "original"), ("a" * 64, ""), ("a" * 64, "Orig:inal")],
)
def test_blob_id_for_rejects_bad_input(store: EncryptedLocalBlobStore, sha: str, role: str) -> None:
    with pytest.raises(InvalidInputError):
        store.blob_id_for(sha, role)


BAD_IDS = [
    "../x",
    "../" + "a" * 29,
    "A" * 32,
    "a" * 31,
    "a" * 33,
    "",
    "/etc/passwd",
    "a" * 30 + "/x",
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_invalid_blob_ids_never_touch_the_file_system(
    store: EncryptedLocalBlobStore, tmp_path: Path, bad_id: str
) -> None:
    outside = tmp_path / "x"
    outside.write_bytes(b"keep me")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    operations: list[Callable[[], object]] = [
        lambda: store.exists(bad_id),
        lambda: store.read_bytes(bad_id),
        lambda: store.stream(bad_id),
        lambda: store.copy_to(bad_id, io.BytesIO()),
        lambda: store.put_bytes(bad_id, b"data"),
        lambda: store.put_file(bad_id, outside),
        lambda: store.delete(bad_id),
    ]
    for operation in operations:
        with pytest.raises(InvalidInputError):
            operation()
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert outside.read_bytes() == b"keep me"


# -- missing blobs and deletion ------------------------------------------------------------


def test_missing_blob(store: EncryptedLocalBlobStore) -> None:
    blob_id = "0f" * 16
    assert not store.exists(blob_id)
    with pytest.raises(NotFoundError):
        store.read_bytes(blob_id)
    with pytest.raises(NotFoundError):
        store.stream(blob_id)
    with pytest.raises(NotFoundError):
        store.copy_to(blob_id, io.BytesIO())
    assert store.delete(blob_id) is False


def test_delete(store: EncryptedLocalBlobStore) -> None:
    blob_id = _put(store, b"data")
    assert store.delete(blob_id) is True
    assert not store.exists(blob_id)
    assert store.delete(blob_id) is False
    assert list(store.iter_blob_ids()) == []


# -- keys ----------------------------------------------------------------------------------


def test_wrong_master_key_is_named(
    store: EncryptedLocalBlobStore, root: Path, master_key: MasterKey
) -> None:
    blob_id = _put(store, b"secret")
    other = MasterKey.generate()
    with pytest.raises(MasterKeyError, match=master_key.key_id) as info:
        EncryptedLocalBlobStore(root, other).read_bytes(blob_id)
    assert other.key_id in info.value.message


def test_same_key_id_with_other_key_bytes_fails_integrity(
    store: EncryptedLocalBlobStore, root: Path, master_key: MasterKey
) -> None:
    blob_id = _put(store, b"secret")
    impostor = MasterKey(key_id=master_key.key_id, key=MasterKey.generate().key)
    with pytest.raises(BlobIntegrityError):
        EncryptedLocalBlobStore(root, impostor).read_bytes(blob_id)


def test_store_works_with_a_key_loaded_from_file(tmp_path: Path, root: Path) -> None:
    create_master_key(tmp_path / "master.key")
    writer = EncryptedLocalBlobStore(root, load_master_key(tmp_path / "master.key"))
    blob_id = _put(writer, b"persisted")
    reader = EncryptedLocalBlobStore(root, load_master_key(tmp_path / "master.key"))
    assert reader.read_bytes(blob_id) == b"persisted"


# -- tampering -----------------------------------------------------------------------------

# 4 full segments + a 10-byte final one; FULL is an exact multiple of the segment size.
TAIL = 4 * SEGMENT + 10
FULL = 4 * SEGMENT


def _tampered(
    store: EncryptedLocalBlobStore, root: Path, size: int, edit: Callable[[bytes], bytes]
) -> str:
    blob_id = _put(store, _data(size))
    path = _blob_path(root, blob_id)
    path.write_bytes(edit(path.read_bytes()))
    return blob_id


def _flip(offset: int) -> Callable[[bytes], bytes]:
    def edit(blob: bytes) -> bytes:
        changed = bytearray(blob)
        changed[offset] ^= 0x01
        return bytes(changed)

    return edit


def _segment(index: int) -> slice:
    start = HEADER_SIZE + index * SEALED
    return slice(start, start + SEALED)


def _swap(blob: bytes) -> bytes:
    return (
        blob[: _segment(1).start]
        + blob[_segment(2)]
        + blob[_segment(1)]
        + blob[_segment(3).start :]
    )


TAMPERS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    "header magic": (TAIL, _flip(0)),
    "header version": (TAIL, _flip(8)),
    "header segment size": (TAIL, _flip(20)),
    "header wrapped key": (TAIL, _flip(30)),
    "header nonce prefix": (TAIL, _flip(HEADER_SIZE - 1)),
    "middle segment body": (TAIL, _flip(HEADER_SIZE + 2 * SEALED + 5)),
    "middle segment tag": (TAIL, _flip(HEADER_SIZE + 3 * SEALED - 1)),
    "final tag": (TAIL, _flip(-1)),
    "truncate inside header": (TAIL, lambda b: b[: HEADER_SIZE - 1]),
    "truncate to header": (TAIL, lambda b: b[:HEADER_SIZE]),
    "truncate to empty": (TAIL, lambda b: b""),
    "truncate at segment boundary": (TAIL, lambda b: b[: _segment(2).start]),
    "truncate mid segment": (TAIL, lambda b: b[: _segment(2).start + 20]),
    "drop last segment": (TAIL, lambda b: b[: _segment(4).start]),
    "drop last of exact multiple": (FULL, lambda b: b[: _segment(3).start]),
    "drop first segment": (TAIL, lambda b: b[:HEADER_SIZE] + b[_segment(1).start :]),
    "swap two segments": (TAIL, _swap),
    "append one byte": (TAIL, lambda b: b + b"\x00"),
    "append junk": (TAIL, lambda b: b + b"junk" * 10),
    "append to exact multiple": (FULL, lambda b: b + bytes(SEALED)),
    "duplicate final segment": (TAIL, lambda b: b + b[_segment(4).start :]),
}


@pytest.mark.parametrize("case", TAMPERS, ids=list(TAMPERS))
def test_tampering_is_detected(store: EncryptedLocalBlobStore, root: Path, case: str) -> None:
    size, edit = TAMPERS[case]
    blob_id = _tampered(store, root, size, edit)
    with pytest.raises(BlobIntegrityError):
        store.read_bytes(blob_id)
    with pytest.raises(BlobIntegrityError):
        store.copy_to(blob_id, io.BytesIO())


def test_flipped_key_id_reads_as_wrong_key(store: EncryptedLocalBlobStore, root: Path) -> None:
    blob_id = _tampered(store, root, TAIL, _flip(KEY_ID_OFFSET))
    with pytest.raises(MasterKeyError, match="damaged blob header"):
        store.read_bytes(blob_id)


def test_blob_renamed_to_another_id_fails(store: EncryptedLocalBlobStore, root: Path) -> None:
    blob_id = _put(store, _data(TAIL))
    other_id = "ee" * 16
    target = _blob_path(root, other_id)
    target.parent.mkdir(parents=True)
    _blob_path(root, blob_id).rename(target)
    with pytest.raises(BlobIntegrityError):
        store.read_bytes(other_id)


def test_stream_yields_only_verified_segments(store: EncryptedLocalBlobStore, root: Path) -> None:
    data = _data(TAIL)
    blob_id = _tampered(store, root, TAIL, _flip(HEADER_SIZE + 2 * SEALED + 5))
    received: list[bytes] = []
    with pytest.raises(BlobIntegrityError, match="segment 2"):
        received.extend(store.stream(blob_id))
    assert b"".join(received) == data[: 2 * SEGMENT]


# -- atomicity -----------------------------------------------------------------------------


def _temp_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.tmp"))


def test_failed_replace_leaves_no_blob_and_no_temp(
    store: EncryptedLocalBlobStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_replace(*args: object, **kwargs: object) -> None:
        raise OSError("simulated failure")

    blob_id = "aa" * 16
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        store.put_bytes(blob_id, b"data")
    monkeypatch.undo()
    assert not store.exists(blob_id)
    assert _temp_files(root) == []


_CRASHING_WRITER = """
import os, sys
from pathlib import Path
from sightline.storage.blobs.encrypted_local import EncryptedLocalBlobStore
from sightline.storage.blobs.keys import load_master_key

store = EncryptedLocalBlobStore(Path(sys.argv[1]), load_master_key(Path(sys.argv[2])))
os.replace = lambda *args, **kwargs: os._exit(17)  # killed between fsync and rename
store.put_bytes(sys.argv[3], b"new content")
"""


def test_killed_writer_leaves_old_blob_and_a_stale_temp_file(tmp_path: Path, root: Path) -> None:
    key_path = tmp_path / "master.key"
    create_master_key(key_path)
    store = EncryptedLocalBlobStore(root, load_master_key(key_path))
    blob_id, fresh_id = "ab" * 16, "cd" * 16
    store.put_bytes(blob_id, b"old content")
    for target in (blob_id, fresh_id):
        result = subprocess.run(
            [sys.executable, "-c", _CRASHING_WRITER, str(root), str(key_path), target],
            check=False,
            capture_output=True,
        )
        assert result.returncode == 17, result.stderr.decode()
    assert store.read_bytes(blob_id) == b"old content"
    assert not store.exists(fresh_id)
    assert list(store.iter_blob_ids()) == [blob_id]
    temps = _temp_files(root)
    assert len(temps) == 2
    # Their writer is dead: they go at once, however fresh they are.
    assert store.remove_stale_temp_files(older_than_s=3600) == 2
    assert _temp_files(root) == []
    assert store.read_bytes(blob_id) == b"old content"


def test_temp_files_of_live_writers_stay_until_old(
    store: EncryptedLocalBlobStore, root: Path
) -> None:
    store.put_bytes("ab" * 16, b"content")
    directory = root / "ab" / "ab"
    live = directory / f".{'ef' * 16}.{os.getpid()}-{'0' * 16}.tmp"  # this process writes it
    legacy = directory / f".{'ef' * 16}.{'1' * 16}.tmp"  # an older version's name: no writer
    for temp in (live, legacy):
        temp.write_bytes(b"partial")
    assert store.remove_stale_temp_files(older_than_s=3600) == 0
    old = time.time() - 7200
    for temp in (live, legacy):
        os.utime(temp, (old, old))
    assert store.remove_stale_temp_files(older_than_s=3600) == 2
    assert _temp_files(root) == []


def test_remove_stale_temp_files_rejects_negative_age(store: EncryptedLocalBlobStore) -> None:
    with pytest.raises(InvalidInputError):
        store.remove_stale_temp_files(-1)


def test_invalid_segment_size(root: Path, master_key: MasterKey) -> None:
    for size in (0, -1, (1 << 26) + 1):
        with pytest.raises(InvalidInputError):
            EncryptedLocalBlobStore(root, master_key, segment_size=size)
