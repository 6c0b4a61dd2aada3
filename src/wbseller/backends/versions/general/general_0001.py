"""general: invitations, users' extra fields and accesses, Jam periods, ratings (the branch's base)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "general_0001"
down_revision = None
branch_labels = ("general",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "general_invites",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("sid", sa.String(36), nullable=False, index=True),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("position", sa.Text, nullable=False, server_default=""),
        sa.Column("access", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.Column("accepted", sa.Float, nullable=True),
        sa.Column("uid", sa.Integer, nullable=True),
    )
    op.create_table(
        "general_members",
        sa.Column("uid", sa.Integer, primary_key=True),
        sa.Column("sid", sa.String(36), nullable=False, index=True),
        sa.Column("phone", sa.String(32), nullable=False, server_default=""),
        sa.Column("position", sa.Text, nullable=False, server_default=""),
        sa.Column("invite", sa.String(36), nullable=True),
    )
    op.create_table(
        "general_accesses",
        sa.Column("uid", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("sid", sa.String(36), nullable=False, index=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "general_jam_periods",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sid", sa.String(36), nullable=False, index=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("till", sa.Float, nullable=False),
    )
    op.create_table(
        "general_ratings",
        sa.Column("sid", sa.String(36), primary_key=True),
        sa.Column("feedback_count", sa.Integer, nullable=False),
        sa.Column("valuation", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "general_ratings",
        "general_jam_periods",
        "general_accesses",
        "general_members",
        "general_invites",
    ):
        op.drop_table(name)
