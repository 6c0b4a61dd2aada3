"""A backend: the state of one WB section (its tables on their own MetaData, its own migrations), on the
engine every backend and `Storage` share.

Conventions, so that a new section plugs in without touching anything else:
- `name` is the catalog's section slug (`products`, `orders-fbs`, ...: `Operation.section`);
- every table is named `<slug>_...` (`orders_fbs_supplies`: the slug with `_` for `-`), so no two backends,
  and no backend and the core tables (storage/schema.py), can collide;
- a table that holds a seller's rows has a `sid` column (the seller id); `reset(sid)` deletes them;
- no foreign key to the core tables: a section's tables can be reset, or dropped, alone;
- `versions` is the backend's alembic versions directory: its own branch (branch label = `name`), whose
  first revision has `down_revision = None` (see `migrate` below and ARCHITECTURE.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import MetaData, delete, inspect

from wbseller.storage.schema import metadata as core_metadata
from wbseller.storage.store import (  # _Tx: one transaction; a database that cannot be reached is a 503
    _Tx,
    script_heads,
    stamp,
    stamped,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from wbseller.storage import Storage

MIGRATIONS = Path(__file__).with_name("migrations")  # alembic's env.py for every backend's branch
VERSION_TABLE = "alembic_version_backends"  # one row per backend's head; the core's is alembic_version


class Backend:
    """The state of one section. Subclasses set `name`, `metadata` and (with tables) `versions`."""

    name: ClassVar[str]
    metadata: ClassVar[MetaData] = MetaData()  # a subclass with tables gives its own
    versions: ClassVar[Path | None] = None

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.engine = storage.engine  # shared: one pool for the whole server

    @classmethod
    def table_prefix(cls) -> str:
        return cls.name.replace("-", "_") + "_"

    def begin(self) -> _Tx:
        """`async with backend.begin() as conn`: one transaction on the shared engine."""
        return _Tx(self.engine)

    async def reset(self, sid: str) -> None:
        """Forget one seller's state in this section (the test kit's reset): every row with its `sid`,
        children before parents, in one transaction. A backend with state elsewhere extends this."""
        tables = [t for t in reversed(self.metadata.sorted_tables) if "sid" in t.c]
        if not tables:
            return
        async with self.begin() as conn:
            for table in tables:
                await conn.execute(delete(table).where(table.c.sid == sid))


def check(kind: type[Backend]) -> None:
    """A backend class that breaks the conventions is refused when the registry is built."""
    name = getattr(kind, "name", "")
    if not name or name != name.lower() or not name.replace("-", "").isalnum():
        raise ValueError(f"{kind.__qualname__}: name must be a section slug like 'orders-fbs', not {name!r}")
    if kind.metadata is core_metadata:
        raise ValueError(f"backend {name!r}: its tables need a MetaData of their own, not the core tables'")
    prefix = kind.table_prefix()
    for table in kind.metadata.tables.values():
        if not table.name.startswith(prefix):
            raise ValueError(f"backend {name!r}: table {table.name!r} must be named {prefix}...")
    if kind.metadata.tables and kind.versions is None:
        raise ValueError(f"backend {name!r} has tables but no migrations (`versions`)")


async def migrate(storage: Storage, backends: Iterable[Backend]) -> None:
    """Bring every backend's tables to its branch's head, under the same lock as `Storage.migrate()` (one
    process at a time). Run after the core's migrations; nothing to do without a backend with tables.
    As there: a new database (no version table of the branches) gets the tables from the backends'
    metadata and is stamped, one at the heads is left alone, any other is upgraded by alembic."""
    with_tables = [b for b in backends if b.versions is not None]
    if not with_tables:
        return
    directories = sorted({b.versions for b in with_tables if b.versions is not None})

    def upgrade(conn: Any) -> None:
        heads = script_heads(*directories)
        have = stamped(conn, VERSION_TABLE)
        if have == heads:
            return
        ours = {name for b in with_tables for name in b.metadata.tables}
        if have is None and not ours & set(inspect(conn).get_table_names()):
            for backend in with_tables:
                backend.metadata.create_all(conn)
            stamp(conn, VERSION_TABLE, heads)
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("path_separator", "os")
        cfg.set_main_option("version_locations", os.pathsep.join(str(d) for d in directories))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")  # every branch: one per backend

    async with storage.setup_lock(), _Tx(storage.engine) as conn:
        await conn.run_sync(upgrade)
