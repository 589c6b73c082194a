"""a failed transfer no longer holds its nonce (the wallet's key-1 sequence signs that number again)

Revision ID: 0018_transfer_nonce_reuse
Revises: 0011_four_eyes (the payments branch)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_transfer_nonce_reuse"
down_revision = "0011_four_eyes"
branch_labels = None
depends_on = None

_NOT_FAILED = "status != 'failed'"


def upgrade() -> None:
    op.drop_index("uq_transfers_from_nonce", table_name="transfers")
    op.create_index("uq_transfers_from_nonce", "transfers", ["from_wallet", "nonce"], unique=True,
                    sqlite_where=sa.text(_NOT_FAILED), postgresql_where=sa.text(_NOT_FAILED))
    op.create_index("ix_transfers_from_nonce", "transfers", ["from_wallet", "nonce"])  # the replay lookup


def downgrade() -> None:
    """Only while no nonce was signed again (two rows of one nonce cannot go back under the old index)."""
    op.drop_index("ix_transfers_from_nonce", table_name="transfers")
    op.drop_index("uq_transfers_from_nonce", table_name="transfers")
    op.create_index("uq_transfers_from_nonce", "transfers", ["from_wallet", "nonce"], unique=True)
