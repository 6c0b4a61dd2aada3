"""Limits: the client paces itself by the server's own table, so a well-behaved program meets no 429.

Real-time tests use the `limited` server (seller-info 3 per 0.3 s, the client given the same file);
the literal WB limit (ping, 3 per 30 s) runs on the server's test clock: the client's sleeps move it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.client.helpers import AsyncSpy, Spy, TestTime, crafted_token
from tests.conftest import Server
from wbseller.client import AsyncClient, Client, RateLimited, RetryPolicy, SellerInfo, Throttle, Wait
from wbseller.client._core import Core
from wbseller.ratelimit.gcra import Rate

CALLS = 50
FAST_INTERVAL = 0.1  # FAST_CONFIG: 3 per 0.3 s
BURST = 3
IMPLIED = (CALLS - BURST) * FAST_INTERVAL  # the first 3 at once, then one per interval


def test_fifty_calls_sync_no_429_in_the_implied_time(limited: Server, limited_config: Path) -> None:
    token = limited.token(limited.seller(), "personal", "content")
    spy = Spy()
    with Client(token, base_url=limited.base_url, config=limited_config, transport=spy) as client:
        start = time.monotonic()
        results = [client.seller_info() for _ in range(CALLS)]
        elapsed = time.monotonic() - start
    assert all(isinstance(r, SellerInfo) for r in results)
    assert spy.statuses == [200] * CALLS  # zero 429s
    assert IMPLIED - 0.01 <= elapsed < IMPLIED + 1.5, elapsed


def test_fifty_concurrent_calls_async_no_429_in_the_implied_time(
    limited: Server, limited_config: Path
) -> None:
    token = limited.token(limited.seller(), "personal", "content")
    spy = AsyncSpy()

    async def main() -> float:
        async with AsyncClient(
            token, base_url=limited.base_url, config=limited_config, transport=spy
        ) as client:
            start = time.monotonic()
            results = await asyncio.gather(*(client.seller_info() for _ in range(CALLS)))
            assert len(results) == CALLS
            return time.monotonic() - start

    elapsed = asyncio.run(main())
    assert spy.statuses == [200] * CALLS
    assert IMPLIED - 0.01 <= elapsed < IMPLIED + 1.5, elapsed


def test_ping_3_per_30_s_on_the_test_clock_sync_and_async(limited: Server, test_time: TestTime) -> None:
    """WB's own /ping limit, 3 per 30 s: 50 calls take 47 intervals of 10 s, with no 429."""
    tt = test_time
    token = limited.token(limited.seller(), "personal", "content,marketplace")
    spy = Spy()
    with Client(token, base_url=limited.base_url, transport=spy, clock=tt.now, sleep=tt.sleep) as client:
        start = tt.now()
        for _ in range(CALLS):
            client.ping("content")
        elapsed = tt.now() - start
    assert spy.statuses == [200] * CALLS
    assert (CALLS - 3) * 10 <= elapsed < (CALLS - 3) * 10 + 5, elapsed
    assert len(tt.slept) == CALLS - 3

    aspy = AsyncSpy()

    async def main() -> float:
        async with AsyncClient(
            token, base_url=limited.base_url, transport=aspy, clock=tt.now, sleep=tt.asleep
        ) as client:
            start = tt.now()
            for _ in range(CALLS):
                await client.ping("marketplace")  # another host: a bucket of its own
            return tt.now() - start

    elapsed = asyncio.run(main())
    assert aspy.statuses == [200] * CALLS
    assert (CALLS - 3) * 10 <= elapsed < (CALLS - 3) * 10 + 5, elapsed


def _exhaust_news(server: Server, token: str, calls: int) -> httpx.Response:
    """Spend the news bucket (personal: 1 a minute, burst 10) behind the client's back."""
    r = httpx.Response(200)
    with server.client(headers={"Authorization": token}) as raw:
        for _ in range(calls):
            r = raw.get("/common-api/api/communications/v2/news", params={"fromID": "1"})
    return r


