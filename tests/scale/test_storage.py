"""One storage suite, two databases: SQLite (a temporary directory) and the real PostgreSQL.

Same interface, same migrations, same answers: sellers, users, services, tokens and their revocation,
signing keys, news (explicit ids, then automatic ones: PostgreSQL's sequences must move past explicit
ids), the events other processes follow, and on PostgreSQL the NOTIFY that announces them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.exc import IntegrityError

from tests.scale.conftest import PG_HOST, PG_PORT
from tests.scale.proxy import TcpProxy
from wbseller.errors import ServiceUnavailable
from wbseller.storage import NewsItem, NotFoundError, Storage, TokenRecord, sqlite_url
from wbseller.storage.store import prepare_data_dir

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
            await storage.migrate()
            return await body(storage)
        finally:
            await storage.close()

    return asyncio.run(main())


def record(sid: str, uid: int, *, service_id: int | None = None, created: float = 1000.0) -> TokenRecord:
    return TokenRecord(
        id=str(uuid.uuid4()),
        sid=sid,
        uid=uid,
        kid="20250520v1",
        type="service" if service_id else "personal",
        name="a token",
        comment="a comment",
        scope=(1 << 30) | (1 << 1) | (1 << 13),
        service_id=service_id,
        created=created,
        expires=created + 180 * 86400,
        revoked=None,
    )


def test_migrations_are_idempotent(url: str) -> None:
    async def body(s: Storage) -> None:
        await s.migrate()  # a second server starting on the same database
        await s.migrate()
        assert await s.list_sellers() == []
        assert await s.last_event() == 0
        await s.ping()

    run(url, body)


def test_sellers(url: str) -> None:
    async def body(s: Storage) -> None:
        a, owner = await s.create_seller("ИП Первый", "1234567890", "First", 10.0, "Anna")
        b, _ = await s.create_seller("ИП Второй", now=11.0)
        assert a.oid != b.oid and all(10_000_000 <= x.oid < 100_000_000 for x in (a, b))
        assert (owner.sid, owner.role, owner.name, owner.deleted) == (a.sid, "owner", "Anna", None)
        assert await s.get_seller(a.sid) == a
        assert (a.name, a.tin, a.trade_mark, a.created) == ("ИП Первый", "1234567890", "First", 10.0)
        assert (b.tin, b.trade_mark) == ("", "")
        assert await s.list_sellers() == [a, b]
        with pytest.raises(NotFoundError):
            await s.get_seller(str(uuid.uuid4()))
        assert await s.seller_state(str(uuid.uuid4())) is None
        state = await s.seller_state(a.sid)
        assert state is not None
        assert (state.seller, state.blocked, state.subscriptions) == (a, frozenset(), {})
        await s.set_subscription(a.sid, "jam", True, 12.0)
        await s.set_subscription(a.sid, "other", True, 12.0, till=99.0)
        await s.set_block(a.sid, "news", True, 13.0)
        await s.set_block(a.sid, "ping", True, 14.0)
        await s.set_block(a.sid, "ping", False, 15.0)
        state = await s.seller_state(a.sid)
        assert state is not None
        assert (state.blocked, state.subscriptions) == (frozenset({"news"}), {"jam": None, "other": 99.0})
        with pytest.raises(NotFoundError):
            await s.set_block(str(uuid.uuid4()), "news", True, 16.0)
        events = await s.events_after(0)
        assert [(e.kind, e.ref) for e in events] == [("seller-changed", a.sid)] * 5

    run(url, body)


def test_concurrent_seller_creation_gives_distinct_numbers(url: str) -> None:
    """Several servers and CLIs share one database: sellers made at once all get made, each its own oid."""

    async def body(s: Storage) -> None:
        made = await asyncio.gather(*(s.create_seller(f"ИП {i}") for i in range(8)))
        oids = {seller.oid for seller, _ in made}
        assert len(oids) == 8
        assert len({seller.sid for seller, _ in made}) == 8

    run(url, body)


def test_users(url: str) -> None:
    async def body(s: Storage) -> None:
        seller, owner = await s.create_seller("ИП Пользователей")
        user = await s.create_user(seller.sid, "Boris", "user", 20.0)
        op = await s.create_user(seller.sid, "Vera", "operator", 21.0)
        assert len({owner.id, user.id, op.id}) == 3
        assert await s.get_user(user.id) == user
        assert (user.sid, user.name, user.role, user.created, user.deleted) == (
            seller.sid,
            "Boris",
            "user",
            20.0,
            None,
        )
        assert await s.owner_of(seller.sid) == owner
        with pytest.raises(NotFoundError):
            await s.create_user(str(uuid.uuid4()), "Nobody")
        with pytest.raises(NotFoundError):
            await s.get_user(999_999)
        await s.delete_user(user.id, 30.0)
        assert (await s.get_user(user.id)).deleted == 30.0
        with pytest.raises(NotFoundError):
            await s.delete_user(user.id, 31.0)  # deleted once only
        await s.delete_user(owner.id, 32.0)
        with pytest.raises(NotFoundError):
            await s.owner_of(seller.sid)
        assert [(e.kind, e.ref) for e in await s.events_after(0)] == [
            ("user-deleted", str(user.id)),
            ("user-deleted", str(owner.id)),
        ]

    run(url, body)


def test_services(url: str) -> None:
    async def body(s: Storage) -> None:
        big = (1 << 30) | (1 << 13) | (1 << 1)
        a = await s.create_service("ERP", big, 1.0)
        b = await s.create_service("CRM", 1 << 4, 2.0)
        assert await s.get_service(a.id) == a
        assert (a.name, a.scope, a.created) == ("ERP", big, 1.0)
        assert await s.list_services() == [a, b]
        with pytest.raises(NotFoundError):
            await s.get_service(999_999)

    run(url, body)


def test_tokens_and_revocation(url: str) -> None:
    async def body(s: Storage) -> None:
        seller, owner = await s.create_seller("ИП Токенов")
        service = await s.create_service("ERP", 1 << 2, 1.0)
        user = await s.create_user(seller.sid, "Gleb")
        first = record(seller.sid, owner.id, created=100.0)
        second = record(seller.sid, owner.id, service_id=service.id, created=200.0)
        third = record(seller.sid, user.id, created=300.0)
        for r in (first, second, third):
            await s.insert_token(r)
        assert await s.get_token(first.id) == first
        assert await s.get_token(second.id) == second
        with pytest.raises(NotFoundError):
            await s.get_token(str(uuid.uuid4()))
        assert await s.token_status(str(uuid.uuid4())) is None
        status = await s.token_status(first.id)
        assert status is not None
        assert (status.revoked, status.user_deleted) == (False, False)
        assert await s.list_tokens(seller.sid) == [first, second, third]

        await s.revoke_token(first.id, 500.0)
        status = await s.token_status(first.id)
        assert status is not None
        assert status.revoked
        assert (await s.get_token(first.id)).revoked == 500.0
        with pytest.raises(NotFoundError):
            await s.revoke_token(first.id, 501.0)  # once only
        with pytest.raises(NotFoundError):
            await s.revoke_token(str(uuid.uuid4()), 502.0)
        assert [r.id for r in await s.list_tokens(seller.sid)] == [second.id, third.id]
        assert [r.id for r in await s.list_tokens(seller.sid, include_revoked=True)] == [
            first.id,
            second.id,
            third.id,
        ]
        assert await s.list_tokens(str(uuid.uuid4())) == []

        await s.delete_user(user.id, 600.0)
        status = await s.token_status(third.id)
        assert status is not None
        assert (status.revoked, status.user_deleted) == (False, True)
        assert [(e.kind, e.ref) for e in await s.events_after(0)] == [
            ("token-revoked", first.id),
            ("user-deleted", str(user.id)),
        ]

    run(url, body)


def test_signing_keys(url: str) -> None:
    async def body(s: Storage) -> None:
        assert await s.signing_keys() == []
        pem_a = b"-----BEGIN PRIVATE KEY-----\nAAAA\x00\xff\n-----END PRIVATE KEY-----\n"
        pem_b = b"-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n"
        await s.add_signing_key("20250101v1", pem_a, 10.0)
        await s.add_signing_key("20250102v1", pem_b, 20.0)
        assert await s.signing_keys() == [("20250101v1", pem_a, 10.0), ("20250102v1", pem_b, 20.0)]
        with pytest.raises(IntegrityError):  # Accounts.add_key relies on this to pick another kid
            await s.add_signing_key("20250101v1", pem_b, 30.0)
        assert len(await s.signing_keys()) == 2
        assert [(e.kind, e.ref) for e in await s.events_after(0)] == [
            ("key-added", "20250101v1"),
            ("key-added", "20250102v1"),
        ]

    run(url, body)


def test_news_with_explicit_ids_then_automatic_ones(url: str) -> None:
    d1, d2, d3 = 1_738_753_835.0, 1_738_854_898.0, 1_738_900_000.0

    async def body(s: Storage) -> None:
        imported = [
            NewsItem(7369, "Кампании", "Баннеры.", d1, [(4, "Маркетинг")]),
            NewsItem(7373, "API", "CSV.", d2, [(8, "API"), (41, "Аналитика продавца")]),
        ]
        assert await s.add_news(imported, 1.0) == [7369, 7373]
        # Automatic ids come after the explicit ones: the sequences moved past them.
        auto = await s.add_news([("Новое", "Текст.", d3, ["API", "Новый тег"])], 2.0)
        assert auto == [7374]
        news = await s.news(None, 0)
        assert [n.id for n in news] == [7369, 7373, 7374]
        assert news[:2] == imported
        assert news[2].types == [(8, "API"), (42, "Новый тег")]  # tag ids too: 41 was taken
        assert (news[2].header, news[2].content, news[2].date) == ("Новое", "Текст.", d3)

        # An explicit id below the top does not pull the sequence back.
        assert await s.add_news([NewsItem(100, "Старое", "Архив.", d1, [])], 3.0) == [100]
        assert await s.add_news([("Ещё", "Текст.", d3, [])], 4.0) == [7375]

        assert [n.id for n in await s.news(None, 7373)] == [7373, 7374, 7375]
        assert [n.id for n in await s.news(d2, None)] == [7373, 7374, 7375]
        assert [n.id for n in await s.news(d2, 7374)] == [7374, 7375]
        assert [n.id for n in await s.news(None, 0, limit=2)] == [100, 7369]
        assert await s.count_news() == 5

        # A batch is one transaction: one existing id and none of it is stored.
        with pytest.raises(ValueError, match="7369"):
            await s.add_news(
                [NewsItem(9000, "Новая", "x", d3, []), NewsItem(7369, "Дубль", "x", d3, [])], 5.0
            )
        assert await s.count_news() == 5
        assert [n.id for n in await s.news(None, 9000)] == []
        later = await s.add_news([("После", "Текст.", d3, [])], 6.0)
        assert later[0] > 7375

    run(url, body)


def test_news_ids_from_another_process_after_an_import(url: str) -> None:
    """The import and the next `news add` are different processes (different engines)."""
    run(url, lambda s: s.add_news([NewsItem(500, "Импорт", "x", 1.0, [(70, "Тег")])], 1.0))
    assert run(url, lambda s: s.add_news([("Новая", "x", 2.0, ["Другой"])], 2.0)) == [501]
    news = run(url, lambda s: s.news(None, 501))
    assert news[0].types == [(71, "Другой")]


def test_events_come_in_order(url: str) -> None:
    async def body(s: Storage) -> None:
        seller, owner = await s.create_seller("ИП Событий")
        assert await s.last_event() == 0
        rec = record(seller.sid, owner.id)
        await s.insert_token(rec)
        await s.revoke_token(rec.id, 1.0)
        await s.set_block(seller.sid, "news", True, 2.0)
        await s.add_signing_key("20250101v1", b"pem", 3.0)
        await s.delete_user(owner.id, 4.0)
        events = await s.events_after(0)
        assert [e.kind for e in events] == ["token-revoked", "seller-changed", "key-added", "user-deleted"]
        seqs = [e.seq for e in events]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 4
        assert await s.last_event() == seqs[-1]
        assert await s.events_after(seqs[1]) == events[2:]
        assert await s.events_after(seqs[-1]) == []

    run(url, body)


def test_sqlite_change_stamp_moves_with_every_commit_of_any_connection(tmp_path: Path) -> None:
    """The idle server's event poll compares this stamp instead of querying; it must see every commit,
    also one made by another process (here: another engine on the same file), and no reads."""
    prepare_data_dir(tmp_path / "data")
    url = sqlite_url(tmp_path / "data")

    async def main() -> None:
        server, cli = Storage(url), Storage(url)
        try:
            await server.migrate()
            seller, owner = await server.create_seller("ИП Штамп")
            stamps = [server.change_stamp()]
            for i in range(5):  # quick commits, as a script revoking tokens would make them
                rec = record(seller.sid, owner.id)
                await cli.insert_token(rec)
                stamps.append(server.change_stamp())
                await cli.revoke_token(rec.id, float(i))
                stamps.append(server.change_stamp())
            assert None not in stamps
            assert len(set(stamps)) == len(stamps), "a commit left the stamp where it was"
            before = server.change_stamp()
            await server.events_after(0)
            await cli.list_sellers()
            assert server.change_stamp() == before  # reads do not move it: an idle server stays idle
        finally:
            await server.close()
            await cli.close()

    asyncio.run(main())


# In SQLite's unix VFS the WAL-index's "dead man switch" lock is the byte after its eight lock slots
# (offset 120): every connection holds it shared; one that gets it exclusive is the first and truncates.
SHM_DMS = 128
_TRY_DMS = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, int(sys.argv[2]))
    print("free")
except OSError:
    print("held")
"""


