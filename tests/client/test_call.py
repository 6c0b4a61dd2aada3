"""`call`: any operation of the catalog by its id, paced by the operation's own limit.

Real calls go to a real server on the operations it serves (ping, news, seller-info), sync and async. Pacing,
cost rules, named groups, host selection and path filling are checked on the sans-IO core (`Core`): its
plans are run by hand, a fake clock moving only when a plan asks to wait, with the catalog's
marketplace-api operations (a 4xx costs 10) and named groups. Bodies and retries run through the real
drivers on an `httpx.MockTransport` (no network): a server's answers, not a mock of our code.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.client.helpers import AsyncSpy, Spy, crafted_token, wb_error
from tests.conftest import REPO, Server
from wbseller.catalog import load
from wbseller.categories import ALL_HOST_BY_PREFIX
from wbseller.client import (
    AsyncClient,
    BadRequest,
    CallResult,
    CategoryNotAllowed,
    Client,
    InvalidCall,
    RateLimited,
    ReadOnlyNotAllowed,
    RetryPolicy,
    ServiceUnavailable,
    TokenTypeNotAllowed,
    UnexpectedResponse,
    UnknownOperation,
    Wait,
    WBAPIError,
)
from wbseller.client._core import Core, Plan

T = TypeVar("T")

CONTENT, ANALYTICS, MARKETPLACE, PROMOTION, READ_ONLY = 1 << 1, 1 << 2, 1 << 4, 1 << 6, 1 << 30
OFFICES, WAREHOUSES = "get-api-v3-offices", "get-api-v3-warehouses"  # the `warehouses` group
ORDERS_NEW = "get-api-v3-orders-new"  # the `fbs-orders` group
STOCKS = "post-api-v3-stocks-warehouse-id"  # the `stocks` group, templated
SUPPLY = "get-api-v3-supplies-supply-id"  # templated: /api/v3/supplies/{supplyId}
COLORS = "get-content-v2-object-all"  # the `content` group: no cost rule
ADVERTS = "get-adv-v1-adverts"  # advert-media-api, Promotion's second host


def personal(scope: int = CONTENT | MARKETPLACE) -> str:
    return crafted_token(s=scope)


def sandbox_token(scope: int = CONTENT | MARKETPLACE) -> str:
    return crafted_token(s=scope, acc=2, t=True, **{"for": None})


def of_type(kind: str, scope: int = CONTENT | MARKETPLACE) -> str:
    """A crafted token of any type (base, test, personal, service)."""
    target = {"personal": "self", "service": "asid:7"}.get(kind)
    acc = {"base": 1, "test": 2, "personal": 3, "service": 4}[kind]
    return crafted_token(s=scope, acc=acc, t=kind == "test", **{"for": target})


class FakeTime:
    """A clock and a sleep that moves it: the drivers' injectable time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def ok(status: int = 200, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {"data": []}, headers=headers)


def first(plan: Plan[T]) -> httpx.Request | Wait:
    step = next(plan)
    assert isinstance(step, httpx.Request | Wait)
    return step


def answer(plan: Plan[T], response: httpx.Response) -> T:
    """Send the request's answer into a plan that just yielded it; its result (or its exception)."""
    try:
        step = plan.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise AssertionError(f"the plan went on after the answer: {step}")


def at_once(core: Core, op_id: str, response: Callable[[], httpx.Response], **kw: Any) -> tuple[int, Wait]:
    """How many calls of `op_id` go out without a wait (the clock standing still), each answered so;
    and the wait the next one is given (that call, abandoned, keeps the slot it booked)."""
    sent = 0
    while sent < 1000:
        plan = core.call(op_id, **kw)
        step = first(plan)
        if isinstance(step, Wait):
            plan.close()
            return sent, step
        sent += 1
        with contextlib.suppress(WBAPIError):
            answer(plan, response())
    raise AssertionError("never paced")


# --- operations by id ------------------------------------------------------------------------------


