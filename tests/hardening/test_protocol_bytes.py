"""The trusted response writer (gateway/protocol.py, `TrustedCycle`) sends what uvicorn would, to the byte.

Three real server processes run one scripted app (tests/hardening/bytes_server.py, every start message
marked trusted): ours, ours with uvicorn's own request cycle (`wb-stock`: the writer alone differs), and
uvicorn as shipped (`stock`). The same raw requests go to each over a socket and the bytes that come back
(the `date` value set aside) must be equal, and so must whether the server closed the connection:
keep-alive and pipelining, HTTP/1.0, `Connection: close` either way, HEAD, 204, every header name the
gateway writes and others (checked as uvicorn checks them: a bad one ends the connection as uvicorn's
does), `connection`/`transfer-encoding` given by the app, no Content-Length (chunked), a body in
several messages, too long and too short, a 1 MiB body to a client that reads late (backpressure),
100-continue. Then a real `wbseller serve`: its 200s and 429s of /ping on one pipelined connection,
HEAD, HTTP/1.0, each judged by the General document; and clients that go away before their answer.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tests.conftest import REPO, Server, free_port, stop_process
from tests.e2e.test_general import check
from tests.hardening.bytes_server import BIG, SCRIPT
from wbseller.gateway.protocol import UVICORN

KINDS = ("ours", "wb-stock", "stock")
DATE = re.compile(rb"\r\ndate: [^\r\n]*\r\n")
TIMEOUT = 10.0  # seconds for one exchange, however slow the machine


@pytest.fixture(scope="module")
def ports() -> Iterator[dict[str, int]]:
    procs: list[subprocess.Popen[bytes]] = []
    out: dict[str, int] = {}
    try:
        for kind in KINDS:
            port = free_port()
            cmd = [sys.executable, "-m", "tests.hardening.bytes_server", str(port), kind]
            procs.append(subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
            out[kind] = port
        deadline = time.monotonic() + 20
        for proc, (kind, port) in zip(procs, out.items(), strict=True):
            while True:
                assert proc.poll() is None, f"the {kind} server exited ({proc.returncode})"
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"the {kind} server did not start"
                    time.sleep(0.05)
        yield out
    finally:
        for proc in procs:
            stop_process(proc)


def _complete(data: bytes, methods: list[str]) -> bool:
    """Whether `data` holds a whole response to each request (a 100 Continue is not one)."""
    pos = 0
    for method in methods:
        while True:
            end = data.find(b"\r\n\r\n", pos)
            if end < 0:
                return False
            head, pos = data[pos:end], end + 4
            if not head.startswith(b"HTTP/1.1 100 "):
                break
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        fields = dict(line.lower().split(b": ", 1) for line in lines[1:])
        if method == "HEAD" or status in (204, 304):
            continue
        if fields.get(b"transfer-encoding") == b"chunked":
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    return False
                size = int(data[pos:eol], 16)
                pos = eol + 2 + size + 2
                if len(data) < pos:
                    return False
                if size == 0:
                    break
        else:
            pos += int(fields.get(b"content-length", b"0"))
            if len(data) < pos:
                return False
    return True


def exchange(
    port: int,
    steps: list[tuple[bytes, bytes | None]],
    methods: list[str],
    closes: bool = False,
    read_late: float = 0.0,
) -> tuple[bytes, bool]:
    """Send each step's bytes (then wait until what came in holds its marker), read until every request
    has its whole response (or, if `closes`, until the server closes). Returns the bytes, `date` values
    blanked, and whether the server closed the connection."""
    deadline = time.monotonic() + TIMEOUT
    data, closed = b"", False
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        for sent, marker in steps:
            s.sendall(sent)
            while marker is not None and marker not in data:
                assert time.monotonic() < deadline, f"no {marker!r} in {data[:300]!r}"
                chunk = s.recv(65536)
                assert chunk, f"closed before {marker!r}: {data[:300]!r}"
                data += chunk
        if read_late:
            time.sleep(read_late)  # the server's writes fill the socket's buffers: it must wait, not drop
        while closes or not _complete(data, methods):
            assert time.monotonic() < deadline, f"incomplete after {TIMEOUT} s: {data[:300]!r}"
            try:
                chunk = s.recv(1 << 20)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed = True
                break
            data += chunk
    return DATE.sub(b"\r\ndate: -\r\n", data), closed


def request(
    path: str, method: str = "GET", version: str = "1.1", extra: str = "", body: bytes = b""
) -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body or method == "POST" else ""
    return f"{method} {path} HTTP/{version}\r\nHost: 127.0.0.1\r\n{length}{extra}\r\n".encode() + body


# Paths whose answer keeps the connection: each is sent pipelined with a GET /plain after it.
KEPT = [
    p for p in SCRIPT if p not in ("/connection-close", "/bad-value", "/bad-name", "/too-long", "/too-short")
]
ENDED = ["/connection-close", "/bad-value", "/bad-name", "/too-long", "/too-short"]


def same_everywhere(
    ports: dict[str, int],
    steps: list[tuple[bytes, bytes | None]],
    methods: list[str],
    closes: bool = False,
    kinds: tuple[str, ...] = KINDS,
    read_late: float = 0.0,
) -> tuple[bytes, bool]:
    got = {kind: exchange(ports[kind], steps, methods, closes, read_late) for kind in kinds}
    ours = got["ours"]
    for kind, theirs in got.items():
        assert ours == theirs, f"ours and {kind} differ:\n{ours[0][:1500]!r}\n{theirs[0][:1500]!r}"
    return ours


@pytest.mark.parametrize("path", KEPT)
def test_kept_alive_and_pipelined(ports: dict[str, int], path: str) -> None:
    data, closed = same_everywhere(ports, [(request(path) + request("/plain"), None)], ["GET", "GET"])
    assert not closed
    assert data.count(b"HTTP/1.1 ") == 2 and data.endswith(b'{"ok":true}'), data[:300]
    assert b"connection:" not in data


@pytest.mark.parametrize("path", ENDED)
def test_answers_that_end_the_connection(ports: dict[str, int], path: str) -> None:
    data, closed = same_everywhere(ports, [(request(path), None)], ["GET"], closes=True)
    assert closed
    if path in ("/bad-value", "/bad-name"):
        assert data == b""  # uvicorn refuses the header before writing anything, and closes


@pytest.mark.parametrize("path", ["/plain", "/limited", "/big", "/split", "/no-length"])
def test_head(ports: dict[str, int], path: str) -> None:
    data, closed = same_everywhere(
        ports, [(request(path, "HEAD") + request("/plain"), None)], ["HEAD", "GET"]
    )
    assert not closed and data.count(b"HTTP/1.1 ") == 2 and data.endswith(b'{"ok":true}')


@pytest.mark.parametrize("extra", ["", "Connection: keep-alive\r\n"], ids=["http-1.0", "http-1.0-keep-alive"])
def test_http_1_0_gets_connection_close(ports: dict[str, int], extra: str) -> None:
    data, closed = same_everywhere(
        ports, [(request("/limited", version="1.0", extra=extra), None)], ["GET"], closes=True
    )
    assert closed and b"\r\nconnection: close\r\n" in data


def test_client_asks_for_close(ports: dict[str, int]) -> None:
    data, closed = same_everywhere(
        ports, [(request("/plain", extra="Connection: close\r\n"), None)], ["GET"], closes=True
    )
    assert closed and b"\r\nconnection: close\r\n\r\n" in data


def test_backpressure(ports: dict[str, int]) -> None:
    """Two 1 MiB answers and a small one, pipelined, to a client that reads them a while later."""
    pipelined = request("/big") + request("/plain") + request("/big")
    data, closed = same_everywhere(ports, [(pipelined, None)], ["GET"] * 3, read_late=0.5)
    assert not closed and data.count(BIG) == 2


def test_request_body_then_answer(ports: dict[str, int]) -> None:
    """A POST's body arrives with its head: the connection is kept, the next request answered."""
    data, closed = same_everywhere(
        ports, [(request("/limited", "POST", body=b"12345") + request("/plain"), None)], ["POST", "GET"]
    )
    assert not closed and data.count(b"HTTP/1.1 ") == 2


