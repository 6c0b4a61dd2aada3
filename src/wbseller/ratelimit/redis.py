"""Buckets on Redis, shared by every process and machine: the same GCRA as `gcra.py`, as one Lua script.

The script reads Redis's own clock (TIME), so machines with skewed clocks still agree. Keys carry a hash
tag on the seller (`wbs:{sid}:...`) so that a bucket and its block keys live in one Redis Cluster slot,
and expire once idle. Concurrent decisions of one process go to Redis together: one script call per
batch, on a connection of the limiter's own.

The batch's command is written by hand from pieces encoded once per bucket key and once per rate: the
request path is hot, and redis-py's generic command packing cost more than everything else a request
does (measured: ~60% of a Redis-limited /ping). Connections, replies (hiredis), errors and reconnects
stay redis-py's. On a Redis Cluster (`cluster=True`) a batch is one script call per seller, made through
redis-py's cluster client, which routes each by its slot and follows the Cluster's redirections.

If Redis cannot be reached, `fail_open` decides: answer from an in-process limiter (logged and counted)
or refuse with 503. Redis is tried again after `retry_after` seconds; when it answers, it is used again.
An outage is logged once when it starts (the address, never the URL with its password, and the reason)
and once when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, RedisError, ResponseError

from wbseller.clock import Clock, OffsetClock
from wbseller.errors import ServiceUnavailable
from wbseller.ratelimit.base import Block, Health, LimiterStats
from wbseller.ratelimit.gcra import EPS, Decision, Rate
from wbseller.ratelimit.memory import MemoryLimiter

log = logging.getLogger("wbseller.ratelimit")

# One call decides a whole batch, in order. For item i: KEYS[3i+1..3i+3] = bucket, blocked-until,
# strikes; ARGV[1] = clock offset (0 but in tests), then 7 per item: interval, burst, cost, mode,
# strikes, window, block seconds. Modes: 'a' acquire, 'f' acquire (fast reply), 's' surcharge.
# One reply per item: an integer, the remaining, for an admitted 'f' and for 's'; otherwise the
# string "allowed remaining retry_after reset_after blocked" (floats as text: Lua numbers in a reply
# are truncated to integers). A bucket is read once and written once per batch, however many items
# of the batch it has.
#
# The script is two parts: where `now` comes from (Redis's TIME plus the offset), and the arithmetic
# (GCRA_BODY). Tests run the same body with `now` given (GCRA_LUA_AT: ARGV[1] is the time itself), so
# that gcra.py, the memory store and this script can be driven through the same times and compared.
GCRA_CLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
"""
GCRA_BODY = """
local out, tats, dirty, order = {}, {}, {}, {}
for i = 0, #KEYS / 3 - 1 do
  local kb, kblk = KEYS[3 * i + 1], KEYS[3 * i + 2]
  local a = 7 * i + 1
  local interval, burst, cost = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local mode, strikes = ARGV[a + 4], tonumber(ARGV[a + 5])
  local tau = burst * interval
  local res = nil
  if mode ~= 's' and strikes > 0 then
    local blocked = tonumber(redis.call('GET', kblk) or '0')
    if blocked > now then
      local wait = tostring(blocked - now)
      res = '0 0 ' .. wait .. ' ' .. wait .. ' 1'
    end
  end
  if res == nil then
    local stored = tats[kb]
    if stored == nil then
      stored = tonumber(redis.call('GET', kb) or '0')
      tats[kb] = stored
    end
    local tat = stored
    if tat < now then tat = now end
    local new_tat = tat + cost * interval
    if mode ~= 's' and new_tat - tau > now + __EPS__ then
      if strikes > 0 then
        -- strikes: "count first-strike-time", timed on the script's clock (test offset included)
        local kstr, window = KEYS[3 * i + 3], tonumber(ARGV[a + 6])
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
      res = '0 0 ' .. tostring(new_tat - tau - now) .. ' ' .. tostring(reset) .. ' 0'
    else
      tats[kb] = new_tat
      if not dirty[kb] then
        dirty[kb] = true
        order[#order + 1] = kb
      end
      local rem = math.floor((tau - (new_tat - now) + __EPS__) / interval)
      if rem < 0 then rem = 0 end
      if rem > burst then rem = burst end
      if mode == 'a' then
        res = '1 ' .. string.format('%d', rem) .. ' 0 ' .. tostring(new_tat - now) .. ' 0'
      else
        res = rem
      end
    end
  end
  out[#out + 1] = res
end
for _, kb in ipairs(order) do
  local tat = tats[kb]
  redis.call('SET', kb, string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
return out
""".replace("__EPS__", repr(EPS))  # the same float slack as gcra.py
GCRA_LUA = GCRA_CLOCK + GCRA_BODY
GCRA_LUA_AT = "local now = tonumber(ARGV[1])\n" + GCRA_BODY  # for tests: the time is an argument

