"""Rate limiting: GCRA math (`gcra`) and the stores that keep buckets (`memory`)."""

from wbseller.ratelimit.gcra import Decision, Rate, ceil_seconds
from wbseller.ratelimit.memory import Block, Limiter, MemoryLimiter

__all__ = ["Block", "Decision", "Limiter", "MemoryLimiter", "Rate", "ceil_seconds"]
