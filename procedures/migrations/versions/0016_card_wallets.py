"""card wallets (custodial, opted in at a city counter) and the payments made from them with the card

Revision ID: 0016_card_wallets
Revises: 0003_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chain.storage import UTCDateTime

revision = "0016_card_wallets"
down_revision = "0003_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_wallets",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("subject_id", sa.String(length=36), sa.ForeignKey("identity_subjects.id"), nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False, unique=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("registration_intent_id", sa.Integer(), nullable=False),
        sa.Column("opted_in_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_card_wallets_subject_id", "card_wallets", ["subject_id"])
    op.create_index("uq_card_wallets_active_subject", "card_wallets", ["subject_id"], unique=True,
                    sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "card_payments",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("card_wallet_id", sa.String(length=36), sa.ForeignKey("card_wallets.id"), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("payment_request_id", sa.String(length=40), nullable=False),
        sa.Column("transfer_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_card_payments_payment_request_id", "card_payments", ["payment_request_id"])
    op.create_index("ix_card_payments_wallet_day", "card_payments", ["card_wallet_id", "created_at"])


def downgrade() -> None:
    op.drop_table("card_payments")
    op.drop_table("card_wallets")
