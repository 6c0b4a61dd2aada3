"""Where a request's CPU goes in-process: the bench's requests through the server's ASGI app, timed and
profiled with cProfile, without uvicorn, sockets or wrk.

    .venv/bin/python -m bench.profile_path                 # every case: microseconds per call
    .venv/bin/python -m bench.profile_path --profile m     # and cProfile's top functions for row (m)

The cases are the bench's rows: (b) GET /ping, (k) GET a supply (the same id each time), (m) a new
supply id each call, (l) the 1,000-item price upload. The app is `wbseller.server.create_app` on a
temporary data directory with the bench's config (limits lifted), its lifespan run through ASGI; the
seller and its personal token are made with the `wbseller` CLI, as the bench makes them. The token is
cached by a first call, as in the bench's steady state. A call here misses what uvicorn costs (parsing,
the socket): compare the cases with each other, and with the bench's CPU per request for the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from bench.run import CONFIG, UPLOAD, WB_HOST, price_body, wbseller_cli

Message = MutableMapping[str, Any]
App = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

# key -> (verb, path or prefix, host, body, counted: a new number ends the path on each call)
CASES: dict[str, tuple[str, str, str, bytes, bool]] = {
    "b": ("GET", "/ping", WB_HOST, b"", False),
    "k": ("GET", "/api/v3/supplies/WB-GI-12345678", "marketplace-api.localhost", b"", False),
    "m": ("GET", "/api/v3/supplies/WB-GI-", "marketplace-api.localhost", b"", True),
    "l": ("POST", UPLOAD, "discounts-prices-api.localhost", price_body(), False),
}


class Caller:
    """Calls one app with ready-made scopes; checks every answer is a 200."""

    def __init__(self, app: App, token: str) -> None:
        self.app = app
        self.token = token
        self.status = 0
        self.n = 1_000_000_000

    def scope(self, key: str) -> tuple[dict[str, Any], bytes]:
        verb, path, host, body, counted = CASES[key]
        if counted:
            self.n += 1
            path = f"{path}{self.n}"
        headers = [(b"host", host.encode()), (b"authorization", self.token.encode())]
        if body:
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": verb,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        return scope, body

    async def call(self, scope: dict[str, Any], body: bytes) -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = int(message["status"])

        await self.app(scope, receive, send)
        if self.status != 200:
            raise SystemExit(f"{scope['method']} {scope['path']}: answered {self.status}, not 200")


async def lifespan(app: App, kind: str) -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        if not sent:
            return {"type": f"lifespan.{kind}"}
        await asyncio.Event().wait()  # the app waits for the next event: none comes
        return {}

    async def send(message: Message) -> None:
        sent.append(message)

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    while not sent:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
            break
    task.cancel()
    if not sent or not str(sent[0]["type"]).endswith("complete"):
        raise SystemExit(f"lifespan {kind} failed: {sent}")


async def measure(caller: Caller, keys: list[str], calls: int, profile: str | None, top: int) -> None:
    for key in keys:
        await caller.call(*caller.scope(key))  # the token cached, the validators compiled
        scopes = [caller.scope(key) for _ in range(calls)]
        start = time.process_time()
        for scope, body in scopes:
            await caller.call(scope, body)
        per_call = (time.process_time() - start) / calls * 1e6
        print(f"({key}) {CASES[key][0]} {CASES[key][1]}: {per_call:.1f} us CPU per call ({calls} calls)")
        if key == profile:
            scopes = [caller.scope(key) for _ in range(calls)]
            prof = cProfile.Profile()
            prof.enable()
            for scope, body in scopes:
                await caller.call(scope, body)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
            print(out.getvalue())


async def run(args: argparse.Namespace) -> None:
    from wbseller.config import Settings
    from wbseller.server import create_app

    with tempfile.TemporaryDirectory(prefix="wbseller-profile-") as tmp:
        data = Path(tmp) / "data"
        config = Path(tmp) / "bench.toml"
        config.write_text(CONFIG)
        sid = wbseller_cli(["seller", "create", "--name", "Bench"], data)
        token = wbseller_cli(
            [
                "token",
                "create",
                "--seller",
                sid,
                "--type",
                "personal",
                "--categories",
                "all",
                "--accept-liability",
            ],
            data,
        )
        # No event arrives while profiling: a slow poll keeps its ticks out of the profile.
        app: App = create_app(Settings(data_dir=data, config_file=config, event_poll=60.0))
        await lifespan(app, "startup")
        try:
            await measure(Caller(app, token), args.cases, args.calls, args.profile, args.top)
        finally:
            await lifespan(app, "shutdown")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=lambda s: s.split(","), default=list(CASES), help="e.g. k,m (all)")
    p.add_argument("--calls", type=int, default=5000, help="calls per case (5000)")
    p.add_argument("--profile", choices=list(CASES), default=None, help="profile this case too")
    p.add_argument("--top", type=int, default=25, help="functions shown by the profile (25)")
    args = p.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        p.error(f"unknown cases {unknown}; cases are {', '.join(CASES)}")
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
