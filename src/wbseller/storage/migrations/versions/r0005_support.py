"""Support requests of the account pages: `support_requests` (a seller's dialogue with the operators,
its state and what each side has read) and `support_messages`.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sid", sa.String(36), sa.ForeignKey("sellers.sid"), nullable=False),
        sa.Column("uid", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("seller_seen", sa.Integer, nullable=False, server_default="0"),
        sa.Column("support_seen", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_support_requests_sid", "support_requests", ["sid"])
    op.create_index("ix_support_requests_state", "support_requests", ["state"])
    op.create_table(
        "support_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request", sa.Integer, sa.ForeignKey("support_requests.id"), nullable=False),
        sa.Column("uid", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("by_support", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_support_messages_request", "support_messages", ["request"])


def downgrade() -> None:
    op.drop_table("support_messages")
    op.drop_table("support_requests")
