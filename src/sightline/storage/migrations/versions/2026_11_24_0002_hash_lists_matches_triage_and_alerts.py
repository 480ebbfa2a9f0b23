"""hash lists, matches, triage and alerts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 19:57:32.124589
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "hash_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_agency_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pdq_threshold", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_agency_id"],
            ["agencies.id"],
            name=op.f("fk_hash_lists_owner_agency_id_agencies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_lists")),
        sa.UniqueConstraint("owner_agency_id", "name", name=op.f("uq_hash_lists_owner_agency_id")),
    )
    with op.batch_alter_table("hash_lists", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hash_lists_owner_agency_id"), ["owner_agency_id"], unique=False
        )

    op.create_table(
        "case_media",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("stack_media_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_media_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_case_media_media_id_media_items")
        ),
        sa.ForeignKeyConstraint(
            ["stack_media_id"],
            ["media_items.id"],
            name=op.f("fk_case_media_stack_media_id_media_items"),
        ),
        sa.PrimaryKeyConstraint("case_id", "media_id", name=op.f("pk_case_media")),
    )
    op.create_table(
        "hash_list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("pdq", sa.LargeBinary(), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("photodna", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("series", sa.String(length=300), nullable=True),
        sa.Column("victim_identified", sa.Boolean(), nullable=True),
        sa.Column("offender_identified", sa.Boolean(), nullable=True),
        sa.Column("is_distributed", sa.Boolean(), nullable=True),
        sa.Column("baseline", sa.Boolean(), nullable=True),
        sa.Column("media_type", sa.String(length=50), nullable=True),
        sa.Column("submissions", sa.Integer(), nullable=True),
        sa.Column("match_count", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["hash_lists.id"], name=op.f("fk_hash_list_entries_list_id_hash_lists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_list_entries")),
    )
    with op.batch_alter_table("hash_list_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hash_list_entries_list_id"), ["list_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hash_list_entries_md5"), ["md5"], unique=False)
        batch_op.create_index(batch_op.f("ix_hash_list_entries_sha1"), ["sha1"], unique=False)
        batch_op.create_index(batch_op.f("ix_hash_list_entries_sha256"), ["sha256"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("counterpart_key", sa.String(length=60), nullable=False),
        sa.Column("counterpart_agency_id", sa.Integer(), nullable=False),
        sa.Column("counterpart_case_id", sa.Integer(), nullable=True),
        sa.Column("counterpart_media_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("signal", sa.String(length=16), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_alerts_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_alerts_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["counterpart_agency_id"],
            ["agencies.id"],
            name=op.f("fk_alerts_counterpart_agency_id_agencies"),
        ),
        sa.ForeignKeyConstraint(
            ["counterpart_case_id"], ["cases.id"], name=op.f("fk_alerts_counterpart_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["counterpart_media_id"],
            ["media_items.id"],
            name=op.f("fk_alerts_counterpart_media_id_media_items"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_list_entries.id"],
            name=op.f("fk_alerts_entry_id_hash_list_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_alerts_media_id_media_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "case_id", "media_id", "counterpart_key", name=op.f("uq_alerts_case_id")
        ),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_agency_id_id", ["agency_id", "id"], unique=False)

    op.create_table(
        "entry_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_entry_votes_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_list_entries.id"],
            name=op.f("fk_entry_votes_entry_id_hash_list_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_entry_votes_media_id_media_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_votes")),
        sa.UniqueConstraint(
            "entry_id", "media_id", "agency_id", name=op.f("uq_entry_votes_entry_id")
        ),
    )
    with op.batch_alter_table("entry_votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entry_votes_entry_id"), ["entry_id"], unique=False)

    op.create_table(
        "matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("target_key", sa.String(length=40), nullable=False),
        sa.Column("target_media_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("signal", sa.String(length=16), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_list_entries.id"],
            name=op.f("fk_matches_entry_id_hash_list_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_items.id"], name=op.f("fk_matches_media_id_media_items")
        ),
        sa.ForeignKeyConstraint(
            ["target_media_id"],
            ["media_items.id"],
            name=op.f("fk_matches_target_media_id_media_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
        sa.UniqueConstraint("media_id", "target_key", "signal", name=op.f("uq_matches_media_id")),
    )
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matches_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_matches_media_id"), ["media_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_matches_target_media_id"), ["target_media_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matches_target_media_id"))
        batch_op.drop_index(batch_op.f("ix_matches_media_id"))
        batch_op.drop_index(batch_op.f("ix_matches_entry_id"))

    op.drop_table("matches")
    with op.batch_alter_table("entry_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entry_votes_entry_id"))

    op.drop_table("entry_votes")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_agency_id_id")

    op.drop_table("alerts")
    with op.batch_alter_table("hash_list_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hash_list_entries_sha256"))
        batch_op.drop_index(batch_op.f("ix_hash_list_entries_sha1"))
        batch_op.drop_index(batch_op.f("ix_hash_list_entries_md5"))
        batch_op.drop_index(batch_op.f("ix_hash_list_entries_list_id"))

    op.drop_table("hash_list_entries")
    op.drop_table("case_media")
    with op.batch_alter_table("hash_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hash_lists_owner_agency_id"))

    op.drop_table("hash_lists")
