"""test-tallies: a second revision on the same branch (a column added later)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "test_tallies_0002"
down_revision = "test_tallies_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("test_tallies_counts") as batch:
        batch.add_column(sa.Column("label", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("test_tallies_counts") as batch:
        batch.drop_column("label")