# An item of a batch: its keys and args (RESP-encoded on one Redis; as values on a Cluster), its reply.
_Call = tuple[Any, Any, "asyncio.Future[Any]"]


def _bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


class RedisLimiter:
    """The Limiter protocol on Redis, with batching and a fallback for when Redis is away."""

    MAX_IN_FLIGHT = 2  # batches under way at once (a connection each); the rest wait for the next one
    _CACHE = 100_000  # encoded bucket keys kept
    sync_admit = None  # every decision is a round trip (batched): the request path awaits `admit`

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
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "decode_responses": True,
        }
        self.redis: Redis | RedisCluster
        self._conns: list[AbstractConnection] = []
        if cluster:
            # A Cluster routes each script call by its keys' slot (one seller's keys share a slot, by
            # the hash tag) and follows MOVED/ASK itself: redis-py's cluster client does the calls.
            self.redis = RedisCluster.from_url(url, **options)
        else:
            self.redis = Redis.from_url(url, **options)
            # The batches' own connections (made, configured and reconnected by redis-py); one per batch
            # in flight, so the pool's bookkeeping stays off the request path.
            self._conns = [
                self.redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
                for _ in range(self.MAX_IN_FLIGHT)
            ]
        # A batch in flight holds one of these (on a Cluster: a place, not a connection).
        self._idle: list[AbstractConnection | None] = list(self._conns) or [None] * self.MAX_IN_FLIGHT
        self.clock = clock
        self.fail_open = fail_open
        self.retry_after = retry_after
        self.prefix = prefix
        self.cluster = cluster  # on a Redis Cluster a script's keys must share a slot: batch per seller
        self.fallback = MemoryLimiter(clock)
        self._sha: str | None = None
        self._keys: dict[str, Any] = {}
        self._args: dict[tuple[Rate, Block | None, int, bytes], Any] = {}
        self._pending: list[_Call] = []
        self._flushing: set[asyncio.Task[None]] = set()
        self._down_until = 0.0
        self._up = True
        self.address = _address(url)  # for the log: host:port, never the URL (it may hold a password)
        self._down_since = 0.0  # time.monotonic() when the outage began
        self._failures_before = 0  # `failures` when it began
        self.batches = 0
        self.calls = 0
        self.failures = 0  # decisions made while Redis was away
        self.latency_sum = 0.0  # seconds spent waiting for Redis, for metrics

    @property
    def healthy(self) -> bool:
        """Whether the last call to Redis succeeded (the metrics gauge)."""
        return self._up

    async def close(self) -> None:
        for conn in self._conns:
            await conn.disconnect()
        await self.redis.aclose()

    async def reset(self) -> None:
        """Delete our keys only (`<prefix>:*`), by SCAN: other data in the same Redis is left alone."""
        await self.fallback.reset()
        pattern = f"{self.prefix}:*"
        try:
            if isinstance(self.redis, RedisCluster):
                keys = [k async for k in self.redis.scan_iter(match=pattern, count=1000)]
                for k in keys:  # one slot each: deleted one by one
                    await self.redis.delete(k)
            else:
                batch: list[str] = []
                async for k in self.redis.scan_iter(match=pattern, count=1000):
                    batch.append(k)
                    if len(batch) >= 1000:
                        await self.redis.unlink(*batch)
                        batch.clear()
                if batch:
                    await self.redis.unlink(*batch)
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable(
                "rate limiter is unavailable: its buckets were not reset", "limiter-unavailable"
            ) from exc

    async def health(self) -> Health:
        """Redis answers: ok; else what the requests get meanwhile (in-process buckets, or 503)."""
        try:
            await self.redis.ping()
        except (RedisError, OSError):
            return "fallback" if self.fail_open else "unavailable"
        return "ok"

    def stats(self) -> LimiterStats:
        return LimiterStats("redis", self.calls, self.batches, self.latency_sum, self._up, self.failures)

    # --- the Limiter protocol ----------------------------------------------------------------

    async def acquire(self, key: str, rate: Rate, cost: int = 1, block: Block | None = None) -> Decision:
        if self.clock.now() < self._down_until:  # backing off after a failure
            return self._fallback(key, rate, cost, block)
        try:
            res = await self._call(key, rate, block, cost, b"a")
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return self._fallback(key, rate, cost, block)
        return _decision(res, rate)

    async def admit(self, key: str, rate: Rate, block: Block | None) -> int | Decision:
        if self.clock.now() < self._down_until:
            return self._fallback(key, rate, 1, block)
        try:
            res = await self._call(key, rate, block, 1, b"f")
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return self._fallback(key, rate, 1, block)
        return res if res.__class__ is int else _decision(res, rate)

    async def surcharge(self, key: str, rate: Rate, extra: int) -> int:
        if self.clock.now() < self._down_until:
            return await self.fallback.surcharge(key, rate, extra)
        try:
            return int(await self._call(key, rate, None, extra, b"s"))
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return await self.fallback.surcharge(key, rate, extra)

    def _fallback(self, key: str, rate: Rate, cost: int, block: Block | None) -> Decision:
        self.failures += 1
        if not self.fail_open:
            raise ServiceUnavailable("rate limiter is unavailable", "limiter-unavailable")
        return self.fallback.acquire_now(key, rate, cost, block)

    def _went_down(self, exc: BaseException) -> None:
        if self._up:  # once per outage: the first failure says where and why
            what = "refuses" if isinstance(exc, ResponseError) else "unreachable"
            log.warning(
                "redis limiter %s at %s (%s); %s",
                what,
                self.address,
                _reason(exc),
                "failing open: in-process buckets until it answers"
                if self.fail_open
                else "failing closed: 503 until it answers",
            )
            self._down_since = time.monotonic()
            self._failures_before = self.failures
        self._down_until = self.clock.now() + self.retry_after
        self._up = False

    # --- batching: every call waiting when a connection is free goes in its next script call -----

    def _call(self, key: str, rate: Rate, block: Block | None, cost: int, mode: bytes) -> asyncio.Future[Any]:
        keys = self._keys.get(key)
        if keys is None:
            keys = self._encode_keys(key)
        args = self._args.get((rate, block, cost, mode))
        if args is None:
            args = self._encode_args(rate, block, cost, mode)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, fut))
        if self._idle:
            task = loop.create_task(self._flush(self._idle.pop()))
            self._flushing.add(task)  # the loop keeps tasks weakly
            task.add_done_callback(self._flushing.discard)
        return fut

    def _encode_keys(self, key: str) -> Any:
        # key is "<sid>:<group>:<type>[:host]"; the seller id is the hash tag.
        sid, _, rest = key.partition(":")
        base = f"{self.prefix}:{{{sid}}}:{rest}"
        names = (base, base + ":blocked", base + ":strikes")
        if len(self._keys) >= self._CACHE:
            self._keys.clear()
        enc = self._keys[key] = names if self.cluster else b"".join(_bulk(n.encode()) for n in names)
        return enc

    def _encode_args(self, rate: Rate, block: Block | None, cost: int, mode: bytes) -> Any:
        b = block or Block(0, 0.0, 0.0)
        values = (rate.interval, rate.burst, cost, mode.decode(), b.strikes, b.window, b.seconds)
        enc = values if self.cluster else b"".join(_bulk(str(v).encode()) for v in values)
        if len(self._args) >= 1024:
            self._args.clear()
        self._args[(rate, block, cost, mode)] = enc
        return enc

    async def _flush(self, conn: AbstractConnection | None) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._run(conn, batch)
        finally:
            self._idle.append(conn)

    async def _run(self, conn: AbstractConnection | None, batch: list[_Call]) -> None:
        start = self.clock.now()
        groups = self._groups(batch)
        try:
            replies = await self._send(conn, groups)
            lost = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if lost:  # Redis restarted or flushed its scripts: those calls did not run; load and redo
                self._sha = None
                again = await self._send(conn, [groups[i] for i in lost])
                for i, reply in zip(lost, again, strict=True):
                    replies[i] = reply
        except Exception as exc:
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        if not self._up:
            log.warning(
                "redis limiter reachable again at %s after %.1f s (%d decisions made without it)",
                self.address,
                time.monotonic() - self._down_since,
                self.failures - self._failures_before,
            )
        self._up = True
        self.batches += 1
        self.calls += len(batch)
        self.latency_sum += self.clock.now() - start
        for group, reply in zip(groups, replies, strict=True):
            if isinstance(reply, Exception):
                for _, _, fut in group:
                    if not fut.done():
                        fut.set_exception(reply)
            else:
                for (_, _, fut), res in zip(group, reply, strict=True):
                    if not fut.done():
                        fut.set_result(res)

    def _groups(self, batch: list[_Call]) -> list[list[_Call]]:
        """One script call per hash slot: per seller on a Cluster, the whole batch otherwise."""
        if not self.cluster:
            return [batch]
        by_seller: dict[str, list[_Call]] = {}
        for call in batch:
            by_seller.setdefault(call[0][0].partition("}")[0], []).append(call)
        return list(by_seller.values())

    async def _send(self, conn: AbstractConnection | None, groups: list[list[_Call]]) -> list[Any]:
        """The groups' script calls; their replies (or errors), in order."""
        if self._sha is None:
            self._sha = str(await self.redis.script_load(GCRA_LUA))  # on a Cluster: on every primary
        # The test clock's lead over real time, on Redis's TIME: advanced, it refills; frozen, the
        # lead shrinks as real time passes, so the buckets stand still too.
        offset = repr(self.clock.now() - time.time() if isinstance(self.clock, OffsetClock) else 0.0)
        if conn is None:
            return list(await asyncio.gather(*(self._send_to_cluster(group, offset) for group in groups)))
        # One Redis: the batch's command written by hand from its items' encoded pieces, in one write.
        head = b"$7\r\nEVALSHA\r\n" + _bulk(self._sha.encode())
        tail = _bulk(offset.encode())
        parts: list[bytes] = []
        for group in groups:
            count = b"%d" % (3 * len(group))
            parts.append(b"*%d\r\n%s$%d\r\n%s\r\n" % (4 + 10 * len(group), head, len(count), count))
            parts.extend([call[0] for call in group])
            parts.append(tail)
            parts.extend([call[1] for call in group])
        await conn.send_packed_command(parts, check_health=False)
        replies: list[Any] = []
        for _ in groups:
            try:
                replies.append(await conn.read_response())
            except ResponseError as err:  # an error reply is read whole: the connection stays in step
                replies.append(err)
        return replies

    async def _send_to_cluster(self, group: list[_Call], offset: str) -> Any:
        keys = [name for call in group for name in call[0]]
        args = [value for call in group for value in call[1]]
        assert self._sha is not None
        try:
            return await self.redis.evalsha(self._sha, len(keys), *keys, offset, *args)
        except ResponseError as err:
            return err


def _address(url: str) -> str:
    """`host:port` (or a socket's path) of a Redis URL, without its user or password."""
    try:
        u = urlsplit(url)
        if u.scheme == "unix":
            return u.path
        host = u.hostname or "localhost"
        return f"[{host}]:{u.port or 6379}" if ":" in host else f"{host}:{u.port or 6379}"
    except ValueError:  # a port that is not a number: redis-py refused the URL before this
        return "redis"


def _reason(exc: BaseException) -> str:
    """An exception's short reason: `Connection refused`, `DB index is out of range`, ..."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^Error \d+ connecting to \S+?\. ", "", text).rstrip(".")  # the address is said already
    return text or type(exc).__name__


def _decision(res: str, rate: Rate) -> Decision:
    allowed, remaining, retry_after, reset_after, blocked = res.split()
    return Decision(
        allowed == "1", int(remaining), float(retry_after), float(reset_after), rate.burst, blocked == "1"
    )
