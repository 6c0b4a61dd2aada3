"""A good token's first requests on a fresh server, all at once: how many are refused?

    .venv/bin/python -m bench.cold_start                      # 32 connections, in-process limits
    .venv/bin/python -m bench.cold_start --redis --workers 2 -c 64
    .venv/bin/python -m bench.cold_start --starts 10           # the test kit's start-up instead

A fresh `wbseller serve` with /ping's limit lifted (the failed-auth guard as built in), a seller and a
personal token made by the CLI, then N connections opened first and each one's first `GET /ping` sent at
the same moment. A client with a connection pool does this at every server start. Prints the statuses (by
WB code); exits 1 if any answer is not 200. Row (e) of the bench met it: see bench/README.md, "Row (e)
and the failed-authentication guard".

`--starts N` measures issue #14's start-up instead: N times `wbseller.testing.WBServer()` (a new data
directory, `--control`), the seconds from starting the process to its first answer (/ready); prints each,
the median and the spread. The target is <= 1.5 s (docs/testing.md, "What it costs").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.run import LIFTED, LOOPBACK, REDIS_URL, WB_HOST, Server, free_port, running, wbseller_cli


async def first_requests(port: int, token: str, n: int) -> Counter[str]:
    go = asyncio.Event()

    async def one() -> str:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        try:
            await go.wait()  # every connection is open before any request is sent
            writer.write(f"GET /ping HTTP/1.1\r\nHost: {WB_HOST}\r\nAuthorization: {token}\r\n\r\n".encode())
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
        finally:
            writer.close()
        code = json.loads(body).get("code", "") if status != 200 else ""
        return f"{status} {code}".strip()

    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    await asyncio.sleep(0.5)
    go.set()
    return Counter(await asyncio.gather(*tasks))


def starts(n: int) -> int:
    """Issue #14's start-up: `WBServer()` from nothing to its first answer, `n` times."""
    from wbseller.testing import WBServer

    took: list[float] = []
    for _ in range(n):
        began = time.perf_counter()
        with WBServer():
            took.append(time.perf_counter() - began)
    shown = " ".join(f"{t:.2f}" for t in took)
    median = statistics.median(took)
    print(f"WBServer start to first answer, {n} starts (s): {shown}")
    print(f"median {median:.2f} s, min {min(took):.2f}, max {max(took):.2f} (target <= 1.5 s)")
    return 0 if median <= 1.5 else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "-c", "--connections", type=int, default=32, help="connections, one first request each (32)"
    )
    p.add_argument("--workers", type=int, default=1, help="`serve --workers` (1; more need --redis)")
    p.add_argument("--redis", action="store_true", help=f"limits on Redis ({REDIS_URL})")
    p.add_argument("--starts", type=int, default=0, help="measure N test-kit start-ups instead")
    args = p.parse_args(argv)
    if args.starts:
        return starts(args.starts)
    with tempfile.TemporaryDirectory(prefix="wbseller-cold-") as tmp:
        data, config = Path(tmp) / "data", Path(tmp) / "cold.toml"
        server = f'\n[server]\nredis_url = "{REDIS_URL}"\n' if args.redis else ""
        config.write_text(f"[limits.ping]\nrates.all = {LIFTED}\n{server}")
        sid = wbseller_cli(["seller", "create", "--name", "Cold"], data)
        args_ = ["token", "create", "--seller", sid, "--type", "personal", "--categories", "all"]
        token = wbseller_cli([*args_, "--accept-liability"], data)
        port = free_port()
        cmd = [sys.executable, "-m", "wbseller", "serve", "--host", LOOPBACK, "--port", str(port)]
        cmd += ["--data-dir", str(data), "--config", str(config), "--workers", str(args.workers)]
        cmd += ["--no-access-log", "--log-level", "warning"]
        # The server's own start-up check sends no token: the token's first request is one of ours.
        with running(Server("cold start", cmd, port, Path(tmp) / "serve.log")):
            got = asyncio.run(first_requests(port, token, args.connections))
    print(f"{args.connections} first requests of one good token at once: {dict(got)}")
    return 0 if set(got) == {"200"} else 1


if __name__ == "__main__":
    sys.exit(main())
