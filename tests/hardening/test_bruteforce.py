"""Brute force: a client that keeps sending bad tokens from one address is slowed down (429,
`auth-failures`), and good clients are not.

The limit is the built-in one (methods/general.toml, `[limits.auth-failures]`: 20 failures at once,
then one every 3 s per client address), written into this server's config so that tests/conftest.py
leaves it as it is. Client addresses come from X-Forwarded-For, which uvicorn trusts from 127.0.0.1
(the addresses are documentation ranges, RFC 5737: only a header value, nothing is sent there).
"""

from __future__ import annotations

import math
import time
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


def test_many_bad_tokens_from_one_address_are_slowed_down(guarded: Server, figures: dict[str, Any]) -> None:
    srv = guarded
    sid = srv.seller()
    good = srv.token(sid, "personal", "all")
    fresh = [srv.token(sid, "base", "content") for _ in range(3)]
    attempts = 1000
    answers: list[int] = []
    started = time.monotonic()
    for n in range(attempts):
        r = get(srv, bad_token(good, n), ATTACKER)
        answers.append(r.status_code)
        if n < BURST or r.status_code == 401:  # the burst; later, one a refill interval of real time
            assert_wb_body(r, 401)
        else:
            assert_slowed(r)
        if n % 50 == 10:
            # Meanwhile a good client elsewhere is not affected, with a token seen before or not.
            assert get(srv, good, GOOD).status_code == 200
            assert get(srv, fresh[n // 400], GOOD).status_code == 200
    elapsed = time.monotonic() - started
    # At most the burst plus one a refill interval got through to the token check.
    assert answers.count(401) <= BURST + elapsed / INTERVAL + 1, (answers.count(401), elapsed)
    assert answers.count(401) >= BURST
    assert answers[BURST] == 429
    # The attacker's address is slowed for every uncached token, even a good one (it is checked
    # before the token is: that is what makes guessing cost time); a cached good token is not.
    unused = [srv.token(sid, "base", "content") for _ in range(3)]
    for token in unused:  # right after a 429 (a refill could fall in between once in a long while)
        assert wait_until(lambda: get(srv, bad_token(good, 7), ATTACKER).status_code == 429, 10)
        if get(srv, token, ATTACKER).status_code == 429:
            break
    else:
        raise AssertionError("a good uncached token passed from the slowed address")
    assert get(srv, good, ATTACKER).status_code == 200
    # The 429s were counted by group.
    metrics = httpx.get(f"{srv.base_url}/metrics", timeout=10).text
    line = next(
        ln
        for ln in metrics.splitlines()
        if ln.startswith('wbseller_ratelimited_total{group="auth-failures"}')
    )
    assert float(line.split()[-1]) >= answers.count(429)
    figures.update(
        {
            "bad tokens sent": attempts,
            "reached the token check (401)": answers.count(401),
            "slowed (429)": answers.count(429),
            "seconds": round(elapsed, 2),
            "good requests meanwhile (all 200)": 2 * (attempts // 50),
        }
    )


def test_the_address_refills_one_attempt_per_interval(guarded: Server) -> None:
    """Slowed, not banned: after each interval one more attempt reaches the token check (test clock)."""
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


def test_every_kind_of_failed_authentication_counts(guarded: Server) -> None:
    """Forged, expired, revoked, unknown, a deleted user's: each is a failure of this address."""
    srv = guarded
    sid = srv.seller()
    good = srv.token(sid, "personal", "all")
    revoked = srv.token(sid, "personal", "content")
    srv.cli("token", "revoke", token_id(revoked))
    uid = srv.cli("user", "create", "--seller", sid, "--name", "Ушедший")
    orphan = srv.token(sid, "base", "content", user=uid)
    srv.cli("user", "delete", uid)
    assert wait_until(lambda: get(srv, orphan, "192.0.2.1").status_code == 403, 5)
    ring = srv.key_ring()
    claims = {**_claims(good)}
    kinds = {
        "malformed": "garbage",
        "signature": bad_token(good, 1),
        "expired": ring.sign({**claims, "exp": int(time.time()) - 5}),
        "unknown": ring.sign({**claims, "id": "6f1c4a3e-8d2b-4c1a-9e7f-0a1b2c3d4e5f"}),
        "revoked": revoked,
        "deleted user": orphan,
    }
    assert get(srv, good, "192.0.2.9").status_code == 200  # cached from now on
    for i, (name, token) in enumerate(kinds.items()):
        addr = f"192.0.2.{10 + i}"
        statuses = [get(srv, token, addr).status_code for _ in range(BURST)]
        assert set(statuses) == ({403} if name == "deleted user" else {401}), (name, statuses)
        assert_slowed(get(srv, token, addr))
        assert get(srv, good, addr).status_code == 200  # cached: never slowed


def test_addresses_are_counted_apart(guarded: Server) -> None:
    """The limit is per client address: one address slowed leaves the others their whole burst."""
    srv = guarded
    good = srv.token(srv.seller(), "personal", "all")
    for n in range(BURST + 1):
        get(srv, bad_token(good, n), "192.0.2.50")
    assert_slowed(get(srv, bad_token(good, 77), "192.0.2.50"))
    for addr in ("192.0.2.51", "192.0.2.52"):
        for n in range(BURST):
            assert get(srv, bad_token(good, n), addr).status_code == 401
    r = srv.get(SELLER_INFO, good)  # from 127.0.0.1 itself: untouched
    assert r.status_code == 200, r.text


def _claims(token: str) -> dict[str, Any]:
    from tests.hardening.conftest import jwt_parts

    return jwt_parts(token)[1]
