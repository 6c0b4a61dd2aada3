"""The initial schema: sellers, users, services, tokens, keys, news, events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sellers",
        sa.Column("sid", sa.String(36), primary_key=True),
        sa.Column("oid", sa.Integer, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("tin", sa.String(32), nullable=False, server_default=""),
        sa.Column("trade_mark", sa.Text, nullable=False, server_default=""),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "seller_subscriptions",
        sa.Column("sid", sa.String(36), sa.ForeignKey("sellers.sid"), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
    )
    op.create_table(
        "seller_blocks",
        sa.Column("sid", sa.String(36), sa.ForeignKey("sellers.sid"), primary_key=True),
        sa.Column("method", sa.String(128), primary_key=True),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sid", sa.String(36), sa.ForeignKey("sellers.sid"), nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("deleted", sa.Float, nullable=True),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("scope", sa.BigInteger, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sid", sa.String(36), sa.ForeignKey("sellers.sid"), nullable=False, index=True),
        sa.Column("uid", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kid", sa.String(32), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("scope", sa.BigInteger, nullable=False),
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.Column("revoked", sa.Float, nullable=True),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(32), primary_key=True),
        sa.Column("private_pem", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "news",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("header", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("date", sa.Float, nullable=False, index=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "news_tags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
    )
    op.create_table(
        "news_tag_links",
        sa.Column("news_id", _BIGINT_ID, sa.ForeignKey("news.id"), primary_key=True),
        sa.Column("tag_id", sa.Integer, sa.ForeignKey("news_tags.id"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "events",
        "news_tag_links",
        "news_tags",
        "news",
        "signing_keys",
        "tokens",
        "services",
        "users",
        "seller_blocks",
        "seller_subscriptions",
        "sellers",
    ):
        op.drop_table(name)
