"""signals as data: any number of signals of any kind per media item, with their configuration

``binary_signals`` (one packed hash per item and kind) becomes ``signals``: a position and a
time for sequences, compact bytes or a blob id, and a pointer to ``signal_configs`` (the
analyzer, version and parameters that made it). Every row is carried across with its id
(the id the persisted indexes hold), its configuration taken from the item's feature row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 17:40:00
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 10_000

_binary = sa.table(
    "binary_signals",
    sa.column("id", sa.Integer),
    sa.column("media_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("code", sa.LargeBinary),
    sa.column("quality", sa.Integer),
)
_features = sa.table(
    "features",
    sa.column("media_id", sa.Integer),
    sa.column("analyzer", sa.String),
    sa.column("version", sa.String),
    sa.column("status", sa.String),
    sa.column("params", sa.JSON),
)
_configs = sa.table(
    "signal_configs",
    sa.column("id", sa.Integer),
    sa.column("analyzer", sa.String),
    sa.column("version", sa.String),
    sa.column("params_sha256", sa.String),
    sa.column("params", sa.JSON),
)
_signals = sa.table(
    "signals",
    sa.column("id", sa.Integer),
    sa.column("media_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("config_id", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("time_ms", sa.BigInteger),
    sa.column("quality", sa.Integer),
    sa.column("code", sa.LargeBinary),
    sa.column("blob_id", sa.String),
)


def _digest(params: Any) -> str:
    # The same canonical form as storage/repositories/signals.py (a migration stays frozen).
    canonical = json.dumps(params or {}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _create_tables() -> None:
    op.create_table(
        "signal_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analyzer", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("params_sha256", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_configs")),
        sa.UniqueConstraint(
            "analyzer", "version", "params_sha256", name=op.f("uq_signal_configs_analyzer")
        ),
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("config_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=True),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.Column("code", sa.LargeBinary(), nullable=True),
        sa.Column("blob_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["config_id"], ["signal_configs.id"], name=op.f("fk_signals_config_id_signal_configs")
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_signals_media_id_media_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint("media_id", "kind", "position", name=op.f("uq_signals_media_id")),
    )
    op.create_index("ix_signals_kind_id", "signals", ["kind", "id"], unique=False)


class _ConfigIds:
    """Configuration ids by (analyzer, version, params digest), created as first met."""

    def __init__(self, bind: sa.Connection) -> None:
        self._bind = bind
        self._ids: dict[tuple[str, str, str], int] = {}

    def get(self, analyzer: str, version: str, params: Any) -> int:
        key = (analyzer, version, _digest(params))
        if key not in self._ids:
            self._bind.execute(
                _configs.insert().values(
                    analyzer=analyzer, version=version, params_sha256=key[2], params=params or {}
                )
            )
            self._ids[key] = int(
                self._bind.execute(
                    sa.select(_configs.c.id).where(
                        _configs.c.analyzer == analyzer,
                        _configs.c.version == version,
                        _configs.c.params_sha256 == key[2],
                    )
                ).scalar_one()
            )
        return self._ids[key]


def _copy_binary_signals(bind: sa.Connection) -> None:
    configs = _ConfigIds(bind)
    last = 0
    while True:
        rows = bind.execute(
            sa.select(_binary).where(_binary.c.id > last).order_by(_binary.c.id).limit(_BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        made = {
            (f.media_id, f.analyzer): (f.version, f.params)
            for f in bind.execute(
                sa.select(_features).where(
                    _features.c.media_id.in_({r.media_id for r in rows}),
                    _features.c.analyzer.in_({r.kind for r in rows}),
                    _features.c.status == "ok",
                )
            )
        }
        out = []
        for r in rows:
            version, params = made.get((r.media_id, r.kind), (None, None))
            out.append(
                {
                    "id": r.id,
                    "media_id": r.media_id,
                    "kind": r.kind,
                    "config_id": None if version is None else configs.get(r.kind, version, params),
                    "position": 0,
                    "time_ms": None,
                    "quality": r.quality,
                    "code": r.code,
                    "blob_id": None,
                }
            )
        bind.execute(_signals.insert(), out)


def _reset_sequence(bind: sa.Connection, table: str) -> None:
    """After rows were inserted with explicit ids, PostgreSQL's sequence must continue past."""
    if bind.dialect.name == "postgresql":
        bind.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
        )


def upgrade() -> None:
    _create_tables()
    bind = op.get_bind()
    _copy_binary_signals(bind)
    _reset_sequence(bind, "signals")
    op.drop_index("ix_binary_signals_kind_id", table_name="binary_signals")
    op.drop_table("binary_signals")


def downgrade() -> None:
    op.create_table(
        "binary_signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("code", sa.LargeBinary(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_binary_signals_media_id_media_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binary_signals")),
        sa.UniqueConstraint("media_id", "kind", name=op.f("uq_binary_signals_media_id")),
    )
    op.create_index("ix_binary_signals_kind_id", "binary_signals", ["kind", "id"], unique=False)
    bind = op.get_bind()
    # Only what the old table could hold: single hashes with a quality, inline.
    bind.execute(
        _binary.insert().from_select(
            ["id", "media_id", "kind", "code", "quality"],
            sa.select(
                _signals.c.id,
                _signals.c.media_id,
                _signals.c.kind,
                _signals.c.code,
                _signals.c.quality,
            ).where(
                _signals.c.position == 0,
                _signals.c.code.is_not(None),
                _signals.c.quality.is_not(None),
            ),
        )
    )
    _reset_sequence(bind, "binary_signals")
    op.drop_index("ix_signals_kind_id", table_name="signals")
    op.drop_table("signals")
    op.drop_table("signal_configs")
