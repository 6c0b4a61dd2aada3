"""Rate limiting: GCRA math (`gcra`), what a bucket store offers (`base.Limiter`), and the stores
that keep buckets: in this process (`memory`) and on Redis (`redis`, imported by name: it needs redis-py)."""

from wbseller.ratelimit.base import Block, Health, Limiter, LimiterStats, SyncAdmit
from wbseller.ratelimit.gcra import Decision, Rate, ceil_seconds
from wbseller.ratelimit.memory import MemoryLimiter

__all__ = [
    "Block",
    "Decision",
    "Health",
    "Limiter",
    "LimiterStats",
    "MemoryLimiter",
    "Rate",
    "SyncAdmit",
    "ceil_seconds",
]