def test_an_unknown_id_names_the_close_ones_and_sends_nothing() -> None:
    core = Core(personal())
    with pytest.raises(UnknownOperation, match="did you mean get-api-v3-warehouses") as info:
        core.call("get-api-v3-warehouse")
    assert isinstance(info.value, ValueError) and isinstance(info.value, InvalidCall)
    assert info.value.name == "get-api-v3-warehouse"
    assert WAREHOUSES in info.value.matches and len(info.value.matches) <= 5
    ids = {o.id for o in load().operations}
    assert set(info.value.matches) <= ids
    # A part of an id finds the ids that contain it.
    with pytest.raises(UnknownOperation) as info:
        core.call("orders-new")
    assert ORDERS_NEW in info.value.matches
    with pytest.raises(UnknownOperation) as info:
        core.call("zzzz-qqqq")
    assert info.value.matches == () and "did you mean" not in str(info.value)


def test_an_operation_also_answers_to_verb_and_path() -> None:
    core = Core(personal())
    assert core.operation("GET /api/v3/warehouses") is core.operation(WAREHOUSES)
    assert core.operation(f"GET {load().by_id(SUPPLY).path}").id == SUPPLY


def test_every_operation_of_the_catalog_has_a_host_the_client_can_build() -> None:
    every = (1 << 14) - 2  # every category bit
    cores = {kind: Core(of_type(kind, every)) for kind in ("base", "personal", "service")}
    for op in load().operations:
        kind = next(k for k in cores if k in op.token_types)
        host = cores[kind].host_for(op, "content" if op.category == "all" else None)
        assert host.prefix in ALL_HOST_BY_PREFIX
        assert host.prefix == ("content-api" if op.category == "all" else op.host)


# --- path templates ------------------------------------------------------------------------------


def test_path_values_are_quoted_whole() -> None:
    core = Core(personal(), base_url="http://127.0.0.1:9")
    plan = core.call(SUPPLY, path={"supplyId": "WB-GI 1/2?x#y"})
    request = first(plan)
    plan.close()
    assert isinstance(request, httpx.Request)
    # The slash, the space, ? and # stay inside the one segment.
    assert request.url.raw_path == b"/marketplace-api/api/v3/supplies/WB-GI%201%2F2%3Fx%23y"
    plan = core.call(STOCKS, path={"warehouseId": 507}, json={"stocks": []})
    request = first(plan)
    plan.close()
    assert isinstance(request, httpx.Request)
    assert request.url.path == "/marketplace-api/api/v3/stocks/507"


def test_a_missing_unknown_or_bad_path_value_is_refused_before_anything_is_sent() -> None:
    spy = Spy(httpx.MockTransport(lambda r: ok()))
    with Client(personal(), transport=spy) as client:
        with pytest.raises(InvalidCall, match=r"needs path=\{'supplyId': \.\.\.\}") as info:
            client.call(SUPPLY)
        assert isinstance(info.value, ValueError) and info.value.operation == SUPPLY
        with pytest.raises(InvalidCall, match="did you mean 'supplyId'"):
            client.call(SUPPLY, path={"supplyID": "WB-GI-1"})
        with pytest.raises(InvalidCall, match="it has none"):
            client.call(WAREHOUSES, path={"id": 1})
        with pytest.raises(InvalidCall, match="string or an integer, not bool"):
            client.call(SUPPLY, path={"supplyId": True})
        for bad in ("", ".", ".."):
            with pytest.raises(InvalidCall, match="cannot be"):
                client.call(SUPPLY, path={"supplyId": bad})
    assert spy.requests == []


# --- hosts and the token's rules -----------------------------------------------------------------


def test_hosts_production_base_url_and_the_sandbox_twin() -> None:
    def url(core: Core, op_id: str, **kw: Any) -> str:
        plan = core.call(op_id, **kw)
        step = first(plan)
        plan.close()
        assert isinstance(step, httpx.Request)
        return str(step.url)

    assert url(Core(personal()), WAREHOUSES) == "https://marketplace-api.wildberries.ru/api/v3/warehouses"
    assert (
        url(Core(personal(), base_url="http://h:1/"), WAREHOUSES)
        == "http://h:1/marketplace-api/api/v3/warehouses"
    )
    assert (
        url(Core(sandbox_token()), WAREHOUSES)
        == "https://marketplace-api-sandbox.wildberries.ru/api/v3/warehouses"
    )
    assert (
        url(Core(sandbox_token()), COLORS)
        == "https://content-api-sandbox.wildberries.ru/content/v2/object/all"
    )
    # A second host of a category: its operations go there; the category names it, the other host not.
    promo = Core(personal(PROMOTION))
    assert url(promo, ADVERTS) == "https://advert-media-api.wildberries.ru/adv/v1/adverts"
    assert url(promo, ADVERTS, host="promotion") == "https://advert-media-api.wildberries.ru/adv/v1/adverts"
    with pytest.raises(InvalidCall, match="only on advert-media-api"):
        promo.call(ADVERTS, host="advert-api")
    # /ping is on every host that has one: the caller names it, by category or by host.
    core = Core(personal())
    assert url(core, "ping", host="content") == url(core, "ping", host="content-api")
    assert url(core, "ping", host="content") == "https://content-api.wildberries.ru/ping"
    assert (
        url(Core(sandbox_token()), "ping", host="content")
        == "https://content-api-sandbox.wildberries.ru/ping"
    )
    with pytest.raises(InvalidCall, match="on every host"):
        core.call("ping")
    with pytest.raises(InvalidCall, match="has no /ping"):
        core.call("ping", host="advert-media-api")
    with pytest.raises(InvalidCall, match="unknown category or host 'nowhere'"):
        core.call("ping", host="nowhere")
    with pytest.raises(InvalidCall, match="production host"):
        core.call("ping", host="content-api-sandbox")


