"""Counters for operators, kept as plain dicts on the request path and turned into Prometheus text
only when `/metrics` is scraped (a prometheus_client label lookup per request would cost more).

Under `serve --workers N` a scrape reaches one worker; the workers share their numbers through files
(`WorkerShare`), so any of them answers for the whole service."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from wbseller.gateway.protocol import TALLY
from wbseller.ratelimit.base import Limiter

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector


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


class TokenCounts(Protocol):
    """What the metrics read of the token cache (gateway/auth.py's TokenCache)."""

    hits: int
    misses: int

    def __len__(self) -> int: ...


class Observed(Protocol):
    """Where a process's numbers come from (the gateway has all of these)."""

    @property
    def stats(self) -> Stats: ...
    @property
    def tokens(self) -> TokenCounts: ...
    @property
    def limiter(self) -> Limiter: ...
    @property
    def worker_share(self) -> WorkerShare | None: ...


def snapshot(src: Observed) -> dict[str, Any]:
    """This process's numbers, as plain data: what `/metrics` shows, and what a worker shares."""
    stats = src.stats
    snap: dict[str, Any] = {
        "requests": {host: {str(k): v for k, v in counts.items()} for host, counts in stats.requests.items()},
        "limited": dict(stats.limited),
        "backend_errors": dict(stats.backend_errors),
        "token_cache": {"hit": src.tokens.hits, "miss": src.tokens.misses},
        "token_cache_size": len(src.tokens),
        # Requests the HTTP protocol refused before any app saw them (gateway/protocol.py), by reason.
        "protocol_refused": dict(TALLY.counts),
    }
    lim = src.limiter.stats()
    if lim is not None:
        errors = snap["backend_errors"]
        errors[lim.backend] = errors.get(lim.backend, 0) + lim.failures
        snap["limiter"] = {
            "calls": lim.calls,
            "batches": lim.batches,
            "wait_seconds": lim.wait_seconds,
            "healthy": lim.healthy,
        }
    return snap


def merge(snaps: list[dict[str, Any]], live: list[bool]) -> dict[str, Any]:
    """The numbers of several workers as one service's: counters summed (a worker that has exited keeps
    its share: counters never go down), gauges over the workers alive."""
    out: dict[str, Any] = {
        "requests": {},
        "limited": Counter(),
        "backend_errors": Counter(),
        "token_cache": Counter(),
        "token_cache_size": 0,
        "protocol_refused": Counter(),
    }
    for snap, alive in zip(snaps, live, strict=True):
        for host, counts in snap["requests"].items():
            mine = out["requests"].setdefault(host, Counter())
            mine.update(counts)
        out["limited"].update(snap["limited"])
        out["backend_errors"].update(snap["backend_errors"])
        out["token_cache"].update(snap["token_cache"])
        out["protocol_refused"].update(snap.get("protocol_refused", {}))  # absent from older workers' files
        lim = snap.get("limiter")
        if lim is not None:
            merged = out.setdefault(
                "limiter", {"calls": 0, "batches": 0, "wait_seconds": 0.0, "healthy": True}
            )
            for name in ("calls", "batches", "wait_seconds"):
                merged[name] += lim[name]
            if alive:
                merged["healthy"] = merged["healthy"] and lim["healthy"]
        if alive:
            out["token_cache_size"] += snap["token_cache_size"]
    return out


class WorkerShare:
    """`serve --workers N`: each worker writes its numbers to a file in a directory all of them know, once
    a second, so that whichever worker answers `/metrics` shows the whole service."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"{os.getpid()}.json"

    def write(self, snap: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(snap))
        tmp.replace(self.path)  # readers see the old file or the new one, never half of one

    def others(self) -> tuple[list[dict[str, Any]], list[bool]]:
        snaps, live = [], []
        for path in sorted(self.directory.glob("*.json")):
            if path == self.path:
                continue
            try:
                snaps.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # gone or being replaced this instant: next scrape
            live.append(_alive(int(path.stem)))
        return snaps, live


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Collector:  # a prometheus_client Collector; the library is imported at the first scrape
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        data = self.data
        requests = CounterMetricFamily(
            "wbseller_requests", "API requests answered", labels=["host", "status"]
        )
        for host, counts in sorted(data["requests"].items()):
            for status, n in sorted(counts.items(), key=lambda kv: int(kv[0])):
                requests.add_metric([host, str(status)], n)
        yield requests
        limited = CounterMetricFamily("wbseller_ratelimited", "Requests refused with 429", labels=["group"])
        for group, n in sorted(data["limited"].items()):
            limited.add_metric([group], n)
        yield limited
        cache = CounterMetricFamily(
            "wbseller_token_cache", "Token checks by cache outcome", labels=["outcome"]
        )
        cache.add_metric(["hit"], data["token_cache"].get("hit", 0))
        cache.add_metric(["miss"], data["token_cache"].get("miss", 0))
        yield cache
        yield GaugeMetricFamily(
            "wbseller_token_cache_size", "Tokens in the cache", value=data["token_cache_size"]
        )
        lim = data.get("limiter")
        if lim is not None:
            calls = CounterMetricFamily("wbseller_limiter_calls", "Limiter decisions sent to Redis")
            calls.add_metric([], lim["calls"])
            yield calls
            batches = CounterMetricFamily("wbseller_limiter_batches", "Script calls (batches) sent to Redis")
            batches.add_metric([], lim["batches"])
            yield batches
            wait = CounterMetricFamily(
                "wbseller_limiter_wait_seconds", "Seconds spent waiting for Redis, summed over batches"
            )
            wait.add_metric([], lim["wait_seconds"])
            yield wait
            yield GaugeMetricFamily(
                "wbseller_limiter_healthy",
                "1 when Redis answers, 0 while falling back",
                value=float(lim["healthy"]),
            )
        refused = CounterMetricFamily(
            "wbseller_protocol_refused",
            "Requests the HTTP protocol refused before the app (not HTTP, head too large, unsupported upgrade)",
            labels=["reason"],
        )
        for reason, n in sorted(data["protocol_refused"].items()):
            refused.add_metric([reason], n)
        yield refused
        errors = CounterMetricFamily("wbseller_backend_errors", "Failed backend calls", labels=["backend"])
        for name, n in sorted(data["backend_errors"].items()):
            errors.add_metric([name], n)
        yield errors


def render(src: Observed) -> bytes:
    """The Prometheus text of this process, or of every worker when they share their numbers."""
    snaps, live = [snapshot(src)], [True]
    if src.worker_share is not None:
        others, alive = src.worker_share.others()
        snaps += others
        live += alive
    from prometheus_client import CollectorRegistry, generate_latest  # not at every start: ~50 ms

    registry = CollectorRegistry(auto_describe=False)
    registry.register(cast("Collector", _Collector(merge(snaps, live))))
    return generate_latest(registry)
