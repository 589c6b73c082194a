"""operator wallet actions (freeze, unfreeze, retried recovery moves)

Revision ID: 0009_wallet_actions
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chain.storage

revision = "0009_wallet_actions"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_actions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("intent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", chain.storage.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_actions")),
    )
    op.create_index("ix_wallet_actions_wallet_created", "wallet_actions", ["wallet", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_wallet_actions_wallet_created", table_name="wallet_actions")
    op.drop_table("wallet_actions")
