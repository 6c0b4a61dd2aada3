"""A new database gets its tables from the metadata and is stamped (`Storage.migrate`, `backends.migrate`:
the start-up's fast path); an old one is brought forward by the migrations. Both must make the same
database: the schema made by create_all + stamp equals the one the revisions make step by step (tables,
columns, types, defaults, keys, indexes, constraints; on PostgreSQL the NOTIFY trigger too) on SQLite and
on the real PostgreSQL, and a later `migrate()` (or alembic itself) finds nothing to do.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from tests.scale.conftest import pg_database, pg_sqlalchemy_url
from tests.scale.sample_backends import Notes, Tallies
from wbseller import backends
from wbseller.backends.base import MIGRATIONS, VERSION_TABLE
from wbseller.storage import Storage, sqlite_url
from wbseller.storage.store import CORE_VERSION_TABLE, CORE_VERSIONS, prepare_data_dir, script_heads

KINDS: tuple[type[backends.Backend], ...] = (
    *backends.INSTALLED,
    Notes,
    Tallies,
)  # the real sections and the test-only branches
DIRECTORIES = sorted({k.versions for k in KINDS if k.versions is not None})


def core_config(conn: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(CORE_VERSIONS.parent))
    cfg.attributes["connection"] = conn
    return cfg


def backends_config(conn: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(d) for d in DIRECTORIES))
    cfg.attributes["connection"] = conn
    return cfg


def step_by_step(conn: Any) -> None:
    """What every start did before the fast path: alembic's upgrade, revision by revision."""
    command.upgrade(core_config(conn), "head")
    command.upgrade(backends_config(conn), "heads")


def shape(conn: Any) -> dict[str, Any]:
    """Everything SQLAlchemy's inspection says of the database, names included, plus the version rows
    (and on PostgreSQL the triggers and our functions)."""
    insp = inspect(conn)
    tables: dict[str, Any] = {}
    for name in sorted(insp.get_table_names()):
        columns = [
            (c["name"], str(c["type"]), c["nullable"], str(c.get("default")), c.get("autoincrement"))
            for c in insp.get_columns(name)
        ]
        pk = insp.get_pk_constraint(name)
        fks = sorted(
            (
                fk.get("name") or "",
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                tuple(fk["referred_columns"]),
            )
            for fk in insp.get_foreign_keys(name)
        )
        indexes = sorted(
            (ix["name"] or "", tuple(str(c) for c in ix["column_names"]), bool(ix["unique"]))
            for ix in insp.get_indexes(name)
        )
        uniques = sorted(
            (u["name"] or "", tuple(u["column_names"])) for u in insp.get_unique_constraints(name)
        )
        checks = sorted((c["name"] or "", c["sqltext"]) for c in insp.get_check_constraints(name))
        tables[name] = {
            "columns": columns,
            "pk": (pk.get("name"), tuple(pk["constrained_columns"])),
            "fks": fks,
            "indexes": indexes,
            "uniques": uniques,
            "checks": checks,
        }
    found: dict[str, Any] = {"tables": tables}
    for table in (CORE_VERSION_TABLE, VERSION_TABLE):
        found[table] = sorted(r[0] for r in conn.execute(text(f"SELECT version_num FROM {table}")))  # noqa: S608
    if conn.dialect.name == "postgresql":
        found["triggers"] = sorted(
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
                )
            )
        )
        found["functions"] = sorted(
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
                    "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
                )
            )
        )
    return found


async def fast(url: str) -> dict[str, Any]:
    """The start-up's way: `Storage.migrate`, then `backends.migrate`; twice, as serve's start does."""
    storage = Storage(url)
    try:
        made = backends.build(storage, KINDS)
        await storage.migrate()
        await backends.migrate(storage, made)
        async with storage.engine.connect() as conn:
            first = await conn.run_sync(shape)
        await storage.migrate()  # nothing to do now
        await backends.migrate(storage, made)
        async with storage.engine.begin() as conn:
            assert await conn.run_sync(shape) == first
            await conn.run_sync(step_by_step)  # alembic agrees: already at every head
            assert await conn.run_sync(shape) == first
        return first
    finally:
        await storage.close()


async def slow(url: str) -> dict[str, Any]:
    storage = Storage(url)
    try:
        async with storage.engine.begin() as conn:
            await conn.run_sync(step_by_step)
        async with storage.engine.connect() as conn:
            return await conn.run_sync(shape)
    finally:
        await storage.close()


def sqlite_urls(tmp_path: Path) -> Iterator[str]:
    for name in ("fast", "slow"):
        prepare_data_dir(tmp_path / name)
        yield sqlite_url(tmp_path / name)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_create_all_and_stamp_make_the_migrations_schema(dialect: str, tmp_path: Path) -> None:
    if dialect == "sqlite":
        fast_url, slow_url = sqlite_urls(tmp_path)
        made, migrated = asyncio.run(fast(fast_url)), asyncio.run(slow(slow_url))
    else:
        with pg_database() as a, pg_database() as b:
            made = asyncio.run(fast(pg_sqlalchemy_url(a)))
            migrated = asyncio.run(slow(pg_sqlalchemy_url(b)))
    assert made["tables"].keys() == migrated["tables"].keys()
    for name in made["tables"]:
        assert made["tables"][name] == migrated["tables"][name], name
    assert made == migrated
    assert "users" in made["tables"] and "general_members" in made["tables"]
    if dialect == "postgresql":
        assert [t[:2] for t in made["triggers"]] == [("events", "wbseller_events_notify")]


def test_script_heads_are_alembic_s() -> None:
    core = ScriptDirectory.from_config(core_config(None))
    assert script_heads(CORE_VERSIONS) == frozenset(core.get_heads())
    branches = ScriptDirectory.from_config(backends_config(None))
    assert script_heads(*DIRECTORIES) == frozenset(branches.get_heads())
    assert len(script_heads(*DIRECTORIES)) == len(DIRECTORIES)  # one head per branch


def test_an_old_database_is_brought_forward_by_the_migrations(tmp_path: Path) -> None:
    """A database one revision behind takes the remaining revision from alembic, and ends where a new
    one starts."""
    prepare_data_dir(tmp_path / "old")
    url = sqlite_url(tmp_path / "old")
    heads = sorted(script_heads(CORE_VERSIONS))

    async def main() -> None:
        storage = Storage(url)
        try:
            async with storage.engine.begin() as conn:
                await conn.run_sync(lambda c: command.upgrade(core_config(c), "0004"))
            assert "support_requests" not in await tables(storage)
            await storage.migrate()
            assert "support_requests" in await tables(storage)
            async with storage.engine.connect() as conn:
                rows = await conn.execute(text(f"SELECT version_num FROM {CORE_VERSION_TABLE}"))  # noqa: S608
                assert sorted(r[0] for r in rows) == heads
        finally:
            await storage.close()

    asyncio.run(main())


async def tables(storage: Storage) -> set[str]:
    async with storage.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
