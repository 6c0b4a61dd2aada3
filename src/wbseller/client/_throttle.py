"""The client-side pacer: one GCRA bucket per limit key, the same math the server limits with.

A call books its slot before it is sent (`reserve`), so concurrent calls queue up instead of racing;
the response then corrects the bucket (`settle`, `refused`). The invariant kept: our bucket is never
emptier than the server's, so a request sent when ours admits it is admitted by the server too.
Only intervals of the injected clock matter, never its absolute value, so it may differ from the server's.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable

from wbseller.ratelimit.gcra import Rate, decide, remaining, surcharge

Clock = Callable[[], float]


class Throttle:
    """GCRA buckets by key. Thread-safe; nothing in it awaits, so it is also safe under asyncio."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._tat: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def reserve(self, key: Hashable, rate: Rate, cost: int = 1, limit: float = math.inf) -> float:
        """Book the next slot for a request of `cost`; the seconds to wait before sending it.

        A wait longer than `limit` is returned with nothing booked: the caller gives up."""
        with self._lock:
            now = self.clock()
            tat = self._tat.get(key, now)
            _, decision = decide(tat, now, rate, cost)
            delay = 0.0 if decision.allowed else decision.retry_after
            if delay > limit:
                return delay
            # Booked as if sent at the slot's time: later callers queue behind it.
            self._tat[key] = surcharge(tat, now, rate, cost)
            return delay

    def settle(
        self,
        key: Hashable,
        rate: Rate,
        *,
        sent_at: float,
        remaining_after: int | None,
        cost: int = 1,
        booked: int = 1,
    ) -> None:
        """A response other than 429 arrived for a request booked at `sent_at`."""
        with self._lock:
            now = self.clock()
            tat = self._tat.get(key, now)
            if cost > booked:  # e.g. a 409 that counts as 5: the server charged the rest already
                tat = surcharge(tat, now, rate, cost - booked)
            # The server has less room than we think (it counted at sent_at at the earliest): someone
            # else spends this bucket, another process or an earlier run. Believe it, pessimistically,
            # as the header is rounded down and was true at some moment before now.
            if remaining_after is not None and remaining(tat, sent_at, rate) > remaining_after:
                tat = max(tat, now + (rate.burst - remaining_after) * rate.interval)
            # The server charged the request on arrival, now at the latest: had its TAT passed by then,
            # it is now + cost*T at most. So ours stays no emptier than the server's.
            tat = max(tat, now + cost * rate.interval)
            self._tat[key] = tat

    def refused(self, key: Hashable, rate: Rate, retry_after: float | None) -> None:
        """A 429: the server admits a request in `retry_after` seconds at the latest; book nothing before."""
        with self._lock:
            now = self.clock()
            wait = retry_after if retry_after is not None else rate.interval
            # The TAT at which exactly one request passes at now + wait.
            self._tat[key] = max(self._tat.get(key, now), now + wait + (rate.burst - 1) * rate.interval)

    def remaining(self, key: Hashable, rate: Rate) -> int:
        """Requests that may be sent now without waiting."""
        with self._lock:
            now = self.clock()
            return remaining(self._tat.get(key, now), now, rate)


__all__ = ["Clock", "Throttle"]
