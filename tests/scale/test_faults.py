"""Faults, on real server processes: Redis or PostgreSQL goes away and comes back.

A TCP proxy stands between a server and the machine's Redis or PostgreSQL; cutting it drops every
connection and refuses new ones, as a dead host or a firewall would. One test also restarts a real
Redis process: a private `redis-server` this test starts, so the machine's shared one is left alone.

Redis away: fail-open (the default) answers from the in-process limiter, logged and counted; fail-closed
answers 503 with the WB error body. PostgreSQL away: what needs it answers 503, cached tokens keep
working, nothing written before is lost. Either way: never a 500, and recovery without a restart.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import Server, assert_wb_error, free_port, stop_process
from tests.scale.conftest import (
    CONFIG,
    PG_PORT,
    PING,
    SCALE_OPEN,
    SCALE_SLOW,
    SELLER_INFO,
    SLOW_BURST,
    poll,
    redis_pings,
    redis_url_for,
    sample,
    scrape,
    token_id,
    unavailable,
    wait_for,
)
from tests.scale.proxy import TcpProxy
from wbseller.storage import Storage

StartServer = Callable[..., Server]
NEWS = "/common-api/api/communications/v2/news"


def limiter_calls(srv: Server) -> float:
    return sample(scrape(srv.base_url), "wbseller_limiter_calls_total")


# --- Redis ---------------------------------------------------------------------------------------


def test_redis_cut_fails_open_then_recovers(
    start_server: StartServer, redis_proxy: TcpProxy, redis_db: int
) -> None:
    srv = start_server(
        config=CONFIG, extra_env={"WBSELLER_REDIS_URL": redis_url_for(redis_db, redis_proxy.port)}
    )
    token = srv.token(srv.seller())
    for left in (9, 8, 7):
        r = srv.get(SCALE_SLOW, token)
        assert (r.status_code, r.headers["x-ratelimit-remaining"]) == (200, str(left))
    before = scrape(srv.base_url)
    calls = sample(before, "wbseller_limiter_calls_total")
    assert calls >= 3
    assert sample(before, "wbseller_limiter_healthy") == 1
    assert sample(before, "wbseller_backend_errors_total", backend="redis") == 0

    redis_proxy.cut()
    started = time.monotonic()
    statuses = []
    for _ in range(SLOW_BURST + 5):
        r = srv.get(SCALE_SLOW, token)
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert_wb_error(r, 429, "rate-limited")
    assert time.monotonic() - started < 5, "a dead Redis slowed every request down"
    # The in-process limiter's own bucket: the burst, then refusals. Never a 5xx.
    assert statuses == [200] * SLOW_BURST + [429] * 5
    assert srv.get(PING, token).status_code == 200
    # The gauge is 0 while the limiter falls back (it tries Redis again once a second, and is 0 again
    # as soon as that fails): seen right after a request.
    assert wait_for(
        lambda: (
            srv.get(SCALE_OPEN, token).status_code == 200
            and sample(scrape(srv.base_url), "wbseller_limiter_healthy") == 0
        ),
        3,
    )
    during = scrape(srv.base_url)
    assert sample(during, "wbseller_backend_errors_total", backend="redis") >= len(statuses)
    assert sample(during, "wbseller_limiter_calls_total") == calls
    assert "redis limiter unreachable" in srv.log
    assert "failing open" in srv.log
    ready = srv.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"ready": True, "storage": "ok", "limiter": "fallback"}

    redis_proxy.restore()
    # Redis is tried again by itself; its bucket went on from where it was (3 taken before the cut).
    seen = poll(lambda: srv.get(SCALE_SLOW, token), 200, 5)
    assert seen[-1].status_code == 200, [r.status_code for r in seen]
    assert {r.status_code for r in seen} <= {200, 429}
    assert seen[-1].headers["x-ratelimit-remaining"] == str(SLOW_BURST - 4)
    after = scrape(srv.base_url)
    assert sample(after, "wbseller_limiter_calls_total") > calls
    assert sample(after, "wbseller_limiter_healthy") == 1
    assert srv.get("/ready").json() == {"ready": True, "storage": "ok", "limiter": "ok"}
    assert "internal error in request" not in srv.log


def test_redis_cut_fails_closed_with_503_then_recovers(
    start_server: StartServer, redis_proxy: TcpProxy, redis_db: int
) -> None:
    env = {"WBSELLER_REDIS_URL": redis_url_for(redis_db, redis_proxy.port), "WBSELLER_LIMITER_FAIL_OPEN": "0"}
    srv = start_server(config=CONFIG, extra_env=env)
    token = srv.token(srv.seller())
    assert srv.get(SCALE_SLOW, token).headers["x-ratelimit-remaining"] == str(SLOW_BURST - 1)

    redis_proxy.cut()
    for path in (SCALE_SLOW, SCALE_SLOW, PING, SELLER_INFO):
        body = assert_wb_error(srv.get(path, token), 503, "limiter-unavailable")
        assert body["title"] == "service unavailable"
        assert body["statusText"] == "Service Unavailable"
    ready = srv.get("/ready")
    assert ready.status_code == 503
    assert ready.json() == {"ready": False, "storage": "ok", "limiter": "unavailable"}
    m = scrape(srv.base_url)
    assert sample(m, "wbseller_backend_errors_total", backend="redis") >= 4
    assert "failing closed" in srv.log

    redis_proxy.restore()
    seen = poll(lambda: srv.get(SCALE_SLOW, token), 200, 5)
    assert seen[-1].status_code == 200, [r.status_code for r in seen]
    assert {r.status_code for r in seen} <= {200, 503}
    assert seen[-1].headers["x-ratelimit-remaining"] == str(SLOW_BURST - 2)
    assert srv.get("/ready").status_code == 200
    assert "internal error in request" not in srv.log


class PrivateRedis:
    """A redis-server process of this test's own, on a free port, that can really be stopped and started."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server", FileNotFoundError("redis-server"))
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"]
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            assert wait_for(lambda: redis_pings(client), 10, 0.05), (self.workdir / "redis.log").read_text()
        finally:
            client.close()

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    r = PrivateRedis(workdir)
    r.start()
    yield r
    r.stop()


