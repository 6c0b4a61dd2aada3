"""MemoryLimiter: buckets by key, the after-the-fact surcharge, /ping's temporary block, and sweeping.

Time is an OffsetClock (real time plus an offset): `advance()` skips the waits. The little real time
that passes during a test is far below the intervals used here.
"""

from __future__ import annotations

import asyncio

import pytest

from wbseller.clock import OffsetClock
from wbseller.ratelimit import Block, Decision, MemoryLimiter, Rate

PING = Rate(period=30, limit=3, burst=3)  # 10 s, burst 3
HOURLY = Rate(period=3600, limit=1, burst=1)
NEWS = Rate(period=60, limit=1, burst=10)
BLOCK = Block(strikes=3, window=60, seconds=600)


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture
def limiter(clock: OffsetClock) -> MemoryLimiter:
    return MemoryLimiter(clock)


def take(limiter: MemoryLimiter, key: str, rate: Rate, n: int, block: Block | None = None) -> list[Decision]:
    return [limiter.acquire_now(key, rate, 1, block) for _ in range(n)]


def test_a_bucket_counts_down_and_refuses(limiter: MemoryLimiter) -> None:
    ds = take(limiter, "s1:ping", PING, 4)
    assert [d.allowed for d in ds] == [True, True, True, False]
    assert [d.remaining for d in ds] == [2, 1, 0, 0]
    refused = ds[-1]
    assert refused.limit == 3
    assert refused.retry_after == pytest.approx(10, abs=0.5)
    assert refused.reset_after == pytest.approx(30, abs=0.5)
    assert not refused.blocked


def test_refill_over_time(limiter: MemoryLimiter, clock: OffsetClock) -> None:
    take(limiter, "k", NEWS, 10)
    assert not limiter.acquire_now("k", NEWS).allowed
    clock.advance(60)
    d = limiter.acquire_now("k", NEWS)
    assert d.allowed
    assert d.remaining == 0
    assert not limiter.acquire_now("k", NEWS).allowed
    clock.advance(600)
    assert limiter.acquire_now("k", NEWS).remaining == 9


def test_separate_keys_are_separate_buckets(limiter: MemoryLimiter) -> None:
    take(limiter, "seller-a:news:personal", NEWS, 10)
    assert not limiter.acquire_now("seller-a:news:personal", NEWS).allowed
    # Another seller, another token type, another rate: all untouched.
    assert limiter.acquire_now("seller-b:news:personal", NEWS).remaining == 9
    assert limiter.acquire_now("seller-a:news:base", HOURLY).remaining == 0
    assert limiter.acquire_now("seller-a:news:service", NEWS).remaining == 9
    assert len(limiter) == 4


def test_async_acquire_is_the_same_bucket(limiter: MemoryLimiter) -> None:
    async def main() -> list[int]:
        return [(await limiter.acquire("k", PING)).remaining for _ in range(3)]

    assert asyncio.run(main()) == [2, 1, 0]
    assert not limiter.acquire_now("k", PING).allowed


def test_cost_is_charged_up_front(limiter: MemoryLimiter) -> None:
    d = limiter.acquire_now("k", NEWS, cost=4)
    assert d.allowed
    assert d.remaining == 6
    assert not limiter.acquire_now("k", NEWS, cost=7).allowed
    assert limiter.acquire_now("k", NEWS, cost=6).remaining == 0


def test_surcharge(limiter: MemoryLimiter, clock: OffsetClock) -> None:
    marketplace = Rate(period=6000, limit=300, burst=20)  # 20 s: real time does not move it
    assert limiter.acquire_now("mp", marketplace).remaining == 19
    # The response was a 409: 5 in all, so 4 more; the returned remaining already shows it.
    assert asyncio.run(limiter.surcharge("mp", marketplace, 4)) == 15
    assert limiter.acquire_now("mp", marketplace).remaining == 14
    # A surcharge is never refused, even past the burst; the debt is paid by waiting.
    assert asyncio.run(limiter.surcharge("mp", marketplace, 20)) == 0
    refused = limiter.acquire_now("mp", marketplace)
    assert not refused.allowed
    # TAT is now + 26 intervals, the burst covers 20: 7 intervals to wait for one request.
    assert refused.retry_after == pytest.approx(7 * 20, abs=0.5)
    assert refused.reset_after == pytest.approx(26 * 20, abs=0.5)
    clock.advance(7 * 20)
    assert limiter.acquire_now("mp", marketplace).allowed


def test_surcharge_on_a_fresh_bucket(limiter: MemoryLimiter) -> None:
    assert asyncio.run(limiter.surcharge("new", NEWS, 3)) == 7
    assert limiter.acquire_now("new", NEWS).remaining == 6


