"""Backends (wbseller/backends/): a section's tables are made by its own alembic branch, on SQLite and on
the real PostgreSQL, beside the core's chain and untouched by it; `reset(sid)` forgets one seller's rows in
one section; and a handler reaches its section's backend through its Context, through the whole server.

The backends are the test-only ones of tests/scale/sample_backends (no section has state yet).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, insert, inspect, select, text

from tests.scale.sample_backends import Notes, Tallies, notes_items, notes_kinds, tallies_counts
from wbseller import backends
from wbseller.backends import Backends
from wbseller.backends.base import VERSION_TABLE
from wbseller.categories import CATEGORY_MASK
from wbseller.config import Settings
from wbseller.server import create_app
from wbseller.storage import Storage, sqlite_url
from wbseller.storage.store import prepare_data_dir
from wbseller.tokens import TokenType

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    prepare_data_dir(tmp_path / "data")
    return sqlite_url(tmp_path / "data")


def run(url: str, body: Callable[[Storage], Awaitable[T]]) -> T:
    async def main() -> T:
        storage = Storage(url)
        try:
            await storage.migrate()  # the core's chain first, as the gateway's start-up does
            return await body(storage)
        finally:
            await storage.close()

    return asyncio.run(main())


async def tables(storage: Storage) -> set[str]:
    async with storage.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def versions(storage: Storage, table: str) -> set[str]:
    """The revisions an alembic version table holds (`table`: one of two names of ours, never input)."""
    async with storage.engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT version_num FROM {table}"))  # noqa: S608
        return {r[0] for r in rows}


def test_each_backend_s_branch_makes_its_tables_beside_the_core_chain(url: str) -> None:
    async def body(storage: Storage) -> None:
        core_before = await versions(storage, "alembic_version")
        before = await tables(storage)
        assert VERSION_TABLE not in before
        made = backends.build(storage, (Notes, Tallies))
        await backends.migrate(storage, made)
        after = await tables(storage)
        assert after - before == {
            "test_notes_items",
            "test_notes_kinds",
            "test_tallies_counts",
            VERSION_TABLE,
        }
        # One head per branch; the core's chain is where it was.
        assert await versions(storage, VERSION_TABLE) == {"test_notes_0001", "test_tallies_0002"}
        assert await versions(storage, "alembic_version") == core_before
        async with storage.engine.connect() as conn:  # the second revision of the branch ran too
            columns = await conn.run_sync(lambda c: inspect(c).get_columns("test_tallies_counts"))
        assert [c["name"] for c in columns] == ["sid", "n", "label"]

        await backends.migrate(storage, made)  # again, as every worker's start does: nothing to do
        assert await tables(storage) == after
        # The core's chain run again knows nothing of the branches (its own version table).
        await storage.migrate()
        assert await versions(storage, "alembic_version") == core_before

    run(url, body)


def test_a_backend_added_later_gets_its_branch_and_the_others_stay(url: str) -> None:
    async def body(storage: Storage) -> None:
        await backends.migrate(storage, backends.build(storage, (Notes,)))
        notes = backends.build(storage, (Notes,)).of(Notes)
        await notes.add("s1", "kept")
        assert "test_tallies_counts" not in await tables(storage)
        both = backends.build(storage, (Notes, Tallies))
        await backends.migrate(storage, both)
        assert "test_tallies_counts" in await tables(storage)
        assert await both.of(Notes).count("s1") == 1

    run(url, body)


def test_no_backend_with_tables_touches_nothing(url: str) -> None:
    async def body(storage: Storage) -> None:
        before = await tables(storage)
        await backends.migrate(storage, backends.build(storage, ()))  # no backend: nothing to migrate
        await backends.migrate(storage, Backends())
        assert await tables(storage) == before

    run(url, body)


def test_reset_forgets_one_seller_in_one_section(url: str) -> None:
    async def body(storage: Storage) -> None:
        made = backends.build(storage, (Notes, Tallies))
        await backends.migrate(storage, made)
        async with made.of(Notes).begin() as conn:
            await conn.execute(insert(notes_items), [{"sid": s, "text": "x"} for s in ("a", "a", "b")])
            await conn.execute(insert(notes_kinds).values(name="shared"))
            await conn.execute(insert(tallies_counts), [{"sid": "a", "n": 1}, {"sid": "b", "n": 2}])

        await made["test-notes"].reset("a")
        async with storage.engine.connect() as conn:
            counted = select(notes_items.c.sid, func.count()).group_by(notes_items.c.sid)
            by_seller = {sid: n for sid, n in (await conn.execute(counted)).all()}
            kinds = (await conn.execute(select(func.count()).select_from(notes_kinds))).scalar_one()
            tallies = sorted((await conn.execute(select(tallies_counts.c.sid))).scalars())
        assert by_seller == {"b": 1}  # seller a's notes gone, b's kept
        assert kinds == 1  # a table without `sid` is not a seller's
        assert tallies == ["a", "b"]  # another section: untouched

        await made.reset("b")  # every section
        assert await made.of(Notes).count("b") == 0
        async with storage.engine.connect() as conn:
            assert list((await conn.execute(select(tallies_counts.c.sid))).scalars()) == ["a"]

    run(url, body)


# --- through the server --------------------------------------------------------------------------

CONFIG = """
[limits.test-notes]
rates.all = { period = 1, limit = 100, burst = 100 }

[[methods]]
id = "test-notes"
http = "GET"
path = "/api/v1/test-notes"
category = "common"
read_only = true
token_types = ["base", "personal", "service"]
limit = "test-notes"
handler = "tests.scale.sample_backends:note_count"
"""


async def _get(app: Any, path: str, token: str) -> tuple[int, Any]:
    out: list[Any] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"common-api.localhost"), (b"authorization", token.encode())],
        "client": ("127.0.0.1", 1),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        out.append(message)

    await app(scope, receive, send)
    return int(out[0]["status"]), json.loads(out[1]["body"])


def test_a_handler_reaches_its_backend_through_the_context(tmp_path: Path) -> None:
    """The server builds the backends once, migrates them at start, and every request's Context carries
    them: the handler writes and counts the seller's notes."""
    config = tmp_path / "notes.toml"
    config.write_text(CONFIG)

    async def main() -> list[tuple[int, Any]]:
        settings = Settings(data_dir=tmp_path / "data", config_file=config, event_poll=60.0)
        gw = create_app(settings, backends=(Notes,))
        await gw.startup()
        try:
            assert "test_notes_items" in await tables(gw.storage)
            seller, _ = await gw.storage.create_seller("x", tin="7700000001", trade_mark="t", now=time.time())
            token = (await gw.accounts.issue_token(seller.sid, TokenType.BASE, scope=CATEGORY_MASK)).token
            answers = [await _get(gw, "/api/v1/test-notes", token) for _ in range(3)]
            await gw.backends.reset(seller.sid)
            answers.append(await _get(gw, "/api/v1/test-notes", token))
            return answers
        finally:
            await gw.shutdown()

    answers = asyncio.run(main())
    assert answers == [(200, {"notes": 1}), (200, {"notes": 2}), (200, {"notes": 3}), (200, {"notes": 1})]
