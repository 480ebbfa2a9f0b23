"""Master key management: one secret on disk from which every blob-store key is derived.

The master key is 32 random bytes kept in a small JSON file next to (never inside) the data
it protects. It is never used directly: HKDF-SHA256 derives a separate subkey per purpose
(wrapping per-blob data keys, naming blobs), so compromise of one use cannot be turned
against another and new purposes can be added without a new key file.

The file carries three things besides the key:

* a format ``version``, so the file layout can evolve;
* a ``key_id`` (random, not secret), written into every blob header so that reading with a
  different key fails with "wrong key" rather than a vague integrity error;
* a ``check`` value, an HMAC of a fixed label under the key, so a corrupted or hand-edited
  key file is detected when loaded instead of surfacing later as unreadable blobs.

The trade-off of a key file (rather than a KMS or HSM) is that its protection is the file
system's: the loader refuses a file that group or others can access, and creation refuses
to overwrite an existing key, since losing the key makes every blob unrecoverable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sightline.errors import ConflictError, MasterKeyError

KEY_FILE_FORMAT = "sightline-master-key"
KEY_FILE_VERSION = 1
KEY_SIZE = 32
"""Master key length in bytes (256 bits)."""

KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
"""A key id is 8 random bytes in lowercase hex: unique enough to tell keys apart, not secret."""

WRAP_PURPOSE = "blob-data-key-wrap"
MAC_PURPOSE = "blob-id-mac"
AUDIT_CHAIN_PURPOSE = "audit-chain-mac"
AUDIT_CHECKPOINT_PURPOSE = "audit-checkpoint-ed25519"

# The key file is tiny; refusing anything larger avoids reading an arbitrary file into memory
# when the path is misconfigured.
_MAX_KEY_FILE_BYTES = 4096
_CHECK_LABEL = b"sightline/master-key-check/v1"
_HKDF_INFO_PREFIX = "sightline/v1/"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class MasterKey:
    """The loaded master key: an id plus 32 secret bytes, used only to derive subkeys.

    ``repr`` and ``str`` show the key id only, so the key cannot leak into logs or
    tracebacks. Equality is identity: comparing key bytes is never needed by callers.

    Attributes:
        key_id: 16 lowercase hex characters identifying the key (not secret).
        key: the 32 secret key bytes.
    """

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not KEY_ID_PATTERN.fullmatch(self.key_id):
            raise MasterKeyError("master key id must be 16 lowercase hex characters")
        if len(self.key) != KEY_SIZE:
            raise MasterKeyError(f"master key must be {KEY_SIZE} bytes, got {len(self.key)}")

    @classmethod
    def generate(cls) -> MasterKey:
        """A fresh random key with a fresh random id (not written anywhere)."""
        return cls(key_id=secrets.token_hex(8), key=secrets.token_bytes(KEY_SIZE))

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """Derive an independent subkey for ``purpose`` with HKDF-SHA256.

        The master key is already uniformly random, so no salt is needed; the purpose label
        in HKDF's ``info`` is what keeps subkeys for different uses independent.
        """
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=None,
            info=(_HKDF_INFO_PREFIX + purpose).encode("utf-8"),
        )
        return hkdf.derive(self.key)

    def wrapping_key(self) -> bytes:
        """The 256-bit key-encryption key that wraps per-blob data keys."""
        return self.derive(WRAP_PURPOSE)

    def blob_id_mac_key(self) -> bytes:
        """The 256-bit HMAC key that turns content hashes into opaque blob ids."""
        return self.derive(MAC_PURPOSE)

    def audit_chain_key(self) -> bytes:
        """The 256-bit HMAC key of the audit hash chain (never stored in the database)."""
        return self.derive(AUDIT_CHAIN_PURPOSE)

    def audit_checkpoint_key(self) -> Ed25519PrivateKey:
        """The Ed25519 key that signs audit checkpoints; its public half goes in each one."""
        return Ed25519PrivateKey.from_private_bytes(self.derive(AUDIT_CHECKPOINT_PURPOSE))

    def check_value(self) -> str:
        """HMAC of a fixed label and the key id: detects a corrupt key file on load."""
        message = _CHECK_LABEL + b"|" + self.key_id.encode("ascii")
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:32]

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"


def create_master_key(path: Path) -> None:
    """Create a new random master key file at ``path``, readable by its owner only.

    The parent directory is created with mode 0700 if missing. The file is created with
    ``O_CREAT | O_EXCL`` and mode 0600, so an existing key is never overwritten and there is
    no moment at which the key sits in a file with wider permissions.

    Raises:
        ConflictError: a file already exists at ``path``.
        MasterKeyError: the file could not be written.
    """
    master = MasterKey.generate()
    document = {
        "format": KEY_FILE_FORMAT,
        "version": KEY_FILE_VERSION,
        "key_id": master.key_id,
        "key": base64.b64encode(master.key).decode("ascii"),
        "check": master.check_value(),
    }
    payload = (json.dumps(document, indent=2) + "\n").encode("ascii")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConflictError(
            f"master key file {path} already exists; refusing to overwrite it "
            "(without its key every stored blob is unreadable)"
        ) from None
    except OSError as exc:
        raise MasterKeyError(f"cannot create master key file {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        # A half-written key file would later read as "malformed"; better not to leave one.
        path.unlink(missing_ok=True)
        raise MasterKeyError(f"cannot write master key file {path}: {exc.strerror}") from exc


def load_master_key(path: Path) -> MasterKey:
    """Load and verify the master key file at ``path``.

    Raises:
        MasterKeyError: the file is missing, unreadable, accessible to group or others,
            malformed, or its key-check value does not match. (Whether a missing key means
            "new store: run init" or "restore it from backup" is for the caller to say: only
            it knows whether the store holds data.)
    """
    raw = _read_key_file(path)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MasterKeyError(f"master key file {path} is not valid JSON") from None
    if not isinstance(document, dict):
        raise MasterKeyError(f"master key file {path} is malformed: expected a JSON object")
    return _parse_key_document(path, document)


def _read_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise MasterKeyError(f"master key file {path} not found") from None
    except OSError as exc:
        raise MasterKeyError(f"cannot read master key file {path}: {exc.strerror}") from exc
    try:
        # fstat on the open descriptor: the checks apply to exactly the file we read.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise MasterKeyError(f"master key path {path} is not a regular file")
        _check_permissions(path, info.st_mode)
        raw = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise MasterKeyError(f"cannot read master key file {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(raw) > _MAX_KEY_FILE_BYTES:
        raise MasterKeyError(f"master key file {path} is too large to be a key file")
    return raw


def _check_permissions(path: Path, mode: int) -> None:
    # POSIX permission bits mean nothing on Windows; there the ACLs of the directory decide.
    if os.name == "nt" or not mode & 0o077:
        return
    raise MasterKeyError(
        f"master key file {path} is accessible to group or others "
        f"(mode {stat.S_IMODE(mode):04o}); refusing to use it. Fix with: chmod 600 {path}"
    )


def _parse_key_document(path: Path, document: dict[str, Any]) -> MasterKey:
    def malformed(reason: str) -> MasterKeyError:
        return MasterKeyError(f"master key file {path} is malformed: {reason}")

    if document.get("format") != KEY_FILE_FORMAT:
        raise malformed(f"'format' must be {KEY_FILE_FORMAT!r}")
    if document.get("version") != KEY_FILE_VERSION:
        raise malformed(f"unsupported version {document.get('version')!r}; expected 1")
    key_id, encoded, check = document.get("key_id"), document.get("key"), document.get("check")
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise malformed("'key_id' must be 16 lowercase hex characters")
    if not isinstance(encoded, str) or not isinstance(check, str):
        raise malformed("'key' and 'check' must be strings")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise malformed("'key' is not valid base64") from None
    if len(key) != KEY_SIZE:
        raise malformed(f"'key' must decode to {KEY_SIZE} bytes, got {len(key)}")
    master = MasterKey(key_id=key_id, key=key)
    if not hmac.compare_digest(master.check_value(), check):
        raise MasterKeyError(
            f"master key file {path} failed its key-check: the key or key id was altered"
        )
    return master
