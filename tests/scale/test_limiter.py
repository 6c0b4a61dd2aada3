"""One suite, two limiters: MemoryLimiter and RedisLimiter (on the real Redis, and on a real three-node
Redis Cluster started for the session) decide alike.

Time is an OffsetClock. The Redis script adds the clock's offset to Redis's TIME, so `clock.advance()`
moves both limiters' time; the few milliseconds of real time a test takes are far below the intervals
used here (10 s), so the numbers are exact and the durations agree to well under a second.

Below the shared suite: what only Redis has (batching, keys with hash tags and TTLs, Redis's own
clock, atomicity across instances, scripts lost on a restart, Redis going away and coming back).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from tests.scale.conftest import REDIS_HOST, REDIS_PORT, redis_url_for
from tests.scale.proxy import TcpProxy
from wbseller.clock import OffsetClock
from wbseller.errors import ServiceUnavailable
from wbseller.ratelimit import Block, Decision, MemoryLimiter, Rate, gcra
from wbseller.ratelimit.redis import GCRA_LUA_AT, RedisLimiter, _decision

T = TypeVar("T")
AnyLimiter = MemoryLimiter | RedisLimiter

RATE = Rate(period=60, limit=6, burst=5)  # interval 10 s, burst 5
INTERVAL = RATE.interval
BLOCK = Block(strikes=3, window=60, seconds=100)
TOL = 0.5  # seconds: retry/reset agree this closely (real time passes between calls)


@dataclass(frozen=True)
class Kind:
    name: str
    url: str | None = None
    cluster: bool = False

    def make(self, clock: OffsetClock, **kw: Any) -> AnyLimiter:
        if self.url is None:
            return MemoryLimiter(clock)
        return RedisLimiter(self.url, clock, prefix=f"t{uuid.uuid4().hex[:12]}", cluster=self.cluster, **kw)


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
def kind(request: pytest.FixtureRequest) -> Kind:
    if request.param == "redis":
        return Kind("redis", request.getfixturevalue("redis_url"))
    if request.param == "redis-cluster":
        return Kind("redis-cluster", request.getfixturevalue("redis_cluster").url, cluster=True)
    return Kind("memory")


def run(kind: Kind, body: Callable[[AnyLimiter, OffsetClock], Awaitable[T]], **kw: Any) -> T:
    async def main() -> T:
        clock = OffsetClock()
        limiter = kind.make(clock, **kw)
        try:
            return await body(limiter, clock)
        finally:
            await limiter.close()

    return asyncio.run(main())


def key(sid: str | None = None, group: str = "grp") -> str:
    return f"{sid or uuid.uuid4()}:{group}:personal"


async def take(
    lim: AnyLimiter, k: str, n: int, rate: Rate = RATE, cost: int = 1, block: Block | None = None
) -> list[Decision]:
    return [await lim.acquire(k, rate, cost, block) for _ in range(n)]


# --- the shared suite ---------------------------------------------------------------------------


def test_a_bucket_admits_its_burst_then_refuses(kind: Kind) -> None:
    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        ds = await take(lim, key(), 6)
        assert [d.allowed for d in ds] == [True] * 5 + [False]
        assert [d.remaining for d in ds] == [4, 3, 2, 1, 0, 0]
        assert all(d.limit == 5 and not d.blocked for d in ds)
        assert [d.retry_after for d in ds[:5]] == [0.0] * 5
        for i, d in enumerate(ds[:5]):  # each admitted request adds one interval to the reset
            assert d.reset_after == pytest.approx((i + 1) * INTERVAL, abs=TOL)
        refused = ds[-1]
        assert refused.retry_after == pytest.approx(INTERVAL, abs=TOL)
        assert refused.reset_after == pytest.approx(5 * INTERVAL, abs=TOL)

    run(kind, body)


def test_admit_the_request_path_s_call_answers_a_bare_remaining_or_the_refusal(kind: Kind) -> None:
    """`admit` (what the gateway calls) charges like `acquire`: an admitted request is just its remaining;
    a refusal, and a block, the whole Decision; and strikes made through it block the bucket."""

    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        k = key()
        answers = [await lim.admit(k, RATE, BLOCK) for _ in range(5)]
        assert answers == [4, 3, 2, 1, 0]
        for _ in range(3):
            refused = await lim.admit(k, RATE, BLOCK)
            assert isinstance(refused, Decision)
            assert (refused.allowed, refused.blocked, refused.limit) == (False, False, 5)
            assert refused.retry_after == pytest.approx(INTERVAL, abs=TOL)
        blocked = await lim.admit(k, RATE, BLOCK)
        assert isinstance(blocked, Decision)
        assert (blocked.allowed, blocked.blocked) == (False, True)
        assert blocked.retry_after == pytest.approx(100, abs=TOL)
        clock.advance(101)  # the block is over and the bucket full (memory: a Decision, as it lifts it)
        after = await lim.admit(k, RATE, BLOCK)
        assert after == 4 if isinstance(after, int) else (after.allowed, after.remaining) == (True, 4)
        assert (await lim.acquire(k, RATE)).remaining == 3  # one bucket, whichever call charges it

    run(kind, body)


def test_a_frozen_clock_stops_refills_and_advancing_it_refills(kind: Kind) -> None:
    """The test kit's freeze: real time passing does not refill a bucket (on Redis too, whose script
    reads Redis's TIME: the lead it is given shrinks as real time passes); advancing the clock does."""
    fast = Rate(period=1, limit=10, burst=1)  # one every 0.1 s

    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        k = key()
        clock.freeze()
        assert (await lim.acquire(k, fast)).allowed
        await asyncio.sleep(0.3)  # three intervals of real time: a running clock would refill
        d = await lim.acquire(k, fast)
        assert not d.allowed
        assert d.retry_after == pytest.approx(fast.interval, abs=0.05)
        clock.advance(fast.interval + 0.02)  # Redis: the lead is reckoned a moment before TIME is read
        assert (await lim.acquire(k, fast)).allowed

    run(kind, body)