def test_a_real_redis_restart(start_server: StartServer, private_redis: PrivateRedis) -> None:
    """Redis stopped and started again (empty: no buckets, no scripts): the server carries on by itself."""
    srv = start_server(
        config=CONFIG, extra_env={"WBSELLER_REDIS_URL": f"redis://127.0.0.1:{private_redis.port}/0"}
    )
    token = srv.token(srv.seller())
    for _ in range(3):
        assert srv.get(SCALE_SLOW, token).status_code == 200
    calls = limiter_calls(srv)

    private_redis.stop()
    statuses = [srv.get(SCALE_SLOW, token).status_code for _ in range(3)]
    assert statuses == [200] * 3  # fail-open, from the in-process limiter

    private_redis.start()
    assert wait_for(
        lambda: srv.get(SCALE_SLOW, token).status_code == 200 and limiter_calls(srv) > calls, 5, 0.1
    )
    # The new Redis knows nothing of the old buckets, and its script cache was empty: loaded again.
    client = redis.Redis(port=private_redis.port, decode_responses=True)
    try:
        assert [k for k in client.scan_iter(match="wbs:*") if "scale-slow" in k]
    finally:
        client.close()
    assert "internal error in request" not in srv.log


# --- PostgreSQL ----------------------------------------------------------------------------------


def snapshot(storage: Storage) -> Any:
    async def take() -> Any:
        sellers = await storage.list_sellers()
        tokens = {s.sid: await storage.list_tokens(s.sid, include_revoked=True) for s in sellers}
        return (
            sellers,
            tokens,
            await storage.news(None, 0),
            await storage.signing_keys(),
            await storage.events_after(0),
        )

    return take()