def test_block_after_strikes_within_the_window(limiter: MemoryLimiter, clock: OffsetClock) -> None:
    take(limiter, "ping", PING, 3, BLOCK)
    strikes = take(limiter, "ping", PING, BLOCK.strikes, BLOCK)
    # The refusals that earn the block are ordinary ones.
    assert [(d.allowed, d.blocked) for d in strikes] == [(False, False)] * BLOCK.strikes
    d = limiter.acquire_now("ping", PING, 1, BLOCK)
    assert not d.allowed
    assert d.blocked
    assert d.remaining == 0
    assert d.limit == 3
    assert d.retry_after == pytest.approx(BLOCK.seconds, abs=0.5)
    assert d.reset_after == pytest.approx(BLOCK.seconds, abs=0.5)

    # Past the normal interval, the bucket itself would pass a request: the block still refuses.
    clock.advance(30)
    d = limiter.acquire_now("ping", PING, 1, BLOCK)
    assert (d.allowed, d.blocked) == (False, True)
    assert d.retry_after == pytest.approx(BLOCK.seconds - 30, abs=0.5)
    # Refusals while blocked do not extend the block.
    take(limiter, "ping", PING, 10, BLOCK)
    clock.advance(BLOCK.seconds - 30 - 5)
    d = limiter.acquire_now("ping", PING, 1, BLOCK)
    assert (d.allowed, d.blocked) == (False, True)
    assert d.retry_after == pytest.approx(5, abs=0.5)

    # Block over: the bucket is full again and answers as usual.
    clock.advance(6)
    ds = take(limiter, "ping", PING, 4, BLOCK)
    assert [(d.allowed, d.remaining, d.blocked) for d in ds] == [
        (True, 2, False),
        (True, 1, False),
        (True, 0, False),
        (False, 0, False),
    ]


def test_the_block_is_per_key(limiter: MemoryLimiter) -> None:
    take(limiter, "content-api", PING, 3 + BLOCK.strikes, BLOCK)
    assert limiter.acquire_now("content-api", PING, 1, BLOCK).blocked
    assert limiter.acquire_now("statistics-api", PING, 1, BLOCK).remaining == 2


def test_strikes_outside_the_window_do_not_block(limiter: MemoryLimiter, clock: OffsetClock) -> None:
    # An hourly bucket keeps refusing while the window passes.
    take(limiter, "k", HOURLY, 1, BLOCK)
    for _ in range(3):
        take(limiter, "k", HOURLY, BLOCK.strikes - 1, BLOCK)
        clock.advance(BLOCK.window + 1)
    d = limiter.acquire_now("k", HOURLY, 1, BLOCK)
    assert (d.allowed, d.blocked) == (False, False)
    # strikes - 1 more within this window complete a set: the request after them is blocked.
    take(limiter, "k", HOURLY, BLOCK.strikes - 1, BLOCK)
    d = limiter.acquire_now("k", HOURLY, 1, BLOCK)
    assert (d.allowed, d.blocked) == (False, True)


def test_no_block_without_a_block_rule(limiter: MemoryLimiter) -> None:
    ds = take(limiter, "k", PING, 30)
    assert not any(d.blocked for d in ds)
    assert sum(d.allowed for d in ds) == 3


def test_idle_buckets_are_swept(limiter: MemoryLimiter, clock: OffsetClock) -> None:
    limiter.SWEEP_EVERY = 10
    for i in range(500):
        limiter.acquire_now(f"seller-{i}", PING, 1, BLOCK)
    for i in range(5):  # blocks on some keys
        take(limiter, f"seller-{i}", PING, 2 + BLOCK.strikes + 1, BLOCK)
        assert limiter.acquire_now(f"seller-{i}", PING, 1, BLOCK).blocked
    for i in range(5, 10):  # a strike on some others
        take(limiter, f"seller-{i}", PING, 3, BLOCK)
    assert len(limiter) == 500
    assert len(limiter._blocked) == 5
    assert len(limiter._strikes) == 5
    # Every bucket is full again after 30 s; strikes are kept for an hour, blocks for their time.
    clock.advance(3601)
    fast = Rate(period=1, limit=1000, burst=1000)
    for _ in range(limiter.SWEEP_EVERY):  # admitted requests are what trigger a sweep
        limiter.acquire_now("one-active", fast)
    assert len(limiter) <= 1
    assert limiter._blocked == {}
    assert limiter._strikes == {}
    # A swept bucket is a full one.
    assert limiter.acquire_now("seller-0", PING, 1, BLOCK).remaining == 2


def test_active_buckets_survive_a_sweep(limiter: MemoryLimiter) -> None:
    limiter.SWEEP_EVERY = 5
    take(limiter, "busy", NEWS, 10)
    for i in range(20):
        limiter.acquire_now(f"other-{i}", NEWS)
    # Sweeps ran; "busy" is still empty and still refuses.
    assert not limiter.acquire_now("busy", NEWS).allowed
