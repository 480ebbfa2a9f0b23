"""durable jobs: a jobs table with leases, run by the worker role

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("resource", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("requester", sa.String(length=200), nullable=False),
        sa.Column("requester_agency_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_agency_id"],
            ["agencies.id"],
            name=op.f("fk_jobs_requester_agency_id_agencies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_resource"), ["resource"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_jobs_requester_agency_id"), ["requester_agency_id"], unique=False
        )
        batch_op.create_index(
            "ix_jobs_state_run_after_id", ["state", "run_after", "id"], unique=False
        )
        batch_op.create_index(
            "ix_jobs_state_lease_expires_at", ["state", "lease_expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_state_lease_expires_at")
        batch_op.drop_index("ix_jobs_state_run_after_id")
        batch_op.drop_index(batch_op.f("ix_jobs_requester_agency_id"))
        batch_op.drop_index(batch_op.f("ix_jobs_resource"))
    op.drop_table("jobs")
