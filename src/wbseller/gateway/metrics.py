"""Counters for operators, kept as plain dicts on the request path and turned into Prometheus text
only when `/metrics` is scraped (a prometheus_client label lookup per request would cost more)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from wbseller.gateway.app import Gateway


class Stats:
    __slots__ = ("backend_errors", "limited", "requests")

    def __init__(self) -> None:
        self.requests: dict[str, dict[int, int]] = {}  # host prefix -> status -> requests answered
        self.limited: Counter[str] = Counter()
        self.backend_errors: Counter[str] = Counter()

    def for_host(self, host: str) -> dict[int, int]:
        """The status counter of one host; the request path keeps it (no key to build per request)."""
        counts = self.requests.get(host)
        if counts is None:
            counts = self.requests[host] = {}
        return counts


class _GatewayCollector(Collector):
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def collect(self) -> Iterator[Metric]:
        from wbseller.ratelimit.redis import RedisLimiter

        gw, stats = self.gw, self.gw.stats
        requests = CounterMetricFamily(
            "wbseller_requests", "API requests answered", labels=["host", "status"]
        )
        for host, counts in sorted(stats.requests.items()):
            for status, n in sorted(counts.items()):
                requests.add_metric([host, str(status)], n)
        yield requests
        limited = CounterMetricFamily("wbseller_ratelimited", "Requests refused with 429", labels=["group"])
        for group, n in sorted(stats.limited.items()):
            limited.add_metric([group], n)
        yield limited
        cache = CounterMetricFamily(
            "wbseller_token_cache", "Token checks by cache outcome", labels=["outcome"]
        )
        cache.add_metric(["hit"], gw.tokens.hits)
        cache.add_metric(["miss"], gw.tokens.misses)
        yield cache
        yield GaugeMetricFamily("wbseller_token_cache_size", "Tokens in the cache", value=len(gw.tokens))
        errors = CounterMetricFamily("wbseller_backend_errors", "Failed backend calls", labels=["backend"])
        backend = Counter(stats.backend_errors)
        limiter = gw.limiter
        if isinstance(limiter, RedisLimiter):
            backend["redis"] += limiter.failures
            calls = CounterMetricFamily("wbseller_limiter_calls", "Limiter decisions sent to Redis")
            calls.add_metric([], limiter.calls)
            yield calls
            batches = CounterMetricFamily("wbseller_limiter_batches", "Pipelines sent to Redis")
            batches.add_metric([], limiter.batches)
            yield batches
            wait = CounterMetricFamily(
                "wbseller_limiter_wait_seconds", "Seconds spent waiting for Redis, summed over batches"
            )
            wait.add_metric([], limiter.latency_sum)
            yield wait
            yield GaugeMetricFamily(
                "wbseller_limiter_healthy",
                "1 when Redis answers, 0 while falling back",
                value=float(limiter.healthy),
            )
        for name, n in sorted(backend.items()):
            errors.add_metric([name], n)
        yield errors


def render(gw: Gateway) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_GatewayCollector(gw))
    return generate_latest(registry)
