"""`make bench`: requests/s of wbseller's authenticated, rate-limited GET /ping against a bare ASGI app,
and of its refusals and other request paths against the same bare app.

Servers one after the other, each uvicorn + httptools + uvloop, one worker, no access log:
  (a) bench/bare_app.py         the baseline: the ceiling of uvicorn on this machine
  (b) `wbseller serve`          GET /ping with a personal token (cached) and the ping limit raised
  (c) bench/starlette_app.py    a plain Starlette JSON endpoint, for reference
  (d), (e)                      as (b) with its limits on Redis; one worker, two workers
  (f), (g), (h)                 (b)'s server refusing: 401 without a token, 401 for a revoked token
                                (its refusal cached), 404 for an unknown path with a good token
  (i) `wbseller serve`          the built-in table (ping: 3 per 30 s): 429 for an empty bucket
  (j) `wbseller serve`          as (b) with its default logging (the access log on)
  (k), (m)                      (b)'s server: a generated answer on a templated path (a supply), the same
                                id every time (k) or a new one each request (m)
  (l)                           (b)'s server: the price upload, a 1,000-item JSON body checked by its schema,
                                against json.loads + Validator.validate of the same bytes in this process
  (s)                           `wbseller serve` as shipped: time to its first answer, idle resident memory
wrk loads each (a warm-up run, then the measured runs); the results are ratios to (a): b/a target >= 0.8,
each refusal >= 0.8, j/b >= 0.9, k/a >= 0.6; (l) server CPU <= 2x the in-process check; (s) <= 1.5 s and
<= 150 MiB. `--only a,b,f` runs a subset.
It is a measurement: the exit code is 0 whatever the ratios, non-zero only when something failed to run
or a row's check failed (a row got a status other than the one it measures).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results" / "latest.json"
TARGET = 0.8
LOOPBACK = "127.0.0.1"
WB_HOST = "content-api.localhost"  # routes /ping to content-api by Host, as a client of WB would
PING_BODY = b'{"TS":"2024-08-16T11:19:05+03:00","Status":"OK"}'
START_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
BUSY_LOAD = 0.7  # 1-minute load average above which a 2-CPU machine is not ours alone
BUSY_SERVER = 0.9  # a saturated server uses about all of its CPU
REFUSAL_TARGET = 0.8  # each refusal row against (a), like (b)
ACCESS_LOG_TARGET = 0.9  # (j) against (b): the default logging costs at most 10 %
ANSWER_TARGET = 0.6  # (k) against (a): a generated answer on a templated path
VALIDATION_TARGET = 2.0  # (l): server CPU per request at most this many times json.loads + validate
STARTUP_TARGET = 1.5  # (s): seconds from `wbseller serve` to its first answer
RSS_TARGET = 150.0  # (s): MiB resident, the idle server after a few requests
STARTS = 3  # (s): starts per round; the median counts
ERROR_KEYS = {"title", "detail", "code", "requestId", "origin", "status", "statusText", "timestamp"}
UNKNOWN_PATH = "/api/v1/no-such-method"  # on content-api: no route, so 404 (a good token is sent)
DRAIN = 20  # requests at most to empty (i)'s bucket (the built-in ping burst is 3)

LIFTED = "{ period = 1, limit = 1000000000, burst = 1000000000 }"
# Over the built-in table: the ping limit (3 per 30 s) would refuse nearly every request under load, and
# so would the limits of (k)-(m): a config's [limits.<bucket id>] (a named group's slug) lifts each.
# The failed-auth guard is lifted too: it charges every signature check, good tokens' included, so the
# first requests of one token on a worker that has not cached it yet (wrk's 32 connections at once, the
# second worker of (e)) are refused 429 auth-failures once more than its burst (20) arrive together
# (server defect, see bench/README.md). The measured runs see cached tokens only: the guard costs nothing.
CONFIG = f"""\
[limits.ping]
rates.all = {LIFTED}

[limits.fbs-orders]
rates.all = {LIFTED}

[limits.prices]
rates.all = {LIFTED}

[limits.auth-failures]
rates.all = {LIFTED}
"""


class BenchError(Exception):
    """Something failed to run: the measurement is void."""


class RowError(BenchError):
    """One row's check failed (e.g. a refusal row got another status): that row is void, the others stand."""


# --- small helpers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    # A WBSELLER_DATABASE_URL (or config) from the caller's shell must not reach the bench server.
    return {k: v for k, v in os.environ.items() if not k.startswith("WBSELLER_")}


@dataclass(frozen=True)
class Pinning:
    server: list[str]
    wrk: list[str]
    note: str
    server_cpu: int | None = None  # (l) measures its in-process cost on the same CPU


def pinning(enabled: bool) -> Pinning:
    """Server on one CPU, wrk on another, so they do not steal each other's time slices."""
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled:
        return Pinning([], [], "off (--no-pin)")
    if shutil.which("taskset") is None:
        return Pinning([], [], "off (no taskset)")
    if len(cpus) < 2:
        return Pinning([], [], f"off (only {len(cpus)} CPU)")
    server, load = cpus[0], cpus[1]
    return Pinning(
        ["taskset", "-c", str(server)],
        ["taskset", "-c", str(load)],
        f"server CPU {server}, wrk CPU {load}",
        server,
    )


