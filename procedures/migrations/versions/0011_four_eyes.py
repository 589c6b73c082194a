"""trust: four eyes on top-ups and unfreezes

- ``topups.approved_by`` / ``approved_at``: a top-up over ``MACHI_TOPUP_FOUR_EYES_YEN`` waits
  (``awaiting``) for a second staff member, recorded here beside the first (``operator``).
- ``wallet_actions.approved_by``, ``intent_id`` nullable: an unfreeze is recorded when asked for and
  gets its intent when another staff member approves it.

Revision ID: 0011_four_eyes
Revises: 0005_merchant_api, 0009_wallet_actions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chain.storage

revision = "0011_four_eyes"
down_revision = ("0005_merchant_api", "0009_wallet_actions")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("topups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("approved_at", chain.storage.UTCDateTime(), nullable=True))
    with op.batch_alter_table("wallet_actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_by", sa.String(length=64), nullable=True))
        batch_op.alter_column("intent_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("wallet_actions", schema=None) as batch_op:
        batch_op.alter_column("intent_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("approved_by")
    with op.batch_alter_table("topups", schema=None) as batch_op:
        batch_op.drop_column("approved_at")
        batch_op.drop_column("approved_by")
