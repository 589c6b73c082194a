"""data keys record the key-encryption key that wrapped them (KEK rotation)

Existing rows keep ``kek_id`` NULL: they were wrapped under the KEK derived from MACHI_SECRET_KEY,
which the service calls ``s0``.

Revision ID: 0010_data_key_kek
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_data_key_kek"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_keys") as batch:
        batch.add_column(sa.Column("kek_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_keys") as batch:
        batch.drop_column("kek_id")
