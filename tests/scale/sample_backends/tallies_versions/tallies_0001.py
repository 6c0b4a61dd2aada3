"""test-tallies: the section's first table."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "test_tallies_0001"
down_revision = None
branch_labels = ("test-tallies",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_tallies_counts",
        sa.Column("sid", sa.String(36), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("test_tallies_counts")