def test_time_refills_the_bucket_one_interval_at_a_time(kind: Kind) -> None:
    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        k = key()
        await take(lim, k, 5)
        clock.advance(INTERVAL)
        d = await lim.acquire(k, RATE)
        assert (d.allowed, d.remaining) == (True, 0)
        d = await lim.acquire(k, RATE)
        assert not d.allowed
        assert d.retry_after == pytest.approx(INTERVAL, abs=TOL)
        clock.advance(2.5 * INTERVAL)  # room for 2.5: two now, the third in half an interval
        ds = await take(lim, k, 3)
        assert [(x.allowed, x.remaining) for x in ds] == [(True, 1), (True, 0), (False, 0)]
        assert ds[2].retry_after == pytest.approx(0.5 * INTERVAL, abs=TOL)
        assert ds[2].reset_after == pytest.approx(4.5 * INTERVAL, abs=TOL)
        clock.advance(1000)  # long idle: full again, never more than the burst
        ds = await take(lim, k, 6)
        assert [x.allowed for x in ds] == [True] * 5 + [False]

    run(kind, body)


def test_a_request_can_cost_more_than_one(kind: Kind) -> None:
    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        k = key()
        d = await lim.acquire(k, RATE, 3)
        assert (d.allowed, d.remaining) == (True, 2)
        d = await lim.acquire(k, RATE, 3)  # one short: passes after one interval
        assert (d.allowed, d.remaining) == (False, 0)
        assert d.retry_after == pytest.approx(INTERVAL, abs=TOL)
        assert d.reset_after == pytest.approx(3 * INTERVAL, abs=TOL)
        d = await lim.acquire(k, RATE, 2)
        assert (d.allowed, d.remaining) == (True, 0)
        over = await lim.acquire(key(), RATE, 6)  # more than the burst never passes
        assert not over.allowed

    run(kind, body)


def test_a_surcharge_is_never_refused_and_shows_in_the_next_decision(kind: Kind) -> None:
    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        k = key()
        d = await lim.acquire(k, RATE)
        assert d.remaining == 4
        assert await lim.surcharge(k, RATE, 4) == 0  # a 409 that costs 5 in all
        d = await lim.acquire(k, RATE)
        assert not d.allowed
        assert d.retry_after == pytest.approx(INTERVAL, abs=TOL)
        assert await lim.surcharge(k, RATE, 3) == 0  # into debt: still charged
        d = await lim.acquire(k, RATE)
        assert not d.allowed
        assert d.retry_after == pytest.approx(4 * INTERVAL, abs=TOL)
        assert d.reset_after == pytest.approx(8 * INTERVAL, abs=TOL)
        assert await lim.surcharge(key(), RATE, 2) == 3  # on a fresh bucket

    run(kind, body)