def test_expect_100_continue(ports: dict[str, int]) -> None:
    """An app that reads the body: 100 Continue first, then the answer, and the connection goes on."""
    head = request("/read-first", "POST", extra="Expect: 100-continue\r\n").replace(
        b"Content-Length: 0", b"Content-Length: 5"
    )
    steps = [(head, b"100 Continue\r\n\r\n"), (b"hello" + request("/plain"), None)]
    data, closed = same_everywhere(ports, steps, ["POST", "GET"])
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n") and not closed
    assert b"\r\n\r\nhello" in data


def test_expect_100_answered_without_the_body(ports: dict[str, int]) -> None:
    """An answer before the body: no 100 Continue, and (ours, protocol.py) the connection is closed.
    Stock uvicorn would keep it and read the body: compared with ours with uvicorn's writer only."""
    head = request("/limited", "POST", extra="Expect: 100-continue\r\n").replace(
        b"Content-Length: 0", b"Content-Length: 5"
    )
    data, closed = same_everywhere(ports, [(head, None)], ["POST"], closes=True, kinds=("ours", "wb-stock"))
    assert closed and b"100 Continue" not in data and b"\r\nconnection: close\r\n" in data


def test_the_copied_uvicorn_is_installed() -> None:
    """protocol.py copies uvicorn's on_headers_complete: another uvicorn needs the copy compared anew."""
    assert uvicorn.__version__ == UVICORN, (
        f"uvicorn {uvicorn.__version__}: compare WBHttpToolsProtocol.on_headers_complete with its "
        f"on_headers_complete (the copy is of {UVICORN}), then set protocol.UVICORN"
    )