def test_what_the_token_cannot_call_is_refused_before_sending() -> None:
    with pytest.raises(CategoryNotAllowed, match="no marketplace category") as info:
        Core(personal(CONTENT)).call(WAREHOUSES)
    assert info.value.host == "marketplace-api.wildberries.ru"
    with pytest.raises(ReadOnlyNotAllowed):
        Core(personal(MARKETPLACE | READ_ONLY)).call("post-api-v3-warehouses", json={})
    plan = Core(personal(MARKETPLACE | READ_ONLY)).call(WAREHOUSES)  # reading is fine
    assert isinstance(first(plan), httpx.Request)
    plan.close()
    with pytest.raises(TokenTypeNotAllowed, match="does not accept a base token"):
        Core(of_type("base")).call("get-api-v1-users")  # user-management-api: personal only
    with pytest.raises(TokenTypeNotAllowed, match="test token"):
        Core(sandbox_token()).call("news", params={"fromID": 1})
    with pytest.raises(CategoryNotAllowed, match="has none"):
        Core(sandbox_token(ANALYTICS)).call("ping", host="analytics")
    with pytest.raises(InvalidCall, match="not a header"):
        Core(personal()).call(WAREHOUSES, headers={"authorization": "another token"})
    with pytest.raises(InvalidCall, match="one body"):
        Core(personal()).call("post-api-v3-warehouses", json={}, content=b"{}")


# --- pacing: the operation's own limit, its group's bucket, its cost rules ----------------------


def test_operations_of_one_named_group_share_one_bucket() -> None:
    core = Core(personal(), clock=FakeTime().clock)
    offices, warehouses, orders = (core.operation(i) for i in (OFFICES, WAREHOUSES, ORDERS_NEW))
    assert offices.limit.group == warehouses.limit.group == "warehouses" != orders.limit.group
    host = ALL_HOST_BY_PREFIX["marketplace-api"]
    key = core.bucket_key(offices, host)
    assert key == core.bucket_key(warehouses, host) == (core.token_info.seller_id, "warehouses:personal")
    assert core.bucket_key(orders, host) != key
    rate = core.rate_for(warehouses)
    assert rate is not None and rate == core.rate_for(offices)
    for i in range(rate.burst):  # the burst, spent by both members
        plan = core.call(OFFICES if i % 2 else WAREHOUSES)
        assert isinstance(first(plan), httpx.Request), i
        assert isinstance(answer(plan, ok()), CallResult)
    plan = core.call(OFFICES)
    step = first(plan)
    plan.close()
    assert isinstance(step, Wait)
    assert (step.reason, step.limit) == ("throttle", "warehouses")
    assert step.seconds == pytest.approx(rate.interval)
    # Another group's bucket is untouched.
    plan = core.call(ORDERS_NEW)
    assert isinstance(first(plan), httpx.Request)
    plan.close()


