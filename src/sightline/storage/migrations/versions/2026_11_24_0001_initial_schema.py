"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24 19:06:06.258578
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "agencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
        sa.UniqueConstraint("code", name=op.f("uq_agencies_code")),
    )
    op.create_table(
        "media_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=16), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=True),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("thumbnail_blob_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_items")),
        sa.UniqueConstraint("sha256", name=op.f("uq_media_items_sha256")),
    )
    with op.batch_alter_table("media_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_items_md5"), ["md5"], unique=False)
        batch_op.create_index(batch_op.f("ix_media_items_sha1"), ["sha1"], unique=False)

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
    with op.batch_alter_table("binary_signals", schema=None) as batch_op:
        batch_op.create_index("ix_binary_signals_kind_id", ["kind", "id"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_cases_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("agency_id", "reference", name=op.f("uq_cases_agency_id")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("analyzer", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_features_media_id_media_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_features")),
        sa.UniqueConstraint("media_id", "analyzer", "version", name=op.f("uq_features_media_id")),
    )
    op.create_table(
        "ingest_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("device_label", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_ingest_jobs_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_jobs")),
    )
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_jobs_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_jobs_source_key"), ["source_key"], unique=False)

    op.create_table(
        "ingest_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("locator", sa.Text(), nullable=False),
        sa.Column("locator_key", sa.String(length=64), nullable=False),
        sa.Column("original_path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("file_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("duplicate", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("media_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["ingest_jobs.id"], name=op.f("fk_ingest_items_job_id_ingest_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_ingest_items_media_id_media_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_items")),
        sa.UniqueConstraint("job_id", "locator_key", name=op.f("uq_ingest_items_job_id")),
    )
    with op.batch_alter_table("ingest_items", schema=None) as batch_op:
        batch_op.create_index("ix_ingest_items_job_id_state", ["job_id", "state"], unique=False)

    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("ingest_item_id", sa.Integer(), nullable=True),
        sa.Column("original_path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device_label", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_sightings_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["ingest_item_id"],
            ["ingest_items.id"],
            name=op.f("fk_sightings_ingest_item_id_ingest_items"),
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_sightings_media_id_media_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
        sa.UniqueConstraint("ingest_item_id", name=op.f("uq_sightings_ingest_item_id")),
    )
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sightings_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sightings_media_id"), ["media_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sightings_media_id"))
        batch_op.drop_index(batch_op.f("ix_sightings_case_id"))

    op.drop_table("sightings")
    with op.batch_alter_table("ingest_items", schema=None) as batch_op:
        batch_op.drop_index("ix_ingest_items_job_id_state")

    op.drop_table("ingest_items")
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_jobs_source_key"))
        batch_op.drop_index(batch_op.f("ix_ingest_jobs_case_id"))

    op.drop_table("ingest_jobs")
    op.drop_table("features")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_agency_id"))

    op.drop_table("cases")
    with op.batch_alter_table("binary_signals", schema=None) as batch_op:
        batch_op.drop_index("ix_binary_signals_kind_id")

    op.drop_table("binary_signals")
    with op.batch_alter_table("media_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_items_sha1"))
        batch_op.drop_index(batch_op.f("ix_media_items_md5"))

    op.drop_table("media_items")
    op.drop_table("agencies")
