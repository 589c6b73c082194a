"""outbox intents may wait for another intent (``tx_intents.after_id``)

Every on-chain role has its own key now, and two keys share no nonce order: the balance move of a
recovery (the recovery key) must wait until the registry's re-bind (the registrar key) is confirmed.

Revision ID: 0011_intent_prerequisite
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_intent_prerequisite"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tx_intents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("after_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tx_intents", schema=None) as batch_op:
        batch_op.drop_column("after_id")