def test_postgresql_cut(start_server: StartServer, pg_proxy: TcpProxy, pg_url: str, tmp_path: Path) -> None:
    proxied = pg_url.replace(f":{PG_PORT}/", f":{pg_proxy.port}/")
    srv = start_server(config=CONFIG, extra_env={"WBSELLER_DATABASE_URL": proxied})
    admin = Server(
        tmp_path / "admin" / "data", extra_env={"WBSELLER_DATABASE_URL": pg_url}
    )  # the CLI, direct

    cached_sid = admin.seller(name="ИП Кэш")
    cached = admin.token(cached_sid)
    uncached = admin.token(admin.seller(name="ИП Без кэша"))
    lone_sid = admin.seller(name="ИП Одинокий", tin="7700000002", trade_mark="Lone")
    lone = admin.token(lone_sid, categories="content")  # its token gets cached, its seller does not
    revoked = admin.token(cached_sid)
    admin.cli("token", "revoke", token_id(revoked))
    news_id = admin.cli("news", "add", "--header", "До сбоя", "--content", "Записано до сбоя.")

    assert srv.get(PING, cached).status_code == 200
    assert srv.get(SCALE_OPEN, cached).status_code == 200
    assert_wb_error(srv.get("/marketplace-api/ping", lone), 401, "token-category-mismatch")
    before = admin.run_storage(snapshot)

    pg_proxy.cut()
    try:
        # A cached token keeps working.
        r = srv.get(PING, cached)
        assert r.status_code == 200, r.text
        assert r.json()["Status"] == "OK"
        assert srv.get(SCALE_OPEN, cached).status_code == 200
        # Whatever needs the database is a 503 with the WB body: never a 500.
        assert_wb_error(srv.get(PING, uncached), 503, "storage-unavailable")
        assert_wb_error(srv.get(SELLER_INFO, lone), 503, "storage-unavailable")  # uncached seller
        assert_wb_error(srv.get(NEWS, cached, params={"fromID": "1"}), 503, "storage-unavailable")
        ready = srv.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["storage"] == "unavailable"
        # A write through the cut connection fails as a whole, with a message.
        out = Server(tmp_path / "cli" / "data", extra_env={"WBSELLER_DATABASE_URL": proxied}).cli(
            "seller", "create", "--name", "ИП Во время сбоя", ok=False
        )
        assert "storage is unavailable" in out, out
        # Counted and logged (the event poll fails once a second).
        assert wait_for(
            lambda: sample(scrape(srv.base_url), "wbseller_backend_errors_total", backend="storage") > 0,
            5,
            0.1,
        )
        assert "cannot read events from storage" in srv.log
    finally:
        pg_proxy.restore()

    seen = poll(lambda: srv.get(SCALE_OPEN, uncached), 200, 10)
    assert seen[-1].status_code == 200, [r.status_code for r in seen]
    assert {r.status_code for r in seen} <= {200, 503}
    r = srv.get(SELLER_INFO, lone)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "ИП Одинокий", "sid": lone_sid, "tin": "7700000002", "tradeMark": "Lone"}
    news = srv.get(NEWS, cached, params={"fromID": news_id})
    assert [n["header"] for n in news.json()["data"]] == ["До сбоя"]
    assert srv.get("/ready").status_code == 200
    assert_wb_error(srv.get(SCALE_OPEN, revoked), 401, "token-revoked")
    # Nothing written before is lost, and nothing half-written appeared.
    assert admin.run_storage(snapshot) == before
    # Changes made after the outage reach the server again (LISTEN reconnected, or the poll).
    admin.cli("token", "revoke", token_id(cached))
    revoked_at = time.monotonic()
    assert wait_for(lambda: srv.get(SCALE_OPEN, cached).status_code == 401, 3, 0.01)
    lag = time.monotonic() - revoked_at
    assert lag < 1.0, f"revocation after the outage took {lag:.2f} s"
    assert "events from storage readable again" in srv.log
    assert "internal error in request" not in srv.log
