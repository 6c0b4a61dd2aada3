"""Support requests in storage, on SQLite and on the real PostgreSQL: states moved by messages, unread
counts of each side, a seller's requests apart from another's, closed is final, and they survive a
restart (a new Storage on the same database)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.conftest import pg_database, pg_sqlalchemy_url
from wbseller.storage import NotFoundError, Storage, sqlite_url
from wbseller.storage.store import prepare_data_dir
from wbseller.storage.support import ClosedError, SupportStore


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        with pg_database() as name:
            yield pg_sqlalchemy_url(name)
        return
    prepare_data_dir(tmp_path / "data")
    yield sqlite_url(tmp_path / "data")


def test_a_dialogue_in_storage(url: str) -> None:
    async def main() -> None:
        storage = Storage(url)
        await storage.migrate()
        seller, owner = await storage.create_seller("ИП Иванов")
        other, stranger = await storage.create_seller("ООО Другой")
        op = await storage.create_user(None, "Oleg", role="operator", login="oleg-support")
        support = SupportStore(storage.engine)
        rid = await support.create(seller.sid, owner.id, "api", "401 на ping", "Что не так?", "a1-2", 10.0)
        await support.create(other.sid, stranger.id, "other", "Другое", "текст", None, 11.0)
        assert [r.id for r in await support.requests("seller", sid=seller.sid)] == [rid]
        mine = await support.get(rid, "seller")
        assert (mine.state, mine.unread, mine.request_id, mine.category) == ("new", 0, "a1-2", "api")
        assert len(await support.requests("support")) == 2
        assert [r.id for r in await support.requests("support", category="api", state="new")] == [rid]
        assert await support.unread("support") == 2
        await support.seen(rid, "support")
        assert await support.unread("support") == 1
        assert await support.write(rid, op.id, "support", "Токен отозван.", 20.0) == "seller"
        assert (await support.get(rid, "seller")).unread == 1
        assert await support.unread("seller", sid=seller.sid) == 1
        assert await support.unread("seller", sid=other.sid) == 0
        await support.seen(rid, "seller")
        assert await support.unread("seller", sid=seller.sid) == 0
        assert await support.write(rid, owner.id, "seller", "Спасибо", 30.0) == "support"
        assert (await support.get(rid, "support")).unread == 1
        await support.close(rid, 40.0)
        with pytest.raises(ClosedError):
            await support.write(rid, op.id, "support", "ещё", 50.0)
        with pytest.raises(NotFoundError):
            await support.get(10**6, "seller")
        await storage.close()
        # A restart: a new Storage on the same database sees it all.
        again = Storage(url)
        await again.migrate()
        back = SupportStore(again.engine)
        messages = await back.messages(rid)
        assert [(m.by_support, m.text, m.author) for m in messages] == [
            (False, "Что не так?", "Owner"),
            (True, "Токен отозван.", "Oleg"),
            (False, "Спасибо", "Owner"),
        ]
        assert (await back.get(rid, "seller")).state == "closed"
        await again.reset_all()  # the support tables are emptied with the rest
        assert await back.requests("support") == []
        await again.close()

    asyncio.run(main())
