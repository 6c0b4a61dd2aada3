"""Rate limits over HTTP: one test per row of FACTS.md's limits table, and the rules around it.

Expected header values are computed from GCRA: after `n` charges at about t0 a bucket's TAT is
t0 + n * interval, so a refused request gets Retry = TAT + interval - burst * interval - now and
Reset = TAT - now, both rounded up. Real time moves a little between requests (well under a second),
which the rounding up absorbs.

Servers: the shared `server` for everything that does not move time; `clocked` (the built-in table)
for tests that do, each with its own sellers so that their buckets never meet; `configured` for a
deployment config (an overridden limit and methods registered by `plugin_limits`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, assert_wb_error, serving
from wbseller.methods.table import load_table

COMMON = "common-api.wildberries.ru"
CONTENT = "content-api.wildberries.ru"
STATISTICS = "statistics-api.wildberries.ru"
MARKETPLACE = "marketplace-api.wildberries.ru"
NEWS = "/api/communications/v2/news?fromID=1"
NEWS_NO_PARAMS = "/api/communications/v2/news"
SELLER_INFO = "/api/v1/seller-info"

# Our decision on automated polling of /ping, from the built-in table (general.toml).
PING_BLOCK = load_table().limits["ping"].block
assert PING_BLOCK is not None


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A private server with the built-in table, for tests that move its clock."""
    with serving(tmp_path_factory, "limits-clocked") as srv:
        yield srv


def remaining(r: httpx.Response) -> int:
    assert r.status_code != 429, r.text
    assert "x-ratelimit-remaining" in r.headers, (r.status_code, dict(r.headers))
    return int(r.headers["x-ratelimit-remaining"])


def assert_429(
    r: httpx.Response,
    retry: int,
    limit: int,
    reset: int,
    group: str,
    *,
    since: float,
    code: str = "rate-limited",
) -> dict[str, object]:
    """A 429 with these X-Ratelimit-* headers and no X-Ratelimit-Remaining.

    `retry` and `reset` are the values for a request at the very instant of the charge the test
    computes from (`since`: time.monotonic() just before that request). Real time has moved on by
    some `d`, so the server answers ceil(retry - d): exactly `retry` while d < 1 s; a slow machine
    may see less, never more.
    """
    body = assert_wb_error(r, 429, code)
    assert body["title"] == "too many requests"
    assert str(body["detail"]).startswith(f"limited by {group}"), body
    assert "x-ratelimit-remaining" not in r.headers
    got_retry = int(r.headers["x-ratelimit-retry"])
    got_limit = int(r.headers["x-ratelimit-limit"])
    got_reset = int(r.headers["x-ratelimit-reset"])
    late = time.monotonic() - since
    assert got_limit == limit
    assert math.ceil(retry - late) <= got_retry <= retry, (got_retry, retry, late)
    assert math.ceil(reset - late) <= got_reset <= reset, (got_reset, reset, late)
    return body


def new_service(srv: Server) -> str:
    return srv.cli("service", "create", "--name", "Test service", "--categories", "content")


def token_of(srv: Server, sid: str, type: str) -> str:
    if type == "service":
        return srv.token(sid, "service", service=new_service(srv))
    return srv.token(sid, type, "content")


# --- GET /ping: 30 s, 3 requests, 10 s, burst 3, one bucket per host ----------------------------