def test_buckets_are_independent(kind: Kind) -> None:
    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        sid = str(uuid.uuid4())
        await take(lim, key(sid, "a"), 5)
        assert not (await lim.acquire(key(sid, "a"), RATE)).allowed
        assert (await lim.acquire(key(sid, "b"), RATE)).remaining == 4  # another group
        assert (await lim.acquire(key(None, "a"), RATE)).remaining == 4  # another seller
        other = Rate(period=1, limit=1, burst=2)
        assert (await lim.acquire(f"{sid}:c:base", other)).remaining == 1

    run(kind, body)


def test_strikes_block_a_bucket_for_a_while(kind: Kind) -> None:
    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        k = key()
        await take(lim, k, 5, block=BLOCK)
        strikes = await take(lim, k, 3, block=BLOCK)
        assert [(d.allowed, d.blocked) for d in strikes] == [(False, False)] * 3
        d = await lim.acquire(k, RATE, 1, BLOCK)
        assert (d.allowed, d.blocked) == (False, True)
        assert d.retry_after == pytest.approx(100, abs=TOL)
        clock.advance(60)  # the bucket is full again, the block holds
        d = await lim.acquire(k, RATE, 1, BLOCK)
        assert (d.allowed, d.blocked) == (False, True)
        assert d.retry_after == pytest.approx(40, abs=TOL)
        clock.advance(41)
        d = await lim.acquire(k, RATE, 1, BLOCK)
        assert (d.allowed, d.blocked, d.remaining) == (True, False, 4)
        # Without a Block the same key is never blocked.
        k2 = key()
        await take(lim, k2, 10)
        assert not (await lim.acquire(k2, RATE)).blocked

    run(kind, body)


def test_what_callers_use_instead_of_knowing_the_store(kind: Kind) -> None:
    """The gateway, /ready and /metrics ask the limiter (sync_admit, health, stats, close), never its class."""

    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        k = key()
        assert await lim.health() == "ok"
        if lim.sync_admit is not None:  # in this process: the same bucket, without an await
            assert lim.sync_admit(k, RATE, None, clock.now()) == 4
        else:
            assert await lim.admit(k, RATE, None) == 4
        assert await lim.admit(k, RATE, None) == 3
        stats = lim.stats()
        if kind.url is None:
            assert lim.sync_admit is not None and stats is None  # no round trips to count
        else:
            assert lim.sync_admit is None and stats is not None
            assert (stats.backend, stats.calls, stats.healthy, stats.failures) == ("redis", 2, True, 0)
            assert 1 <= stats.batches <= 2 and stats.wait_seconds > 0

    run(kind, body)


def test_strikes_outside_the_window_do_not_add_up(kind: Kind) -> None:
    """The window is on the limiter's clock: moving the test clock past it forgets older strikes."""

    async def body(lim: AnyLimiter, clock: OffsetClock) -> None:
        k = key()
        await take(lim, k, 5, block=BLOCK)
        assert [d.blocked for d in await take(lim, k, 2, block=BLOCK)] == [False, False]
        clock.advance(BLOCK.window + 1)  # both strikes are now older than the window
        await take(lim, k, 5, block=BLOCK)  # empty the refilled bucket
        ds = await take(lim, k, 3, block=BLOCK)  # strikes 1, 2, 3 of a new window
        assert [(d.allowed, d.blocked) for d in ds] == [(False, False)] * 3

    run(kind, body)


# --- both limiters, side by side, on random work ----------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.integers(0, 1), st.integers(1, 3)),
        st.tuples(st.just("surcharge"), st.integers(0, 1), st.integers(1, 4)),
        st.tuples(st.just("advance"), st.just(0), st.integers(0, 8)),  # half intervals
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_redis_and_memory_decide_alike(redis_url: str, ops: list[tuple[str, int, int]]) -> None:
    async def main() -> None:
        mem_clock, redis_clock = OffsetClock(), OffsetClock()
        mem = MemoryLimiter(mem_clock)
        red = RedisLimiter(redis_url, redis_clock, prefix=f"p{uuid.uuid4().hex[:12]}")
        keys = [key(), key()]
        try:
            for op, i, n in ops:
                if op == "advance":
                    mem_clock.advance(n * INTERVAL / 2)
                    redis_clock.advance(n * INTERVAL / 2)
                elif op == "surcharge":
                    assert await mem.surcharge(keys[i], RATE, n) == await red.surcharge(keys[i], RATE, n)
                else:
                    a = await mem.acquire(keys[i], RATE, n)
                    b = await red.acquire(keys[i], RATE, n)
                    assert (a.allowed, a.remaining, a.limit, a.blocked) == (
                        b.allowed,
                        b.remaining,
                        b.limit,
                        b.blocked,
                    )
                    assert a.retry_after == pytest.approx(b.retry_after, abs=TOL)
                    assert a.reset_after == pytest.approx(b.reset_after, abs=TOL)
            assert red.failures == 0
        finally:
            await red.close()

    asyncio.run(main())


