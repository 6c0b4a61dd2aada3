"""On PostgreSQL, NOTIFY every new event, so that servers learn of a revocation at once.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHANNEL = "wbseller_events"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: servers on one machine poll the events table
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION wbseller_notify_event() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', NEW.seq::text);
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER wbseller_events_notify AFTER INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION wbseller_notify_event()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS wbseller_events_notify ON events")
    op.execute("DROP FUNCTION IF EXISTS wbseller_notify_event()")
