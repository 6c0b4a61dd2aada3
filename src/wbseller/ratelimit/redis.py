"""Buckets on Redis, shared by every process and machine: the same GCRA as `gcra.py`, as one Lua script.

The script reads Redis's own clock (TIME), so machines with skewed clocks still agree. Keys carry a hash
tag on the seller (`wbs:{sid}:...`) so that a bucket and its block keys live in one Redis Cluster slot,
and expire once idle. Concurrent decisions of one process go to Redis together, one pipeline per batch.

If Redis cannot be reached, `fail_open` decides: answer from an in-process limiter (logged and counted)
or refuse with 503. Redis is tried again after `retry_after` seconds; when it answers, it is used again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from wbseller.clock import Clock, OffsetClock
from wbseller.errors import ServiceUnavailable
from wbseller.ratelimit.gcra import EPS, Decision, Rate
from wbseller.ratelimit.memory import Block, MemoryLimiter

log = logging.getLogger("wbseller.ratelimit")

# One call decides a whole batch. For item i: KEYS[3i+1..3i+3] = bucket, blocked-until, strikes;
# ARGV[1] = clock offset (0 but in tests), then 7 per item: interval, burst, cost, mode (a: acquire,
# s: surcharge), strikes, window, block seconds. Returns, per item, 5 values: allowed, remaining,
# retry_after, reset_after, blocked; floats as strings (Lua numbers would be truncated to integers).
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local kb, kblk, kstr = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local a = 7 * i + 1
  local interval = tonumber(ARGV[a + 1])
  local burst = tonumber(ARGV[a + 2])
  local cost = tonumber(ARGV[a + 3])
  local mode = ARGV[a + 4]
  local strikes = tonumber(ARGV[a + 5])
  local tau = burst * interval
  local done = false
  if mode == 'a' and strikes > 0 then
    local blocked = tonumber(redis.call('GET', kblk) or '0')
    if blocked > now then
      for _, v in ipairs({0, 0, tostring(blocked - now), tostring(blocked - now), 1}) do out[#out + 1] = v end
      done = true
    end
  end
  if not done then
    local stored = tonumber(redis.call('GET', kb) or '0')
    local tat = stored
    if tat < now then tat = now end
    local new_tat = tat + cost * interval
    if mode == 'a' and new_tat - tau > now + __EPS__ then
      if strikes > 0 then
        -- strikes: "count first-strike-time", timed on the script's clock (test offset included)
        local window = tonumber(ARGV[a + 6])
        local n, first = 0, now
        local sv = redis.call('GET', kstr)
        if sv then
          local sp = string.find(sv, ' ')
          n, first = tonumber(string.sub(sv, 1, sp - 1)), tonumber(string.sub(sv, sp + 1))
        end
        if now - first > window then n, first = 0, now end
        n = n + 1
        if n >= strikes then
          local secs = tonumber(ARGV[a + 7])
          redis.call('SET', kblk, string.format('%.6f', now + secs), 'PX', math.ceil(secs * 1000))
          redis.call('DEL', kstr)
        else
          local ttl = math.ceil((window - (now - first)) * 1000) + 1000
          redis.call('SET', kstr, n .. ' ' .. string.format('%.6f', first), 'PX', ttl)
        end
      end
      local reset = stored - now
      if reset < 0 then reset = 0 end
      for _, v in ipairs({0, 0, tostring(new_tat - tau - now), tostring(reset), 0}) do out[#out + 1] = v end
    else
      redis.call('SET', kb, string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
      local rem = math.floor((tau - (new_tat - now) + __EPS__) / interval)
      if rem < 0 then rem = 0 end
      if rem > burst then rem = burst end
      for _, v in ipairs({1, rem, '0', tostring(new_tat - now), 0}) do out[#out + 1] = v end
    end
  end
end
return out
""".replace("__EPS__", repr(EPS))  # the same float slack as gcra.py


@dataclass(slots=True)
class _Call:
    keys: tuple[str, str, str]
    args: tuple[Any, ...]
    future: asyncio.Future[list[Any]] = field(repr=False)