# --- one arithmetic, three homes: gcra.py, the memory store, the Redis script --------------------
#
# The same random sequences of (time, cost, rate) through gcra.py's functions, MemoryLimiter (its
# `acquire_now`, its inlined `admit_now`, `surcharge`) and the Lua script (GCRA_LUA_AT: the production
# script's body with the time given instead of read from Redis's TIME, so all three see the same instants).
# Times are on a millisecond grid and intervals whole milliseconds: then no decision lies within float
# rounding (or the script's microsecond TATs) of a boundary, and all three must agree exactly, durations
# to 1 ms. Steps at the same instant go to Redis in one script call, as a batch of concurrent requests does.

T0 = 1_760_000_000.0  # a realistic time.time(): the arithmetic runs at this float resolution

Step = tuple[int, str, int, int, int]  # (ms since the previous step, op, key, rate, cost)

RATES = st.lists(
    st.tuples(st.integers(1, 20_000), st.integers(1, 60), st.integers(1, 30)),  # interval ms, limit, burst
    min_size=1,
    max_size=3,
)
STEPS = st.lists(
    st.tuples(
        st.one_of(st.just(0), st.integers(0, 50), st.integers(0, 40_000)),
        st.sampled_from(["acquire", "admit", "surcharge"]),
        st.integers(0, 1),
        st.integers(0, 2),
        st.integers(0, 6),
    ),
    min_size=1,
    max_size=60,
)


class At:
    """A clock the test sets: the memory store reads the step's instant."""

    def __init__(self) -> None:
        self.t = T0

    def now(self) -> float:
        return self.t


Answer = int | Decision


def _same(a: Answer, b: Answer, where: str) -> None:
    if isinstance(a, int) or isinstance(b, int):
        assert a == b, where
        return
    assert (a.allowed, a.remaining, a.limit, a.blocked) == (b.allowed, b.remaining, b.limit, b.blocked), where
    assert a.retry_after == pytest.approx(b.retry_after, abs=1e-3), where
    assert a.reset_after == pytest.approx(b.reset_after, abs=1e-3), where


def _by_gcra(tats: dict[str, float], key: str, op: str, rate: Rate, cost: int, now: float) -> Answer:
    tat = tats.get(key, 0.0)
    if op == "surcharge":
        tats[key] = gcra.surcharge(tat, now, rate, cost)
        return gcra.remaining(tats[key], now, rate)
    new_tat, d = gcra.decide(tat, now, rate, cost)
    tats[key] = new_tat
    return d.remaining if op == "admit" and d.allowed else d


def _by_memory(mem: MemoryLimiter, key: str, op: str, rate: Rate, cost: int, now: float) -> Answer:
    if op == "surcharge":
        return asyncio.run(mem.surcharge(key, rate, cost))
    if op == "admit":
        assert mem.sync_admit is not None
        return mem.sync_admit(key, rate, None, now)
    return mem.acquire_now(key, rate, cost)


def _by_lua(
    client: redis.Redis, keys: list[str], batch: list[tuple[int, str, Rate, int]], now: float
) -> list[Any]:
    """One script call for the batch, encoded as RedisLimiter encodes it (3 keys, 7 args per item)."""
    names: list[str] = []
    args: list[str] = [repr(now)]
    for k, op, rate, cost in batch:
        base = keys[k]
        names += [base, base + ":blocked", base + ":strikes"]
        mode = {"acquire": "a", "admit": "f", "surcharge": "s"}[op]
        args += [str(v) for v in (rate.interval, rate.burst, cost, mode, 0, 0.0, 0.0)]
    replies = client.eval(GCRA_LUA_AT, len(names), *names, *args)
    out: list[Any] = []
    for (_, op, rate, _), res in zip(batch, replies, strict=True):
        out.append(res if op == "surcharge" or isinstance(res, int) else _decision(res, rate))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rates=RATES, steps=STEPS)
