"""What every bucket store offers its callers: the Limiter protocol, a /ping-style Block, and the numbers a
store reports (for /ready and /metrics), so that no caller needs to know which store it has."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from wbseller.ratelimit.gcra import Decision, Rate

# /ready's view of a store: "fallback" is answering, without its shared backend (fail-open).
Health = Literal["ok", "fallback", "unavailable"]


@dataclass(frozen=True, slots=True)
class Block:
    """Block a bucket for `seconds` after `strikes` refusals within `window` seconds.

    WB's answer to automated polling of `/ping`: a program that keeps hitting the limit gets blocked.
    """

    strikes: int
    window: float
    seconds: float


@dataclass(frozen=True, slots=True)
class LimiterStats:
    """A store's counters for /metrics, when it has a backend to count calls to."""

    backend: str  # what the decisions are sent to: "redis"
    calls: int  # decisions sent to it
    batches: int  # round trips they took
    wait_seconds: float  # time spent waiting for it, summed over round trips
    healthy: bool  # whether its last round trip succeeded
    failures: int  # decisions made without it (fallback or 503)


# The request path's call without an await: (key, rate, block, now) -> the remaining when admitted, else
# the whole Decision. Only a store that decides in this process has one.
SyncAdmit = Callable[[str, Rate, Block | None, float], int | Decision]


class Limiter(Protocol):
    @property
    def sync_admit(self) -> SyncAdmit | None:
        """`admit` without an await, at the request's time; None for a store that needs a round trip."""
        ...

    async def acquire(self, key: str, rate: Rate, cost: int = 1, block: Block | None = None) -> Decision: ...

    async def admit(self, key: str, rate: Rate, block: Block | None) -> int | Decision:
        """The request path's call: charge 1. The remaining (an int) when admitted, else the whole
        Decision (a refusal, or an answer that needed more than the fast case)."""
        ...

    async def surcharge(self, key: str, rate: Rate, extra: int) -> int:
        """Charge `extra` more after the fact; returns the bucket's remaining."""
        ...

    async def health(self) -> Health:
        """Whether decisions are made as configured now (for /ready); asks the backend, if any."""
        ...

    def stats(self) -> LimiterStats | None:
        """The store's counters for /metrics; None for one with nothing beyond the requests to count."""
        ...

    async def reset(self) -> None:
        """Forget every bucket, strike and block (the test kit's reset): all full again."""
        ...

    async def close(self) -> None:
        """Release connections (at shutdown)."""
        ...