def test_after_a_forced_429_the_retry_waits_what_the_server_said(
    limited: Server, test_time: TestTime
) -> None:
    tt = test_time
    token = limited.token(limited.seller(), "personal", "content")
    assert _exhaust_news(limited, token, 11).status_code == 429
    spy = Spy()
    waits: list[Wait] = []
    with Client(
        token, base_url=limited.base_url, transport=spy, clock=tt.now, sleep=tt.sleep, on_wait=waits.append
    ) as client:
        client.news(from_id=1)
    assert spy.statuses == [429, 200]
    retry = float(spy.responses[0].headers["x-ratelimit-retry"])
    assert 55 <= retry <= 60
    assert tt.slept == [retry]  # exactly what X-Ratelimit-Retry said, and nothing more
    assert [(w.reason, w.limit) for w in waits] == [("rate-limited", "news")]


def test_after_a_forced_429_the_retry_waits_what_the_server_said_async(
    limited: Server, test_time: TestTime
) -> None:
    tt = test_time
    token = limited.token(limited.seller(), "personal", "content")
    assert _exhaust_news(limited, token, 11).status_code == 429
    spy = AsyncSpy()

    async def main() -> None:
        async with AsyncClient(
            token, base_url=limited.base_url, transport=spy, clock=tt.now, sleep=tt.asleep
        ) as client:
            await client.news(from_id=1)

    asyncio.run(main())
    assert spy.statuses == [429, 200]
    assert tt.slept == [float(spy.responses[0].headers["x-ratelimit-retry"])]


def test_the_client_follows_x_ratelimit_remaining(limited: Server, test_time: TestTime) -> None:
    """Another program spent 9 of the 10: after the first answer says 0 left, the client waits."""
    tt = test_time
    token = limited.token(limited.seller(), "personal", "content")
    assert _exhaust_news(limited, token, 9).headers["x-ratelimit-remaining"] == "1"
    spy = Spy()
    with Client(token, base_url=limited.base_url, transport=spy, clock=tt.now, sleep=tt.sleep) as client:
        client.news(from_id=1)
        client.news(from_id=1)
    assert spy.statuses == [200, 200]  # no 429: the second call was paced
    assert spy.responses[0].headers["x-ratelimit-remaining"] == "0"
    assert len(tt.slept) == 1 and 59 <= tt.slept[0] <= 60


def test_429s_are_retried_a_bounded_number_of_times(limited: Server) -> None:
    token = limited.token(limited.seller(), "personal", "content")
    _exhaust_news(limited, token, 10)
    spy = Spy()
    slept: list[float] = []
    policy = RetryPolicy(rate_limited=0)
    client = Client(token, base_url=limited.base_url, transport=spy, retry=policy, sleep=slept.append)
    with client, pytest.raises(RateLimited) as info:
        client.news(from_id=1)
    assert spy.statuses == [429] and slept == []
    err = info.value
    assert (err.status, err.title, err.code) == (429, "too many requests", "rate-limited")
    assert err.detail == "limited by news"
    assert err.retry_after is not None and 55 <= err.retry_after <= 60
    assert err.limit == 10
    assert err.request_id is not None and len(err.request_id) == 32


def test_a_pacer_wait_over_max_wait_is_refused_without_sending(server: Server) -> None:
    """A base token's seller-info is 1 a day: the second call would wait a day; it raises instead."""
    token = server.token(server.seller(), "base", "content")
    spy = Spy()
    with Client(token, base_url=server.base_url, transport=spy) as client:
        client.seller_info()
        with pytest.raises(RateLimited) as info:
            client.seller_info()
    assert spy.statuses == [200]
    assert info.value.code == "client-throttled"
    assert info.value.retry_after is not None and 86000 < info.value.retry_after <= 86400


def test_ping_is_paced_per_host() -> None:
    """/ping's limit counts each host apart: three on content and three on marketplace need no wait."""
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"TS": "2024-08-16T11:19:05+03:00", "Status": "OK"})

    with Client(
        crafted_token(), transport=httpx.MockTransport(ok), clock=lambda: now[0], sleep=sleep
    ) as client:
        for _ in range(3):
            client.ping("content")
            client.ping("marketplace")
        assert slept == []
        client.ping("content")
        assert slept == [10.0]


# --- the pacer alone ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


RATE = Rate(period=30, limit=3, burst=3)  # T = 10 s


