"""The client-side pacer: per limit key, the same GCRA the server limits with, kept on our side.

Two views of each bucket:
- `booked`: every slot handed out, so concurrent calls queue one interval apart (`reserve`);
- `settled`: an upper bound of the server's TAT from the answers so far (each request was charged
  on arrival, at the latest when its answer came back), plus the requests still in flight, counted as
  if charged right now. `admit` sends a request only when that pessimistic server would take it, so
  a request sent when we admit it is admitted by the server too, whatever the network delays.
Only intervals of the injected clock matter, never its absolute value: it may differ from the server's.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from wbseller.ratelimit.gcra import Rate, decide, remaining, surcharge, tat_for_remaining

Clock = Callable[[], float]


@dataclass(slots=True)
class _Bucket:
    booked: float = -math.inf
    settled: float = -math.inf
    inflight: int = 0  # the cost of requests sent and not yet answered


class Throttle:
    """GCRA buckets by key. Thread-safe; nothing in it awaits, so it is also safe under asyncio.

    Every request `admit`ted must be closed by exactly one of `answered`, `refused` or `lost`."""

    def __init__(self, clock: Clock = time.monotonic, poll: float = 0.05) -> None:
        self.clock = clock
        self.poll = poll  # how often to look again while a bucket waits for answers in flight
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: Hashable) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket()
        return b

    def reserve(self, key: Hashable, rate: Rate, cost: int = 1, limit: float = math.inf) -> float:
        """Book the next slot for a request of `cost`; the seconds to wait before sending it.

        A wait longer than `limit` is returned with nothing booked: the caller gives up."""
        with self._lock:
            now = self.clock()
            b = self._bucket(key)
            _, decision = decide(b.booked, now, rate, cost)
            delay = 0.0 if decision.allowed else decision.retry_after
            if delay <= limit:
                b.booked = surcharge(b.booked, now, rate, cost)
            return delay

    def admit(self, key: Hashable, rate: Rate, cost: int = 1) -> float:
        """0: send now (the request is counted in flight); else the seconds to wait before asking again."""
        with self._lock:
            now = self.clock()
            b = self._bucket(key)
            # The pessimistic server: its TAT `settled`, charged for the requests in flight and this one.
            _, decision = decide(b.settled, now, rate, b.inflight + cost)
            if decision.allowed:
                b.inflight += cost
                return 0.0
            if b.inflight + cost <= rate.burst:
                return decision.retry_after  # time alone will admit it
            # Only answers to the requests in flight can: look again soon.
            return max(b.settled - now, 0.0) + min(self.poll, rate.interval)

    def answered(
        self,
        key: Hashable,
        rate: Rate,
        *,
        sent_at: float,
        remaining_after: int | None,
        cost: int = 1,
        booked: int = 1,
    ) -> None:
        """An answer other than 429 to a request admitted with `booked`, sent at `sent_at`.

        `cost`: what the server charged for it (a 409 counts as 5 in Marketplace)."""
        with self._lock:
            now = self.clock()
            b = self._bucket(key)
            b.inflight = max(0, b.inflight - booked)
            b.settled = surcharge(b.settled, now, rate, cost)
            # All our requests answered and counted, a server with less room than we think (it
            # counted at sent_at at the earliest) has another client on this bucket: a second
            # process, an earlier run. Believe it, pessimistically: the header was true before now.
            if (
                b.inflight == 0
                and remaining_after is not None
                and remaining(b.settled, sent_at, rate) > remaining_after
            ):
                b.settled = max(b.settled, tat_for_remaining(now, rate, remaining_after))
            b.booked = max(b.booked, b.settled)

    def refused(self, key: Hashable, rate: Rate, retry_after: float | None, booked: int = 1) -> None:
        """A 429: the server takes a request in `retry_after` seconds at the latest, and not before."""
        with self._lock:
            now = self.clock()
            b = self._bucket(key)
            b.inflight = max(0, b.inflight - booked)
            wait = retry_after if retry_after is not None else rate.interval
            # The TAT at which exactly one request passes at now + wait.
            b.settled = max(b.settled, tat_for_remaining(now + wait, rate, 1))
            b.booked = max(b.booked, b.settled)

    def lost(self, key: Hashable, rate: Rate, booked: int = 1) -> None:
        """No answer (a network error, or the call was abandoned): it may have been charged."""
        with self._lock:
            now = self.clock()
            b = self._bucket(key)
            b.inflight = max(0, b.inflight - booked)
            b.settled = surcharge(b.settled, now, rate, booked)
            b.booked = max(b.booked, b.settled)

    def remaining(self, key: Hashable, rate: Rate) -> int:
        """Requests that may be booked now without waiting."""
        with self._lock:
            return remaining(self._bucket(key).booked, self.clock(), rate)


__all__ = ["Clock", "Throttle"]
