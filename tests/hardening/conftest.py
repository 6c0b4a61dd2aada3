"""Shared pieces of the hardening suite: raw HTTP over sockets, token surgery, process probes, figures.

Every server here is a real process on 127.0.0.1, and every request goes to the loopback address only.
Each test records the numbers it reached (cases tried, requests sent, faults survived) with the
`figures` fixture; they are printed at the end of the run and, when WBSELLER_HARDENING_FIGURES names a
file, written there as JSON (docs/hardening.md quotes them).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, Server, serving

COMMON = "/common-api"
PING = f"{COMMON}/ping"
NEWS = f"{COMMON}/api/communications/v2/news"
SELLER_INFO = f"{COMMON}/api/v1/seller-info"
ERROR_KEYS = {"title", "detail", "code", "requestId", "origin", "status", "statusText", "timestamp"}
UVICORN_400 = b"Invalid HTTP request received."
JWT_LINE = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")

# The General section's limits, lifted: for tests whose subject is not the limiter.
LIFTED = "{ period = 1, limit = 1000000, burst = 1000000 }"
LIFTED_LIMITS = f"""
[limits.ping]
rates.all = {LIFTED}

[limits.news]
rates.personal = {LIFTED}
rates.service = {LIFTED}
rates.base = {LIFTED}

[limits.seller-info]
rates.personal = {LIFTED}
rates.service = {LIFTED}
rates.base = {LIFTED}
"""


# --- figures ------------------------------------------------------------------------------------

_FIGURES: dict[str, dict[str, Any]] = {}


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict this test fills with its numbers; reported at the end of the session. They travel in the
    test's report (`user_properties`), so that a run on several workers (pytest-xdist) reports them too."""
    values: dict[str, Any] = {}
    yield values
    if values:
        request.node.user_properties.append(("hardening figures", values))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for key, values in report.user_properties:
        if key == "hardening figures" and report.when == "teardown":
            _FIGURES[report.nodeid.split("::")[-1]] = values  # type: ignore[assignment]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("hardening figures")
    for name, values in _FIGURES.items():
        terminalreporter.write_line(f"{name}: {json.dumps(values, ensure_ascii=False, sort_keys=True)}")
    out = os.environ.get("WBSELLER_HARDENING_FIGURES")
    if out:
        Path(out).write_text(json.dumps(_FIGURES, ensure_ascii=False, indent=2, sort_keys=True))


# --- raw HTTP -----------------------------------------------------------------------------------


@dataclass
class RawResponse:
    """A response read off a socket, byte for byte."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        key = name.lower().encode()
        for k, v in self.headers:
            if k.lower() == key:
                return v.decode("latin-1")
        return None

    @property
    def parser_refused(self) -> bool:
        """uvicorn's HTTP parser refused the request before our application saw it (its own plain 400)."""
        return self.status == 400 and self.body == UVICORN_400 and self.header("x-request-id") is None

    def json(self) -> Any:
        return json.loads(self.body)

    def to_httpx(self) -> httpx.Response:
        return httpx.Response(self.status, headers=self.headers, content=self.body)


def parse_response(data: bytes) -> RawResponse | None:
    """The first response in `data`; None when there is none (the connection closed without one)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise AssertionError(f"not an HTTP response: {data[:200]!r}")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    resp = RawResponse(int(parts[1]), parts[2] if len(parts) > 2 else b"", headers, b"", data)
    length = resp.header("content-length")
    if length is not None:
        resp.body = rest[: int(length)]
    elif (resp.header("transfer-encoding") or "").lower() == "chunked":
        resp.body = _dechunk(rest)
    else:
        resp.body = rest
    return resp


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


def send_raw(
    port: int, request: bytes, *, timeout: float = 10.0, half_close: bool = False
) -> RawResponse | None:
    """Send `request` as is on a new connection and read until the server closes it.

    The request should say `Connection: close`. `half_close` shuts our side after sending (a client
    that sent a short body and gave up): the server sees the end of the stream."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(request)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything: read what it said
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                raise AssertionError(f"no answer within {timeout} s to {request[:200]!r}") from None
            if not chunk:
                break
            chunks.append(chunk)
    return parse_response(b"".join(chunks))


def get_raw(
    port: int,
    path: str,
    authorization: bytes | str | None = None,
    *,
    host: bytes = b"127.0.0.1",
    extra: list[tuple[bytes, bytes]] | None = None,
    method: bytes = b"GET",
) -> RawResponse:
    """A request with headers as bytes (a header value may be anything but CR and LF)."""
    lines = [method + b" " + path.encode() + b" HTTP/1.1", b"Host: " + host, b"Connection: close"]
    if authorization is not None:
        value = authorization.encode("latin-1") if isinstance(authorization, str) else authorization
        lines.append(b"Authorization: " + value)
    for k, v in extra or []:
        lines.append(k + b": " + v)
    resp = send_raw(port, b"\r\n".join(lines) + b"\r\n\r\n")
    assert resp is not None, f"no response to {method!r} {path}"
    return resp


def assert_wb_body(resp: RawResponse | httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A well-formed WB error body: one JSON object of exactly the documented keys, consistent."""
    if isinstance(resp, RawResponse):
        code, ctype, rid, text = (
            resp.status,
            resp.header("content-type"),
            resp.header("x-request-id"),
            resp.body,
        )
    else:
        code, ctype, rid, text = (
            resp.status_code,
            resp.headers.get("content-type"),
            resp.headers.get("x-request-id"),
            resp.content,
        )
    if status is not None:
        assert code == status, (code, text[:300])
    assert ctype == "application/problem+json", (code, ctype, text[:300])
    body = json.loads(text)
    assert isinstance(body, dict), body
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == code, body
    assert body["requestId"] == rid, (body, rid)
    assert re.fullmatch(r"[0-9a-f]{32}", body["requestId"]), body
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"]), body
    for key in ("title", "detail", "code", "origin", "statusText"):
        assert isinstance(body[key], str), body
        assert body[key].strip(), body
    return body


# --- tokens -------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a JWT, unverified."""
    header, payload, _sig = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload))


def token_id(token: str) -> str:
    return str(jwt_parts(token)[1]["id"])


def secrets_of(token: str) -> list[str]:
    """What must never be shown of a token: the whole of it and its signature."""
    return [token, token.rsplit(".", 1)[-1]]


# --- processes ----------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc (kB as the kernel counts them)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def python_env() -> dict[str, str]:
    """The environment of a child process: ours, without WBSELLER_* settings, with the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WBSELLER_")}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    return env


def wbseller_cmd(*args: str) -> list[str]:
    """`wbseller ARGS` as a real process (the installed entry point is `python -m wbseller`)."""
    return [sys.executable, "-m", "wbseller", *args]


def wait_until(check: Any, seconds: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


@dataclass
class Counts:
    """A tally of outcomes by name."""

    values: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + n

    def __getitem__(self, name: str) -> int:
        return self.values.get(name, 0)


@pytest.fixture(scope="module")
def lifted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of this module whose General limits are lifted (the failed-auth limit too)."""
    with serving(tmp_path_factory, "lifted", LIFTED_LIMITS) as srv:
        yield srv
