"""The in-process bucket store: a dict of TATs, idle buckets evicted."""

from __future__ import annotations

from wbseller.clock import Clock
from wbseller.ratelimit.base import Block, Health, Limiter, LimiterStats, SyncAdmit
from wbseller.ratelimit.gcra import EPS, Decision, Rate, decide, remaining, surcharge

__all__ = ["Block", "Limiter", "MemoryLimiter"]  # Block and Limiter live in base.py; importable here too


class MemoryLimiter:
    """Buckets in this process. Exact, and costs a dict lookup and a little arithmetic."""

    SWEEP_EVERY = 50_000

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._tat: dict[str, float] = {}
        self._strikes: dict[str, tuple[int, float]] = {}  # key -> (refusals, first refusal's time)
        self._blocked: dict[str, float] = {}
        self._ops = 0
        # The gateway calls this directly on the request path (no await); see `Limiter.sync_admit`.
        self.sync_admit: SyncAdmit = self.admit_now

    def __len__(self) -> int:
        return len(self._tat)

    def acquire_now(self, key: str, rate: Rate, cost: int = 1, block: Block | None = None) -> Decision:
        now = self.clock.now()
        if block is not None:
            until = self._blocked.get(key)
            if until is not None:
                if until > now:
                    wait = until - now
                    return Decision(False, 0, wait, wait, rate.burst, blocked=True)
                del self._blocked[key]
        tat = self._tat.get(key, 0.0)
        new_tat, decision = decide(tat, now, rate, cost)
        if decision.allowed:
            self._tat[key] = new_tat
            self._ops += 1
            if self._ops >= self.SWEEP_EVERY:
                self._sweep(now)
        elif block is not None:
            count, since = self._strikes.get(key, (0, now))
            if now - since > block.window:
                count, since = 0, now
            count += 1
            if count >= block.strikes:
                self._strikes.pop(key, None)
                self._blocked[key] = now + block.seconds
            else:
                self._strikes[key] = (count, since)
        return decision

    def admit_now(self, key: str, rate: Rate, block: Block | None, now: float) -> int | Decision:
        """`admit` without an await, at `now` (the request's time on this store's clock). The fast case,
        an admitted request, returns just the remaining; anything else is `acquire_now`'s Decision.

        `gcra.decide` inlined for speed (this is the request path's one call): the same arithmetic, pinned
        to it (and to the Redis script) by tests/scale/test_limiter.py's side-by-side test."""
        if block is not None and key in self._blocked:  # blocked, or a block that may have ended
            return self.acquire_now(key, rate, 1, block)
        tats = self._tat
        tat = tats.get(key, 0.0)
        interval = rate.interval
        new_tat = (tat if tat > now else now) + interval
        room = rate.tau - (new_tat - now)
        if room < -EPS:  # refused: the whole answer (and a strike, with a block)
            return self.acquire_now(key, rate, 1, block)
        tats[key] = new_tat
        self._ops += 1
        if self._ops >= self.SWEEP_EVERY:
            self._sweep(now)
        remaining = int((room + EPS) // interval)
        return remaining if remaining < rate.burst else rate.burst

    async def acquire(self, key: str, rate: Rate, cost: int = 1, block: Block | None = None) -> Decision:
        return self.acquire_now(key, rate, cost, block)

    async def admit(self, key: str, rate: Rate, block: Block | None) -> int | Decision:
        return self.admit_now(key, rate, block, self.clock.now())

    async def surcharge(self, key: str, rate: Rate, extra: int) -> int:
        now = self.clock.now()
        tat = surcharge(self._tat.get(key, 0.0), now, rate, extra)
        self._tat[key] = tat
        return remaining(tat, now, rate)

    async def health(self) -> Health:
        return "ok"  # nothing to reach

    def stats(self) -> LimiterStats | None:
        return None  # decisions cost no round trip: the request counters say it all

    async def reset(self) -> None:
        self._tat.clear()
        self._strikes.clear()
        self._blocked.clear()

    async def close(self) -> None:
        pass

    def _sweep(self, now: float) -> None:
        """Forget buckets that are full again: a missing bucket and a full one are the same."""
        self._ops = 0
        self._tat = {k: t for k, t in self._tat.items() if t > now}
        self._blocked = {k: t for k, t in self._blocked.items() if t > now}
        self._strikes = {k: v for k, v in self._strikes.items() if now - v[1] <= 3600}
