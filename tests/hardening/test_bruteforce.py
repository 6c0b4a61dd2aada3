"""Brute force: signature checks are what a forger can make us spend, and they are limited per client
address and claimed token id (429, `auth-failures`); every other bad token is refused cheaply and
never slows anyone; a good client is never refused for someone else's failures, even from the same
address (a NAT, a load balancer).

The limit is the built-in one (methods/general.toml, `[limits.auth-failures]`: 20 at once, then one
every 3 s), written into this server's config so that tests/conftest.py leaves it as it is. Client
addresses come from X-Forwarded-For, which this server trusts from 127.0.0.1 (`trusted_proxies`; the
addresses are documentation ranges, RFC 5737: only a header value, nothing is sent there).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server, serving
from tests.hardening.conftest import PING, SELLER_INFO, assert_wb_body, token_id, wait_until
from wbseller.methods.table import load_table

GROUP = load_table().limits["auth-failures"]
RATE = GROUP.rates[next(iter(GROUP.rates))]
BURST = RATE.burst
INTERVAL = RATE.interval
CONFIG = f"""
[server]
trusted_proxies = ["127.0.0.1"]

[limits.ping]
rates.all = {{ period = 1, limit = 1000000, burst = 1000000 }}

[limits.auth-failures]
rates.all = {{ period = {RATE.period}, limit = {RATE.limit}, burst = {RATE.burst} }}
"""
ATTACKER = "203.0.113.7"
GOOD = "198.51.100.20"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module; each test uses addresses of its own (its clock only moves forward)."""
    with serving(tmp_path_factory, "guarded", CONFIG) as srv:
        yield srv
        http = _HTTP.pop(srv.port, None)
        if http is not None:
            http.close()


_HTTP: dict[int, httpx.Client] = {}


def get(srv: Server, token: str, addr: str, path: str = PING) -> httpx.Response:
    """GET with a token, as seen from `addr` (one keep-alive connection per server: fast)."""
    http = _HTTP.get(srv.port)
    if http is None:
        http = _HTTP[srv.port] = srv.client()
    return http.get(path, headers={"Authorization": token, "X-Forwarded-For": addr})


def bad_token(good: str, n: int) -> str:
    return good[:-6] + f"{n:06d}"[-6:].replace("0", "A")


def assert_slowed(r: httpx.Response) -> dict[str, Any]:
    body = assert_wb_body(r, 429)
    assert body["code"] == "auth-failures"
    assert body["title"] == "too many requests"
    assert body["detail"].startswith("limited by auth-failures")
    assert int(r.headers["x-ratelimit-limit"]) == BURST
    assert 1 <= int(r.headers["x-ratelimit-retry"]) <= math.ceil(INTERVAL)
    assert int(r.headers["x-ratelimit-reset"]) <= math.ceil(BURST * INTERVAL)
    assert "x-ratelimit-remaining" not in r.headers
    return body


def test_built_in_limit_is_what_this_suite_assumes() -> None:
    assert (RATE.period, RATE.limit, RATE.burst) == (60, 20, 20)
    assert set(GROUP.rates.values()) == {RATE}


def test_forged_copies_of_one_token_are_slowed_down(guarded: Server, figures: dict[str, Any]) -> None:
    """Copies of a real token with other signatures: after the burst, one check per refill interval.
    Meanwhile fresh good tokens pass from the attacker's own address, and from elsewhere."""
    srv = guarded
    sid = srv.seller()
    good = srv.token(sid, "personal", "all")
    assert get(srv, good, GOOD).status_code == 200  # in use, so cached: it never meets the guard
    attempts = 600
    answers: list[int] = []
    started = time.monotonic()
    for n in range(attempts):
        r = get(srv, bad_token(good, n), ATTACKER)
        answers.append(r.status_code)
        if n < BURST or r.status_code == 401:  # the burst; later, one a refill interval of real time
            assert assert_wb_body(r, 401)["code"] in ("token-signature-invalid", "token-malformed")
        else:
            assert_slowed(r)
        if n % 100 == 50:
            fresh = srv.token(sid, "base", "content")  # never seen by the server
            assert get(srv, fresh, ATTACKER).status_code == 200
            assert get(srv, srv.token(sid, "base", "content"), GOOD).status_code == 200
            assert get(srv, good, ATTACKER).status_code == 200  # the copied token itself, cached
    elapsed = time.monotonic() - started
    assert answers.count(401) <= BURST + elapsed / INTERVAL + 1, (answers.count(401), elapsed)
    assert answers.count(401) >= BURST
    assert answers[BURST] == 429
    metrics = httpx.get(f"{srv.base_url}/metrics", timeout=10).text
    line = next(
        ln
        for ln in metrics.splitlines()
        if ln.startswith('wbseller_ratelimited_total{group="auth-failures"}')
    )
    assert float(line.split()[-1]) >= answers.count(429)
    figures.update(
        {
            "forged copies sent": attempts,
            "signature checked (401)": answers.count(401),
            "slowed (429)": answers.count(429),
            "seconds": round(elapsed, 2),
        }
    )


