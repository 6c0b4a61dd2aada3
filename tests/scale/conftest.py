"""Fixtures for the scale-out suite: the machine's real PostgreSQL and Redis, and a proxy to cut them.

`pg_url` is a fresh database `wbs_<random>` (dropped after, its connections terminated first);
`redis_url` is a Redis database number of its own (claimed with a key, flushed after). When a service
cannot be reached the test fails in CI (CI=true) and is skipped elsewhere.

The servers these tests start share one method table (`CONFIG`): General's methods plus a few on
common-api whose limits make the numbers meaningful within seconds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import stop_process
from tests.scale.proxy import TcpProxy

CI = os.environ.get("CI") == "true"
PG_HOST = os.environ.get("WBSELLER_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("WBSELLER_TEST_PG_PORT", "5432"))
PG_USER = "postgres"
PG_ADMIN_DB = "test"
REDIS_HOST = os.environ.get("WBSELLER_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("WBSELLER_TEST_REDIS_PORT", "6379"))
REDIS_DBS = range(15, 0, -1)  # never db 0; from the top, where other users are least likely to be
CLAIM_KEY = "wbseller-tests:claim"
CLAIM_TTL = 1800

COMMON = "/common-api"
SCALE_PING = f"{COMMON}/api/v1/scale/ping"  # 20 per second, burst 10: the exactness bucket
SCALE_SLOW = f"{COMMON}/api/v1/scale/slow"  # 1 a minute, burst 10: counts that time cannot change
SCALE_OPEN = f"{COMMON}/api/v1/scale/open"  # never in the way: for polling
SCALE_CONFLICT = f"{COMMON}/api/v1/scale/conflict"  # answers 409, which costs 5 of a burst of 20
SELLER_INFO = f"{COMMON}/api/v1/seller-info"
PING = f"{COMMON}/ping"

EXACT_BURST = 10
EXACT_INTERVAL = 0.05
SLOW_BURST = 10
CONFLICT_BURST = 20
CONFLICT_COST = 5


def _method(mid: str, path: str, limit: str, handler: str = "wbseller.methods.general:ping") -> str:
    return f"""
[[methods]]
id = "{mid}"
http = "GET"
path = "{path.removeprefix(COMMON)}"
category = "common"
read_only = true
token_types = ["base", "personal", "service"]
limit = "{limit}"
handler = "{handler}"
"""


CONFIG = (
    f"""
[limits.scale-ping]
rates.all = {{ period = 1, limit = {round(1 / EXACT_INTERVAL)}, burst = {EXACT_BURST} }}

[limits.scale-slow]
rates.all = {{ period = 60, limit = 1, burst = {SLOW_BURST} }}

[limits.scale-open]
rates.all = {{ period = 1, limit = 100000, burst = 100000 }}

[limits.scale-conflict]
rates.all = {{ period = 60, limit = 1, burst = {CONFLICT_BURST} }}
costs = {{ "409" = {CONFLICT_COST} }}
"""
    + _method("scale-ping", SCALE_PING, "scale-ping")
    + _method("scale-slow", SCALE_SLOW, "scale-slow")
    + _method("scale-open", SCALE_OPEN, "scale-open")
    + _method("scale-conflict", SCALE_CONFLICT, "scale-conflict", "tests.scale.plugin:conflict")
)


def unavailable(what: str, exc: BaseException) -> NoReturn:
    """A backing service is not there: a failure in CI, a skip on a developer's machine."""
    msg = f"{what} is not reachable: {exc!r}"
    if CI:
        pytest.fail(msg)
    pytest.skip(msg)


# --- PostgreSQL ----------------------------------------------------------------------------------


def pg_dsn(database: str, port: int | None = None) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{port or PG_PORT}/{database}"


def pg_sqlalchemy_url(database: str, port: int | None = None) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{port or PG_PORT}/{database}"


async def _pg_admin(*statements: tuple[str, tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(pg_dsn(PG_ADMIN_DB), timeout=5)
    try:
        for sql, args in statements:
            await conn.execute(sql, *args)
    finally:
        await conn.close()


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh database on the real PostgreSQL; yields its name; dropped after."""
    name = f"wbs_{uuid.uuid4().hex[:16]}"
    try:
        asyncio.run(_pg_admin((f'CREATE DATABASE "{name}"', ())))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT}", exc)
    try:
        yield name
    finally:
        asyncio.run(
            _pg_admin(
                (
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    (name,),
                ),
                (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', ()),
            )
        )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh PostgreSQL database (asyncpg driver)."""
    with pg_database() as name:
        yield pg_sqlalchemy_url(name)


# --- Redis ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_database() -> Iterator[int]:
    """A Redis database number no one else is using: claimed with a key, flushed after."""
    me = uuid.uuid4().hex
    try:
        probe = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=3, socket_timeout=3)
        probe.ping()
        probe.close()
    except (redis.RedisError, OSError) as exc:
        unavailable(f"Redis at {REDIS_HOST}:{REDIS_PORT}", exc)
    for n in REDIS_DBS:
        r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=n, socket_timeout=3)
        try:
            if not r.set(CLAIM_KEY, me, nx=True, ex=CLAIM_TTL):
                continue
            if r.dbsize() != 1:  # someone who does not claim uses it: leave it alone
                r.delete(CLAIM_KEY)
                continue
            try:
                yield n
            finally:
                r.flushdb()
            return
        finally:
            r.close()
    unavailable("a free Redis database", RuntimeError(f"every one of {list(REDIS_DBS)} is in use"))


