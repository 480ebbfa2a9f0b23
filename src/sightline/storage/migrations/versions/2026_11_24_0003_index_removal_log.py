"""index removal log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 20:37:16.380296
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "index_removals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_removals")),
    )
    with op.batch_alter_table("index_removals", schema=None) as batch_op:
        batch_op.create_index("ix_index_removals_kind_id", ["kind", "id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("index_removals", schema=None) as batch_op:
        batch_op.drop_index("ix_index_removals_kind_id")

    op.drop_table("index_removals")