def test_a_4xx_of_marketplace_api_costs_10_on_the_client_s_bucket_too() -> None:
    op = load().by_id(WAREHOUSES)
    assert op.limit.costs == {"4xx": 10}
    assert [op.limit.cost(s) for s in (200, 204, 400, 404, 409, 500)] == [1, 1, 10, 10, 10, 1]
    fresh = Core(personal(), clock=FakeTime().clock)
    rate = fresh.rate_for(op)
    assert rate is not None
    assert at_once(fresh, WAREHOUSES, ok)[0] == rate.burst

    core = Core(personal(), clock=FakeTime().clock)
    plan = core.call(WAREHOUSES)
    first(plan)
    with pytest.raises(BadRequest) as info:
        answer(plan, wb_error(400, "bad request", "bad-param"))
    assert info.value.code == "bad-param" and info.value.request_id == "f" * 32
    assert core.throttle is not None
    key = core.bucket_key(op, ALL_HOST_BY_PREFIX["marketplace-api"])
    assert core.throttle.remaining(key, rate) == rate.burst - 10  # what X-Ratelimit-Remaining says then
    assert at_once(core, WAREHOUSES, ok)[0] == rate.burst - 10
    # A 409 of another member costs the same, on the same bucket.
    core = Core(personal(), clock=FakeTime().clock)
    plan = core.call(OFFICES)
    first(plan)
    with pytest.raises(WBAPIError):
        answer(plan, wb_error(409, "conflict", "conflict"))
    assert at_once(core, WAREHOUSES, ok)[0] == rate.burst - 10


def test_a_4xx_elsewhere_costs_one() -> None:
    op = load().by_id(COLORS)
    assert op.limit.group == "content" and op.limit.costs == {}
    core = Core(personal(), clock=FakeTime().clock)
    rate = core.rate_for(op)
    assert rate is not None
    plan = core.call(COLORS)
    first(plan)
    with pytest.raises(BadRequest):
        answer(plan, wb_error(400, "bad request", "bad-param"))
    assert at_once(core, COLORS, ok)[0] == rate.burst - 1


def test_test_tokens_share_the_sandbox_s_bucket_across_production_groups() -> None:
    core = Core(sandbox_token(), clock=FakeTime().clock)
    warehouses, stocks = core.operation(WAREHOUSES), core.operation(STOCKS)
    assert warehouses.limit.group != stocks.limit.group
    assert warehouses.limit.test_group == stocks.limit.test_group == "sandbox-marketplace"
    rate = core.rate_for(stocks)
    assert rate is not None and rate == core.rate_for(warehouses)
    assert rate.burst == 1
    plan = core.call(WAREHOUSES)
    step = first(plan)
    assert isinstance(step, httpx.Request) and step.url.host == "marketplace-api-sandbox.wildberries.ru"
    answer(plan, ok())
    plan = core.call(STOCKS, path={"warehouseId": 1}, json={"stocks": []})
    step = first(plan)
    plan.close()
    assert isinstance(step, Wait) and step.limit == "sandbox-marketplace"
    assert step.seconds == pytest.approx(rate.interval)


def test_ping_counts_each_host_apart() -> None:
    core = Core(personal())
    ping = core.operation("ping")
    content, common = ALL_HOST_BY_PREFIX["content-api"], ALL_HOST_BY_PREFIX["common-api"]
    assert core.bucket_key(ping, content) != core.bucket_key(ping, common)
    core = Core(personal(), clock=FakeTime().clock)
    rate = core.rate_for(ping)
    assert rate is not None
    assert at_once(core, "ping", ok, host="content")[0] == rate.burst
    assert at_once(core, "ping", ok, host="common")[0] == rate.burst


