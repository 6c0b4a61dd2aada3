"""Merging the numbers of several workers: counters add up (an exited worker keeps its share, so no
counter ever goes down), gauges come from the workers alive."""

from __future__ import annotations

from typing import Any

from wbseller.gateway.metrics import merge


def snap(ok: int, limited: int, cache: int, healthy: bool, size: int) -> dict[str, Any]:
    return {
        "requests": {"common-api": {"200": ok, "429": limited}},
        "limited": {"ping": limited},
        "backend_errors": {"redis": 1},
        "token_cache": {"hit": ok, "miss": 1},
        "token_cache_size": size,
        "limiter": {"calls": ok + limited, "batches": 2, "wait_seconds": 0.5, "healthy": healthy},
    }


def test_counters_add_up_and_gauges_count_the_living() -> None:
    alive, exited = snap(10, 2, 0, True, 5), snap(7, 1, 0, False, 9)
    merged = merge([alive, exited], [True, False])
    assert merged["requests"] == {"common-api": {"200": 17, "429": 3}}
    assert merged["limited"] == {"ping": 3}
    assert merged["backend_errors"] == {"redis": 2}
    assert merged["token_cache"] == {"hit": 17, "miss": 2}
    assert merged["limiter"]["calls"] == 20 and merged["limiter"]["batches"] == 4
    assert merged["limiter"]["wait_seconds"] == 1.0
    assert merged["token_cache_size"] == 5  # the exited worker's cache is gone
    assert merged["limiter"]["healthy"] is True  # and so is its view of Redis

    assert merge([alive, snap(1, 0, 0, False, 1)], [True, True])["limiter"]["healthy"] is False


def test_one_process_is_itself() -> None:
    one = snap(3, 0, 0, True, 2)
    merged = merge([one], [True])
    assert merged["requests"] == one["requests"] and merged["token_cache_size"] == 2
    without = {k: v for k, v in one.items() if k != "limiter"}  # in-process limits: no limiter numbers
    assert "limiter" not in merge([without], [True])
