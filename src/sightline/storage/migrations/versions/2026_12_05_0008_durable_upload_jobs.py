"""upload jobs are durable: the uploader's job id, the uploader, and why a job failed

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 15:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upload_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("uploader", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("failure_reason", sa.Text(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_ingest_jobs_upload_token"), ["upload_token"]
        )


def downgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_ingest_jobs_upload_token"), type_="unique")
        batch_op.drop_column("failure_reason")
        batch_op.drop_column("uploader")
        batch_op.drop_column("upload_token")