def test_a_config_file_changes_limits_and_adds_methods(tmp_path: Path) -> None:
    config = tmp_path / "limits.toml"
    config.write_text(
        """
[limits.warehouses]
rates.all = { period = 10, limit = 1, burst = 2 }
rates.base = { period = 100, limit = 1, burst = 1 }
costs = { "409" = 5 }

[limits.auth-failures]          # the server's own: nothing to pace here
rates.all = { period = 1, limit = 1000, burst = 1000 }

[limits.reports]
rates.personal = { period = 4, limit = 1, burst = 1 }

[[methods]]
id = "get-api-v3-orders-new"    # a catalog operation, moved to another bucket
limit = "warehouses"

[[methods]]
id = "my-report"                # a method of the deployment's
http = "get"
path = "/api/v1/my-report"
category = "common"
read_only = true
token_types = ["personal"]
limit = "reports"
handler = "somewhere:report"
"""
    )
    core = Core(personal(), config=config, clock=FakeTime().clock, base_url="http://h:1")
    for op_id in (WAREHOUSES, OFFICES, ORDERS_NEW):
        op = core.operation(op_id)
        assert op.limit.rates["personal"].period == 10 and op.limit.rates["base"].period == 100, op_id
        assert op.limit.cost(409) == 5 and op.limit.cost(400) == 1, op_id  # the rule replaces the 4xx one
    assert core.operation("get-api-v3-supplies").limit == load().by_id("get-api-v3-supplies").limit
    # Two at once, for all of them together: orders-new now spends the warehouses bucket.
    sent, wait = at_once(core, ORDERS_NEW, ok)
    assert sent == 2 and wait.limit == "warehouses" and wait.seconds == pytest.approx(10)
    plan = core.call("my-report", params={"day": "2025-01-01"})
    step = first(plan)
    assert isinstance(step, httpx.Request)
    assert str(step.url) == "http://h:1/common-api/api/v1/my-report?day=2025-01-01"
    answer(plan, ok())
    plan = core.call("my-report")
    step = first(plan)
    plan.close()
    assert isinstance(step, Wait) and step.limit == "reports" and step.seconds == pytest.approx(4)
    with pytest.raises(TokenTypeNotAllowed):
        Core(of_type("base"), config=config).call("my-report")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "[limits.news]\nrates.personal = { period = 0, limit = 1, burst = 1 }",
            "limits.news.rates.personal",
        ),
        ("[limits.news]\nrates.robot = { period = 1, limit = 1, burst = 1 }", "unknown token type 'robot'"),
        ('[limits.news]\ncosts = { "4xy" = 2 }', "limits.news.costs"),
        ('[[methods]]\nid = "x"\nhttp = "GET"\npath = "/x"\ncategory = "nowhere"', "unknown category"),
        ("[limits.news", "Expected ']'"),
    ],
)
def test_a_bad_config_file_is_refused_naming_where(tmp_path: Path, text: str, says: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ValueError, match=r"bad\.toml") as info:
        Core(personal(), config=config)
    assert says in str(info.value)


# --- bodies, retries and results, through the drivers -------------------------------------------


def _server(*responses: httpx.Response) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return queue.pop(0)

    return seen, httpx.MockTransport(handle)


def test_a_retried_call_sends_the_same_body() -> None:
    t = FakeTime()
    slept = t.slept
    seen, transport = _server(wb_error(429, "too many requests", "rate-limited", retry=2), ok(201, {"id": 7}))
    with Client(personal(), transport=transport, clock=t.clock, sleep=t.sleep) as client:
        result = client.call("post-api-v3-warehouses", json={"name": "Склад", "officeId": 15})
    assert result.status == 201 and result.json() == {"id": 7}
    assert slept == [2]
    assert len(seen) == 2 and seen[0].content == seen[1].content
    assert json.loads(seen[1].content) == {"name": "Склад", "officeId": 15}
    assert seen[0].headers["content-type"] == seen[1].headers["content-type"] == "application/json"
    # A file object is read once; the retry carries the same multipart bytes.
    seen, transport = _server(wb_error(429, "too many requests", "rate-limited", retry=1), ok())
    with Client(personal(CONTENT), transport=transport, clock=t.clock, sleep=t.sleep) as client:
        client.call(
            "post-content-v3-media-file",
            files={"uploadfile": ("a.png", io.BytesIO(b"\x89PNG picture"), "image/png")},
            headers={"X-Nm-Id": "1", "X-Photo-Number": "1"},
        )
    assert len(seen) == 2 and seen[0].content == seen[1].content
    assert b"\x89PNG picture" in seen[1].content
    assert seen[1].headers["x-nm-id"] == "1"


def test_5xx_is_retried_for_a_read_and_not_for_a_write() -> None:
    t = FakeTime()
    seen, transport = _server(wb_error(503, "service unavailable", "db"), ok())
    policy = RetryPolicy(rng=lambda: 0.0)
    with Client(personal(), transport=transport, clock=t.clock, sleep=t.sleep, retry=policy) as client:
        assert client.call(WAREHOUSES).status == 200
    assert len(seen) == 2 and t.slept == [policy.backoff_delay(1)]
    seen, transport = _server(wb_error(503, "service unavailable", "db"), ok())
    with (
        Client(personal(), transport=transport, clock=t.clock, sleep=t.sleep, retry=policy) as client,
        pytest.raises(ServiceUnavailable),
    ):
        client.call("post-api-v3-warehouses", json={})
    assert len(seen) == 1


