"""Signed audit checkpoints: a head to keep outside the database, that only this store can make.

A checkpoint is the trail's head (id and hash) signed with an Ed25519 key derived from the
master key. Stored outside the database (a ticket, another system, a printed report), it lets
``sightline audit verify --checkpoint FILE`` detect what the chain alone cannot: deleted newest
events and a trail deleted or truncated altogether. The signature means a checkpoint file
cannot be forged to fit a tampered trail, and the public key in it lets a third party check
who signed it without any secret (ADR 0011).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sightline.domain.audit import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    AuditCheckpoint,
    AuditHead,
)
from sightline.errors import BlobIntegrityError, InvalidInputError
from sightline.services.context import AppContext

MAX_CHECKPOINT_CHARS = 4096
"""A checkpoint is a few hundred characters; refuse to parse anything much larger."""

_HASH = re.compile(r"[0-9a-f]{64}")
_FIELDS = (
    "format",
    "version",
    "head_id",
    "head_hash",
    "key_id",
    "created_at",
    "public_key",
    "signature",
)


def make_checkpoint(ctx: AppContext) -> AuditCheckpoint | None:
    """Sign the trail's current head (None while the trail is empty)."""
    with ctx.uow() as uow:
        head = uow.audit.head()
    if head is None:
        return None
    signing_key = ctx.master_key.audit_checkpoint_key()
    public = signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    unsigned = AuditCheckpoint(
        head=head,
        key_id=ctx.master_key.key_id,
        created_at=datetime.now(UTC),
        public_key=base64.b64encode(public).decode("ascii"),
        signature="",
    )
    signature = signing_key.sign(unsigned.signed_bytes())
    return AuditCheckpoint(
        head=unsigned.head,
        key_id=unsigned.key_id,
        created_at=unsigned.created_at,
        public_key=unsigned.public_key,
        signature=base64.b64encode(signature).decode("ascii"),
    )


def read_checkpoint(ctx: AppContext, text: str) -> AuditHead:
    """The head of a checkpoint file, once its signature is checked against this store's key.

    Raises:
        InvalidInputError: the text is not a checkpoint file.
        BlobIntegrityError: the checkpoint was not signed by this store's key, or was altered
            after signing.
    """
    checkpoint = parse_checkpoint(text)
    signing_key = ctx.master_key.audit_checkpoint_key()
    ours = signing_key.public_key()
    if checkpoint.key_id != ctx.master_key.key_id or _raw(ours) != _b64(checkpoint.public_key):
        raise BlobIntegrityError(
            "the checkpoint was not signed by this store's key: it belongs to another store "
            "or was forged"
        )
    try:
        ours.verify(_b64(checkpoint.signature), checkpoint.signed_bytes())
    except InvalidSignature:
        raise BlobIntegrityError(
            "the checkpoint's signature does not verify: it was altered after signing"
        ) from None
    return checkpoint.head


def parse_checkpoint(text: str) -> AuditCheckpoint:
    """Read a checkpoint file as ``sightline audit head --checkpoint`` writes it (unchecked).

    Raises:
        InvalidInputError: not a JSON object of the checkpoint's fields, well formed.
    """
    if len(text) > MAX_CHECKPOINT_CHARS:
        raise _malformed("too large")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise _malformed("not JSON") from None
    if not isinstance(document, dict) or sorted(document) != sorted(_FIELDS):
        raise _malformed(f"expected a JSON object of {', '.join(_FIELDS)}")
    if document["format"] != CHECKPOINT_FORMAT or document["version"] != CHECKPOINT_VERSION:
        raise _malformed(f"format must be {CHECKPOINT_FORMAT!r}, version {CHECKPOINT_VERSION}")
    head_id, head_hash = document["head_id"], document["head_hash"]
    if type(head_id) is not int or head_id < 1:
        raise _malformed("head_id must be a positive event id")
    if not isinstance(head_hash, str) or not _HASH.fullmatch(head_hash):
        raise _malformed("head_hash must be 64 lower-case hex digits")
    return AuditCheckpoint(
        head=AuditHead(id=head_id, hash=head_hash),
        key_id=_text(document, "key_id"),
        created_at=_time(_text(document, "created_at")),
        public_key=_text(document, "public_key"),
        signature=_text(document, "signature"),
    )


def _text(document: dict[str, Any], name: str) -> str:
    value = document[name]
    if not isinstance(value, str):
        raise _malformed(f"{name} must be text")
    return value


def _time(value: str) -> datetime:
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise _malformed("created_at must be an ISO-8601 UTC time") from None
    return parsed.replace(tzinfo=UTC)


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("public_key and signature must be base64") from None


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _malformed(reason: str) -> InvalidInputError:
    return InvalidInputError(f"checkpoint: {reason} (write one with `sightline audit head`)")
