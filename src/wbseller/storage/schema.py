"""The tables, as SQLAlchemy Core. Migrations (`migrations/versions/`) create them; this describes them.

Times are epoch seconds (float) so that SQLite and PostgreSQL agree without time-zone surprises.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

sellers = Table(
    "sellers",
    metadata,
    Column("sid", String(36), primary_key=True),
    Column("oid", Integer, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("tin", String(32), nullable=False, server_default=""),
    Column("trade_mark", Text, nullable=False, server_default=""),
    Column("created", Float, nullable=False),
)

seller_subscriptions = Table(
    "seller_subscriptions",
    metadata,
    Column("sid", String(36), ForeignKey("sellers.sid"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("till", Float, nullable=True),  # when it ends (epoch seconds); None: never
)

seller_blocks = Table(
    "seller_blocks",
    metadata,
    Column("sid", String(36), ForeignKey("sellers.sid"), primary_key=True),
    Column("method", String(128), primary_key=True),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sid", String(36), ForeignKey("sellers.sid"), nullable=True, index=True),  # None: an operator
    Column("name", Text, nullable=False),
    Column("role", String(16), nullable=False),  # owner | user | operator
    Column("created", Float, nullable=False),
    Column("deleted", Float, nullable=True),
    Column("login", String(254), nullable=True),  # to sign in to the account pages
    Column("password_hash", Text, nullable=True),  # argon2
    UniqueConstraint("login", name="uq_users_login"),  # named as migration 0003 names it
)

services = Table(
    "services",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("scope", BigInteger, nullable=False),  # categories + read-only bit, as in a token's `s`
    Column("created", Float, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("sid", String(36), ForeignKey("sellers.sid"), nullable=False, index=True),
    Column("uid", Integer, ForeignKey("users.id"), nullable=False),
    Column("kid", String(32), nullable=False),
    Column("type", String(16), nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    Column("comment", Text, nullable=False, server_default=""),
    Column("scope", BigInteger, nullable=False),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=True),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("revoked", Float, nullable=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(32), primary_key=True),
    Column("private_pem", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
)

news = Table(
    "news",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("header", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("date", Float, nullable=False, index=True),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=True),
)

news_tags = Table(
    "news_tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
)

news_tag_links = Table(
    "news_tag_links",
    metadata,
    Column("news_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("news.id"), primary_key=True),
    Column("tag_id", Integer, ForeignKey("news_tags.id"), primary_key=True),
    Column("position", Integer, nullable=False),
)

# Changes other processes must see (a revoked token, a deleted user): they poll for new rows.
events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("ref", Text, nullable=False),
    Column("at", Float, nullable=False),
)

# Support requests (the account pages' dialogues): a seller's user opens one, operators answer.
# `seller_seen` / `support_seen`: the last message id each side has read (unread = newer from the other).
support_requests = Table(
    "support_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sid", String(36), ForeignKey("sellers.sid"), nullable=False, index=True),
    Column("uid", Integer, ForeignKey("users.id"), nullable=False),
    Column("category", String(32), nullable=False),
    Column("subject", Text, nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("state", String(16), nullable=False, index=True),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("seller_seen", Integer, nullable=False, server_default="0"),
    Column("support_seen", Integer, nullable=False, server_default="0"),
)

support_messages = Table(
    "support_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request", Integer, ForeignKey("support_requests.id"), nullable=False, index=True),
    Column("uid", Integer, ForeignKey("users.id"), nullable=False),
    Column("by_support", Integer, nullable=False),  # 1: an operator wrote it
    Column("text", Text, nullable=False),
    Column("at", Float, nullable=False),
)
