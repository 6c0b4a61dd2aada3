"""A uvicorn server process whose app answers scripted responses, every start message marked
`TRUSTED`, under one of three protocols, for tests/hardening/test_protocol_bytes.py:

    python -m tests.hardening.bytes_server PORT ours       # WBHttpToolsProtocol (the trusted writer)
    python -m tests.hardening.bytes_server PORT wb-stock   # WBHttpToolsProtocol with uvicorn's own cycle
    python -m tests.hardening.bytes_server PORT stock      # uvicorn's HttpToolsProtocol

`wb-stock` differs from `ours` by the response writer alone; `stock` is uvicorn as shipped (which also
keeps a connection whose request body the answer left unread: see protocol.py). The `server` and `date`
default headers are on, as uvicorn has them by default.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from wbseller.gateway.protocol import TRUSTED, WBHttpToolsProtocol

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

BIG = bytes(range(256)) * 4096  # 1 MiB: over the joined-write size, and over the transport's buffer
PROBLEM = b'{"title":"too many requests","detail":"limited by ping","code":"rate-limited"}'

# path -> (status, headers, body parts); each part is one http.response.body message
SCRIPT: dict[str, tuple[int, list[tuple[bytes, bytes]], list[bytes]]] = {
    "/plain": (200, [(b"content-type", b"application/json"), (b"content-length", b"11")], [b'{"ok":true}']),
    "/limited": (
        429,
        [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(PROBLEM)).encode()),
            (b"x-request-id", b"0123456789abcdef0123456789abcdef"),
            (b"x-ratelimit-retry", b"10"),
            (b"x-ratelimit-limit", b"3"),
            (b"x-ratelimit-reset", b"30"),
        ],
        [PROBLEM],
    ),
    "/remaining": (
        200,
        [(b"content-type", b"application/json"), (b"content-length", b"2"), (b"x-ratelimit-remaining", b"7")],
        [b"{}"],
    ),
    "/allow": (405, [(b"content-length", b"0"), (b"allow", b"GET, HEAD")], [b""]),
    "/empty": (204, [(b"content-length", b"0")], [b""]),
    "/no-body-message-part": (200, [(b"content-length", b"0")], [b""]),
    "/other-names": (
        200,
        [(b"Content-Type", b"text/plain"), (b"content-length", b"2"), (b"X-Custom", b"a value")],
        [b"hi"],
    ),
    "/bad-value": (200, [(b"content-length", b"2"), (b"x-custom", b"bad\x01value")], [b"hi"]),
    "/bad-name": (200, [(b"content-length", b"2"), (b"x bad", b"value")], [b"hi"]),
    "/connection-close": (200, [(b"content-length", b"2"), (b"connection", b"close")], [b"hi"]),
    "/no-length": (200, [(b"content-type", b"text/plain")], [b"chunk one", b"chunk two", b""]),
    "/chunked": (200, [(b"transfer-encoding", b"chunked")], [b"abc", b"def", b""]),
    "/two-lengths": (200, [(b"content-length", b"2"), (b"content-length", b"2")], [b"hi"]),
    "/split": (200, [(b"content-length", b"10")], [b"0123", b"456789"]),
    "/split-empty-first": (200, [(b"content-length", b"4")], [b"", b"abcd"]),
    "/too-long": (200, [(b"content-length", b"3")], [b"12345"]),
    "/too-short": (200, [(b"content-length", b"10")], [b"12345"]),
    "/big": (200, [(b"content-length", str(len(BIG)).encode())], [BIG]),
}


async def app(scope: Message, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/read-first":  # reads the whole request body first (a 100-continue is sent for it)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        length = str(len(body)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", length)],
                TRUSTED: True,
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    status, headers, parts = SCRIPT[path]
    await send({"type": "http.response.start", "status": status, "headers": list(headers), TRUSTED: True})
    for i, part in enumerate(parts):
        await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})


class WBStock(WBHttpToolsProtocol):
    cycle_class = RequestResponseCycle


PROTOCOLS: dict[str, type[HttpToolsProtocol]] = {
    "ours": WBHttpToolsProtocol,
    "wb-stock": WBStock,
    "stock": HttpToolsProtocol,
}


def main() -> None:
    port, kind = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http=PROTOCOLS[kind],
        lifespan="off",
        log_level="critical",  # the scripted errors ("Invalid HTTP header value") are expected
        access_log=False,
    )


if __name__ == "__main__":
    main()
