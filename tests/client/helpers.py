"""Test helpers for the client: transports that spy, test time, WB error responses, crafted tokens."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx

from tests.conftest import Server

IMPORTED = range(20001, 20251)  # the news `news_server` adds: three pages from the first


class Spy(httpx.BaseTransport):
    """A real transport that remembers every request and the status and headers of every response."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    @property
    def statuses(self) -> list[int]:
        return [r.status_code for r in self.responses]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.inner.handle_request(request)
        self.responses.append(response)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncSpy(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    @property
    def statuses(self) -> list[int]:
        return [r.status_code for r in self.responses]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        self.responses.append(response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class TestTime:
    """The client's clock and sleep, moving a private server's test clock instead of sleeping.

    Both clocks run on real time plus an offset, and every sleep adds the same amount to both."""

    __test__ = False  # not a test class

    def __init__(self, server: Server) -> None:
        self.server = server
        self.offset = 0.0
        self.slept: list[float] = []
        self._http = httpx.Client(base_url=server.base_url, timeout=5)  # one connection for all sleeps

    def now(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.offset += seconds
        self._http.post("/_wbseller/clock", json={"advance": seconds}).raise_for_status()

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def close(self) -> None:
        self._http.close()


def wb_error(status: int, title: str, code: str, retry: int | None = None) -> httpx.Response:
    """A WB error response, as the server would render it (for faults a real server will not make)."""
    headers = {"x-request-id": "f" * 32}
    if retry is not None:
        headers["x-ratelimit-retry"] = str(retry)
    body = {
        "title": title,
        "detail": f"{title}; made by the test",
        "code": code,
        "requestId": "f" * 32,
        "origin": "test",
        "status": status,
        "statusText": title.title(),
        "timestamp": "2025-01-01T00:00:00Z",
    }
    return httpx.Response(status, json=body, headers=headers)


def crafted_token(days_left: float = 100, /, **claims: Any) -> str:
    """A JWT of WB's shape that no server signed: decode_token reads it, any server refuses it."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    payload: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "s": (1 << 1) | (1 << 4),
        "sid": str(uuid.uuid4()),
        "exp": int(time.time() + days_left * 86400),
        "acc": 3,
        "t": False,
        "for": "self",
    }
    payload.update(claims)
    header = {"alg": "ES256", "kid": "20250520v1", "typ": "JWT"}
    return f"{part(header)}.{part(payload)}.c2lnbmF0dXJl"
