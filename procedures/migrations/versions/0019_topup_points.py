"""a top-up's campaign bonus is credited as points (issue 15): the credit's own status and outbox intent

Rows from before keep ``points_status = 'none'``: their bonus was minted as coins with the top-up
(``amount_minted`` includes it). From this revision on ``amount_minted`` is the yen paid (coins) and the bonus
is a separate points credit.

Revision ID: 0019_topup_points
Revises: 0018_transfer_nonce_reuse (the payments branch)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chain.storage import UTCDateTime

revision = "0019_topup_points"
down_revision = "0018_transfer_nonce_reuse"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("topups") as table:
        table.add_column(sa.Column("points_status", sa.String(16), nullable=False, server_default="none"))
        table.add_column(sa.Column("points_intent_id", sa.Integer(), nullable=True))
        table.add_column(sa.Column("points_expire_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("topups") as table:
        table.drop_column("points_expire_at")
        table.drop_column("points_intent_id")
        table.drop_column("points_status")
