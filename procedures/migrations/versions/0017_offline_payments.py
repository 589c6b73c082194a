"""offline reserves, offline payments relayed by merchants' counters, disaster-mode periods

Revision ID: 0017_offline_payments
Revises: 0016_card_wallets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chain.storage import UTCDateTime

revision = "0017_offline_payments"
down_revision = "0016_card_wallets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offline_reserve_topups",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=66), nullable=False, unique=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("intent_id", sa.Integer(), nullable=True),
        sa.Column("failure_code", sa.String(length=80), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_offline_reserve_topups_payer", "offline_reserve_topups", ["payer"])
    op.create_table(
        "offline_payments",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("merchant_wallet", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=66), nullable=False),
        sa.Column("valid_before", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("reason_message", sa.String(length=200), nullable=True),
        sa.Column("intent_id", sa.Integer(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("final_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_offline_payments_merchant_id", "offline_payments", ["merchant_id"])
    op.create_index("uq_offline_payments_payer_nonce", "offline_payments", ["payer", "nonce"], unique=True)
    op.create_index("ix_offline_payments_status", "offline_payments", ["status", "created_at"])
    op.create_table(
        "offline_disaster_periods",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("reserve_limit", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("declared_by", sa.String(length=64), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("offline_disaster_periods")
    op.drop_table("offline_payments")
    op.drop_table("offline_reserve_topups")
