"""When to try a request again, and after how long. Pure: it never sleeps, the drivers do.

- 429: wait what X-Ratelimit-Retry says (a 429 was not processed, so any method may be retried);
- 5xx in `statuses` and connection errors: exponential backoff with jitter, idempotent methods only
  unless `retry_unsafe`;
- every other status: never.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    rate_limited: int = 3  # retries after a 429
    failures: int = 3  # retries after a 5xx or a connection error
    backoff: float = 0.5  # the first backoff, in seconds; it doubles each time
    max_backoff: float = 30.0
    max_wait: float = 120.0  # a longer wait (429 or our own pacer) raises RateLimited instead
    statuses: frozenset[int] = frozenset({500, 502, 503, 504})
    retry_unsafe: bool = False  # also retry non-idempotent methods after 5xx and connection errors
    rng: Callable[[], float] = field(default=_random.random, compare=False, repr=False)

    def backoff_delay(self, failure: int) -> float:
        """The wait before retry number `failure` (1, 2, ...): between half and all of the doubled base.

        "Equal jitter": clients that failed together do not retry together, and none retries at once."""
        base = min(self.max_backoff, self.backoff * 2.0 ** (failure - 1))
        return base / 2 + self.rng() * base / 2

    def after_rate_limited(self, retry_after: float | None, count: int) -> float | None:
        """The wait before retrying the `count`-th 429 in a row; None: give up."""
        if count > self.rate_limited:
            return None
        wait = retry_after if retry_after is not None else self.backoff_delay(count)
        return wait if wait <= self.max_wait else None

    def after_failure(self, http_method: str, count: int, status: int | None = None) -> float | None:
        """The wait before retrying the `count`-th failure (a status, or None: a connection error)."""
        if status is not None and status not in self.statuses:
            return None
        if count > self.failures:
            return None
        if http_method.upper() not in IDEMPOTENT and not self.retry_unsafe:
            return None
        return self.backoff_delay(count)


NO_RETRY = RetryPolicy(rate_limited=0, failures=0)

__all__ = ["IDEMPOTENT", "NO_RETRY", "RetryPolicy"]
