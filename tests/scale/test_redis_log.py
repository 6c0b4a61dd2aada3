"""What a server logs when its Redis limiter goes away and comes back (issue 11, item 12).

A real `wbseller serve` on the machine's Redis, through a TCP proxy the test cuts twice: refused (a
dead host), then blackholed (a network that drops everything). Each outage is one line when it starts,
naming the address (never the URL's password) and the reason, and one line when Redis answers again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from tests.conftest import Server
from tests.scale.conftest import CONFIG, SCALE_OPEN, sample, scrape, wait_for
from tests.scale.proxy import TcpProxy

PASSWORD = "s3cret-never-logged"  # the machine's Redis has no password: its default user takes any
DOWN = re.compile(
    r"redis limiter unreachable at (?P<address>\S+) \((?P<reason>[^)]+)\); failing open: in-process buckets"
)
UP = re.compile(
    r"redis limiter reachable again at (?P<address>\S+) after (?P<seconds>\d+\.\d) s "
    r"\((?P<decisions>\d+) decisions made without it\)"
)


def limiter_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "redis limiter" in line]


def outage(srv: Server, token: str, proxy: TcpProxy, *, blackhole: bool) -> int:
    """Cut Redis for ~2.5 s (two retries of the limiter at least) while requests come; restore it and
    wait until the limiter is healthy again. Returns how many requests were answered meanwhile."""
    proxy.cut(blackhole=blackhole)
    answered = 0
    until = time.monotonic() + 2.5
    while time.monotonic() < until:
        assert srv.get(SCALE_OPEN, token).status_code == 200  # fail open: in-process buckets
        answered += 1
        time.sleep(0.05)
    proxy.restore()
    assert wait_for(
        lambda: (
            srv.get(SCALE_OPEN, token).status_code == 200
            and sample(scrape(srv.base_url), "wbseller_limiter_healthy") == 1
        ),
        10,
        0.1,
    ), srv.log
    return answered


def test_each_outage_is_logged_once_with_address_and_reason_and_its_end(
    start_server: Callable[..., Server], redis_proxy: TcpProxy, redis_db: int
) -> None:
    address = f"127.0.0.1:{redis_proxy.port}"
    url = f"redis://:{PASSWORD}@{address}/{redis_db}"
    srv = start_server(config=CONFIG, extra_env={"WBSELLER_REDIS_URL": url})
    token = srv.token(srv.seller())
    assert srv.get(SCALE_OPEN, token).status_code == 200
    assert limiter_lines(srv.log) == []

    refused = outage(srv, token, redis_proxy, blackhole=False)
    blackholed = outage(srv, token, redis_proxy, blackhole=True)
    lines = limiter_lines(srv.log)
    assert len(lines) == 4, lines  # down, up, down, up: once per outage however many requests
    down1, up1, down2, up2 = (
        DOWN.search(lines[0]),
        UP.search(lines[1]),
        DOWN.search(lines[2]),
        UP.search(lines[3]),
    )
    assert down1 and up1 and down2 and up2, lines
    for m in (down1, up1, down2, up2):
        assert m["address"] == address
    # Why: the proxy drops the connection (closed or reset); blackholed, the read times out.
    assert re.search(r"(?i)closed|reset|refused", down1["reason"]), down1["reason"]
    assert "Timeout" in down2["reason"], down2["reason"]
    # How long and how much: every request of the outage was decided without Redis.
    for up, answered in ((up1, refused), (up2, blackholed)):
        assert 2.0 <= float(up["seconds"]) < 15, up[0]
        assert int(up["decisions"]) >= answered, (up[0], answered)
    assert PASSWORD not in srv.log