class RedisLimiter:
    """The Limiter protocol on Redis, with batching and a fallback for when Redis is away."""

    MAX_IN_FLIGHT = 2  # pipelines under way at once; the rest of the requests wait for the next batch

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        fail_open: bool = True,
        retry_after: float = 1.0,
        timeout: float = 0.5,
        prefix: str = "wbs",
        cluster: bool = False,
    ) -> None:
        self.redis: Redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
        )
        self.clock = clock
        self.fail_open = fail_open
        self.retry_after = retry_after
        self.prefix = prefix
        self.cluster = cluster  # on a Redis Cluster a script's keys must share a slot: batch per seller
        self.fallback = MemoryLimiter(clock)
        self._sha: str | None = None
        self._pending: list[_Call] = []
        self._in_flight = 0
        self._down_until = 0.0
        self._up = True
        self.batches = 0
        self.calls = 0
        self.failures = 0  # decisions made while Redis was away
        self.latency_sum = 0.0  # seconds spent waiting for Redis, for metrics

    @property
    def healthy(self) -> bool:
        """Whether the last call to Redis succeeded (the metrics gauge)."""
        return self._up

    def _use_redis(self) -> bool:
        """False while backing off after a failure; then Redis is tried again."""
        return self.clock.now() >= self._down_until

    async def close(self) -> None:
        await self.redis.aclose()

    def _keys(self, key: str) -> tuple[str, str, str]:
        # key is "<sid>:<group>:<type>[:host]"; the seller id is the hash tag.
        sid, _, rest = key.partition(":")
        base = f"{self.prefix}:{{{sid}}}:{rest}"
        return base, base + ":blocked", base + ":strikes"

    def _offset(self) -> float:
        return self.clock.offset if isinstance(self.clock, OffsetClock) else 0.0

    async def acquire(self, key: str, rate: Rate, cost: int = 1, block: Block | None = None) -> Decision:
        if not self._use_redis():
            return self._fallback(key, rate, cost, block)
        b = block or Block(0, 0.0, 0.0)
        args = (rate.interval, rate.burst, cost, "a", b.strikes, b.window, b.seconds)
        try:
            res = await self._call(self._keys(key), args)
        except (RedisError, OSError):
            self._went_down()
            return self._fallback(key, rate, cost, block)
        return Decision(
            allowed=bool(res[0]),
            remaining=int(res[1]),
            retry_after=float(res[2]),
            reset_after=float(res[3]),
            limit=rate.burst,
            blocked=bool(res[4]),
        )

    async def surcharge(self, key: str, rate: Rate, extra: int) -> int:
        if not self._use_redis():
            return await self.fallback.surcharge(key, rate, extra)
        args = (rate.interval, rate.burst, extra, "s", 0, 0, 0)
        try:
            res = await self._call(self._keys(key), args)
        except (RedisError, OSError):
            self._went_down()
            return await self.fallback.surcharge(key, rate, extra)
        return int(res[1])

    def _fallback(self, key: str, rate: Rate, cost: int, block: Block | None) -> Decision:
        self.failures += 1
        if not self.fail_open:
            raise ServiceUnavailable("rate limiter is unavailable", "limiter-unavailable")
        return self.fallback.acquire_now(key, rate, cost, block)

    def _went_down(self) -> None:
        if self._up:
            log.warning(
                "redis limiter unreachable; %s", "failing open" if self.fail_open else "failing closed"
            )
        self._down_until = self.clock.now() + self.retry_after
        self._up = False

    # --- batching: every call waiting when a pipeline can start goes in that pipeline ---------------

    async def _call(self, keys: tuple[str, str, str], args: tuple[Any, ...]) -> list[Any]:
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Call(keys, args, fut))
        if self._in_flight < self.MAX_IN_FLIGHT:
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._run(batch)
        finally:
            self._in_flight -= 1

    async def _run(self, batch: list[_Call]) -> None:
        start = self.clock.now()
        try:
            results = await self._pipeline(batch)
            lost = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if lost:  # Redis was restarted or flushed its scripts: those calls did not run; run them again
                self._sha = None
                again = await self._pipeline([batch[i] for i in lost])
                for i, r in zip(lost, again, strict=True):
                    results[i] = r
        except Exception as exc:
            _fail(batch, exc)
            return
        if not self._up:
            log.warning("redis limiter reachable again")
        self._up = True
        self.batches += 1
        self.calls += len(batch)
        self.latency_sum += self.clock.now() - start
        for call, res in zip(batch, results, strict=True):
            if not call.future.done():
                if isinstance(res, Exception):
                    call.future.set_exception(res)
                else:
                    call.future.set_result(res)

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        """One script call per hash slot (per seller on a Cluster; the whole batch otherwise)."""
        if self._sha is None:
            self._sha = str(await self.redis.script_load(GCRA_LUA))
        groups: dict[str, list[int]] = {}
        for i, call in enumerate(batch):
            groups.setdefault(call.keys[0].split("}", 1)[0] if self.cluster else "", []).append(i)
        pipe = self.redis.pipeline(transaction=False)
        offset = self._offset()
        for idx in groups.values():
            keys = [k for i in idx for k in batch[i].keys]
            args = [a for i in idx for a in batch[i].args]
            pipe.evalsha(self._sha, len(keys), *keys, offset, *args)
        replies = await pipe.execute(raise_on_error=False)
        results: list[Any] = [None] * len(batch)
        for idx, reply in zip(groups.values(), replies, strict=True):
            for n, i in enumerate(idx):
                results[i] = reply if isinstance(reply, Exception) else reply[5 * n : 5 * n + 5]
        return results


def _fail(batch: list[_Call], exc: Exception) -> None:
    for call in batch:
        if not call.future.done():
            call.future.set_exception(exc)
