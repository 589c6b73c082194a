"""civic reports (Open311 service requests) and Open311 API keys

Revision ID: 0015_civic_reports
Revises: 0006_applications
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chain.storage

revision = "0015_civic_reports"
down_revision = "0006_applications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "civic_reports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("service_code", sa.String(length=48), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("merged_into", sa.String(length=40), nullable=True),
        sa.Column("cell_lat", sa.Float(), nullable=False),
        sa.Column("cell_long", sa.Float(), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("public_description", sa.Text(), nullable=True),
        sa.Column("photo_public", sa.Boolean(), nullable=False),
        sa.Column("photo_count", sa.Integer(), nullable=False),
        sa.Column("reward", sa.BigInteger(), nullable=False),
        sa.Column("reward_status", sa.String(length=16), nullable=False),
        sa.Column("reward_intent_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", chain.storage.UTCDateTime(), nullable=False),
        sa.Column("updated_at", chain.storage.UTCDateTime(), nullable=False),
        sa.Column("closed_at", chain.storage.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_civic_reports")),
        sa.UniqueConstraint("token", name=op.f("uq_civic_reports_token")),
        sa.UniqueConstraint("application_id", name=op.f("uq_civic_reports_application_id")),
    )
    op.create_index("ix_civic_reports_public", "civic_reports", ["listed", "service_code", "requested_at"])
    op.create_index("ix_civic_reports_queue", "civic_reports", ["department", "status", "requested_at"])
    op.create_index("ix_civic_reports_merged_into", "civic_reports", ["merged_into"])
    op.create_table(
        "open311_api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=24), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", chain.storage.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", chain.storage.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_open311_api_keys_prefix")),
    )


def downgrade() -> None:
    op.drop_table("open311_api_keys")
    op.drop_index("ix_civic_reports_merged_into", table_name="civic_reports")
    op.drop_index("ix_civic_reports_queue", table_name="civic_reports")
    op.drop_index("ix_civic_reports_public", table_name="civic_reports")
    op.drop_table("civic_reports")