# --- the gateway itself -------------------------------------------------------------------------


def _responses(data: bytes, head_only: bool = False) -> list[httpx.Response]:
    """The responses in `data`, one after another, each framed by its Content-Length."""
    out = []
    while data:
        head, sep, data = data.partition(b"\r\n\r\n")
        assert sep, head[:300]
        lines = head.split(b"\r\n")
        fields = [(name, value) for name, _, value in (line.partition(b": ") for line in lines[1:])]
        length = 0 if head_only else int(dict(fields)[b"content-length"])
        body, data = data[:length], data[length:]
        out.append(httpx.Response(int(lines[0].split(b" ")[1]), headers=fields, content=body))
    return out


def test_gateway_pipelined_200s_then_429s(server: Server) -> None:
    """The built-in /ping limit (a burst of 3) on one connection: 200s, then 429s, each whole and
    judged by the General document, the connection kept; every head as uvicorn writes it."""
    token = server.token(server.seller())
    req = f"GET /ping HTTP/1.1\r\nHost: content-api.localhost\r\nAuthorization: {token}\r\n\r\n".encode()
    data, closed = exchange(server.port, [(req * 6, None)], ["GET"] * 6)
    assert not closed
    answers = _responses(data)
    statuses = [r.status_code for r in answers]
    assert statuses[-1] == 429 and set(statuses) <= {200, 429} and len(answers) == 6, statuses
    for r in answers:
        check(r, "/ping")
    heads = [part.split(b"\r\n\r\n", 1)[0] for part in data.split(b"HTTP/1.1 ")[1:]]
    for head in heads:
        names = [line.split(b": ", 1)[0] for line in head.split(b"\r\n")[1:]]
        assert names[:3] == [b"date", b"content-type", b"content-length"], head
        assert len(set(names)) == len(names) and b"connection" not in names, head
    limited = heads[-1].split(b"\r\n")[4:]
    assert [line.split(b": ")[0] for line in limited] == [
        b"x-request-id",
        b"x-ratelimit-retry",
        b"x-ratelimit-limit",
        b"x-ratelimit-reset",
    ]


def test_gateway_head_and_http_1_0(server: Server) -> None:
    token = server.token(server.seller())
    auth = f"Host: content-api.localhost\r\nAuthorization: {token}\r\n"
    data, closed = exchange(server.port, [(f"HEAD /ping HTTP/1.1\r\n{auth}\r\n".encode(), None)], ["HEAD"])
    assert not closed and data.endswith(b"\r\n\r\n"), data
    length = int(re.search(rb"content-length: (\d+)", data).group(1))  # type: ignore[union-attr]
    assert length > 0  # GET's length, no body
    data, closed = exchange(
        server.port, [(f"GET /ping HTTP/1.0\r\n{auth}\r\n".encode(), None)], ["GET"], closes=True
    )
    assert closed and b"\r\nconnection: close\r\n\r\n" in data
    check(_responses(data)[0], "/ping")


def test_gateway_clients_gone_before_their_answer(server: Server) -> None:
    """200 connections send a request and reset at once; the server goes on answering."""
    token = server.token(server.seller())
    req = f"GET /ping HTTP/1.1\r\nHost: content-api.localhost\r\nAuthorization: {token}\r\n\r\n".encode()
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        s.sendall(req * 3)
        s.close()
    data, closed = exchange(server.port, [(req, None)], ["GET"])
    assert not closed and data.startswith(b"HTTP/1.1 "), data[:200]