def test_gcra_the_memory_store_and_the_redis_script_decide_alike(
    redis_client: redis.Redis, rates: list[tuple[int, int, int]], steps: list[Step]
) -> None:
    made = [Rate(period=ms * limit / 1000, limit=limit, burst=burst) for ms, limit, burst in rates]
    prefix = f"gcra-test:{uuid.uuid4().hex[:12]}"
    keys = [f"{prefix}:{{s{i}}}:grp:personal" for i in range(2)]
    clock = At()
    mem = MemoryLimiter(clock)
    tats: dict[str, float] = {}
    elapsed = 0
    try:
        i = 0
        while i < len(steps):
            elapsed += steps[i][0]
            now = T0 + elapsed / 1000
            clock.t = now
            batch: list[tuple[int, str, Rate, int]] = []
            while i < len(steps) and (not batch or steps[i][0] == 0):  # same instant: one script call
                _, op, k, r, cost = steps[i]
                cost = 1 if op == "admit" else max(cost, 1) if op == "surcharge" else cost
                batch.append((k, op, made[r % len(made)], cost))
                i += 1
            by_lua = _by_lua(redis_client, keys, batch, now)
            for (k, op, rate, cost), lua in zip(batch, by_lua, strict=True):
                where = f"{op} key {k} cost {cost} {rate} at +{elapsed} ms"
                expected = _by_gcra(tats, keys[k], op, rate, cost, now)
                _same(expected, _by_memory(mem, keys[k], op, rate, cost, now), "memory: " + where)
                _same(expected, lua, "lua: " + where)
    finally:
        for name in redis_client.scan_iter(match=f"{prefix}:*"):
            redis_client.delete(name)


def test_the_side_by_side_test_sees_a_difference(redis_client: redis.Redis) -> None:
    """What the test above compares is not vacuous: two instants 1 ms apart near a refill already give
    different answers, and a rounding of the script's time would show."""
    rate = Rate(period=1, limit=1, burst=1)
    keys = [f"gcra-test:{uuid.uuid4().hex[:12]}:{{s}}:grp:personal"]
    try:
        first = _by_lua(redis_client, keys, [(0, "acquire", rate, 1)], T0)[0]
        early = _by_lua(redis_client, keys, [(0, "acquire", rate, 1)], T0 + 0.999)[0]
        on_time = _by_lua(redis_client, keys, [(0, "admit", rate, 1)], T0 + 1.0)[0]
    finally:
        redis_client.delete(keys[0], keys[0] + ":blocked", keys[0] + ":strikes")
    assert isinstance(first, Decision) and first.allowed
    assert isinstance(early, Decision) and not early.allowed
    assert early.retry_after == pytest.approx(0.001, abs=1e-6)
    assert on_time == 0
    _, d = gcra.decide(T0 + 1.0, T0 + 0.999, rate)
    assert not d.allowed and d.retry_after == pytest.approx(early.retry_after, abs=1e-6)


# --- Redis only ---------------------------------------------------------------------------------


def test_concurrent_decisions_go_to_redis_in_batches(redis_url: str) -> None:
    rate = Rate(period=60, limit=1, burst=50)

    async def main() -> None:
        lim = RedisLimiter(redis_url, OffsetClock())
        try:
            k = key()
            ds = await asyncio.gather(*(lim.acquire(k, rate) for _ in range(300)))
            assert lim.calls == 300
            assert 1 <= lim.batches <= 10, lim.batches  # not one round trip each
            admitted = [d for d in ds if d.allowed]
            assert len(admitted) == 50
            assert sorted(d.remaining for d in admitted) == list(range(50))  # each charge seen once
            assert lim.latency_sum > 0
            before = lim.batches
            for _ in range(5):  # one at a time: a batch each
                await lim.acquire(key(), rate)
            assert lim.batches == before + 5
        finally:
            await lim.close()

    asyncio.run(main())


