"""staff logins throttled per (account, source address) instead of locking the account; notices
to the account's owner about failed logins

``staff_accounts.failed_logins`` and ``locked_until`` are no longer used (kept for older
processes during a rolling upgrade).

Revision ID: 0013_staff_login_throttle
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chain.storage

revision = "0013_staff_login_throttle"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_login_throttles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", chain.storage.UTCDateTime(), nullable=False),
        sa.Column("last_failed_at", chain.storage.UTCDateTime(), nullable=False),
        sa.Column("blocked_until", chain.storage.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_staff_login_throttles_staff_id_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_login_throttles")),
    )
    op.create_index("uq_staff_login_throttles_staff_source", "staff_login_throttles", ["staff_id", "source"],
                    unique=True)
    op.create_table(
        "staff_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", chain.storage.UTCDateTime(), nullable=False),
        sa.Column("seen_at", chain.storage.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_staff_notices_staff_id_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_notices")),
    )
    op.create_index("ix_staff_notices_staff_seen", "staff_notices", ["staff_id", "seen_at"])


def downgrade() -> None:
    op.drop_index("ix_staff_notices_staff_seen", table_name="staff_notices")
    op.drop_table("staff_notices")
    op.drop_index("uq_staff_login_throttles_staff_source", table_name="staff_login_throttles")
    op.drop_table("staff_login_throttles")
