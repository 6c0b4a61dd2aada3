"""What reaches the HTTP protocol (gateway/protocol.py) before any app sees it, under floods.

- Log growth: uvicorn logs a WARNING per request that is not HTTP and two per unsupported upgrade, so a
  flood of garbage grows the log without bound. Here a real `wbseller serve` gets 2,000 connections of
  garbage, 100 heads over the limit and 100 unsupported upgrades: its log gains one line (the first
  garbage; the rest wait for the sum at the end of the minute), and the server still answers /ping. The tally's interval sums are shown on a Tally of a
  short interval on a real event loop (the server's is 60 s).
- Held connections: a 413 for a declared body over the limit is sent before the body is read; the
  connection must then be closed (with `connection: close`), not kept reading and dropping the body.
  Shown on one connection that keeps sending, and on a flood of 10 MB declarations whose clients reset:
  the server's memory stays level.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from tests.conftest import Server
from tests.hardening.conftest import PING, RawResponse, assert_wb_body, parse_response, rss_kib
from tests.hardening.flood_load import CLOSED, FloodTally, one_shot
from wbseller.gateway.protocol import MAX_HEAD, REASONS, Tally

StartServer = Callable[..., Server]

GARBAGE = 2_000  # connections whose bytes are not HTTP
HUGE_HEADS = 100  # requests whose head is over MAX_HEAD
UPGRADES = 100  # requests asking for an upgrade the server does not do
DECLARED = 10_000_000  # bytes of body declared by the 413 floods (the limit is 1 MiB)


def _garbage(i: int) -> bytes:
    # A control byte starts no method; the rest varies so that no two connections send the same.
    return bytes([1 + i % 31]) + b"%d not http at all\r\n\r\n" % i


def _huge_head(i: int) -> bytes:
    return (
        b"GET "
        + PING.encode()
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
        + b"a" * (MAX_HEAD + i)
        + b"\r\n\r\n"
    )


def _upgrade(i: int) -> bytes:
    return (
        b"GET " + PING.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: upgrade\r\n"
        b"Upgrade: h2c-%d\r\n\r\n" % i
    )


def _flood(port: int, make: Callable[[int], bytes], total: int) -> FloodTally:
    tally: FloodTally = uvloop.run(one_shot(port, make, total, connections=16))
    return tally


def _log_lines_after(srv: Server, offset: int) -> list[str]:
    return [line for line in srv.log[offset:].splitlines() if line.strip()]


def test_garbage_floods_add_one_log_line_each(start_server: StartServer, figures: dict[str, Any]) -> None:
    srv = start_server()
    token = srv.token(srv.seller())
    assert srv.get(PING, token).status_code == 200
    offset = len(srv.log)
    started = time.monotonic()

    garbage = _flood(srv.port, _garbage, GARBAGE)
    heads = _flood(srv.port, _huge_head, HUGE_HEADS)
    upgrades = _flood(srv.port, _upgrade, UPGRADES)
    seconds = time.monotonic() - started

    # Every request answered as it should be, with the WB body.
    assert garbage.statuses == {400: GARBAGE}, garbage.statuses
    assert heads.statuses == {431: HUGE_HEADS}, heads.statuses
    assert upgrades.statuses == {401: UPGRADES}, upgrades.statuses  # no token: served as plain HTTP
    for tally, code in ((garbage, "http-malformed"), (heads, "headers-too-large")):
        resp = parse_response(next(iter(tally.first.values())))
        assert resp is not None
        assert assert_wb_body(resp)["code"] == code

    # The log: the first garbage at once, the rest (of every kind) left for the sum at the end of the
    # minute; uvicorn would have written 2,000 + 2 x 100 lines.
    assert srv.proc is not None and srv.proc.poll() is None, srv.log[-3000:]
    lines = _log_lines_after(srv, offset)
    assert len(lines) == 1, lines[:10]
    assert lines[0].startswith("WARNING:  " + REASONS["http-malformed"][0] + " from 127.0.0.1:"), lines
    assert "Unsupported upgrade" not in srv.log and "No supported WebSocket library" not in srv.log

    # And the server still answers.
    ping = srv.get(PING, token)
    assert ping.status_code == 200, ping.text
    figures.update(
        {
            "requests": garbage.requests + heads.requests + upgrades.requests,
            "seconds": round(seconds, 1),
            "log lines": len(lines),
        }
    )


def test_the_tally_sums_up_each_interval(caplog: pytest.LogCaptureFixture) -> None:
    """The first of a quiet spell at once; the rest in one line at the end of the interval; a spell with
    nothing ends the summing, and the next one is logged at once again."""
    tally = Tally(interval=0.2)
    client = ("192.0.2.7", 4711)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for i in range(500):
            tally.note("http-malformed" if i % 100 else "upgrade-unsupported", loop, client)
        await asyncio.sleep(0.1)
        assert len(caplog.records) == 1  # only the first so far
        await asyncio.sleep(0.65)  # one sum at 0.2 s; at 0.4 s nothing was pending: the timer stopped
        tally.note("headers-too-large", loop, client)
        await asyncio.sleep(0.05)

    with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith(REASONS["upgrade-unsupported"][0] + " from 192.0.2.7:4711"), lines
    assert "499 more requests" in lines[1], lines
    assert "495 not HTTP (400)" in lines[1] and "4 asking for an unsupported upgrade" in lines[1], lines
    assert "(since start: 500)" in lines[1], lines
    assert lines[2].startswith(REASONS["headers-too-large"][0]), lines
    assert tally.counts == {"http-malformed": 495, "upgrade-unsupported": 5, "headers-too-large": 1}


def _oversized(path: bytes = PING.encode()) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % DECLARED


def test_a_413_closes_its_connection_while_the_body_is_coming(start_server: StartServer) -> None:
    """The client goes on sending its 10 MB; the server answers 413 `connection: close` and hangs up
    (before the fix it read and dropped the body, and kept the connection for the next request)."""
    srv = start_server()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(_oversized())
        sent = [0]

        def send_body() -> None:
            chunk = b"x" * 65536
            try:
                while sent[0] < DECLARED:
                    s.sendall(chunk)
                    sent[0] += len(chunk)
            except OSError:
                pass  # the server closed: what we want

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        data = b""
        closed = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
        sender.join(10)
    resp = parse_response(data)
    assert resp is not None, data[:300]
    assert assert_wb_body(resp, 413)["code"] == "body-too-large"
    assert resp.header("connection") == "close", resp.headers
    assert closed, "the server kept the connection open"
    assert sent[0] < DECLARED, "the server read the whole body it had refused"


def _read_response(s: socket.socket) -> RawResponse:
    """One response off a kept-alive connection, by its Content-Length."""
    data = b""
    while True:
        resp = parse_response(data)
        if resp is not None and len(resp.body) == int(resp.header("content-length") or 0):
            return resp
        chunk = s.recv(65536)
        assert chunk, f"the server closed the connection after {data[:300]!r}"
        data += chunk


def test_a_body_read_in_full_keeps_the_connection(start_server: StartServer) -> None:
    """The other side of the 413 fix: a body that comes after its head (the app waits for it) and is read
    whole leaves the connection kept alive for the next request."""
    srv = start_server()
    body = b'{"advance": 0}'
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        for _ in range(3):
            s.sendall(
                b"POST /_wbseller/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)
            )
            time.sleep(0.2)  # the app is waiting for the body now
            s.sendall(body)
            resp = _read_response(s)
            assert resp.status == 200, resp.raw[:300]
            assert resp.header("connection") is None, resp.headers
            s.sendall(b"GET " + PING.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            resp = _read_response(s)
            assert assert_wb_body(resp, 401)["code"] == "token-missing"
            assert resp.header("connection") is None, resp.headers


def test_a_flood_of_413s_does_not_hold_connections(
    start_server: StartServer, figures: dict[str, Any]
) -> None:
    """Connections declaring 10 MB, sending 16 KiB of it and resetting once answered: the server closes
    each with its 413, so nothing stays behind (before the fix uvicorn kept each one, with its last
    request, for the 5 s of its keep-alive timer: at thousands a second, tens of MB)."""
    srv = start_server()
    assert srv.proc is not None
    request = _oversized() + b"x" * 16384

    def make(i: int) -> bytes:
        return request

    warm = _flood(srv.port, make, 2_000)
    time.sleep(6)  # past the keep-alive timeout: whatever the warm-up left is gone
    before = rss_kib(srv.proc.pid)
    started = time.monotonic()
    flood = FloodTally()
    readings = []
    for _ in range(4):
        flood.add(_flood(srv.port, make, 2_500))
        readings.append(rss_kib(srv.proc.pid))
    seconds = time.monotonic() - started
    assert set(warm.statuses) | set(flood.statuses) <= {413, CLOSED}, (warm.statuses, flood.statuses)
    assert flood.statuses[413] >= 9_900, flood.statuses  # a reset may beat a response now and then
    grown = max(readings) - before
    figures.update(
        {
            "requests": flood.requests,
            "req/s": round(flood.requests / seconds),
            "rss kB before": before,
            "rss kB readings": readings,
        }
    )
    # 10,000 connections held for 5 s at ~8 KB each would be tens of MB; allow the allocator 8 MiB.
    assert grown < 8 * 1024, (before, readings)
    assert srv.get(PING).status_code == 401
