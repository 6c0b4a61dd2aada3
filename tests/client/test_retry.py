"""Retries: 429 (see test_limits), 5xx and connection errors with backoff, and never other 4xx."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.client.helpers import AsyncSpy, Spy, crafted_token, wb_error
from tests.conftest import Server
from wbseller.client import (
    AsyncClient,
    BadRequest,
    Client,
    ConnectionFailed,
    Forbidden,
    RetryPolicy,
    SellerInfo,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    WBAPIError,
    WBClientError,
)

NO_JITTER = RetryPolicy(rng=lambda: 1.0)  # backoff exactly 0.5, 1, 2 s: waits the test can check


class FailFirst:
    """A transport that fails the first `n` requests (a 503, or a dropped connection), then
    forwards to the real server: the network fault is made up, the 200 is real."""

    def __init__(self, n: int, fault: str = "503") -> None:
        self.n = n
        self.fault = fault
        self.calls = 0
        self.inner = httpx.HTTPTransport()
        self.ainner = httpx.AsyncHTTPTransport()

    def _fault(self, request: httpx.Request) -> httpx.Response | None:
        self.calls += 1
        if self.calls > self.n:
            return None
        if self.fault == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        return wb_error(503, "service unavailable", "backend-unavailable")

    def sync(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            faulty = self._fault(request)
            if faulty is not None:
                return faulty
            response = self.inner.handle_request(request)
            response.read()
            return response

        return httpx.MockTransport(handler)

    def async_(self) -> httpx.MockTransport:
        async def handler(request: httpx.Request) -> httpx.Response:
            faulty = self._fault(request)
            if faulty is not None:
                return faulty
            response = await self.ainner.handle_async_request(request)
            await response.aread()
            return response

        return httpx.MockTransport(handler)


@pytest.mark.parametrize("fault", ["503", "connect"])
def test_a_5xx_or_a_dropped_connection_is_retried(server: Server, fault: str) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "content")
    net = FailFirst(2, fault)
    slept: list[float] = []
    with Client(
        token, base_url=server.base_url, transport=net.sync(), retry=NO_JITTER, sleep=slept.append
    ) as client:
        info = client.seller_info()
    assert isinstance(info, SellerInfo) and info.sid == sid
    assert net.calls == 3
    assert slept == [0.5, 1.0]  # exponential backoff


@pytest.mark.parametrize("fault", ["503", "connect"])
def test_a_5xx_or_a_dropped_connection_is_retried_async(server: Server, fault: str) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "content")
    net = FailFirst(1, fault)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> SellerInfo:
        async with AsyncClient(
            token, base_url=server.base_url, transport=net.async_(), retry=NO_JITTER, sleep=sleep
        ) as client:
            return await client.seller_info()

    assert asyncio.run(main()).sid == sid
    assert net.calls == 2 and slept == [0.5]


def test_retries_are_bounded_and_the_last_error_is_raised(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    net = FailFirst(99)
    slept: list[float] = []
    policy = RetryPolicy(failures=2, rng=lambda: 0.0)
    with (
        Client(
            token, base_url=server.base_url, transport=net.sync(), retry=policy, sleep=slept.append
        ) as client,
        pytest.raises(ServiceUnavailable) as info,
    ):
        client.seller_info()
    assert net.calls == 3 and slept == [0.25, 0.5]  # jitter: between half and all of the base
    err = info.value
    assert isinstance(err, ServerError) and isinstance(err, WBAPIError) and isinstance(err, WBClientError)
    assert (err.status, err.title, err.code, err.request_id) == (
        503,
        "service unavailable",
        "backend-unavailable",
        "f" * 32,
    )

    net = FailFirst(99, "connect")
    with (
        Client(
            token, base_url=server.base_url, transport=net.sync(), retry=policy, sleep=slept.append
        ) as client,
        pytest.raises(ConnectionFailed) as lost,
    ):
        client.seller_info()
    assert net.calls == 3
    assert isinstance(lost.value.__cause__, httpx.ConnectError)


def test_a_401_is_not_retried(server: Server) -> None:
    spy = Spy()
    slept: list[float] = []
    # A token of WB's shape that this server never signed.
    client = Client(crafted_token(), base_url=server.base_url, transport=spy, sleep=slept.append)
    with client, pytest.raises(Unauthorized) as info:
        client.ping("content")
    assert spy.statuses == [401] and slept == []
    err = info.value
    assert err.status == 401 and err.title == "unauthorized"
    assert err.detail == "token problem; unknown signing key" and err.code == "token-kid-unknown"
    assert err.request_id == spy.responses[0].headers["x-request-id"] and len(err.request_id) == 32
    assert err.origin == "wbseller-gateway" and err.timestamp is not None and err.timestamp.endswith("Z")
    assert err.to_dict()["requestId"] == err.request_id


def test_a_401_is_not_retried_async(server: Server) -> None:
    spy = AsyncSpy()

    async def main() -> None:
        async with AsyncClient(crafted_token(), base_url=server.base_url, transport=spy) as client:
            await client.seller_info()

    with pytest.raises(Unauthorized, match="401 unauthorized: token problem"):
        asyncio.run(main())
    assert spy.statuses == [401]


def test_a_403_is_not_retried(server: Server) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "content")
    server.cli("seller", "block", "--seller", sid, "--method", "seller-info")
    spy = Spy()
    with (
        Client(
            token, base_url=server.base_url, transport=spy, retry=RetryPolicy(retry_unsafe=True)
        ) as client,
        pytest.raises(Forbidden) as info,
    ):
        client.seller_info()
    assert spy.statuses == [403] and info.value.code == "method-blocked"


def test_a_400_is_not_retried_and_a_foreign_body_still_makes_an_error() -> None:
    calls: list[httpx.Request] = []

    def proxy(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, text="<html>Bad Request</html>", headers={"x-request-id": "abc"})

    client = Client(crafted_token(), transport=httpx.MockTransport(proxy))
    with client, pytest.raises(BadRequest) as info:
        client.news(from_id=1)
    assert len(calls) == 1
    assert (info.value.title, info.value.request_id) == ("bad request", "abc")
    assert "Bad Request" in info.value.detail


# --- the policy alone ----------------------------------------------------------------------------


def test_policy_backoff_doubles_with_jitter_and_a_cap() -> None:
    low, high = RetryPolicy(rng=lambda: 0.0), RetryPolicy(rng=lambda: 0.999)
    assert [low.backoff_delay(n) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]
    assert [round(high.backoff_delay(n), 2) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert RetryPolicy(rng=lambda: 1.0, max_backoff=3).backoff_delay(10) == 3


def test_policy_only_idempotent_methods_unless_told() -> None:
    policy = RetryPolicy(rng=lambda: 0.0)
    assert policy.after_failure("GET", 1, 503) == 0.25
    assert policy.after_failure("GET", 1) == 0.25  # a connection error
    assert policy.after_failure("POST", 1, 503) is None
    assert policy.after_failure("PATCH", 1) is None
    assert RetryPolicy(retry_unsafe=True, rng=lambda: 0.0).after_failure("POST", 1, 503) == 0.25
    assert policy.after_failure("GET", 1, 501) is None  # not a transient status
    assert policy.after_failure("GET", 1, 401) is None
    assert policy.after_failure("GET", 4, 503) is None  # three retries, then no more


def test_policy_rate_limited_waits_the_header_within_bounds() -> None:
    policy = RetryPolicy(rate_limited=2, max_wait=60, rng=lambda: 0.0)
    assert policy.after_rate_limited(7, 1) == 7
    assert policy.after_rate_limited(None, 1) == 0.25  # no header: backoff
    assert policy.after_rate_limited(61, 1) is None  # longer than max_wait: raise instead
    assert policy.after_rate_limited(7, 3) is None