def test_throttle_books_slots_one_interval_apart() -> None:
    clock = FakeClock()
    throttle = Throttle(clock)
    delays = [throttle.reserve("k", RATE) for _ in range(6)]
    assert delays == pytest.approx([0, 0, 0, 10, 20, 30])
    assert throttle.remaining("k", RATE) == 0
    clock.t += 60
    assert throttle.remaining("k", RATE) == 3
    assert throttle.reserve("other", RATE) == 0  # keys are apart


def test_throttle_books_nothing_past_the_limit() -> None:
    throttle = Throttle(FakeClock())
    for _ in range(3):
        throttle.reserve("k", RATE)
    assert throttle.reserve("k", RATE, limit=5) == pytest.approx(10)  # too long: not booked
    assert throttle.reserve("k", RATE) == pytest.approx(10)  # so the next caller gets that slot


def test_throttle_follows_the_remaining_header() -> None:
    clock = FakeClock()
    throttle = Throttle(clock)
    assert throttle.reserve("k", RATE) == 0 and throttle.admit("k", RATE) == 0
    # The server says nothing is left: someone else spent the bucket. Trust it, pessimistically.
    throttle.answered("k", RATE, sent_at=clock.t, remaining_after=0)
    assert throttle.reserve("k", RATE) == pytest.approx(10)


def test_throttle_charges_a_costly_answer_in_full() -> None:
    clock = FakeClock()
    throttle = Throttle(clock)
    rate = Rate(period=60, limit=60, burst=20)  # Marketplace: a 409 counts as 5
    throttle.reserve("k", rate)
    throttle.admit("k", rate)
    throttle.answered("k", rate, sent_at=clock.t, remaining_after=15, cost=5)
    assert throttle.remaining("k", rate) == 15


def test_throttle_after_a_429_waits_the_retry() -> None:
    clock = FakeClock()
    throttle = Throttle(clock)
    throttle.refused("k", RATE, retry_after=7)
    assert throttle.reserve("k", RATE) == pytest.approx(7)
    assert throttle.reserve("k", RATE) == pytest.approx(17)


def test_throttle_counts_requests_in_flight() -> None:
    """Slow first answers (a cold connection, a token checked for the first time) anchor the
    server's bucket later than our send times: nothing past the burst goes before they are answered."""
    clock = FakeClock()
    throttle = Throttle(clock)
    assert [throttle.reserve("k", RATE) for _ in range(4)] == pytest.approx([0, 0, 0, 10])
    assert [throttle.admit("k", RATE) for _ in range(3)] == [0, 0, 0]
    clock.t += 10  # the fourth's slot; the first three are still in flight
    assert throttle.admit("k", RATE) == pytest.approx(0.05)  # look again soon
    for _ in range(3):  # answered only now: the server may have charged them now
        throttle.answered("k", RATE, sent_at=clock.t - 10, remaining_after=None)
    assert throttle.admit("k", RATE) == pytest.approx(10)
    clock.t += 10
    assert throttle.admit("k", RATE) == 0


def test_throttle_lost_answers_count_as_charged() -> None:
    clock = FakeClock()
    throttle = Throttle(clock)
    for _ in range(3):
        throttle.reserve("k", RATE)
        throttle.admit("k", RATE)
        throttle.lost("k", RATE)
    assert throttle.admit("k", RATE) == pytest.approx(10)


def test_an_abandoned_call_gives_its_slot_back() -> None:
    """A call dropped while in flight (a cancelled task, an error in the transport) must not hold
    its bucket forever: closing the plan counts it as lost (maybe charged), not as still in flight."""
    now = [0.0]
    core = Core(crafted_token(), clock=lambda: now[0])
    plans = [core.ping("content") for _ in range(3)]
    for plan in plans:
        assert isinstance(next(plan), httpx.Request)  # sent: in flight
    assert core.throttle is not None
    ping = core.operation("ping")
    rate = core.rate_for(ping)
    assert rate is not None
    key = core.bucket_key(ping, core.host_for(ping, "content"))
    assert core.throttle.admit(key, rate) == pytest.approx(0.05)  # stuck behind three in flight
    for plan in plans:
        plan.close()
    assert core.throttle.admit(key, rate) == pytest.approx(10)  # three charged, none in flight