def test_a_flood_of_bad_tokens_never_locks_out_a_good_one(guarded: Server) -> None:
    """Garbage, expired, unknown, revoked, a deleted user's: refused without a signature check, so none
    of them spends a budget; then a token made a moment ago, from the same address, is answered."""
    srv = guarded
    sid = srv.seller()
    good = srv.token(sid, "personal", "all")
    revoked = srv.token(sid, "personal", "content")
    srv.cli("token", "revoke", token_id(revoked))
    uid = srv.cli("user", "create", "--seller", sid, "--name", "Ушедший")
    orphan = srv.token(sid, "base", "content", user=uid)
    srv.cli("user", "delete", uid)
    addr = "192.0.2.77"
    assert wait_until(lambda: get(srv, orphan, addr).status_code == 403, 5)
    ring = srv.key_ring()
    claims = {**_claims(good)}
    kinds = {
        "token-malformed": [f"garbage{n}" for n in range(100)],
        "token-expired": [ring.sign({**claims, "exp": int(time.time()) - 5 - n}) for n in range(30)],
        "token-unknown": [ring.sign({**claims, "id": str(uuid.uuid4())}) for _ in range(30)],
        "token-revoked": [revoked] * 100,
        "user-deleted": [orphan] * 100,
    }
    for code, tokens in kinds.items():
        for token in tokens:
            r = get(srv, token, addr)
            assert assert_wb_body(r, 403 if code == "user-deleted" else 401)["code"] == code
    fresh = srv.token(sid, "base", "content")
    assert get(srv, fresh, addr).status_code == 200


async def _first_requests(port: int, token: str, addr: str, n: int) -> list[int]:
    """`n` connections, all open first, then one request each at once: a pool's first call."""
    go = asyncio.Event()

    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await go.wait()
            writer.write(
                f"GET {PING} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
                f"X-Forwarded-For: {addr}\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            return int((await reader.readline()).split()[1])
        finally:
            writer.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    await asyncio.sleep(0.3)
    go.set()
    return await asyncio.gather(*tasks)


def test_a_pool_of_first_requests_shares_one_check(guarded: Server) -> None:
    """Three times the guard's budget of first requests of one fresh token at once (a client's pool of
    connections after a restart): one signature check, shared by all, so every one is answered."""
    srv = guarded
    token = srv.token(srv.seller(), "personal", "all")
    addr = "192.0.2.88"
    statuses = asyncio.run(_first_requests(srv.port, token, addr, BURST * 3))
    assert statuses == [200] * (BURST * 3)
    r = get(srv, token, addr, SELLER_INFO)
    assert r.status_code == 200, r.text


def test_the_budget_refills_one_check_per_interval(guarded: Server) -> None:
    """Slowed, not banned: after each interval one more check is made (test clock)."""
    srv = guarded
    good = srv.token(srv.seller(), "personal", "all")
    addr = "203.0.113.99"
    for n in range(BURST):
        assert_wb_body(get(srv, bad_token(good, n), addr), 401)
    assert_slowed(get(srv, bad_token(good, 99), addr))
    for n in range(3):
        srv.advance(INTERVAL)
        assert_wb_body(get(srv, bad_token(good, 100 + n), addr), 401)
        assert_slowed(get(srv, bad_token(good, 200 + n), addr))
    # After a full period the whole burst is back.
    srv.advance(RATE.period)
    for n in range(BURST):
        assert_wb_body(get(srv, bad_token(good, 300 + n), addr), 401)
    assert_slowed(get(srv, bad_token(good, 999), addr))


def test_addresses_and_tokens_are_counted_apart(guarded: Server) -> None:
    """One budget per (address, token id): an address slowed for one token leaves other addresses, and
    copies of another token from the same address, their whole burst."""
    srv = guarded
    sid = srv.seller()
    good, other = srv.token(sid, "personal", "all"), srv.token(sid, "personal", "all")
    for n in range(BURST + 1):
        get(srv, bad_token(good, n), "192.0.2.50")
    assert_slowed(get(srv, bad_token(good, 77), "192.0.2.50"))
    for n in range(BURST):
        assert get(srv, bad_token(other, n), "192.0.2.50").status_code == 401
    for addr in ("192.0.2.51", "192.0.2.52"):
        for n in range(BURST):
            assert get(srv, bad_token(good, n), addr).status_code == 401
    r = srv.get(SELLER_INFO, good)  # from 127.0.0.1 itself: untouched
    assert r.status_code == 200, r.text


def test_an_untrusted_peer_cannot_choose_its_address(start_server: Any) -> None:
    """Without trusted_proxies, X-Forwarded-For is ignored: a forger changing it every request is still
    one address (the peer's) and is slowed after the burst."""
    srv = start_server(CONFIG.replace('trusted_proxies = ["127.0.0.1"]', ""))
    good = srv.token(srv.seller(), "personal", "all")
    with srv.client() as http:
        statuses = [
            http.get(
                PING, headers={"Authorization": bad_token(good, n), "X-Forwarded-For": f"198.51.100.{n}"}
            ).status_code
            for n in range(BURST + 5)
        ]
    assert statuses[:BURST] == [401] * BURST
    assert 429 in statuses[BURST:]


def _claims(token: str) -> dict[str, Any]:
    from tests.hardening.conftest import jwt_parts

    return jwt_parts(token)[1]
