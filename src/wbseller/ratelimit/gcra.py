"""GCRA, the token bucket WB describes, as pure functions of a bucket's state.

The one Python home of this arithmetic: the memory store inlines `decide` on its fast path and the Redis
store runs it as a Lua script, both pinned to these functions by tests/scale/test_limiter.py; the client's
pacer (client/_throttle.py) calls them.

A bucket's whole state is one number, its TAT (theoretical arrival time). With emission interval
T = period / limit and room for `burst` requests, a request of cost c at time `now` is admitted when
max(TAT, now) + c*T - now <= burst*T. So over any time t, at most burst + t/T requests pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

# Slack in seconds for float rounding: time.time() steps by ~0.24 us near 1.8e9 s and a few charges
# add their errors up; 0.1 ms is far below any interval and far above the rounding.
EPS = 1e-4


@dataclass(frozen=True, slots=True)
class Rate:
    """A limit as WB writes it: `limit` requests per `period` seconds, `burst` at once."""

    period: float
    limit: int
    burst: int
    interval: float = field(init=False, compare=False, repr=False)  # T = period / limit, derived once
    tau: float = field(init=False, compare=False, repr=False)  # burst * T: how far ahead a TAT may run

    def __post_init__(self) -> None:
        if self.period <= 0 or self.limit <= 0 or self.burst <= 0:
            raise ValueError("period, limit and burst must be positive")
        object.__setattr__(self, "interval", self.period / self.limit)
        object.__setattr__(self, "tau", self.burst * self.interval)


class Decision(NamedTuple):
    # A NamedTuple, not a frozen dataclass: one is made per request, and this is several times cheaper.
    allowed: bool
    remaining: int  # requests that may be sent now without a pause, after this charge
    retry_after: float  # refused: seconds until this request would pass
    reset_after: float  # seconds until the whole burst is restored
    limit: int  # the burst
    blocked: bool = False  # refused because the method is temporarily blocked


def remaining(tat: float, now: float, rate: Rate) -> int:
    interval = rate.interval
    room = rate.burst * interval - max(tat - now, 0.0)
    return max(0, min(rate.burst, math.floor((room + EPS) / interval)))


def decide(tat: float, now: float, rate: Rate, cost: int = 1) -> tuple[float, Decision]:
    """Charge `cost` to a bucket at `tat`; returns the new TAT and the decision."""
    interval = rate.interval
    new_tat = (tat if tat > now else now) + cost * interval
    allow_at = new_tat - rate.burst * interval
    if allow_at > now + EPS:
        return tat, Decision(
            allowed=False,
            remaining=0,
            retry_after=allow_at - now,
            reset_after=max(tat - now, 0.0),
            limit=rate.burst,
        )
    return new_tat, Decision(
        allowed=True,
        remaining=remaining(new_tat, now, rate),
        retry_after=0.0,
        reset_after=new_tat - now,
        limit=rate.burst,
    )


def surcharge(tat: float, now: float, rate: Rate, extra: int) -> float:
    """Charge `extra` more to an admitted request (a response that costs more); never refused."""
    return (tat if tat > now else now) + extra * rate.interval


def tat_for_remaining(now: float, rate: Rate, left: int) -> float:
    """The TAT of a bucket that has exactly `left` requests at `now` (the inverse of `remaining`): what a
    client reads back from an answer's X-Ratelimit-Remaining, or from a 429's retry (`left` = 1 at the
    time it names)."""
    return now + (rate.burst - left) * rate.interval


def ceil_seconds(seconds: float) -> int:
    """Whole seconds, rounded up, as the X-Ratelimit-* headers carry them."""
    return max(0, math.ceil(seconds - EPS))