def fetch(
    port: int, path: str, headers: dict[str, str], method: str = "GET", body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request: status, lower-cased headers, body."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5.0)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


# --- servers -----------------------------------------------------------------------------------


class Server:
    """A server process of ours: started, waited for, and always stopped (terminate, then kill)."""

    def __init__(self, name: str, cmd: list[str], port: int, log_path: Path, poll: float = 0.1) -> None:
        self.name = name
        self.poll = poll
        self.cmd = cmd
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0  # from starting the process to its first answer
        self._log: IO[bytes] | None = None

    def start(self) -> float:
        """Started and answering: the seconds from starting the process to its first answer."""
        self._log = self.log_path.open("wb")
        started = time.monotonic()
        # Own session: a Ctrl-C reaches us only, and we stop the server in order.
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with code {self.proc.returncode}\n{self.log_tail()}")
            try:
                fetch(self.port, "/ping", {})  # any HTTP answer (even 401) means it is listening
                self.start_seconds = time.monotonic() - started
                return self.start_seconds
            except (OSError, http.client.HTTPException):
                time.sleep(self.poll)
        raise BenchError(f"{self.name} did not answer within {START_TIMEOUT:.0f} s\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace").splitlines()
            return "\n".join(f"  | {line}" for line in text[-lines:])
        return ""


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


def uvicorn_cmd(app: str, port: int, lifespan: str, pin: Pinning) -> list[str]:
    """The same uvicorn settings `wbseller serve` uses (no Server header; Date header on)."""
    return [
        *pin.server,
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--app-dir",
        str(ROOT),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        "--no-server-header",
        "--lifespan",
        lifespan,
    ]


def wbseller_cli(args: list[str], data_dir: Path, quiet: bool = False) -> str:
    """Run a `wbseller` command on the bench data directory; its stdout, stripped (`quiet`: may be empty)."""
    cmd = [sys.executable, "-m", "wbseller", *args, "--data-dir", str(data_dir)]
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"`wbseller {args[0]} {args[1]}` took over {CLI_TIMEOUT:.0f} s") from None
    if done.returncode != 0 or not (quiet or done.stdout.strip()):
        raise BenchError(f"`wbseller {args[0]} {args[1]}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


# --- wrk ---------------------------------------------------------------------------------------


@dataclass
class WrkRun:
    rps: float
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]
    # The server's CPU time over the run: steadier than req/s when other processes share the machine.
    server_cpu_s: float | None = None
    wrk_cpu_s: float = (
        0.0  # wrk's own CPU time: near one CPU per thread means wrk, not the server, was the limit
    )
    redis_cpu_s: float | None = None  # redis-server's CPU time over the run (rows d and e)
    # Refusal rows: responses whose status was not the one measured, by status (from the script's done()).
    unexpected: int | None = None
    unexpected_statuses: dict[str, int] | None = None

    @property
    def redis_us_per_request(self) -> float | None:
        return None if self.redis_cpu_s is None else self.redis_cpu_s / max(self.requests, 1) * 1e6

    @property
    def cpu_us_per_request(self) -> float | None:
        return None if self.server_cpu_s is None else self.server_cpu_s / max(self.requests, 1) * 1e6

    @property
    def server_busy(self) -> float | None:
        """Share of one CPU the server used: well under 1.0 means it was starved or not the bottleneck."""
        return None if self.server_cpu_s is None else self.server_cpu_s / self.seconds

    @property
    def wrk_busy(self) -> float:
        return self.wrk_cpu_s / self.seconds


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def parse_wrk(out: str) -> WrkRun:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"(\d+) requests in " + _TIME, out)
    if rps is None or total is None:
        raise BenchError(f"cannot read wrk's output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency: dict[str, float] = {}
    avg = re.search(r"^\s+Latency\s+" + _TIME, out, re.M)
    if avg is not None:
        latency["avg"] = float(avg[1]) * _UNITS[avg[2]]
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+" + _TIME, out, re.M):
        latency[f"p{pct}"] = float(value) * _UNITS[unit]
    unexpected = re.search(r"^Unexpected statuses: (\d+)$", out, re.M)
    return WrkRun(
        rps=float(rps[1]),
        requests=int(total[1]),
        seconds=float(total[2]) * _UNITS[total[3]] / 1e3,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=dict(
            zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
        )
        if errors
        else {},
        latency_ms=latency,
        unexpected=int(unexpected[1]) if unexpected else None,
        unexpected_statuses={s: int(n) for s, n in re.findall(r"^  status (\d+(?: \S+)?): (\d+)$", out, re.M)}
        if unexpected
        else None,
    )


@dataclass(frozen=True)
class Load:
    duration: int
    warmup: int
    connections: int
    threads: int
    rounds: int
    pin: Pinning


# A tallied script counts every response whose status is not the one its row measures, by status and WB
# `code` (read from the body): wrk's "Non-2xx" count cannot tell a 401 from a 429, nor one 429 from
# another. Each thread counts in its own Lua state; done() adds them up and prints them.
TALLY_LUA = """\
local expected = %d
unexpected = 0
others = {}
function response(status, headers, body)
  if status ~= expected then
    unexpected = unexpected + 1
    local key = tostring(status)
    local code = body and string.match(body, '"code":"([^"]*)"')
    if code and code ~= "" then
      key = key .. " " .. code
    end
    others[key] = (others[key] or 0) + 1
  end
end
function done(summary, latency, requests)
  local n, seen = 0, {}
  for _, t in ipairs(threads) do
    n = n + t:get("unexpected")
    for key, count in pairs(t:get("others")) do
      seen[key] = (seen[key] or 0) + count
    end
  end
  io.write(string.format("Unexpected statuses: %%d\\n", n))
  for key, count in pairs(seen) do
    io.write(string.format("  status %%s: %%d\\n", key, count))
  end
end
"""

# A path that ends in a number new to the server on each request (row m): thread i counts from
# first + i * 10^7, and every run gets its own `first`, so no id repeats within a bench.
COUNTER_LUA = """\
local prefix = %s
local n = nil
function request()
  if n == nil then
    n = first
  end
  n = n + 1
  return wrk.format(nil, prefix .. string.format("%%d", n))
end
"""
THREAD_IDS = 10_000_000  # ids per thread and run of row (m): more than any run answers


def write_script(
    path: Path,
    headers: dict[str, str],
    expect: int | None = None,
    *,
    method: str = "GET",
    body_file: Path | None = None,
    counter: tuple[str, int] | None = None,
) -> Path:
    """A wrk script: headers (from a script, not -H: the token stays out of `ps`), the verb and a body read
    from `body_file`, a path counting up from `counter` = (prefix, first), and with `expect` the tally
    of other statuses (a response() hook: it costs wrk CPU, so the measured runs of 2xx rows go without).
    """
    lines = [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    if method != "GET":
        lines.append(f"wrk.method = {json.dumps(method)}")
    if body_file is not None:
        lines.append(f"local body_file = assert(io.open({json.dumps(str(body_file))}, 'rb'))")
        lines.append("wrk.body = body_file:read('*a')")
        lines.append("body_file:close()")
    # setup() runs in the main Lua state, once per thread: done() reads the threads' tallies from it.
    lines.append("threads = {}")
    lines.append("function setup(thread)")
    if counter is not None:
        lines.append(f"  thread:set('first', {counter[1]} + #threads * {THREAD_IDS})")
    lines.append("  table.insert(threads, thread)")
    lines.append("end")
    if counter is not None:
        lines.append(COUNTER_LUA % json.dumps(counter[0]))
    if expect is not None:
        lines.append(TALLY_LUA % expect)
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk(url: str, script: Path, seconds: int, load: Load) -> WrkRun:
    cmd = [
        *load.pin.wrk,
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    before = _children_cpu()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {seconds + 30} s") from None
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    run = parse_wrk(done.stdout)
    run.wrk_cpu_s = _children_cpu() - before
    return run


def _children_cpu() -> float:
    # Waited-for children only: wrk is the one child that ends during a run (servers end later).
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def verify(
    port: int, headers: dict[str, str], need: tuple[str, ...], label: str, exact: bool = False
) -> None:
    """One request before the load: it must be the 200 ping answer we mean to measure."""
    try:
        status, got, body = fetch(port, "/ping", headers)
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"{label}: GET /ping failed: {exc}") from None
    if status != 200:
        raise BenchError(f"{label}: GET /ping answered {status}: {body[:300]!r}")
    missing = [h for h in need if h not in got]
    if missing:
        raise BenchError(f"{label}: GET /ping has no {', '.join(missing)} header; headers: {got}")
    if (body != PING_BODY) if exact else (b'"Status":"OK"' not in body):
        raise BenchError(f"{label}: unexpected body {body[:300]!r}")


def verify_refusal(port: int, path: str, headers: dict[str, str], status: int, label: str) -> str:
    """One request before the load: it must be the refusal we mean to measure, with WB's error body
    (its eight fields, `status` the status, `requestId` the X-Request-Id header). Its `code`."""
    try:
        got, head, body = fetch(port, path, headers)
    except (OSError, http.client.HTTPException) as exc:
        raise RowError(f"{label}: GET {path} failed: {exc}") from None
    if got != status:
        raise RowError(f"{label}: GET {path} answered {got}, not {status}: {body[:300]!r}")
    if head.get("content-type") != "application/problem+json":
        raise RowError(f"{label}: content-type {head.get('content-type')!r}, not WB's error body")
    try:
        problem = json.loads(body)
    except ValueError:
        raise RowError(f"{label}: the body is not JSON: {body[:300]!r}") from None
    if not isinstance(problem, dict) or set(problem) != ERROR_KEYS:
        raise RowError(f"{label}: not WB's error body (fields {sorted(problem)}): {body[:300]!r}")
    if problem["status"] != status or not all(isinstance(problem[k], str) for k in ERROR_KEYS - {"status"}):
        raise RowError(f"{label}: a malformed WB error body: {problem}")
    if head.get("x-request-id") != problem["requestId"]:
        raise RowError(
            f"{label}: X-Request-Id {head.get('x-request-id')!r} is not requestId {problem['requestId']!r}"
        )
    return str(problem["code"])


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after "pid (comm)"; None where there is no such process or /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (uvicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (f := _stat(entry.name)) is not None:
            children.setdefault(int(f[1]), []).append(int(entry.name))  # field 4, ppid, is at 1
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and all its descendants (uvicorn's workers), from /proc."""
    if _stat(pid) is None:
        return None
    total = 0.0
    for p in [pid, *descendants(pid)]:
        f = _stat(p)
        if f is not None:
            # After "pid (comm)": field 3 is state, so utime and stime (fields 14 and 15) are at 11 and 12.
            total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load_server(
    label: str,
    server: Server,
    script: Path,
    load: Load,
    redis_pid: int | None = None,
    path: str = "/ping",
    expect: int | None = None,
    warm_script: Path | None = None,
) -> WrkRun:
    """A warm-up run (discarded) with `warm_script` (default `script`), then the measured run.

    A tallied script (a refusal row's, and the warm-up of every 2xx row) names what it got instead: any
    response of another status voids the row. The measured run of a 2xx row is not tallied (the hook costs
    wrk CPU): any non-2xx answer voids the row, since a refusal is far cheaper than an answer and would
    flatter the server; the warm-up's tally shows which statuses a server answers under load."""
    url = f"http://{LOOPBACK}:{server.port}{path}"
    print(f"  {label:<22}", end="", flush=True)
    runs = ([(load.warmup, warm_script or script)] if load.warmup else []) + [(load.duration, script)]
    run: WrkRun | None = None
    pid = server.proc.pid if server.proc is not None else -1
    for i, (seconds, lua) in enumerate(runs):
        warm = i < len(runs) - 1
        phase = "in the warm-up" if warm else "in the measured run"
        cpu_before = cpu_seconds(pid)
        redis_before = cpu_seconds(redis_pid) if redis_pid else None
        run = wrk(url, lua, seconds, load)
        cpu_after = cpu_seconds(pid)
        if cpu_before is not None and cpu_after is not None:
            run.server_cpu_s = cpu_after - cpu_before
        redis_after = cpu_seconds(redis_pid) if redis_pid else None
        if redis_before is not None and redis_after is not None:
            run.redis_cpu_s = redis_after - redis_before
        if expect is not None and not warm and run.unexpected is None:
            raise BenchError(f"{label}: wrk's script did not report the statuses it got")
        if run.unexpected:
            # Another status costs differently (a 429 of the failed-auth guard is not a 401): void.
            raise RowError(
                f"{label}: {run.unexpected} of {run.requests} responses {phase} were not"
                f" {expect or 200} (by status and code: {run.unexpected_statuses})"
            )
        if run.unexpected is None and run.non_2xx:
            raise RowError(
                f"{label}: {run.non_2xx} non-2xx responses of {run.requests} {phase} (not tallied:"
                f" the warm-up's tally names the statuses)\n{server.log_tail()}"
            )
        if server.proc is not None and server.proc.poll() is not None:
            raise BenchError(f"{label}: server died under load\n{server.log_tail()}")
        print(f"{'warm-up' if warm else 'measured'} {run.rps:>9,.0f} req/s   ", end="", flush=True)
    if run is not None and run.cpu_us_per_request is not None:
        print(f"{run.cpu_us_per_request:6.1f} us CPU/req", end="   ", flush=True)
    assert run is not None
    errors = {k: v for k, v in run.socket_errors.items() if v}
    print(f"socket errors {errors}" if errors else "", flush=True)
    return run


LABELS = {
    "a": "(a) bare ASGI",
    "b": "(b) wbseller /ping",
    "c": "(c) Starlette JSON",
    "d": "(d) wbseller, Redis",
    "e": "(e) Redis, 2 workers",
    "f": "(f) 401 no token",
    "g": "(g) 401 revoked token",
    "h": "(h) 404 unknown path",
    "i": "(i) 429 empty bucket",
    "j": "(j) (b), access log",
    "k": "(k) GET {supplyId}",
    "l": "(l) POST 1,000 items",
    "m": "(m) GET, new id each",
}
# Measurements that are not wrk rows, selectable with --only too.
MEASURES = {"s": "(s) start-up, RSS"}
REDIS_URL = "redis://127.0.0.1:6379/14"  # limits shared on Redis: the scale-out issue's figure
REDIS_TARGET = 0.5


@dataclass(frozen=True)
class Refusal:
    status: int
    path: str
    token: str | None  # which token it sends: None, "good" or "revoked"
    codes: tuple[str, ...] = ()  # the WB codes it must carry (empty: any; the row says which it got)


# The refusal rows: each against (a), target REFUSAL_TARGET.
REFUSALS = {
    "f": Refusal(401, "/ping", None),
    "g": Refusal(401, "/ping", "revoked"),
    "h": Refusal(404, UNKNOWN_PATH, "good"),
    # An empty bucket of the built-in table; after 5 refusals in 60 s /ping is blocked for 600 s, which
    # is still the 429 of an empty bucket (method-blocked-polling), not a raised limit.
    "i": Refusal(429, "/ping", "good", ("rate-limited", "method-blocked-polling")),
}
REDIS_ROWS = ("d", "e")


@dataclass(frozen=True)
class Answer:
    """A row answered 200 by a generated answer of a catalog operation, its limit lifted by CONFIG."""

    http: str
    template: str  # the catalog's path
    path: str  # what is sent; with `counter`, the prefix of a path ending in a new number each request
    host: str
    counter: bool = False


SUPPLY = "/api/v3/supplies/{supplyId}"  # marketplace-api, the named group fbs-orders: a string id
UPLOAD = "/api/v2/upload/task"  # discounts-prices-api, the named group prices
ANSWERS = {
    "k": Answer("GET", SUPPLY, "/api/v3/supplies/WB-GI-12345678", "marketplace-api.localhost"),
    "l": Answer("POST", UPLOAD, UPLOAD, "discounts-prices-api.localhost"),
    "m": Answer("GET", SUPPLY, "/api/v3/supplies/WB-GI-", "marketplace-api.localhost", counter=True),
}
SERVED_BY_B = ("f", "g", "h", "k", "l", "m")  # rows measured on (b)'s server, after (b)
MIB = 1024 * 1024


def price_body(items: int = 1000) -> bytes:
    """A valid price upload of `items` goods (as tests/schemas/test_checks.py builds it)."""
    goods = [{"nmID": 10_000_000 + i, "price": 1000 + i, "discount": i % 50} for i in range(items)]
    return json.dumps({"data": goods}).encode()


def check_answer(
    port: int, row: Answer, headers: dict[str, str], body: bytes | None, label: str, path: str
) -> None:
    """One request beside the load: a 200 with X-Ratelimit-Remaining whose JSON body is valid against the
    operation's declared 200 schema (the same validator the server has)."""
    from wbseller.catalog import load as load_catalog
    from wbseller.schemas.validate import SchemaViolation, Validator

    try:
        status, head, data = fetch(port, path, headers, row.http, body)
    except (OSError, http.client.HTTPException) as exc:
        raise RowError(f"{label}: {row.http} {path} failed: {exc}") from None
    if status != 200:
        raise RowError(f"{label}: {row.http} {path} answered {status}: {data[:300]!r}")
    if "x-ratelimit-remaining" not in head or head.get("content-type") != "application/json":
        raise RowError(f"{label}: not a limited JSON answer; headers: {head}")
    catalog = load_catalog()
    op = catalog.by_key(row.http, row.template)
    validator = Validator(op.responses["200"]["application/json"].schema, dict(catalog.defs_of(op)))
    try:
        validator.validate(json.loads(data))
    except (ValueError, SchemaViolation) as exc:
        raise RowError(f"{label}: the answer is not valid against its schema: {exc}") from None


def inprocess_check_us(body: bytes, cpu: int | None, batches: int = 7, calls: int = 40) -> float:
    """CPU microseconds of json.loads + Validator.validate of `body` with the upload's validator (schema
    from the catalog), in this process, on the server's CPU when pinned: the median of `batches`."""
    from wbseller.catalog import load as load_catalog
    from wbseller.schemas.validate import Validator

    catalog = load_catalog()
    op = catalog.by_key("POST", UPLOAD)
    assert op.request is not None
    validator = Validator(op.request.content["application/json"].schema, dict(catalog.defs_of(op)))
    validator.validate(json.loads(body))  # compiled here, and the body is valid
    before = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        times = []
        for _ in range(batches):
            start = time.process_time()
            for _ in range(calls):
                validator.validate(json.loads(body))
            times.append((time.process_time() - start) / calls * 1e6)
    finally:
        os.sched_setaffinity(0, before)
    return statistics.median(times)


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process and its descendants, MiB (VmRSS from /proc)."""
    total, seen = 0, False
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    seen = True
    return total / MIB if seen else None


def warm_requests(port: int, token: str, body: bytes) -> dict[str, str]:
    """One request to each of a few hosts, as a client's first minute would send: /ping, the supply, the
    price upload, and the first GET without required parameters of four more hosts. Their statuses (with
    the WB code of a refusal)."""
    from wbseller.catalog import load as load_catalog

    sent = [
        ("GET", "/ping", WB_HOST, None),
        ("GET", "/api/v3/supplies/WB-GI-1", "marketplace-api.localhost", None),
        ("POST", UPLOAD, "discounts-prices-api.localhost", body),
    ]
    hosts = {"common-api", "content-api", "marketplace-api", "discounts-prices-api"}
    for op in load_catalog().operations:
        free = "{" not in op.path and not any(p.required for p in op.parameters)
        mine = "personal" in op.token_types  # the bench's token
        if op.http == "GET" and free and mine and op.host not in hosts and len(sent) < 7:
            hosts.add(op.host)
            sent.append(("GET", op.path, f"{op.host}.localhost", None))
    statuses: dict[str, str] = {}
    for verb, path, host, data in sent:
        headers = {"Host": host, "Authorization": token}
        if data is not None:
            headers["Content-Type"] = "application/json"
        status, _, answer = fetch(port, path, headers, verb, data)
        code = ""
        if status >= 400:
            with contextlib.suppress(ValueError, AttributeError):
                code = " " + str(json.loads(answer).get("code"))
        statuses[f"{verb} {host}{path}"] = f"{status}{code}"
    return statuses


def token_id(token: str) -> str:
    """The `id` claim of one of our tokens (unverified: it is ours), which `wbseller token revoke` takes."""
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["id"])


@dataclass
class Startup:
    """(s): one `wbseller serve` as shipped, on a fresh data directory."""

    seconds: list[float]  # to the first answer, one per start
    cpu_seconds: list[float | None]  # the server's CPU time by then: steadier than the wall time when loaded
    rss_start_mib: float | None  # the last start's server, idle, right after its first answer
    rss_idle_mib: float | None  # the same, idle again after one request to each of a few hosts
    statuses: dict[str, str]  # those requests' statuses (and WB codes)


class Bench:
    """The servers, one after the other, once per round; wbseller's data lives across rounds."""

    def __init__(self, load: Load, tmp: Path, redis: bool, only: set[str] | None = None) -> None:
        self.load = load
        self.tmp = tmp
        self.redis = redis
        self.redis_pid = redis_server_pid() if redis else None  # its CPU time is measured too
        keys = [k for k in LABELS if (redis or k not in REDIS_ROWS) and (only is None or k in only)]
        self.runs: dict[str, list[WrkRun]] = {k: [] for k in keys}
        self.measures = {k for k in MEASURES if only is None or k in only}
        self.failed: dict[str, str] = {}  # rows whose check failed: void, with the reason
        self.codes: dict[str, list[str]] = {}  # refusal rows: the WB codes their checks got
        self.inprocess_us: list[float] = []  # (l): json.loads + validate in this process, per round
        self.startups: list[Startup] = []
        self.data_dir = tmp / "data"
        self.config = tmp / "bench.toml"
        self.config.write_text(CONFIG)
        self.redis_config = tmp / "bench-redis.toml"
        self.redis_config.write_text(CONFIG + f'\n[server]\nredis_url = "{REDIS_URL}"\n')
        self.token: str | None = None
        self.revoked: str | None = None
        self.body = price_body()
        self.body_file = tmp / "price-upload.json"
        self.body_file.write_bytes(self.body)
        self.first_id = 1_000_000_000  # row (m): every run counts its ids from a new first one
        # Same request bytes for all three; (a) and (c) ignore the headers.
        self.placeholder = write_script(tmp / "placeholder.lua", {"Host": WB_HOST, "Authorization": "x" * 40})
        self.placeholder_warm = write_script(
            tmp / "placeholder-warm.lua", {"Host": WB_HOST, "Authorization": "x" * 40}, expect=200
        )

    def wanted(self, *keys: str) -> list[str]:
        return [k for k in keys if k in self.runs and k not in self.failed]

    def round(self) -> None:
        if "a" in self.runs:
            self.plain("a", "bench.bare_app:app", "off")
        if self.wanted("b", *SERVED_BY_B):  # the refusals and answers of (b)'s server, in the same process
            self.wbseller("b", self.config, 1, also=self.wanted(*SERVED_BY_B))
        if self.wanted("j"):
            self.wbseller("j", self.config, 1, access_log=True)
        if self.wanted("i"):
            self.wbseller("i", None, 1)
        if self.wanted("c"):
            self.plain("c", "bench.starlette_app:app", "on")
        for key, workers in (("d", 1), ("e", 2)):
            if self.wanted(key):
                self.wbseller(key, self.redis_config, workers)
        if "s" in self.measures and "s" not in self.failed:
            try:
                self.startup(len(self.startups))
            except RowError as exc:
                self.fail("s", exc)

    def fail(self, key: str, exc: RowError) -> None:
        print(f"\n  FAIL: {exc}", flush=True)
        self.failed[key] = str(exc)
        self.runs.pop(key, None)

    def plain(self, key: str, app: str, lifespan: str) -> None:
        port = free_port()
        cmd = uvicorn_cmd(app, port, lifespan, self.load.pin)
        with running(Server(LABELS[key], cmd, port, self.tmp / f"{key}.log")) as srv:
            verify(port, {}, ("content-type",), LABELS[key], exact=True)
            try:
                run = load_server(
                    LABELS[key], srv, self.placeholder, self.load, warm_script=self.placeholder_warm
                )
            except RowError as exc:
                if key == "a":  # every ratio is to (a)
                    raise BenchError(str(exc)) from None
                self.fail(key, exc)
                return
            self.runs[key].append(run)

    def tokens(self) -> None:
        """A seller, its personal token, and a second one revoked (made once, on the first server)."""
        if self.token is not None:
            return
        sid = wbseller_cli(["seller", "create", "--name", "Bench"], self.data_dir)
        args = ["token", "create", "--seller", sid, "--type", "personal", "--categories", "all"]
        self.token = wbseller_cli([*args, "--accept-liability"], self.data_dir)
        revoked = wbseller_cli([*args, "--accept-liability", "--name", "revoked"], self.data_dir)
        wbseller_cli(["token", "revoke", token_id(revoked)], self.data_dir, quiet=True)
        self.revoked = revoked

    def serve_cmd(
        self, port: int, data_dir: Path, config: Path | None, workers: int, access_log: bool, pin: bool
    ) -> list[str]:
        return [
            *(self.load.pin.server if pin else []),
            sys.executable,
            "-m",
            "wbseller",
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *(["--config", str(config)] if config is not None else []),
            "--workers",
            str(workers),
            # (j) is `wbseller serve` as run by default: the access log on, at the default level (info).
            *([] if access_log else ["--no-access-log", "--log-level", "warning"]),
        ]

    def wbseller(
        self,
        key: str,
        config: Path | None,
        workers: int,
        access_log: bool = False,
        also: list[str] | None = None,
    ) -> None:
        """A `wbseller serve`: its row `key` (unless only `also` are wanted), then the rows `also` on the
        same process. `config` None is the built-in table; `access_log` is the default logging."""
        port = free_port()
        # Two workers get both CPUs, as in production.
        cmd = self.serve_cmd(port, self.data_dir, config, workers, access_log, pin=workers == 1)
        label = LABELS[key]
        with running(Server(label, cmd, port, self.tmp / f"{key}.log")) as srv:
            self.tokens()
            assert self.token is not None
            if key in REFUSALS:
                self.refusal(key, srv)
                return
            if key in self.wanted(key):
                auth = {"Host": WB_HOST, "Authorization": self.token}
                # This first request also puts the token into the server's cache, as in steady use.
                verify(port, auth, ("x-ratelimit-remaining",), label)
                script = write_script(self.tmp / f"{key}.lua", auth)
                warm = write_script(self.tmp / f"{key}-warm.lua", auth, expect=200)
                redis_pid = self.redis_pid if config == self.redis_config else None
                try:
                    run = load_server(label, srv, script, self.load, redis_pid, warm_script=warm)
                except RowError as exc:
                    self.fail(key, exc)
                else:
                    self.runs[key].append(run)
            for other in also or []:
                if other in REFUSALS:
                    self.refusal(other, srv)
                else:
                    self.answer(other, srv)

    def answer(self, key: str, srv: Server) -> None:
        """An answer row on a running server: checked before and after (200, valid body), then loaded."""
        row, label = ANSWERS[key], LABELS[key]
        assert self.token is not None
        headers = {"Host": row.host, "Authorization": self.token}
        body: bytes | None = None
        if row.http == "POST":
            headers["Content-Type"] = "application/json"
            body = self.body

        def script(name: str, expect: int | None) -> Path:
            counter = None
            if row.counter:
                counter = (row.path, self.first_id)
                self.first_id += THREAD_IDS * self.load.threads
            body_file = self.body_file if body is not None else None
            return write_script(
                self.tmp / name, headers, expect, method=row.http, body_file=body_file, counter=counter
            )

        # A counted path: the checks use ids of their own, which no wrk run sends.
        sample = row.path + "1" if row.counter else row.path
        try:
            check_answer(srv.port, row, headers, body, label, sample)
            warm, measured = script(f"{key}-warm.lua", 200), script(f"{key}.lua", None)
            run = load_server(label, srv, measured, self.load, path=sample, warm_script=warm)
            check_answer(srv.port, row, headers, body, label, row.path + "2" if row.counter else row.path)
        except RowError as exc:
            self.fail(key, exc)
            return
        self.runs[key].append(run)
        if key == "l":  # in the same run, on the server's CPU, while no server is loaded
            self.inprocess_us.append(inprocess_check_us(self.body, self.load.pin.server_cpu))

    def startup(self, index: int) -> None:
        """(s): `wbseller serve` as shipped (SQLite, in-process limits, default logging) on a fresh data
        directory, STARTS times: the seconds to its first answer. The last one stays up for its idle RSS,
        right after start-up and again after one request to each of a few hosts."""
        label = MEASURES["s"]
        print(f"  {label:<22}", end="", flush=True)
        seconds: list[float] = []
        cpu: list[float | None] = []
        rss_start = rss_idle = None
        statuses: dict[str, str] = {}
        for i in range(STARTS):
            data_dir = self.tmp / f"startup-{index}-{i}"
            port = free_port()
            # Not pinned: a user's server has every CPU; the wall time to its first answer is the figure.
            cmd = self.serve_cmd(port, data_dir, None, 1, access_log=True, pin=False)
            srv = Server(label, cmd, port, self.tmp / f"startup-{index}-{i}.log", poll=0.005)
            with running(srv):
                assert srv.proc is not None
                cpu.append(cpu_seconds(srv.proc.pid))
                seconds.append(srv.start_seconds)
                print(f"{srv.start_seconds:.2f} s   ", end="", flush=True)
                if i < STARTS - 1:
                    continue
                time.sleep(1.0)  # idle: what start-up left behind, not its peak
                rss_start = rss_mib(srv.proc.pid)
                sid = wbseller_cli(["seller", "create", "--name", "Bench"], data_dir)
                args = ["token", "create", "--seller", sid, "--type", "personal", "--categories", "all"]
                token = wbseller_cli([*args, "--accept-liability"], data_dir)
                statuses = warm_requests(port, token, self.body)
                failed = {k: v for k, v in statuses.items() if v[0] == "5"}
                if failed:  # a refusal (a 403 for a subscription) still loaded its host; a 5xx did not
                    raise RowError(f"{label}: server errors {failed}")
                time.sleep(1.0)
                rss_idle = rss_mib(srv.proc.pid)
        start_txt = f"{rss_start:.1f}" if rss_start is not None else "-"
        idle_txt = f"{rss_idle:.1f}" if rss_idle is not None else "-"
        print(
            f"RSS {start_txt} MiB after start-up, {idle_txt} MiB after {len(statuses)} requests", flush=True
        )
        self.startups.append(Startup(seconds, cpu, rss_start, rss_idle, statuses))

    def refusal(self, key: str, srv: Server) -> None:
        """A refusal row on a running server: checked (status, WB body, request id), then loaded; a failed
        check voids this row only."""
        row, label = REFUSALS[key], LABELS[key]
        headers = {"Host": WB_HOST}
        token = {"good": self.token, "revoked": self.revoked, None: None}[row.token]
        if token is not None:
            headers["Authorization"] = token
        try:
            if row.status == 429:  # empty the bucket: the burst is admitted, then 429
                for _ in range(DRAIN):
                    if fetch(srv.port, row.path, headers)[0] != 200:
                        break
            # This first request also puts a refused token's refusal into the server's cache.
            code = verify_refusal(srv.port, row.path, headers, row.status, label)
            if row.codes and code not in row.codes:
                raise RowError(f"{label}: code {code!r}, not one of {', '.join(row.codes)}")
            script = write_script(self.tmp / f"{key}.lua", headers, expect=row.status)
            run = load_server(label, srv, script, self.load, path=row.path, expect=row.status)
            after = verify_refusal(srv.port, row.path, headers, row.status, label)
        except RowError as exc:
            self.fail(key, exc)
            return
        self.runs[key].append(run)
        self.codes.setdefault(key, [])
        for c in (code, after):
            if c not in self.codes[key]:
                self.codes[key].append(c)


def _median_ratio(pairs: list[tuple[float | None, float | None]]) -> float | None:
    ratios = [n / d for n, d in pairs if n is not None and d]
    return statistics.median(ratios) if ratios and len(ratios) == len(pairs) else None


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if len(known) == len(values) and known else None


def _run_json(run: WrkRun) -> dict[str, Any]:
    return {
        **asdict(run),
        "cpu_us_per_request": run.cpu_us_per_request,
        "server_busy": run.server_busy,
        "wrk_busy": run.wrk_busy,
        "redis_us_per_request": run.redis_us_per_request,
    }


def report(bench: Bench, load: Load, loadavg: tuple[float, float]) -> dict[str, Any]:
    runs = bench.runs
    rps = {k: statistics.median(r.rps for r in v) for k, v in runs.items()}
    cpu = {k: _median([r.cpu_us_per_request for r in v]) for k, v in runs.items()}
    busy = {k: _median([r.server_busy for r in v]) for k, v in runs.items()}
    wrk_busy = {k: statistics.median(r.wrk_busy for r in v) for k, v in runs.items()}
    # Ratios round by round (a and b measured a minute apart), then the median: steadier under drift.
    base = runs.get("a", [])
    pairs = {k: list(zip(base, runs[k], strict=True)) for k in runs if k != "a" and base}
    ratio = {k: _median_ratio([(x.rps, a.rps) for a, x in pairs[k]]) or 0.0 for k in pairs}
    # The same from server CPU time per request: what b/a would be if each server had its CPU alone.
    cpu_ratio = {
        k: _median_ratio([(a.cpu_us_per_request, x.cpu_us_per_request) for a, x in pairs[k]]) for k in pairs
    }
    verdict = ("PASS" if ratio["b"] >= TARGET else "BELOW") if "b" in ratio else None
    print()
    if "a" in rps:
        print(
            f"{'server':<22}{'req/s':>10}{'vs (a)':>8}{'CPU us/req':>12}{'CPU busy':>10}{'wrk busy':>10}"
            f"{'p50 ms':>8}{'p99 ms':>8}"
        )
    for key, label in LABELS.items() if "a" in rps else ():
        if key in bench.failed:
            print(f"{label:<22}{'FAIL':>10}   the row's check failed (below)")
            continue
        if key not in runs:
            continue
        lat = runs[key][-1].latency_ms
        us = f"{cpu[key]:.1f}" if cpu[key] is not None else "-"
        share = f"{busy[key]:.0%}" if busy[key] is not None else "-"
        print(
            f"{label:<22}{rps[key]:>10,.0f}{rps[key] / rps['a']:>8.2f}{us:>12}{share:>10}"
            f"{wrk_busy[key]:>10.0%}{lat.get('p50', 0.0):>8.2f}{lat.get('p99', 0.0):>8.2f}"
        )
    print()

    def pair(k: str) -> str:
        by_cpu = f" (by CPU {cpu_ratio[k]:.3f})" if cpu_ratio.get(k) is not None else ""
        return f"{k}/a = {ratio[k]:.3f}{by_cpu}"

    if "b" in ratio:
        line = f"b/a = {ratio['b']:.3f}" + (f"   c/a = {ratio['c']:.3f}" if "c" in ratio else "")
        print(line)
        if cpu_ratio["b"] is not None:
            by_cpu = f"b/a = {cpu_ratio['b']:.3f}"
            if cpu_ratio.get("c") is not None:
                by_cpu += f"   c/a = {cpu_ratio['c']:.3f}"
            print(f"by server CPU time per request: {by_cpu}")
        print(f"target b/a >= {TARGET}: {verdict}")
    elif "c" in ratio:
        print(pair("c"))
    refusals: dict[str, dict[str, Any]] = {}
    for key, row in REFUSALS.items():
        if key in bench.failed:
            print(f"FAIL: {bench.failed[key]}")
            refusals[key] = {"status": row.status, "verdict": "FAIL", "why": bench.failed[key]}
        elif key in ratio:
            row_verdict = "PASS" if ratio[key] >= REFUSAL_TARGET else "BELOW"
            codes = " then ".join(bench.codes.get(key, []))
            print(
                f"{row.status} {codes}: {pair(key)} (target >= {REFUSAL_TARGET}: {row_verdict}); "
                f"every response {row.status}"
            )
            refusals[key] = {
                "status": row.status,
                "codes": bench.codes.get(key, []),
                "ratio": ratio[key],
                "cpu_ratio": cpu_ratio[key],
                "verdict": row_verdict,
            }
    access_log: dict[str, Any] = {}
    if "j" in runs and "b" in runs:
        # Round by round, like the ratios to (a): (b) and (j) of one round were measured a minute apart.
        jb = _median_ratio([(j.rps, b.rps) for b, j in zip(runs["b"], runs["j"], strict=True)]) or 0.0
        jb_cpu = _median_ratio(
            [(b.cpu_us_per_request, j.cpu_us_per_request) for b, j in zip(runs["b"], runs["j"], strict=True)]
        )
        log_verdict = "PASS" if jb >= ACCESS_LOG_TARGET else "BELOW"
        by_cpu = f" (by CPU {jb_cpu:.3f})" if jb_cpu is not None else ""
        print(
            f"access log on: j/b = {jb:.3f}{by_cpu} (target >= {ACCESS_LOG_TARGET}: {log_verdict}); {pair('j')}"
        )
        access_log = {"j/b": jb, "cpu_j/b": jb_cpu, "target": ACCESS_LOG_TARGET, "verdict": log_verdict}
    if "d" in ratio:
        redis_verdict = "PASS" if ratio["d"] >= REDIS_TARGET else "BELOW"
        two = f"; 2 workers e/a = {ratio['e']:.3f}" if "e" in ratio else ""
        print(f"on Redis: d/a = {ratio['d']:.3f} (target >= {REDIS_TARGET}: {redis_verdict}){two}")
    redis_us = {k: _median([r.redis_us_per_request for r in runs[k]]) for k in REDIS_ROWS if k in runs}
    if redis_us and all(v is not None for v in redis_us.values()):
        print(
            "redis-server's own CPU per request (not in the table): "
            + ", ".join(f"{k} {v:.1f} us" for k, v in redis_us.items())
        )
    answers: dict[str, Any] = {}
    if "k" in ratio:
        k_verdict = "PASS" if ratio["k"] >= ANSWER_TARGET else "BELOW"
        print(f"generated answer, templated GET: {pair('k')} (target >= {ANSWER_TARGET}: {k_verdict})")
        answers["k"] = {"ratio": ratio["k"], "cpu_ratio": cpu_ratio["k"], "target": ANSWER_TARGET}
        answers["k"]["verdict"] = k_verdict
    if "m" in ratio:
        print(f"the same, a new id each request (routing, checks, generation; no target): {pair('m')}")
        answers["m"] = {"ratio": ratio["m"], "cpu_ratio": cpu_ratio["m"]}
    for key in ("k", "m"):
        if key in bench.failed:
            print(f"FAIL: {bench.failed[key]}")
            answers[key] = {"verdict": "FAIL", "why": bench.failed[key]}
    validation: dict[str, Any] = {}
    inprocess = statistics.median(bench.inprocess_us) if bench.inprocess_us else None
    server_us = cpu.get("l")
    if server_us is not None and inprocess:
        times = server_us / inprocess
        l_verdict = "PASS" if times <= VALIDATION_TARGET else "BELOW"
        print(
            f"1,000-item upload validated: server {server_us:.1f} us CPU/req = {times:.2f}x json.loads +"
            f" validate in-process ({inprocess:.1f} us) (target <= {VALIDATION_TARGET}x: {l_verdict})"
        )
        validation = {
            "server_cpu_us": server_us,
            "inprocess_us": inprocess,
            "inprocess_us_rounds": bench.inprocess_us,
            "times": times,
            "target": VALIDATION_TARGET,
            "verdict": l_verdict,
            "body_bytes": len(bench.body),
        }
    elif "l" in bench.failed:
        print(f"FAIL: {bench.failed['l']}")
        validation = {"verdict": "FAIL", "why": bench.failed["l"]}
    startup: dict[str, Any] = {}
    if "s" in bench.failed:
        print(f"FAIL: {bench.failed['s']}")
        startup = {"verdict": "FAIL", "why": bench.failed["s"]}
    elif bench.startups:
        seconds = [t for s in bench.startups for t in s.seconds]
        median_s = statistics.median(seconds)
        s_verdict = "PASS" if median_s <= STARTUP_TARGET else "BELOW"
        idle = _median([s.rss_idle_mib for s in bench.startups])
        after = _median([s.rss_start_mib for s in bench.startups])
        r_verdict = (
            None if idle is None or after is None else "PASS" if max(idle, after) <= RSS_TARGET else "BELOW"
        )
        shown = ", ".join(f"{t:.2f}" for t in seconds)
        cpu_s = _median([c for s in bench.startups for c in s.cpu_seconds])
        by_cpu = f"; its CPU time by then {cpu_s:.2f} s" if cpu_s is not None else ""
        print(
            f"start-up: first answer {median_s:.2f} s after `wbseller serve` (median of {shown}{by_cpu})"
            f" (target <= {STARTUP_TARGET} s: {s_verdict})"
        )
        if idle is not None and after is not None:
            hosts = len(bench.startups[-1].statuses)
            print(
                f"idle RSS: {after:.1f} MiB after start-up, {idle:.1f} MiB after {hosts} requests"
                f" (target <= {RSS_TARGET:.0f} MiB: {r_verdict})"
            )
        startup = {
            "seconds": seconds,
            "median_s": median_s,
            "cpu_s": [c for s in bench.startups for c in s.cpu_seconds],
            "cpu_median_s": cpu_s,
            "target_s": STARTUP_TARGET,
            "verdict": s_verdict,
            "rss_after_start_mib": after,
            "rss_idle_mib": idle,
            "rss_target_mib": RSS_TARGET,
            "rss_verdict": r_verdict,
            "requests": bench.startups[-1].statuses,
        }
    if any(w >= BUSY_SERVER * load.threads for w in wrk_busy.values()):
        print(
            "note: wrk used about all of its CPU, so it may have been the limit; try --threads 2 or --no-pin"
        )
    elif any(b is not None and b < BUSY_SERVER for b in busy.values()):
        print(
            f"note: a server used under {BUSY_SERVER:.0%} of its CPU although wrk had room: other processes"
            " took its CPU; trust the CPU-time ratio more than req/s"
        )
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "pinning": load.pin.note,
            "loadavg_1min": {"before": loadavg[0], "after": loadavg[1]},
        },
        "wrk": {
            "threads": load.threads,
            "connections": load.connections,
            "duration_s": load.duration,
            "warmup_s": load.warmup,
            "rounds": load.rounds,
        },
        "rps": {LABELS[k]: v for k, v in rps.items()},
        "ratios": {f"{k}/a": v for k, v in ratio.items()},
        "cpu_us_per_request": {LABELS[k]: v for k, v in cpu.items()},
        "cpu_ratios": {f"{k}/a": v for k, v in cpu_ratio.items()},
        "server_busy": {LABELS[k]: v for k, v in busy.items()},
        "wrk_busy": {LABELS[k]: v for k, v in wrk_busy.items()},
        "target": {"b/a": TARGET, "verdict": verdict},
        "refusals": {LABELS[k]: v for k, v in refusals.items()},
        "refusal_target": REFUSAL_TARGET,
        "access_log": access_log,
        "answers": {LABELS[k]: v for k, v in answers.items()},
        "validation": validation,
        "startup": startup,
        "failed": {LABELS.get(k) or MEASURES[k]: v for k, v in bench.failed.items()},
        "runs": {LABELS[k]: [_run_json(r) for r in v] for k, v in runs.items()},
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="seconds of each measured wrk run (10)")
    p.add_argument("--warmup", type=int, default=2, help="seconds of the warm-up run, 0 for none (2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    p.add_argument(
        "--rounds", type=int, default=1, help="times to run the a, b, c sequence; medians count (1)"
    )
    p.add_argument(
        "--no-redis", action="store_true", help="skip (d) and (e), wbseller with its limits on Redis"
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin server and wrk to CPUs")
    p.add_argument(
        "--only",
        type=str,
        default=None,
        metavar="ROWS",
        help="run only these rows, e.g. a,b,f ((a) always runs with a wrk row: every ratio is to it; (j)"
        " brings (b); s is the start-up and idle RSS)",
    )
    p.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results ({RESULTS.relative_to(ROOT)})")
    args = p.parse_args(argv)
    if min(args.duration, args.connections, args.threads, args.rounds) < 1 or args.warmup < 0:
        p.error("--duration, --connections, --threads and --rounds must be positive")
    if args.connections < args.threads:
        p.error("--connections must be at least --threads (each wrk thread needs a connection)")
    if args.only is not None:
        rows = {r.strip() for r in args.only.split(",") if r.strip()}
        known = [*LABELS, *MEASURES]
        unknown = sorted(rows - set(known))
        if unknown or not rows:
            p.error(
                f"--only: unknown rows {', '.join(unknown) or '(none given)'}; rows are {', '.join(known)}"
            )
        if rows & set(LABELS):  # (s) alone needs no baseline
            rows.add("a")
        if "j" in rows:
            rows.add("b")
        args.only = rows
    return args


def _terminated(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (e.g. from `make` being stopped) unwinds like Ctrl-C, so the finally blocks stop the servers.
    raise KeyboardInterrupt


def redis_server_pid() -> int | None:
    """redis-server's pid, from INFO, when it runs on this machine (else its CPU time is not measured)."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as s:
            s.sendall(b"INFO server\r\n")
            data = b""
            while b"process_id:" not in data or not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    m = re.search(rb"process_id:(\d+)", data)
    pid = int(m.group(1)) if m else None
    return pid if pid is not None and Path(f"/proc/{pid}/stat").exists() else None


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        print("note: no Redis on 127.0.0.1:6379; the Redis rows (d, e) are skipped", flush=True)
        return False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(
            "error: wrk is not installed; install it with `apt-get install wrk` (Debian/Ubuntu)",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _terminated)
    load = Load(
        args.duration, args.warmup, args.connections, args.threads, args.rounds, pinning(not args.no_pin)
    )
    before = os.getloadavg()[0]
    print(
        f"wrk -t{load.threads} -c{load.connections} -d{load.duration}s (warm-up {load.warmup}s), "
        f"{load.rounds} round(s); pinning: {load.pin.note}; load average {before:.2f}",
        flush=True,
    )
    if before > BUSY_LOAD:
        # The servers and wrk get one CPU each only when nothing else runs: say so, the numbers will wander.
        print(f"warning: the machine is busy (load average {before:.2f}); expect noisy numbers", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="wbseller-bench-") as tmp:
            wants_redis = args.only is None or bool(args.only & set(REDIS_ROWS))
            redis = not args.no_redis and wants_redis and redis_reachable()
            bench = Bench(load, Path(tmp), redis=redis, only=args.only)
            for i in range(load.rounds):
                print(f"round {i + 1}/{load.rounds}", flush=True)
                bench.round()
    except BenchError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        return 130
    data = report(bench, load, (before, os.getloadavg()[0]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2) + "\n")
    print(f"results: {args.output}")
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