class RedisClusterNodes:
    """A real Redis Cluster of three primaries, each a redis-server of this test session's own."""

    SIZE = 3

    def __init__(self, workdir: Path) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            unavailable("redis-server and redis-cli (for a Redis Cluster)", FileNotFoundError("redis-server"))
        self.server, self.cli, self.workdir = server, cli, workdir
        self.ports: list[int] = []
        while len(self.ports) < self.SIZE:
            port = _free_cluster_port()
            if port not in self.ports:
                self.ports.append(port)
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        for port in self.ports:
            node = self.workdir / str(port)
            node.mkdir()
            args = [
                self.server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--dir", str(node)]
            args += ["--cluster-node-timeout", "2000"]
            with (node / "redis.log").open("ab") as log:
                self.procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        clients = [redis.Redis(port=p, socket_connect_timeout=0.2, decode_responses=True) for p in self.ports]
        try:
            assert wait_for(lambda: all(redis_pings(c) for c in clients), 10, 0.05), self.logs()
            nodes = [f"127.0.0.1:{p}" for p in self.ports]
            made = subprocess.run(
                [self.cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
                check=False,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert made.returncode == 0, made.stdout + made.stderr
            assert wait_for(lambda: all(_cluster_ok(c) for c in clients), 20, 0.1), self.logs()
        finally:
            for c in clients:
                c.close()

    def logs(self) -> str:
        return "\n".join((self.workdir / str(p) / "redis.log").read_text() for p in self.ports)

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too; Redis takes none above 55535."""
    while True:
        port = random.randint(20_000, 55_535)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port


def _cluster_ok(client: redis.Redis) -> bool:
    info = client.cluster("INFO")  # parsed to a dict by redis-py; text by older ones
    return (
        bool(info.get("cluster_state") == "ok") if isinstance(info, dict) else "cluster_state:ok" in str(info)
    )


def redis_pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    for attempt in range(3):  # a free port may be taken by another process before a node binds it
        nodes = RedisClusterNodes(tmp_path_factory.mktemp(f"redis-cluster-{attempt}"))
        try:
            nodes.start()
        except AssertionError:
            nodes.stop()
            if attempt == 2:
                raise
            continue
        try:
            yield nodes
        finally:
            nodes.stop()
        return


def redis_url_for(db: int, port: int | None = None) -> str:
    return f"redis://{REDIS_HOST}:{port or REDIS_PORT}/{db}"


@pytest.fixture
def redis_db() -> Iterator[int]:
    with redis_database() as n:
        yield n


@pytest.fixture
def redis_url(redis_db: int) -> str:
    return redis_url_for(redis_db)


@pytest.fixture
def redis_client(redis_db: int) -> Iterator[redis.Redis]:
    r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=redis_db, decode_responses=True)
    yield r
    r.close()


# --- proxies -------------------------------------------------------------------------------------


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    with TcpProxy(REDIS_HOST, REDIS_PORT) as proxy:
        yield proxy


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    with TcpProxy(PG_HOST, PG_PORT) as proxy:
        yield proxy


# --- helpers -------------------------------------------------------------------------------------


def token_id(token: str) -> str:
    """The `id` claim of a JWT, read without verifying it."""
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(data["id"])


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base_url: str, client: httpx.Client | None = None) -> Samples:
    """/metrics as {(sample name, sorted labels): value}."""
    r = client.get("/metrics") if client is not None else httpx.get(f"{base_url}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when absent (a counter never incremented has no sample)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; returns whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def poll(
    get: Callable[[], httpx.Response], until: int, timeout: float, step: float = 0.1
) -> list[httpx.Response]:
    """Call `get` until it answers the status `until` or `timeout` seconds pass; every response, in order."""
    seen: list[httpx.Response] = []
    deadline = time.monotonic() + timeout
    while True:
        seen.append(get())
        if seen[-1].status_code == until or time.monotonic() >= deadline:
            return seen
        time.sleep(step)
