"""The guard of signature checks on Redis: two servers sharing one Redis share one budget per client
address and token id, so a forger gets the burst once, not once per server."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Server
from tests.scale.conftest import pg_database, pg_sqlalchemy_url, redis_database, redis_url_for

BURST = 20
CONFIG = f"""
[server]
trusted_proxies = ["127.0.0.1"]

[limits.ping]
rates.all = {{ period = 1, limit = 1000000, burst = 1000000 }}

[limits.auth-failures]
rates.all = {{ period = 3600, limit = {BURST}, burst = {BURST} }}
"""


def test_two_servers_on_one_redis_share_one_guard_budget(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    with pg_database() as db, redis_database() as rdb:
        env = {"WBSELLER_DATABASE_URL": pg_sqlalchemy_url(db), "WBSELLER_REDIS_URL": redis_url_for(rdb)}
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = Server(tmp_path / "a" / "data", config, extra_env=env)
        b = Server(tmp_path / "b" / "data", config, extra_env=env)
        try:
            a.start()
            b.start()
            good = a.token(a.seller(), "personal", "all")
            assert a.get("/content-api/ping", good).status_code == 200
            statuses = []
            with a.client() as ca, b.client() as cb:
                for n in range(2 * BURST + 10):
                    forged = good[:-6] + f"{n:06d}".replace("0", "A")
                    http = ca if n % 2 else cb
                    r = http.get(
                        "/content-api/ping",
                        headers={"Authorization": forged, "X-Forwarded-For": "203.0.113.5"},
                    )
                    statuses.append(r.status_code)
            # One budget across both servers (the hour-long refill adds nothing during the test).
            assert statuses.count(401) == BURST, statuses
            assert statuses.count(429) == len(statuses) - BURST
            # A token never seen, from the same address, on both servers: answered.
            for srv in (a, b):
                fresh = srv.token(srv.seller(), "base", "content")
                with srv.client() as http:
                    r = http.get(
                        "/content-api/ping",
                        headers={"Authorization": fresh, "X-Forwarded-For": "203.0.113.5"},
                    )
                assert r.status_code == 200, r.text
        finally:
            a.stop()
            b.stop()
