"""For operators: /metrics in Prometheus text format and the /ready endpoint, on a server with Redis
and PostgreSQL, after some traffic of every kind."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tests.conftest import Server, assert_wb_error
from tests.scale.conftest import CONFIG, SCALE_SLOW, SLOW_BURST, sample, scrape

# Every family src/wbseller/gateway/metrics.py exports when the limiter is on Redis.
FAMILIES = {
    "wbseller_requests": "counter",
    "wbseller_ratelimited": "counter",
    "wbseller_token_cache": "counter",
    "wbseller_token_cache_size": "gauge",
    "wbseller_backend_errors": "counter",
    "wbseller_limiter_calls": "counter",
    "wbseller_limiter_batches": "counter",
    "wbseller_limiter_wait_seconds": "counter",
    "wbseller_limiter_healthy": "gauge",
}


def test_metrics_and_readiness(start_server: Callable[..., Server], pg_url: str, redis_url: str) -> None:
    srv = start_server(
        config=CONFIG, extra_env={"WBSELLER_DATABASE_URL": pg_url, "WBSELLER_REDIS_URL": redis_url}
    )
    ready = srv.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "storage": "ok", "limiter": "ok"}

    token = srv.token(srv.seller())
    statuses = [srv.get(SCALE_SLOW, token).status_code for _ in range(SLOW_BURST + 3)]
    assert statuses == [200] * SLOW_BURST + [429] * 3
    assert_wb_error(srv.get(SCALE_SLOW, "not.a.token"), 401)
    assert_wb_error(srv.get(SCALE_SLOW), 401, "token-missing")
    assert_wb_error(srv.get("/no/such/path", token), 404, "path-not-found")

    r = httpx.get(f"{srv.base_url}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    for family, kind in FAMILIES.items():
        assert re.search(rf"^# TYPE {family}(_total)? {kind}$", r.text, re.M), family
    m = scrape(srv.base_url)
    # Requests by host and status; 429s by limit group.
    assert sample(m, "wbseller_requests_total", host="common-api", status="200") == SLOW_BURST
    assert sample(m, "wbseller_requests_total", host="common-api", status="429") == 3
    assert sample(m, "wbseller_requests_total", host="common-api", status="401") == 2
    assert sample(m, "wbseller_requests_total", host="-", status="404") == 1
    assert sample(m, "wbseller_ratelimited_total", group="scale-slow") == 3
    # The token cache: one miss for the token's first use, one for the bad token, hits after.
    assert sample(m, "wbseller_token_cache_total", outcome="miss") == 2
    assert sample(m, "wbseller_token_cache_total", outcome="hit") == SLOW_BURST + 2
    assert sample(m, "wbseller_token_cache_size") == 1
    # The limiter: every decision went to Redis, at least one per pipeline, in measurable time.
    calls = sample(m, "wbseller_limiter_calls_total")
    batches = sample(m, "wbseller_limiter_batches_total")
    # One more than the requests: the token's first signature check is charged to the auth guard.
    assert calls == SLOW_BURST + 3 + 1
    assert 1 <= batches <= calls
    assert 0 < sample(m, "wbseller_limiter_wait_seconds_total") < calls * 0.5
    assert sample(m, "wbseller_limiter_healthy") == 1
    assert sample(m, "wbseller_backend_errors_total", backend="redis") == 0
    assert sample(m, "wbseller_backend_errors_total", backend="storage") == 0
    # Scrapes and readiness checks are not requests of the API.
    assert srv.get("/ready").status_code == 200
    again = scrape(srv.base_url)
    assert {k: v for k, v in again.items() if k[0] == "wbseller_requests_total"} == {
        k: v for k, v in m.items() if k[0] == "wbseller_requests_total"
    }