def test_call_results() -> None:
    pdf = httpx.Response(200, content=b"%PDF-1.4 ...", headers={"content-type": "application/pdf"})
    seen, transport = _server(
        ok(200, {"offices": [1]}, **{"x-ratelimit-remaining": "17"}),
        httpx.Response(204),
        pdf,
    )
    with Client(personal(), transport=transport) as client:
        got = client.call(OFFICES)
        assert (got.operation, got.status, got.remaining, got.content_type) == (
            OFFICES,
            200,
            17,
            "application/json",
        )
        assert got.json() == {"offices": [1]}
        empty = client.call("put-api-v3-warehouses-warehouse-id", path={"warehouseId": 1}, json={})
        assert (empty.status, empty.content, empty.json(), empty.remaining) == (204, b"", None, None)
        binary = client.call(SUPPLY, path={"supplyId": "WB-GI-1"})
        assert binary.content == b"%PDF-1.4 ..." and binary.content_type == "application/pdf"
        with pytest.raises(UnexpectedResponse, match="not JSON"):
            binary.json()
    assert seen[0].headers["accept"] == "application/json"


def test_async_call_with_mock_transport() -> None:
    t = FakeTime()
    seen: list[httpx.Request] = []
    queue = [wb_error(429, "too many requests", "rate-limited", retry=3), ok(200, {"data": [1]})]

    async def handle(request: httpx.Request) -> httpx.Response:
        await request.aread()
        seen.append(request)
        return queue.pop(0)

    async def main() -> CallResult:
        async with AsyncClient(
            personal(), transport=httpx.MockTransport(handle), clock=t.clock, sleep=t.asleep
        ) as client:
            with pytest.raises(InvalidCall):
                await client.call(SUPPLY)
            return await client.call(
                STOCKS, path={"warehouseId": 9}, json={"stocks": [{"sku": "1", "amount": 2}]}
            )

    result = asyncio.run(main())
    assert result.json() == {"data": [1]} and t.slept == [3]
    assert [r.url.path for r in seen] == ["/api/v3/stocks/9"] * 2
    assert seen[0].content == seen[1].content and json.loads(seen[1].content)["stocks"][0]["amount"] == 2


# --- against a real server: the operations it serves today, by id --------------------------------


def test_call_by_id_against_the_server(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    spy = Spy()
    with Client(token, base_url=server.base_url, transport=spy) as client:
        info = client.call("seller-info")
        assert info.operation == "seller-info" and info.status == 200
        assert info.json() == client.seller_info().to_json()
        assert isinstance(info.remaining, int)
        news = client.call("news", params={"fromID": 1})
        assert [n["id"] for n in news.json()["data"]] == [n.id for n in client.news(from_id=1)]
        ping = client.call("ping", host="content")
        assert ping.json()["Status"] == "OK"
        with pytest.raises(BadRequest) as refused:  # WB's news needs from or fromID: the server's 400
            client.call("news")
    response = refused.value.response
    assert response is not None and refused.value.request_id == response.headers["x-request-id"]
    assert refused.value.code is not None
    assert [str(r.url) for r in spy.requests] == [
        f"{server.base_url}/common-api/api/v1/seller-info",
        f"{server.base_url}/common-api/api/v1/seller-info",
        f"{server.base_url}/common-api/api/communications/v2/news?fromID=1",
        f"{server.base_url}/common-api/api/communications/v2/news?fromID=1",
        f"{server.base_url}/content-api/ping",
        f"{server.base_url}/common-api/api/communications/v2/news",
    ]


def test_async_call_by_id_against_the_server(server: Server) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "content")
    spy = AsyncSpy()

    async def main() -> tuple[CallResult, CallResult]:
        async with AsyncClient(token, base_url=server.base_url, transport=spy) as client:
            return await asyncio.gather(client.call("seller-info"), client.call("ping", host="content-api"))

    info, ping = asyncio.run(main())
    assert info.json()["sid"] == sid and ping.json()["Status"] == "OK"
    assert sorted(r.url.path for r in spy.requests) == ["/common-api/api/v1/seller-info", "/content-api/ping"]


