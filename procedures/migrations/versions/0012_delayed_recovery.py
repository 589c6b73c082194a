"""identity: delayed, cancellable lost-wallet recovery (its eta and its cancellation on the identity row)

Revision ID: 0012_delayed_recovery
Revises: 0003_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chain.storage

revision = "0012_delayed_recovery"
down_revision = "0003_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_wallets") as batch:
        batch.add_column(sa.Column("cancel_intent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("recovery_eta", chain.storage.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_wallets") as batch:
        batch.drop_column("recovery_eta")
        batch.drop_column("cancel_intent_id")
