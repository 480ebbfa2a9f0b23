"""Master key file: creation, loading, refusal of unsafe or damaged files, subkeys."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from sightline.errors import ConflictError, MasterKeyError
from sightline.storage.blobs.keys import MasterKey, create_master_key, load_master_key

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "master.key"


def _document(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def _rewrite(path: Path, document: object) -> None:
    path.write_text(json.dumps(document))
    path.chmod(0o600)


def test_create_then_load_round_trips(key_path: Path) -> None:
    create_master_key(key_path)
    key = load_master_key(key_path)
    document = _document(key_path)
    assert key.key_id == document["key_id"]
    assert len(key.key) == 32
    assert base64.b64decode(document["key"]) == key.key
    assert document["version"] == 1
    assert document["check"] == key.check_value()


@posix_only
def test_key_file_is_0600_and_new_parent_is_0700(key_path: Path) -> None:
    create_master_key(key_path)
    assert _mode(key_path) == 0o600
    assert _mode(key_path.parent) == 0o700


def test_two_keys_differ(tmp_path: Path) -> None:
    create_master_key(tmp_path / "a.key")
    create_master_key(tmp_path / "b.key")
    a, b = load_master_key(tmp_path / "a.key"), load_master_key(tmp_path / "b.key")
    assert a.key_id != b.key_id
    assert a.key != b.key


def test_create_refuses_to_overwrite(key_path: Path) -> None:
    create_master_key(key_path)
    before = key_path.read_bytes()
    with pytest.raises(ConflictError, match="already exists"):
        create_master_key(key_path)
    assert key_path.read_bytes() == before


def test_missing_key_file_is_reported_without_advice(key_path: Path) -> None:
    """Only the caller knows whether the store is new (init) or holds data (restore the key)."""
    with pytest.raises(MasterKeyError, match="not found") as raised:
        load_master_key(key_path)
    assert "init" not in raised.value.message


def test_audit_keys_derive_from_the_master_key_and_differ_per_key() -> None:
    a, b = MasterKey.generate(), MasterKey.generate()
    assert a.audit_chain_key() == MasterKey(a.key_id, a.key).audit_chain_key()
    assert len(a.audit_chain_key()) == 32
    assert a.audit_chain_key() not in (b.audit_chain_key(), a.blob_id_mac_key(), a.key)
    message = b"checkpoint"
    signature = a.audit_checkpoint_key().sign(message)
    a.audit_checkpoint_key().public_key().verify(signature, message)
    with pytest.raises(InvalidSignature):
        b.audit_checkpoint_key().public_key().verify(signature, message)


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_key_accessible_to_group_or_others_is_refused(key_path: Path, mode: int) -> None:
    create_master_key(key_path)
    key_path.chmod(mode)
    with pytest.raises(MasterKeyError, match=f"chmod 600 {key_path}"):
        load_master_key(key_path)


@posix_only
def test_owner_read_only_key_is_accepted(key_path: Path) -> None:
    create_master_key(key_path)
    key_path.chmod(0o400)
    assert load_master_key(key_path).key_id == _document(key_path)["key_id"]


def test_directory_instead_of_key_file_is_refused(key_path: Path) -> None:
    key_path.mkdir(parents=True)
    with pytest.raises(MasterKeyError, match="master key"):
        load_master_key(key_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "format"),
        ({"version": 2}, "version"),
        ({"key_id": "XYZ"}, "key_id"),
        ({"key": "not base64!"}, "base64"),
        ({"key": base64.b64encode(b"short").decode()}, "32 bytes"),
        ({"check": "00" * 16}, "key-check"),
        ({"key": None}, "strings"),
    ],
)
def test_malformed_key_file_is_refused(
    key_path: Path, change: dict[str, object], message: str
) -> None:
    create_master_key(key_path)
    _rewrite(key_path, _document(key_path) | change)
    with pytest.raises(MasterKeyError, match=message):
        load_master_key(key_path)


def test_altered_key_bytes_fail_the_key_check(key_path: Path) -> None:
    create_master_key(key_path)
    document = _document(key_path)
    key = bytearray(base64.b64decode(document["key"]))
    key[0] ^= 1
    _rewrite(key_path, document | {"key": base64.b64encode(bytes(key)).decode()})
    with pytest.raises(MasterKeyError, match="key-check"):
        load_master_key(key_path)


@pytest.mark.parametrize("content", [b"", b"not json", b"[1, 2]", b"\xff\xfe", b"{" * 5000])
def test_garbage_key_file_is_refused(key_path: Path, content: bytes) -> None:
    key_path.parent.mkdir(parents=True)
    key_path.write_bytes(content)
    key_path.chmod(0o600)
    with pytest.raises(MasterKeyError):
        load_master_key(key_path)


def test_repr_never_shows_the_key() -> None:
    key = MasterKey.generate()
    for text in (repr(key), str(key), f"{key}"):
        assert key.key_id in text
        assert key.key.hex() not in text
        assert base64.b64encode(key.key).decode() not in text
        assert repr(key.key) not in text


def test_subkeys_are_distinct_deterministic_and_key_specific() -> None:
    key = MasterKey.generate()
    same = MasterKey(key_id=key.key_id, key=key.key)
    other = MasterKey.generate()
    assert key.wrapping_key() == same.wrapping_key()
    assert key.blob_id_mac_key() == same.blob_id_mac_key()
    assert len({key.key, key.wrapping_key(), key.blob_id_mac_key()}) == 3
    assert other.wrapping_key() != key.wrapping_key()
    assert other.blob_id_mac_key() != key.blob_id_mac_key()
    assert len(key.derive("something-else", length=16)) == 16


@pytest.mark.parametrize(
    ("key_id", "key"),
    [("0" * 16, b"x" * 31), ("ABCDEF0123456789", b"x" * 32), ("0" * 15, b"x" * 32)],
)
def test_invalid_master_key_values_are_refused(key_id: str, key: bytes) -> None:
    with pytest.raises(MasterKeyError):
        MasterKey(key_id=key_id, key=key)
