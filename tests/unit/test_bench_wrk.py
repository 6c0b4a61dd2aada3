"""The benchmark's own reading of wrk: the Lua scripts it writes (the tally of other statuses by WB code,
the counted paths, the body) run by a real wrk against a small server that knows what it answered, and
the parse of wrk's output. Skipped where wrk is not installed (`apt-get install wrk`)."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench.run import THREAD_IDS, Load, Pinning, parse_wrk, write_script, wrk

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


class Recorder(ThreadingHTTPServer):
    """Answers every third request 429 with a WB-like body (code auth-failures), every fifth 404 with a
    body without a code, the rest 200; records what it got."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.n = 0
        self.sent: Counter[int] = Counter()
        self.paths: list[str] = []
        self.bodies: Counter[bytes] = Counter()
        self.methods: Counter[str] = Counter()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects

    def log_message(self, format: str, *args: object) -> None:
        pass

    def answer(self) -> None:
        server = self.server
        assert isinstance(server, Recorder)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with server.lock:
            server.n += 1
            status = 429 if server.n % 3 == 0 else 404 if server.n % 5 == 0 else 200
            server.sent[status] += 1
            server.paths.append(self.path)
            server.bodies[body] += 1
            server.methods[self.command] += 1
        out = {429: b'{"code":"auth-failures","status":429}', 404: b'{"title":"not found"}'}.get(
            status, b"{}"
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = answer
    do_POST = answer


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


LOAD = Load(duration=1, warmup=0, connections=4, threads=2, rounds=1, pin=Pinning([], [], "off"))


@needs_wrk
def test_tally_counts_other_statuses_by_code_and_paths_count_up(recorder: Recorder, tmp_path: Path) -> None:
    port = recorder.server_address[1]
    script = write_script(tmp_path / "t.lua", {"Host": "x.localhost"}, 200, counter=("/s/WB-GI-", 5000))
    run = wrk(f"http://127.0.0.1:{port}/", script, 1, LOAD)
    # wrk may cut the last responses of a connection at the deadline: the server sent at least what wrk read
    assert run.unexpected is not None and run.unexpected_statuses is not None
    assert run.unexpected == sum(run.unexpected_statuses.values()) > 0
    assert set(run.unexpected_statuses) == {"429 auth-failures", "404"}
    assert 0 < run.unexpected_statuses["429 auth-failures"] <= recorder.sent[429]
    assert 0 < run.unexpected_statuses["404"] <= recorder.sent[404]
    assert run.non_2xx == run.unexpected
    # every path ends in a number of its thread's own range, none twice
    ids = [int(m[1]) for p in recorder.paths if (m := re.fullmatch(r"/s/WB-GI-(\d+)", p))]
    assert len(ids) == len(recorder.paths) == len(set(ids))
    ranges = {(i - 5000 - 1) // THREAD_IDS for i in ids}
    assert ranges == {0, 1}  # two threads, each counting from first + i * THREAD_IDS


@needs_wrk
def test_post_with_a_body_file_and_no_tally(recorder: Recorder, tmp_path: Path) -> None:
    port = recorder.server_address[1]
    body = json.dumps({"data": [{"nmID": i, "price": 1000 + i} for i in range(300)]}).encode()
    (tmp_path / "body.json").write_bytes(body)
    headers = {"Content-Type": "application/json"}
    script = write_script(tmp_path / "p.lua", headers, method="POST", body_file=tmp_path / "body.json")
    run = wrk(f"http://127.0.0.1:{port}/api/v2/upload/task", script, 1, LOAD)
    assert run.unexpected is None and run.unexpected_statuses is None  # no hook: wrk's own count only
    assert run.non_2xx > 0
    assert set(recorder.methods) == {"POST"} and set(recorder.bodies) == {body}
    assert set(recorder.paths) == {"/api/v2/upload/task"}


WRK_OUT = """\
Running 3s test @ http://127.0.0.1:41234/ping
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.33ms  512.00us  20.01ms   90.00%
  Latency Distribution
     50%    1.20ms
     75%    1.50ms
     90%    2.00ms
     99%    7.60ms
  47005 requests in 3.00s, 9.01MB read
  Non-2xx or 3xx responses: 20
Requests/sec:  15668.33
Transfer/sec:      3.00MB
Unexpected statuses: 20
  status 429 auth-failures: 8
  status 503: 12
"""


def test_parse_reads_the_tally_with_codes() -> None:
    run = parse_wrk(WRK_OUT)
    assert (run.requests, run.non_2xx, run.rps, run.seconds) == (47005, 20, 15668.33, 3.0)
    assert run.latency_ms == {"avg": 1.33, "p50": 1.2, "p75": 1.5, "p90": 2.0, "p99": 7.6}
    assert run.unexpected == 20
    assert run.unexpected_statuses == {"429 auth-failures": 8, "503": 12}
    untallied = parse_wrk(WRK_OUT.split("Unexpected", maxsplit=1)[0])
    assert untallied.unexpected is None and untallied.unexpected_statuses is None