def test_two_instances_share_buckets_atomically(redis_url: str) -> None:
    """Two limiters (as in two processes) racing on one bucket: exactly the burst passes."""
    rate = Rate(period=60, limit=1, burst=30)

    async def main() -> None:
        a = RedisLimiter(redis_url, OffsetClock())
        b = RedisLimiter(redis_url, OffsetClock())
        try:
            k = key()
            calls = [(a if i % 2 else b).acquire(k, rate) for i in range(200)]
            ds = await asyncio.gather(*calls)
            assert sum(d.allowed for d in ds) == 30
            assert sorted(d.remaining for d in ds if d.allowed) == list(range(30))
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


class SkewedClock:
    """A machine whose clock is off: Redis's TIME, not this, decides."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def now(self) -> float:
        return time.time() + self.skew


def test_decisions_use_redis_time_not_the_callers_clock(redis_url: str) -> None:
    async def main() -> None:
        ahead = RedisLimiter(redis_url, SkewedClock(3600))
        behind = RedisLimiter(redis_url, SkewedClock(-3600))
        try:
            k = key()
            assert [d.allowed for d in await take(ahead, k, 5)] == [True] * 5
            d = await behind.acquire(k, RATE)
            assert not d.allowed
            assert d.retry_after == pytest.approx(INTERVAL, abs=TOL)  # not an hour, either way
            assert d.reset_after == pytest.approx(5 * INTERVAL, abs=TOL)
            d = await ahead.acquire(k, RATE)
            assert not d.allowed
            assert d.retry_after == pytest.approx(INTERVAL, abs=TOL)
        finally:
            await ahead.close()
            await behind.close()

    asyncio.run(main())


def test_keys_carry_the_seller_hash_tag_and_expire_when_the_bucket_is_full(
    redis_url: str, redis_client: redis.Redis
) -> None:
    sid = str(uuid.uuid4())

    async def main() -> tuple[Decision, Decision]:
        lim = RedisLimiter(redis_url, OffsetClock(), prefix="kt")
        try:
            d = (await take(lim, f"{sid}:grp:personal", 3))[-1]
            block = Block(strikes=2, window=30, seconds=20)
            blocked = (await take(lim, f"{sid}:ping:personal:content-api", 8, block=block))[-1]
            return d, blocked
        finally:
            await lim.close()

    d, blocked = asyncio.run(main())
    assert blocked.blocked
    keys = sorted(str(k) for k in redis_client.scan_iter(match=f"kt:*{sid}*"))
    assert keys == [
        f"kt:{{{sid}}}:grp:personal",
        f"kt:{{{sid}}}:ping:personal:content-api",
        f"kt:{{{sid}}}:ping:personal:content-api:blocked",
    ]
    assert (
        len({key_slot(k.encode()) for k in [*keys, f"kt:{{{sid}}}:ping:personal:content-api:strikes"]}) == 1
    )
    # The bucket's key lives until the bucket is full again (3 intervals here), and a little more.
    pttl = int(redis_client.pttl(f"kt:{{{sid}}}:grp:personal"))
    assert 0 < pttl <= (d.reset_after + 1.1) * 1000, pttl
    assert pttl >= (d.reset_after - 1) * 1000, pttl
    blocked_ttl = int(redis_client.pttl(f"kt:{{{sid}}}:ping:personal:content-api:blocked"))
    assert 19_000 < blocked_ttl <= 20_000
    for k in keys:
        assert int(redis_client.pttl(k)) > 0  # nothing is kept forever


def test_an_idle_bucket_disappears_from_redis(redis_url: str, redis_client: redis.Redis) -> None:
    fast = Rate(period=0.2, limit=1, burst=1)
    sid = str(uuid.uuid4())

    async def main() -> None:
        lim = RedisLimiter(redis_url, OffsetClock(), prefix="idle")
        try:
            assert (await lim.acquire(f"{sid}:g:base", fast)).allowed
        finally:
            await lim.close()

    asyncio.run(main())
    name = f"idle:{{{sid}}}:g:base"
    assert 0 < int(redis_client.pttl(name)) <= 1300
    deadline = time.monotonic() + 3
    while redis_client.exists(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not redis_client.exists(name)


def test_scripts_lost_by_a_restart_are_loaded_again(redis_url: str, redis_client: redis.Redis) -> None:
    async def main() -> None:
        lim = RedisLimiter(redis_url, OffsetClock())
        try:
            k = key()
            assert (await lim.acquire(k, RATE)).remaining == 4
            redis_client.script_flush()  # what a restarted Redis has: no scripts
            ds = await asyncio.gather(*(lim.acquire(k, RATE) for _ in range(3)))
            assert sorted(d.remaining for d in ds) == [1, 2, 3]
            assert lim.failures == 0
        finally:
            await lim.close()

    asyncio.run(main())


@pytest.fixture
def cut_redis(redis_db: int) -> Iterator[tuple[TcpProxy, str]]:
    with TcpProxy(REDIS_HOST, REDIS_PORT) as proxy:
        yield proxy, redis_url_for(redis_db, proxy.port)


def test_redis_away_fails_open_to_the_in_process_limiter_and_comes_back(
    cut_redis: tuple[TcpProxy, str], caplog: pytest.LogCaptureFixture
) -> None:
    proxy, url = cut_redis

    async def main() -> None:
        clock = OffsetClock()
        lim = RedisLimiter(url, clock, fail_open=True, retry_after=1.0)
        try:
            k = key()
            assert (await lim.acquire(k, RATE)).remaining == 4
            assert await lim.health() == "ok"
            calls = lim.calls
            proxy.cut()
            with caplog.at_level(logging.WARNING, logger="wbseller.ratelimit"):
                started = time.monotonic()
                ds = await take(lim, k, 7)
                assert time.monotonic() - started < 3  # no long waits on a dead Redis
            assert [d.allowed for d in ds] == [True] * 5 + [False] * 2  # the fallback's own bucket
            assert lim.failures == 7
            assert not lim.healthy
            assert "redis limiter unreachable" in caplog.text
            assert lim.calls == calls
            assert await lim.health() == "fallback"  # /ready: answering, without Redis
            stats = lim.stats()
            assert (stats.healthy, stats.failures, stats.calls) == (False, 7, calls)
            proxy.restore()
            clock.advance(1.0)  # retry_after: Redis is tried again
            d = await lim.acquire(k, RATE)
            assert lim.healthy
            assert lim.calls == calls + 1
            assert await lim.health() == "ok"
            # Redis's bucket went on from where it was: one before the cut, one now.
            assert (d.allowed, d.remaining) == (True, 3)
        finally:
            await lim.close()

    asyncio.run(main())


def test_redis_away_fails_closed_when_configured(cut_redis: tuple[TcpProxy, str]) -> None:
    proxy, url = cut_redis

    async def main() -> None:
        clock = OffsetClock()
        lim = RedisLimiter(url, clock, fail_open=False, retry_after=1.0)
        try:
            k = key()
            assert (await lim.acquire(k, RATE)).allowed
            proxy.cut()
            assert await lim.health() == "unavailable"  # /ready: requests get 503 meanwhile
            for _ in range(3):
                with pytest.raises(ServiceUnavailable) as exc:
                    await lim.acquire(k, RATE)
                assert exc.value.code == "limiter-unavailable"
                assert exc.value.status == 503
            proxy.restore()
            clock.advance(1.0)
            d = await lim.acquire(k, RATE)
            assert (d.allowed, d.remaining) == (True, 3)
        finally:
            await lim.close()

    asyncio.run(main())


def test_redis_that_stops_answering_times_out_to_the_fallback(cut_redis: tuple[TcpProxy, str]) -> None:
    """A network that swallows packets: no reset, only the limiter's timeout (0.5 s) notices."""
    proxy, url = cut_redis

    async def main() -> None:
        clock = OffsetClock()
        lim = RedisLimiter(url, clock, fail_open=True, retry_after=1.0, timeout=0.5)
        try:
            k = key()
            assert (await lim.acquire(k, RATE)).remaining == 4
            calls = lim.calls
            proxy.cut(blackhole=True)
            started = time.monotonic()
            d = await lim.acquire(k, RATE)
            waited = time.monotonic() - started
            assert d.allowed
            assert waited < 2.0, f"one decision waited {waited:.2f} s for a silent Redis"
            started = time.monotonic()
            await take(lim, k, 3)  # within retry_after: not even tried
            assert time.monotonic() - started < 0.2
            assert lim.failures == 4
            proxy.restore()
            clock.advance(1.0)
            d = await lim.acquire(k, RATE)
            assert lim.calls == calls + 1
            assert (d.allowed, d.remaining) == (True, 3)
        finally:
            await lim.close()

    asyncio.run(main())
