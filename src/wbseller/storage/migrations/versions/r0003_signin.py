"""Users can sign in to the account pages: a login and a password hash; operators belong to no seller.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("login", sa.String(254), nullable=True))
        batch.add_column(sa.Column("password_hash", sa.Text, nullable=True))
        batch.alter_column("sid", existing_type=sa.String(36), nullable=True)
        batch.create_unique_constraint("uq_users_login", ["login"])
    with op.batch_alter_table("news") as batch:
        batch.add_column(sa.Column("updated", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("news") as batch:
        batch.drop_column("updated")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_login", type_="unique")
        batch.drop_column("password_hash")
        batch.drop_column("login")
