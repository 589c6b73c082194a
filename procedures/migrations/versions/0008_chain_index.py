"""chain index: decoded contract events, the tip window of block hashes, the indexer's cursor

Revision ID: 0008_chain_index
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chain.storage

revision = "0008_chain_index"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("contract_name", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_events")),
        sa.UniqueConstraint("block_hash", "log_index", name="uq_chain_events_block_hash_log_index"),
    )
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.create_index("ix_chain_events_block_number", ["block_number"], unique=False)
        batch_op.create_index("ix_chain_events_tx_hash", ["tx_hash"], unique=False)
        batch_op.create_index("ix_chain_events_contract_event", ["contract_name", "event", "block_number"],
                              unique=False)

    op.create_table(
        "chain_blocks",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("parent_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_chain_blocks")),
    )
    op.create_table(
        "chain_index_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("contracts", sa.JSON(), nullable=False),
        sa.Column("start_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=True),
        sa.Column("last_hash", sa.String(length=66), nullable=True),
        sa.Column("head", sa.BigInteger(), nullable=True),
        sa.Column("reorgs", sa.Integer(), nullable=False),
        sa.Column("updated_at", chain.storage.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_chain_index_cursor")),
    )


def downgrade() -> None:
    op.drop_table("chain_index_cursor")
    op.drop_table("chain_blocks")
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.drop_index("ix_chain_events_contract_event")
        batch_op.drop_index("ix_chain_events_tx_hash")
        batch_op.drop_index("ix_chain_events_block_number")
    op.drop_table("chain_events")