def test_reading_the_change_stamp_keeps_sqlite_s_lock_on_the_wal_index(tmp_path: Path) -> None:
    """Reading the stamp must not drop this process's POSIX locks on the `-shm` file (closing any
    descriptor of a file does): another process would take itself for the first, truncate the file
    under this one's mapping, and this one would die of SIGBUS."""
    prepare_data_dir(tmp_path / "data")
    url = sqlite_url(tmp_path / "data")
    shm = str(tmp_path / "data" / "wbseller.db-shm")

    def other_process_sees() -> str:
        args = [sys.executable, "-c", _TRY_DMS, shm, str(SHM_DMS)]
        done = subprocess.run(args, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    async def main() -> list[str]:
        server = Storage(url)
        try:
            await server.migrate()
            await server.create_seller("ИП Замок")  # a pooled connection stays open, holding the lock
            seen = [other_process_sees()]
            for _ in range(3):
                assert server.change_stamp() is not None
                seen.append(other_process_sees())
            # The check can tell: what the stamp's reading used to do (open, read, close) drops the lock.
            with open(shm, "rb", buffering=0) as f:
                f.read(48)
            seen.append(other_process_sees())
            return seen
        finally:
            await server.close()

    assert asyncio.run(main()) == ["held"] * 4 + ["free"]


def test_postgresql_has_no_change_stamp(pg_url: str) -> None:
    assert Storage(pg_url).change_stamp() is None


# --- PostgreSQL only ----------------------------------------------------------------------------


def test_postgresql_notifies_every_event(pg_url: str) -> None:
    async def body(s: Storage) -> None:
        seen = asyncio.Event()
        calls = 0

        def on_event() -> None:
            nonlocal calls
            calls += 1
            if calls > 1:  # the first call is the catch-up when listening starts
                seen.set()

        task = asyncio.get_running_loop().create_task(s.listen(on_event))
        try:
            deadline = time.monotonic() + 5
            while calls < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert calls == 1
            seller, owner = await s.create_seller("ИП Уведомлений")
            rec = record(seller.sid, owner.id)
            await s.insert_token(rec)
            started = time.monotonic()
            await s.revoke_token(rec.id, 1.0)
            await asyncio.wait_for(seen.wait(), 1.0)
            assert time.monotonic() - started < 1.0
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(pg_url, body)


def test_postgresql_away_is_a_503_and_nothing_committed_is_lost(pg_url: str) -> None:
    """Writes go on while the connection is cut: each acknowledged one is there afterwards."""
    direct = pg_url
    with TcpProxy(PG_HOST, PG_PORT) as proxy:
        via_proxy = direct.replace(f":{PG_PORT}/", f":{proxy.port}/")

        async def body(s: Storage) -> None:
            acknowledged: list[str] = []
            failures: list[BaseException] = []

            give_up = time.monotonic() + 30

            async def writer() -> None:
                for i in range(10_000):
                    try:
                        seller, _ = await s.create_seller(f"ИП {i}")
                    except ServiceUnavailable as exc:
                        assert exc.code == "storage-unavailable"
                        failures.append(exc)
                        await asyncio.sleep(0.02)
                    else:
                        acknowledged.append(seller.sid)
                    if stop.is_set() or time.monotonic() > give_up:
                        return

            stop = asyncio.Event()
            task = asyncio.get_running_loop().create_task(writer())
            await asyncio.sleep(0.3)
            await asyncio.to_thread(proxy.cut)
            with pytest.raises(ServiceUnavailable) as exc:
                await s.list_sellers()
            assert exc.value.code == "storage-unavailable"
            with pytest.raises(ServiceUnavailable):
                await s.ping()
            await asyncio.sleep(0.3)
            before_restore = len(acknowledged)
            await asyncio.to_thread(proxy.restore)
            deadline = time.monotonic() + 10
            while len(acknowledged) <= before_restore and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, 10)
            assert failures, "the cut was not noticed"
            assert len(acknowledged) > before_restore, "writes did not resume after the restore"
            await s.ping()
            stored = {x.sid for x in await s.list_sellers()}
            missing = [sid for sid in acknowledged if sid not in stored]
            assert not missing, f"{len(missing)} acknowledged writes lost"

        run(via_proxy, body)
    # And through a direct connection, which never saw the cut: the same sellers, each whole.
    sellers = run(direct, lambda s: s.list_sellers())
    assert len({x.oid for x in sellers}) == len(sellers)
