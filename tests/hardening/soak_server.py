"""The soak test's server: `wbseller serve --no-access-log` as the CLI runs it (uvicorn, uvloop, one
worker, and the CLI's HTTP protocol: httptools with the WB body for parser refusals and the head limit,
gateway/protocol.py), with two test-only differences that the CLI has no flag for:

- the token cache is small (`--token-cache`), so that a soak with more tokens than that keeps evicting
  and re-verifying them, as a big deployment does at 100,000 tokens;
- `GET /_soak/state` reports the sizes of the in-process tables (cached tokens, limiter buckets,
  blocked buckets, failed-auth addresses, host names, sellers), read by the test to see them stay bounded.

Run as `python -m tests.hardening.soak_server --port P --data-dir D --config C --token-cache N
[--trusted-proxies 127.0.0.1]` (the last: `Settings.trusted_proxies`, whose X-Forwarded-For names the client).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import uvicorn

from wbseller.config import Settings
from wbseller.gateway import Gateway
from wbseller.gateway.protocol import WBHttpToolsProtocol
from wbseller.ratelimit import MemoryLimiter
from wbseller.server import create_app


def state(gw: Gateway) -> dict[str, int]:
    limiter = gw.limiter
    assert isinstance(limiter, MemoryLimiter)
    return {
        "tokens": len(gw.tokens),
        "buckets": len(limiter),
        "blocked": len(limiter._blocked),
        "strikes": len(limiter._strikes),
        # The guard's own table of addresses, where it keeps one; a guard whose buckets are the limiter's
        # is counted in "buckets" instead (0 here).
        "auth_addresses": len(getattr(gw.auth_guard, "_tat", ())),
        "hosts": len(gw.hosts._cache),
        "sellers": len(gw.sellers._entries),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--token-cache", type=int, required=True)
    parser.add_argument("--trusted-proxies", default="", help="comma-separated: whose X-Forwarded-For counts")
    args = parser.parse_args()
    settings = Settings(
        data_dir=args.data_dir,
        config_file=args.config,
        token_cache_size=args.token_cache,
        trusted_proxies=tuple(p for p in args.trusted_proxies.split(",") if p),
    )
    gw = create_app(settings)  # as `serve` composes it: /metrics and the other pages beside the API

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_soak/state":
            body = json.dumps(state(gw)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await gw(scope, receive, send)

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http=WBHttpToolsProtocol,
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