def test_ping_three_then_429(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    t0 = time.monotonic()
    got = [remaining(server.get("/ping", token, host=CONTENT)) for _ in range(3)]
    assert got == [2, 1, 0]
    # 3 charges: TAT = t0 + 30; the next passes at t0 + 10; the burst is whole at t0 + 30.
    assert_429(server.get("/ping", token, host=CONTENT), retry=10, limit=3, reset=30, group="ping", since=t0)


@pytest.mark.parametrize("ttype", ["base", "personal", "service"])
def test_ping_limit_is_the_same_for_every_token_type(server: Server, ttype: str) -> None:
    token = token_of(server, server.seller(), ttype)
    t0 = time.monotonic()
    got = [remaining(server.get("/ping", token, host=CONTENT)) for _ in range(3)]
    assert got == [2, 1, 0]
    assert_429(server.get("/ping", token, host=CONTENT), retry=10, limit=3, reset=30, group="ping", since=t0)


def test_ping_with_a_test_token_on_a_sandbox_host(server: Server) -> None:
    token = server.token(server.seller(), "test", "content")
    sandbox = "content-api-sandbox.wildberries.ru"
    t0 = time.monotonic()
    got = [remaining(server.get("/ping", token, host=sandbox)) for _ in range(3)]
    assert got == [2, 1, 0]
    assert_429(server.get("/ping", token, host=sandbox), retry=10, limit=3, reset=30, group="ping", since=t0)


def test_ping_is_counted_per_host_whatever_the_address(server: Server) -> None:
    token = server.token(server.seller(), "personal", "all")
    t0 = time.monotonic()
    # Three ways of naming content-api: all one bucket.
    assert remaining(server.get("/ping", token, host=CONTENT)) == 2
    assert remaining(server.get("/ping", token, host=f"content-api.localhost:{server.port}")) == 1
    assert remaining(server.get("/content-api/ping", token)) == 0
    assert_429(server.get("/ping", token, host=CONTENT), retry=10, limit=3, reset=30, group="ping", since=t0)
    assert_429(server.get("/content-api/ping", token), retry=10, limit=3, reset=30, group="ping", since=t0)
    # Other hosts have their own buckets, however they are named.
    assert remaining(server.get("/ping", token, host=STATISTICS)) == 2
    assert remaining(server.get("/statistics-api/ping", token)) == 1
    assert remaining(server.get("/ping", token, host=COMMON)) == 2
    assert remaining(server.get("/ping", token)) == 1  # a bare /ping is common-api's
    assert remaining(server.get("/ping", token, host=MARKETPLACE)) == 2


def test_ping_refills_one_per_interval(clocked: Server) -> None:
    token = clocked.token(clocked.seller(), "personal", "content")
    t0 = time.monotonic()
    for _ in range(3):
        clocked.get("/ping", token, host=CONTENT)
    assert_429(clocked.get("/ping", token, host=CONTENT), retry=10, limit=3, reset=30, group="ping", since=t0)
    clocked.advance(10)
    r = clocked.get("/ping", token, host=CONTENT)
    assert r.status_code == 200
    assert remaining(r) == 0
    # TAT = t0 + 40, now = t0 + 10: the next in 10 s, a full bucket in 30 s.
    assert_429(clocked.get("/ping", token, host=CONTENT), retry=10, limit=3, reset=30, group="ping", since=t0)
    clocked.advance(30)
    assert [remaining(clocked.get("/ping", token, host=CONTENT)) for _ in range(3)] == [2, 1, 0]


def test_ping_polling_gets_the_method_temporarily_blocked(clocked: Server) -> None:
    assert PING_BLOCK is not None
    strikes, seconds = PING_BLOCK.strikes, int(PING_BLOCK.seconds)
    token = clocked.token(clocked.seller(), "personal", "all")
    t0 = time.monotonic()
    for _ in range(3):
        assert clocked.get("/ping", token, host=CONTENT).status_code == 200
    # `strikes` refusals within the window: ordinary 429s; the block starts with the last.
    t_block = time.monotonic()
    for _ in range(strikes):
        assert_429(
            clocked.get("/ping", token, host=CONTENT), retry=10, limit=3, reset=30, group="ping", since=t0
        )
    blocked = "method-blocked-polling"
    body = assert_429(
        clocked.get("/ping", token, host=CONTENT),
        seconds,
        3,
        seconds,
        group="ping",
        code=blocked,
        since=t_block,
    )
    assert "blocked" in str(body["detail"])
    # Other hosts are other buckets: not blocked.
    assert remaining(clocked.get("/ping", token, host=STATISTICS)) == 2

    # After the normal interval (and the whole burst's time) the bucket would pass: still blocked.
    clocked.advance(30)
    body = assert_429(
        clocked.get("/ping", token, host=CONTENT),
        seconds - 30,
        3,
        seconds - 30,
        group="ping",
        code=blocked,
        since=t_block,
    )
    assert "blocked" in str(body["detail"])
    clocked.advance(seconds - 30 - 5)
    assert_429(clocked.get("/ping", token, host=CONTENT), 5, 3, 5, group="ping", code=blocked, since=t_block)

    # The block is over: a full bucket again.
    clocked.advance(6)
    t0 = time.monotonic()
    assert [remaining(clocked.get("/ping", token, host=CONTENT)) for _ in range(3)] == [2, 1, 0]
    assert_429(clocked.get("/ping", token, host=CONTENT), retry=10, limit=3, reset=30, group="ping", since=t0)


def test_ping_refusals_spread_over_time_are_not_polling(clocked: Server) -> None:
    assert PING_BLOCK is not None
    token = clocked.token(clocked.seller(), "personal", "content")
    for _ in range(3):
        clocked.get("/ping", token, host=CONTENT)
    # strikes - 1 refusals, then a pause longer than the window: the count starts again.
    for _ in range(PING_BLOCK.strikes - 1):
        assert clocked.get("/ping", token, host=CONTENT).status_code == 429
    clocked.advance(PING_BLOCK.window + 1)
    t0 = time.monotonic()
    for _ in range(3):  # the bucket has refilled meanwhile; empty it again
        clocked.get("/ping", token, host=CONTENT)
    # Another strikes - 1: together with the first ones they would be a block, but not in one window.
    for _ in range(PING_BLOCK.strikes - 1):
        assert_429(
            clocked.get("/ping", token, host=CONTENT), retry=10, limit=3, reset=30, group="ping", since=t0
        )
    clocked.advance(10)
    assert remaining(clocked.get("/ping", token, host=CONTENT)) == 0


# --- news and seller-info -----------------------------------------------------------------------

# (path, token type, burst, interval in seconds): FACTS.md's table.
ROWS = [
    (NEWS, "personal", 10, 60),
    (NEWS, "service", 10, 60),
    (NEWS, "base", 1, 3600),
    (SELLER_INFO, "personal", 10, 60),
    (SELLER_INFO, "service", 10, 60),
    (SELLER_INFO, "base", 1, 86400),
]


@pytest.mark.parametrize(("path", "ttype", "burst", "interval"), ROWS)
def test_common_api_limits(clocked: Server, path: str, ttype: str, burst: int, interval: int) -> None:
    group = "news" if "news" in path else "seller-info"
    token = token_of(clocked, clocked.seller(), ttype)
    t0 = time.monotonic()
    for expected in range(burst - 1, -1, -1):
        r = clocked.get(path, token, host=COMMON)
        assert r.status_code == 200, r.text
        assert remaining(r) == expected
    # `burst` charges: TAT = t0 + burst * interval; the next passes at t0 + interval.
    full = burst * interval
    assert_429(clocked.get(path, token, host=COMMON), interval, burst, full, group, since=t0)
    clocked.advance(interval)
    r = clocked.get(path, token, host=COMMON)
    assert r.status_code == 200
    assert remaining(r) == 0
    assert_429(clocked.get(path, token, host=COMMON), interval, burst, full, group, since=t0)
    # A whole burst's time later the bucket is full again.
    clocked.advance(full)
    assert remaining(clocked.get(path, token, host=COMMON)) == burst - 1


@pytest.mark.parametrize("path", [NEWS, SELLER_INFO])
def test_common_api_refuses_test_tokens(server: Server, path: str) -> None:
    token = server.token(server.seller(), "test", "content")
    for host in (COMMON, None):
        r = server.get(path, token, host=host)
        assert_wb_error(r, 401, "token-test-on-production")
        assert "x-ratelimit-remaining" not in r.headers


def test_a_400_carries_remaining_and_is_charged(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    r = server.get(NEWS_NO_PARAMS, token, host=COMMON)
    assert_wb_error(r, 400, "parameter-missing")
    assert remaining(r) == 9
    r = server.get(NEWS_NO_PARAMS + "?from=yesterday", token, host=COMMON)
    assert_wb_error(r, 400, "parameter-invalid")
    assert remaining(r) == 8
    assert remaining(server.get(NEWS, token, host=COMMON)) == 7


def test_every_non_429_response_carries_remaining(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    seen = []
    for path in [NEWS, NEWS_NO_PARAMS] * 6:
        r = server.get(path, token, host=COMMON)
        if r.status_code == 429:
            assert "x-ratelimit-remaining" not in r.headers
            assert {"x-ratelimit-retry", "x-ratelimit-limit", "x-ratelimit-reset"} <= set(r.headers)
        else:
            seen.append((r.status_code, remaining(r)))
    assert seen == [(200 if i % 2 == 0 else 400, 9 - i) for i in range(10)]


# --- whose bucket -------------------------------------------------------------------------------


def test_buckets_are_per_seller(server: Server) -> None:
    a = server.token(server.seller(), "personal", "content")
    b = server.token(server.seller(), "personal", "content")
    t0 = time.monotonic()
    for _ in range(10):
        server.get(SELLER_INFO, a, host=COMMON)
    assert_429(server.get(SELLER_INFO, a, host=COMMON), 60, 10, 600, "seller-info", since=t0)
    assert remaining(server.get(SELLER_INFO, b, host=COMMON)) == 9
    for _ in range(3):
        server.get("/ping", a, host=CONTENT)
    assert server.get("/ping", a, host=CONTENT).status_code == 429
    assert remaining(server.get("/ping", b, host=CONTENT)) == 2


def test_tokens_of_one_seller_and_type_share_a_bucket(server: Server) -> None:
    sid = server.seller()
    one, two = (server.token(sid, "personal", "content") for _ in range(2))
    assert remaining(server.get(NEWS, one, host=COMMON)) == 9
    assert remaining(server.get(NEWS, two, host=COMMON)) == 8
    assert remaining(server.get("/ping", one, host=CONTENT)) == 2
    assert remaining(server.get("/ping", two, host=CONTENT)) == 1


def test_buckets_are_per_token_type(server: Server) -> None:
    """Our decision: a base token's bucket (1 an hour) is not the personal token's (1 a minute, 10)."""
    sid = server.seller()
    base = server.token(sid, "base", "content")
    personal = server.token(sid, "personal", "content")
    service = token_of(server, sid, "service")
    t0 = time.monotonic()
    assert remaining(server.get(NEWS, base, host=COMMON)) == 0
    assert_429(server.get(NEWS, base, host=COMMON), 3600, 1, 3600, "news", since=t0)
    assert remaining(server.get(NEWS, personal, host=COMMON)) == 9
    assert remaining(server.get(NEWS, service, host=COMMON)) == 9
    # And the other way round: the personal bucket emptied, base is untouched.
    sid2 = server.seller()
    base2 = server.token(sid2, "base", "content")
    personal2 = server.token(sid2, "personal", "content")
    t0 = time.monotonic()
    for _ in range(10):
        server.get(SELLER_INFO, personal2, host=COMMON)
    assert_429(server.get(SELLER_INFO, personal2, host=COMMON), 60, 10, 600, "seller-info", since=t0)
    assert remaining(server.get(SELLER_INFO, base2, host=COMMON)) == 0


def test_limit_groups_are_separate(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    for _ in range(10):
        server.get(NEWS, token, host=COMMON)
    assert server.get(NEWS, token, host=COMMON).status_code == 429
    assert remaining(server.get(SELLER_INFO, token, host=COMMON)) == 9
    assert remaining(server.get("/ping", token, host=COMMON)) == 2


# --- a deployment config: an overridden limit, a limit group with a cost rule -------------------

CONFIG = """
# /ping's burst raised to 5; per_host and block stay as built in.
[limits.ping.rates]
all = { period = 30, limit = 3, burst = 5 }

# Marketplace's own numbers: 300 a minute, 200 ms, burst 20; a 409 counts as 5.
[limits.marketplace]
rates.all = { period = 60, limit = 300, burst = 20 }
costs = { "409" = 5 }

# The same burst and cost with a 20 s interval, so that real time between requests cannot
# refill anything while a test counts.
[limits.marketplace-slow]
rates.all = { period = 6000, limit = 300, burst = 20 }
costs = { "409" = 5 }

[[methods]]
id = "mp-conflict"
http = "GET"
path = "/api/v3/test/mp/conflict"
category = "marketplace"
read_only = true
token_types = ["base", "personal", "service"]
limit = "marketplace"
handler = "tests.e2e.plugin_limits:conflict"

[[methods]]
id = "slow-ok"
http = "GET"
path = "/api/v3/test/slow/ok"
category = "marketplace"
read_only = true
token_types = ["base", "personal", "service"]
limit = "marketplace-slow"
handler = "tests.e2e.plugin_limits:ok"

[[methods]]
id = "slow-conflict"
http = "GET"
path = "/api/v3/test/slow/conflict"
category = "marketplace"
read_only = true
token_types = ["base", "personal", "service"]
limit = "marketplace-slow"
handler = "tests.e2e.plugin_limits:conflict"

[[methods]]
id = "slow-conflict-reply"
http = "GET"
path = "/api/v3/test/slow/conflict-reply"
category = "marketplace"
read_only = true
token_types = ["base", "personal", "service"]
limit = "marketplace-slow"
handler = "tests.e2e.plugin_limits:conflict_reply"
"""

SLOW_OK = "/api/v3/test/slow/ok"
SLOW_CONFLICT = "/api/v3/test/slow/conflict"
SLOW_CONFLICT_REPLY = "/api/v3/test/slow/conflict-reply"


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory, "limits-configured", CONFIG) as srv:
        yield srv


def test_a_config_file_overrides_a_limit(configured: Server) -> None:
    token = configured.token(configured.seller(), "personal", "all")
    t0 = time.monotonic()
    got = [remaining(configured.get("/ping", token, host=CONTENT)) for _ in range(5)]
    assert got == [4, 3, 2, 1, 0]
    # 5 charges of 10 s: the next in 10 s, the whole burst in 50 s.
    assert_429(
        configured.get("/ping", token, host=CONTENT), retry=10, limit=5, reset=50, group="ping", since=t0
    )
    # Still one bucket per host: only `rates` was overridden.
    assert remaining(configured.get("/ping", token, host=STATISTICS)) == 4
    # Limits the config does not name are the built-in ones.
    assert remaining(configured.get(NEWS, token, host=COMMON)) == 9


def test_a_409_costs_5_with_marketplace_numbers(configured: Server) -> None:
    token = configured.token(configured.seller(), "personal", "marketplace")
    r = configured.get("/api/v3/test/mp/conflict", token, host=MARKETPLACE)
    body = assert_wb_error(r, 409, "test-conflict")
    assert body["title"] == "conflict"
    # Charged 1 on the way in and 4 more before the headers went out: 20 - 5.
    assert remaining(r) == 15


def test_a_409_costs_5_and_its_own_remaining_shows_it(configured: Server) -> None:
    token = configured.token(configured.seller(), "personal", "marketplace")
    t0 = time.monotonic()
    r = configured.get(SLOW_OK, token, host=MARKETPLACE)
    assert r.status_code == 200
    assert remaining(r) == 19
    r = configured.get(SLOW_CONFLICT, token, host=MARKETPLACE)
    assert_wb_error(r, 409, "test-conflict")
    assert remaining(r) == 14  # 19 - 5: the 409's own header already shows the 5
    # The following requests see it; a 409 returned as a reply costs the same as a raised one.
    assert remaining(configured.get(SLOW_OK, token, host=MARKETPLACE)) == 13
    r = configured.get(SLOW_CONFLICT_REPLY, token, host=MARKETPLACE)
    assert r.status_code == 409
    assert r.json() == {"error": "conflict"}
    assert remaining(r) == 8
    # Down to 2, then a 409 that costs more than is left: admitted, and the debt shows in the 429.
    got = [remaining(configured.get(SLOW_OK, token, host=MARKETPLACE)) for _ in range(6)]
    assert got == [7, 6, 5, 4, 3, 2]
    r = configured.get(SLOW_CONFLICT, token, host=MARKETPLACE)
    assert r.status_code == 409
    assert remaining(r) == 0
    # Charges: 1 + 5 + 1 + 5 + 6 + 5 = 23 of 20 s: TAT = t0 + 460, the burst covers 400 s.
    assert_429(configured.get(SLOW_OK, token, host=MARKETPLACE), 80, 20, 460, "marketplace-slow", since=t0)
    # A 429 costs nothing, and the group is one bucket for all its methods.
    assert_429(
        configured.get(SLOW_CONFLICT, token, host=MARKETPLACE), 80, 20, 460, "marketplace-slow", since=t0
    )


def test_a_cost_rule_is_per_limit_group(configured: Server) -> None:
    """The Marketplace group's 409 surcharge does not touch another group's bucket."""
    token = configured.token(configured.seller(), "personal", "all")
    configured.get(SLOW_CONFLICT, token, host=MARKETPLACE)
    assert remaining(configured.get("/ping", token, host=MARKETPLACE)) == 4
    assert remaining(configured.get(SELLER_INFO, token, host=COMMON)) == 9
