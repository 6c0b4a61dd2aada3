"""Baseline (a): the least an ASGI app can do to answer /ping, the ceiling for uvicorn on this machine.

No routing, no auth, no limit: any HTTP request gets the ping body. Run with `--lifespan off`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b'{"TS":"2024-08-16T11:19:05+03:00","Status":"OK"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    # Fresh message dicts per request, as any real app builds them: the baseline should not cheat.
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
