"""The bench's rows through uvicorn's real HTTP protocol in-process: request bytes fed to the protocol
class (httptools parsing, the request cycle, the app, the response writer), written to a transport that
keeps nothing, on uvloop. No sockets and no wrk: the CPU per request of everything in Python that the
bench's server does, steadier than the bench on a busy machine (the syscalls are what it leaves out).

    .venv/bin/python -m bench.protocol_path                  # every case: microseconds per request
    .venv/bin/python -m bench.protocol_path --profile i      # and cProfile's top functions for (i)

The cases: (a) bench/bare_app.py under stock uvicorn (HttpToolsProtocol), (a+) the same app under
ours (WBHttpToolsProtocol), (b) the gateway's GET /ping (limits lifted, as the bench's (b)), (i) its 429
for an empty bucket (the built-in table), (j) (b) with the gateway's access log on (written to a file).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import pstats
import sys
import tempfile
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bench.bare_app import app as bare_app
from bench.profile_path import App, lifespan
from bench.run import CONFIG, WB_HOST, wbseller_cli

CASES = {
    "a": "bare app, stock uvicorn",
    "a+": "bare app, our protocol",
    "b": "GET /ping",
    "i": "429 empty bucket",
    "j": "GET /ping, access log on",
}


class Transport(asyncio.Transport):
    """What the protocol writes to: counts bytes and writes, keeps nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.sent = 0
        self.closing = False
        self.last = b""  # the last response's head (and whatever was written with it)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        self.sent += len(data)
        if data[:5] == b"HTTP/":
            self.last = bytes(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def request(token: str) -> bytes:
    # The headers wrk sends (bench/run.py's script), in its order.
    return f"GET /ping HTTP/1.1\r\nHost: {WB_HOST}\r\nAuthorization: {token}\r\n\r\n".encode()


class Connection:
    """One keep-alive connection to `app` through `protocol`."""

    def __init__(self, app: App, protocol: type[HttpToolsProtocol], proxy_headers: bool = False) -> None:
        # As the bench runs them: `wbseller serve` without uvicorn's proxy headers middleware, the bare app
        # with uvicorn's defaults (the middleware on).
        config = Config(
            app=app,
            lifespan="off",
            access_log=False,
            server_header=False,
            log_level="warning",
            proxy_headers=proxy_headers,
        )
        config.load()
        self.state = ServerState()
        self.state.default_headers = [(b"date", formatdate(time.time(), usegmt=True).encode())]
        self.transport = Transport()
        self.protocol = protocol(config=config, server_state=self.state, app_state={})
        self.protocol.connection_made(self.transport)

    async def send(self, data: bytes) -> None:
        self.protocol.data_received(data)
        cycle = self.protocol.cycle
        for _ in range(100):  # a cached request is answered in a turn or two
            if cycle.response_complete:
                return
            await asyncio.sleep(0)
        deadline = time.monotonic() + 10.0  # a first one may wait for the database's thread
        while time.monotonic() < deadline:
            if cycle.response_complete:
                return
            await asyncio.sleep(0.001)
        raise SystemExit(f"no response in 10 s; wrote {self.transport.last[:200]!r}")


async def measure(conn: Connection, data: bytes, calls: int, expect: int, profile: bool, top: int) -> float:
    for _ in range(20):  # warm: caches filled
        await conn.send(data)
    head = conn.transport.last
    if not (head.startswith(b"HTTP/1.1 %d " % expect)):
        raise SystemExit(f"expected {expect}, got {head[:300]!r}")
    prof = cProfile.Profile() if profile else None
    if prof is not None:
        prof.enable()
    start = time.process_time()
    for _ in range(calls):
        await conn.send(data)
    per_call = (time.process_time() - start) / calls * 1e6
    if prof is not None:
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
        print(out.getvalue())
    return per_call


async def run(args: argparse.Namespace) -> None:
    from wbseller.config import Settings
    from wbseller.gateway.protocol import WBHttpToolsProtocol
    from wbseller.server import create_app

    with tempfile.TemporaryDirectory(prefix="wbseller-protocol-") as tmp:
        data_dir = Path(tmp) / "data"
        config = Path(tmp) / "bench.toml"
        config.write_text(CONFIG)
        sid = wbseller_cli(["seller", "create", "--name", "Bench"], data_dir)
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
            data_dir,
        )
        req = request(token)
        apps: dict[str, App] = {}
        logging.getLogger("wbseller.access").handlers[:] = []
        log_file = open(Path(tmp) / "access.log", "a")  # noqa: SIM115 - closed below
        handler = logging.StreamHandler(log_file)
        handler.setFormatter(logging.Formatter("%(message)s"))

        def app_for(key: str) -> App:
            if key not in apps:
                table = None if key == "i" else config
                settings = Settings(
                    data_dir=data_dir, config_file=table, event_poll=60.0, access_log=key == "j"
                )
                if key == "j":
                    access = logging.getLogger("wbseller.access")
                    access.addHandler(handler)
                    access.setLevel(logging.INFO)
                    access.propagate = False
                apps[key] = create_app(settings)
            return apps[key]

        results: dict[str, list[float]] = {key: [] for key in args.cases}
        started: list[App] = []
        try:
            for key in args.cases:
                if key.startswith("a"):
                    continue
                app = app_for(key)
                await lifespan(app, "startup")
                started.append(app)
            for _ in range(args.rounds):
                for key in args.cases:
                    if key == "a":
                        conn = Connection(bare_app, HttpToolsProtocol, proxy_headers=True)
                        data, expect = req, 200
                    elif key == "a+":
                        conn = Connection(bare_app, WBHttpToolsProtocol, proxy_headers=True)
                        data, expect = req, 200
                    else:
                        conn = Connection(app_for(key), WBHttpToolsProtocol)
                        data, expect = req, 429 if key == "i" else 200
                    profile = args.profile == key and not results[key]
                    results[key].append(await measure(conn, data, args.calls, expect, profile, args.top))
        finally:
            for app in started:
                await lifespan(app, "shutdown")
            log_file.close()
        base = min(results["a"]) if results.get("a") else None
        for key in args.cases:
            best, spread = min(results[key]), max(results[key])
            vs = f"  a/{key} = {base / best:.3f}" if base else ""
            print(
                f"({key}) {CASES[key]:28} {best:6.2f} us per request (min of {args.rounds}; max {spread:.2f}){vs}"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=lambda s: s.split(","), default=list(CASES), help="e.g. a,i (all)")
    p.add_argument("--calls", type=int, default=20000, help="requests per case and round (20000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds (3); the least is reported")
    p.add_argument("--profile", choices=list(CASES), default=None, help="profile this case too")
    p.add_argument("--top", type=int, default=25, help="functions shown by the profile (25)")
    args = p.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        p.error(f"unknown cases {unknown}; cases are {', '.join(CASES)}")
    uvloop.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
