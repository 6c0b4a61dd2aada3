"""Limits on a real Redis Cluster (three primaries started for the session, `redis_cluster`).

The shared limiter suite (test_limiter.py) runs on the Cluster too; here is what only a Cluster has:
a batch of many sellers split by slot over the nodes, each seller's keys on one node, scripts loaded on
every primary (and again after they are lost), and two servers sharing one Cluster as one service.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import redis
from redis.crc import key_slot

from tests.conftest import Server, assert_wb_error
from tests.scale.conftest import CONFIG, SCALE_SLOW, SLOW_BURST, RedisClusterNodes
from wbseller.clock import OffsetClock
from wbseller.ratelimit import Rate
from wbseller.ratelimit.redis import RedisLimiter

RATE = Rate(period=60, limit=1, burst=3)


def _node_keys(nodes: RedisClusterNodes, prefix: str) -> dict[int, set[str]]:
    """The keys under `prefix` on each node (by port): where the Cluster put them."""
    found: dict[int, set[str]] = {}
    for port in nodes.ports:
        client = redis.Redis(port=port, decode_responses=True)
        try:
            found[port] = {str(k) for k in client.scan_iter(match=f"{prefix}:*")}
        finally:
            client.close()
    return found


def test_a_batch_of_many_sellers_is_split_by_slot_and_decided_exactly(
    redis_cluster: RedisClusterNodes,
) -> None:
    prefix = f"c{uuid.uuid4().hex[:10]}"
    sellers = [str(uuid.uuid4()) for _ in range(30)]

    async def main() -> None:
        lim = RedisLimiter(redis_cluster.url, OffsetClock(), prefix=prefix, cluster=True)
        try:
            # 5 calls per seller at once (one batch, or a few): 3 pass per seller, in order, never more.
            calls = [lim.acquire(f"{sid}:grp:personal", RATE) for sid in sellers for _ in range(5)]
            ds = await asyncio.gather(*calls)
            for i, _sid in enumerate(sellers):
                mine = ds[5 * i : 5 * i + 5]
                assert sum(d.allowed for d in mine) == 3
                assert sorted(d.remaining for d in mine if d.allowed) == [0, 1, 2]
            assert lim.batches < len(calls) / 4  # batched, not a round trip each
            assert lim.failures == 0
        finally:
            await lim.close()

    asyncio.run(main())
    per_node = _node_keys(redis_cluster, prefix)
    assert sum(len(keys) for keys in per_node.values()) == len(sellers)
    assert sum(1 for keys in per_node.values() if keys) >= 2, per_node  # really spread over the Cluster
    for keys in per_node.values():
        for k in keys:
            sid = k.split("{", 1)[1].split("}", 1)[0]
            assert key_slot(k.encode()) == key_slot(f"{{{sid}}}".encode())  # the hash tag decides


def test_scripts_lost_on_every_node_are_loaded_again(redis_cluster: RedisClusterNodes) -> None:
    async def main() -> None:
        lim = RedisLimiter(redis_cluster.url, OffsetClock(), prefix=f"s{uuid.uuid4().hex[:10]}", cluster=True)
        try:
            keys = [f"{uuid.uuid4()}:grp:personal" for _ in range(10)]
            first = await asyncio.gather(*(lim.acquire(k, RATE) for k in keys))
            assert [d.remaining for d in first] == [2] * 10
            for port in redis_cluster.ports:  # what restarted nodes would have: no scripts
                client = redis.Redis(port=port)
                client.script_flush()
                client.close()
            again = await asyncio.gather(*(lim.acquire(k, RATE) for k in keys))
            assert [d.remaining for d in again] == [1] * 10  # each charged once, not twice
            assert lim.failures == 0
        finally:
            await lim.close()

    asyncio.run(main())


def test_two_servers_on_one_cluster_share_a_seller_s_bucket(
    redis_cluster: RedisClusterNodes, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    env = {"WBSELLER_REDIS_URL": redis_cluster.url, "WBSELLER_REDIS_CLUSTER": "1"}
    a = Server(tmp_path / "data", config, extra_env=env).start()
    b = Server(tmp_path / "data", config, extra_env=env)  # same SQLite data: one set of sellers and keys
    try:
        b.start()
        token = a.token(a.seller())
        seen = []
        for i in range(SLOW_BURST):
            r = (a, b)[i % 2].get(SCALE_SLOW, token)
            assert r.status_code == 200, r.text
            seen.append(int(r.headers["x-ratelimit-remaining"]))
        assert seen == list(range(SLOW_BURST - 1, -1, -1))
        for srv in (a, b):
            assert_wb_error(srv.get(SCALE_SLOW, token), 429, "rate-limited")
            assert "failing open" not in srv.log
        ready = a.get("/ready").json()
        assert ready["limiter"] == "ok", ready
    finally:
        a.stop()
        b.stop()
