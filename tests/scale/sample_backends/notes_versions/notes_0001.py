"""test-notes: the section's first tables (the branch's base: down_revision None, its label the name)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "test_notes_0001"
down_revision = None
branch_labels = ("test-notes",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_notes_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sid", sa.String(36), nullable=False, index=True),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_table("test_notes_kinds", sa.Column("name", sa.String(32), primary_key=True))


def downgrade() -> None:
    op.drop_table("test_notes_kinds")
    op.drop_table("test_notes_items")
