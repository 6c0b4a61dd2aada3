"""A seller's subscription may end: `till` (epoch seconds) on seller_subscriptions; None never ends.

The gateway admits a method that needs the subscription only while the server's clock is before `till`.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("seller_subscriptions") as batch:
        batch.add_column(sa.Column("till", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("seller_subscriptions") as batch:
        batch.drop_column("till")