def test_a_test_token_s_call_goes_to_the_sandbox(server: Server) -> None:
    token = server.token(server.seller(), "test", "content")
    spy = Spy()
    with Client(token, base_url=server.base_url, transport=spy) as client:
        assert client.call("ping", host="content").json()["Status"] == "OK"
        with pytest.raises(TokenTypeNotAllowed):
            client.call("seller-info")
    assert [str(r.url) for r in spy.requests] == [f"{server.base_url}/content-api-sandbox/ping"]


CALLS = 20
FAST_INTERVAL = 0.1  # the `limited` server's seller-info: 3 per 0.3 s


def test_call_and_the_typed_method_share_one_bucket(limited: Server, limited_config: Path) -> None:
    token = limited.token(limited.seller(), "personal", "content")
    spy = Spy()
    with Client(token, base_url=limited.base_url, config=limited_config, transport=spy) as client:
        start = time.monotonic()
        for i in range(CALLS):
            if i % 2:
                client.seller_info()
            else:
                client.call("seller-info")
        elapsed = time.monotonic() - start
    assert spy.statuses == [200] * CALLS  # no 429: both paced on the one bucket
    implied = (CALLS - 3) * FAST_INTERVAL
    assert implied - 0.01 <= elapsed < implied + 1.5, elapsed

    time.sleep(3 * FAST_INTERVAL + 0.05)  # the server's bucket full again: a new client starts with it full
    aspy = AsyncSpy()

    async def main() -> float:
        async with AsyncClient(
            token, base_url=limited.base_url, config=limited_config, transport=aspy
        ) as client:
            start = time.monotonic()
            await asyncio.gather(*(client.call("seller-info") for _ in range(CALLS)))
            return time.monotonic() - start

    elapsed = asyncio.run(main())
    assert aspy.statuses == [200] * CALLS
    assert implied - 0.01 <= elapsed < implied + 1.5, elapsed


def test_a_cost_rule_is_charged_alike_by_server_and_client(start_server: Callable[..., Server]) -> None:
    # One request a minute after a burst of 10; a 400 costs 5: the server and the client both count so.
    srv = start_server(
        config='[limits.news]\nrates.personal = { period = 600, limit = 10, burst = 10 }\ncosts = { "400" = 5 }\n'
    )
    assert srv.config is not None
    token = srv.token(srv.seller(), "personal", "content")
    spy = Spy()
    policy = RetryPolicy(max_wait=1)
    with Client(token, base_url=srv.base_url, config=srv.config, transport=spy, retry=policy) as client:
        with pytest.raises(BadRequest) as refused:
            client.call("news")  # no from, no fromID: a 400, costing 5
        response = refused.value.response
        assert response is not None and response.headers["x-ratelimit-remaining"] == "5"
        for _ in range(5):
            assert client.call("news", params={"fromID": 1}).status == 200
        with pytest.raises(RateLimited) as throttled:
            client.call("news", params={"fromID": 1})
    assert throttled.value.code == "client-throttled"  # the client stopped, not the server
    assert spy.statuses == [400] + [200] * 5
    assert spy.responses[-1].headers["x-ratelimit-remaining"] == "0"


# --- what importing the client imports ------------------------------------------------------------

SERVER_ONLY = (
    "uvicorn",
    "starlette",
    "sqlalchemy",
    "redis",
    "asyncpg",
    "argon2",
    "jinja2",
    "alembic",
    "aiosqlite",
)
SERVER_PARTS = (
    "wbseller.gateway",
    "wbseller.storage",
    "wbseller.portal",
    "wbseller.accounts",
    "wbseller.methods",
)

PROBE = """
import json, sys
import wbseller.client
from wbseller.client import Client
client = Client(base_url="http://127.0.0.1:9")
plan = client._core.call("get-api-v3-supplies-supply-id", path={"supplyId": "WB-GI-1"})
request = next(plan)
plan.close()
print(json.dumps({"url": str(request.url), "modules": sorted(sys.modules)}))
"""


def test_importing_and_using_the_client_imports_nothing_of_the_server() -> None:
    env = {**os.environ, "WB_API_TOKEN": personal()}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["url"] == "http://127.0.0.1:9/marketplace-api/api/v3/supplies/WB-GI-1"  # it ran
    modules: list[str] = report["modules"]
    assert "wbseller.client" in modules and "httpx" in modules  # the probe sees what it imported
    loaded = sorted(m for m in modules if m.split(".")[0] in SERVER_ONLY or m.startswith(SERVER_PARTS))
    assert loaded == []
