"""Shared fixtures: a real `wbseller serve` process on a free port, and ways to make sellers and tokens.

`server` is one server for the whole session (with the test clock on); `start_server(config=...)` starts
a private one, for tests that need their own method table or a fresh data directory.
Sellers are cheap: each test makes its own, so buckets never leak between tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
from typer.testing import CliRunner

from wbseller.cli import app
from wbseller.tokens import KeyRing

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO.parent / "shared" / "wb-openapi" / "specs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds the listening socket of 127.0.0.1:`port` (Linux's /proc): an answer on
    the port may be another process's."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return False
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd_dir / fd) in inodes for fd in os.listdir(fd_dir))
    except (FileNotFoundError, ProcessLookupError):
        return False


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """Terminate a process this test started, and kill it if it does not end in `timeout` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """A running `wbseller serve` process and helpers that act on its data directory."""

    def __init__(
        self, data_dir: Path, config: Path | None = None, extra_env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False  # set when the test run stops it; a process gone without it died
        self._runner = CliRunner()

    # --- process ---

    log_flags: tuple[str, ...] = ("--no-access-log", "--log-level", "warning")

    def start(self) -> Self:
        args = [
            sys.executable,
            "-m",
            "wbseller",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--test-clock",
            *self.log_flags,
        ]
        args += ["--config", str(self._config_with_defaults())]
        # Only this server's own settings: none leak in from the environment of the test run.
        env = {k: v for k, v in os.environ.items() if not k.startswith("WBSELLER_")}
        env["PYTHONPATH"] = f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
        # A crash in C code (a segfault) leaves Python's traceback in the log, not just an exit code.
        env["PYTHONFAULTHANDLER"] = "1"
        env.update(self.extra_env)
        self.stopped = False  # a restart after a kill is watched again
        if self not in _LIVE:
            _LIVE.append(self)
        for _attempt in range(3):
            with self.log_path.open("wb") as log:
                self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_ready():
                return self
            # The port was taken between `free_port` and our bind (another test's server, perhaps in
            # another worker): a new one.
            self.port = free_port()
            self.base_url = f"http://127.0.0.1:{self.port}"
            args[args.index("--port") + 1] = str(self.port)
        raise RuntimeError(f"server could not bind a free port in 3 tries:\n{self.log}")

    def _wait_ready(self) -> bool:
        """True once this process listens on its port; False if it exited for want of the port."""
        assert self.proc is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = self.log.lower()  # our own sentence, or uvicorn's
                if f"port {self.port} is in use" in said or "address already in use" in said:
                    return False
                raise RuntimeError(f"server exited early:\n{self.log}")
            if _listens(self.proc.pid, self.port):
                try:
                    httpx.get(f"{self.base_url}/ready", timeout=2)  # any answer: it serves
                    return True
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log}")

    def _config_with_defaults(self) -> Path:
        """The test's config, plus a lifted failed-auth limit: tests send many bad tokens from one
        address on purpose (the hardening tests that test that limit set it themselves)."""
        text = self.config.read_text() if self.config is not None else ""
        if "[limits.auth-failures]" not in text:
            text += "\n[limits.auth-failures]\nrates.all = { period = 1, limit = 1000000, burst = 1000000 }\n"
        path = self.data_dir.parent / f"config-{self.port}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def stop(self) -> None:
        self.stopped = True
        stop_process(self.proc)

    def died(self) -> bool:
        """The process ended, and no test stopped it."""
        return not self.stopped and self.proc is not None and self.proc.poll() is not None

    def state(self) -> str:
        """Which process this is and how it stands: for messages."""
        if self.proc is None:
            return f"server on port {self.port}, not started"
        return f"server on port {self.port} (pid {self.proc.pid}), exit code {self.proc.poll()}"

    def death(self) -> str:
        return f"{self.state()}: it exited by itself"

    def kill(self) -> None:
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- HTTP ---

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, **kwargs)

    def get(
        self, path: str, token: str | None = None, host: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = token
        if host is not None:
            headers["Host"] = host
        try:
            return httpx.request(
                kwargs.pop("method", "GET"), self.base_url + path, headers=headers, timeout=10, **kwargs
            )
        except httpx.ConnectError as exc:
            # A server that had answered stops listening: say what became of it.
            raise AssertionError(f"{exc}: {self.state()}; its log ends:\n{self.log[-2000:]}") from exc

    def advance(self, seconds: float) -> None:
        """Move the server's clock forward (the test clock is on)."""
        r = httpx.post(f"{self.base_url}/_wbseller/clock", json={"advance": seconds}, timeout=5)
        r.raise_for_status()

    # --- the data directory, through the CLI (in-process, so it is fast) ---

    def cli(self, *args: str, input: str | None = None, ok: bool = True) -> str:
        result = self._runner.invoke(
            app, [*args, "--data-dir", str(self.data_dir)], input=input, env=self.extra_env
        )
        if ok and result.exit_code != 0:
            raise AssertionError(f"wbseller {' '.join(args)} failed ({result.exit_code}): {result.output}")
        return result.stdout.strip() if ok else result.output

    def seller(
        self, name: str = "ИП Тестов Т. Т.", tin: str = "1234567890", trade_mark: str = "Test Store"
    ) -> str:
        return self.cli("seller", "create", "--name", name, "--tin", tin, "--trade-mark", trade_mark)

    def token(
        self,
        sid: str,
        type: str = "personal",
        categories: str = "all",
        read_only: bool = False,
        **options: str,
    ) -> str:
        args = ["token", "create", "--seller", sid, "--type", type]
        if type != "service":
            args += ["--categories", categories]
        if read_only:
            args.append("--read-only")
        if type == "personal":
            args.append("--accept-liability")
        for k, v in options.items():
            args += [f"--{k.replace('_', '-')}", v]
        return self.cli(*args)

    def run_storage(self, work: Callable[[Any], Any]) -> Any:
        """Run `work(storage)` against this server's database (for checks the CLI has no command for)."""
        from wbseller.storage import Storage

        async def main() -> Any:
            url = self.extra_env.get("WBSELLER_DATABASE_URL")
            storage = Storage(url) if url else Storage.in_dir(self.data_dir)
            try:
                return await work(storage)
            finally:
                await storage.close()

        return asyncio.run(main())

    def key_ring(self) -> KeyRing:
        """The server's own signing keys, read from its database: to forge what only it could sign."""

        async def keys(storage: Any) -> list[tuple[str, bytes, float]]:
            rows: list[tuple[str, bytes, float]] = await storage.signing_keys()
            return rows

        ring = KeyRing()
        for kid, pem, _created in self.run_storage(keys):
            ring.add(kid, pem, signing=True)
        return ring


# Every server started in this run: a failing test's report says which of them died under it (a session
# server that stops listening fails every later test that uses it; its exit code and log say why).
_LIVE: list[Server] = []


# The longest files (a minute or two each), collected first: `make test`'s two workers (pytest-xdist,
# a file at a time, in collection order) start on them, and the rest fill in around them. Collected where
# they fall, they began late and the run waited on one worker (495 s, against ~380 s balanced).
LONGEST_FIRST = (
    "tests/hardening/test_soak.py",
    "tests/hardening/test_spec.py",
    "tests/e2e/test_first_hour.py",
    "tests/hardening/test_crash.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file's own order is kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        for srv in _LIVE:
            if srv.died():
                report.sections.append((srv.death(), srv.log[-3000:]))
    return report


@contextlib.contextmanager
def serving(factory: pytest.TempPathFactory, name: str, config: str | None = None) -> Iterator[Server]:
    """A server in a directory of its own (for a module- or session-scoped fixture), stopped after."""
    base = factory.mktemp(name)
    cfg = None
    if config is not None:
        cfg = base / "config.toml"
        cfg.write_text(config)
    srv = Server(base / "data", cfg).start()
    try:
        yield srv
    finally:
        died = srv.died()
        srv.stop()
        if died:
            raise RuntimeError(f"{srv.death()}; its log ends:\n{srv.log[-3000:]}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory, "srv") as srv:
        yield srv


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(config: str | None = None, data_dir: Path | None = None, **kw: Any) -> Server:
        cfg = None
        if config is not None:
            cfg = tmp_path / f"config-{len(started)}.toml"
            cfg.write_text(config)
        srv = Server(data_dir or tmp_path / f"data-{len(started)}", cfg, **kw).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def assert_wb_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is a WB error body with this status (and code); returns the body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert set(body) == {
        "title",
        "detail",
        "code",
        "requestId",
        "origin",
        "status",
        "statusText",
        "timestamp",
    }
    assert body["status"] == status
    assert body["requestId"] == r.headers["x-request-id"]
    assert len(body["requestId"]) == 32
    assert body["timestamp"].endswith("Z")
    if code is not None:
        assert body["code"] == code, body
    return body
