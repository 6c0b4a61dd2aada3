"""Alembic's environment for the backends' branches: always run from `backends.migrate()`, which hands
over a connection and the backends' versions directories. Their own version table: the core's chain
(storage/migrations, table alembic_version) knows nothing of them, and they nothing of it."""

from __future__ import annotations

from alembic import context

from wbseller.backends.base import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
