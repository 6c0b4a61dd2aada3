"""The General section through the client, sync and async, against a real wbseller server."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.client.helpers import IMPORTED, AsyncSpy, Spy, crafted_token
from tests.conftest import Server
from wbseller.client import (
    AsyncClient,
    CategoryNotAllowed,
    Client,
    NewsItem,
    Ping,
    SellerInfo,
    TokenTypeNotAllowed,
    UnexpectedResponse,
)

MSK = timedelta(hours=3)


def _client(server: Server, token: str, **kw: object) -> Client:
    return Client(token, base_url=server.base_url, **kw)  # type: ignore[arg-type]


# --- ping ------------------------------------------------------------------------------------------


def test_ping_a_category(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    with _client(server, token) as client:
        ping = client.ping("content")
    assert isinstance(ping, Ping) and ping.ok
    assert (ping.category, ping.host) == ("content", "content-api.wildberries.ru")
    assert ping.ts.utcoffset() == MSK  # WB answers in Moscow time; the datetime keeps it


def test_ping_all_every_category_the_token_has(server: Server) -> None:
    token = server.token(server.seller(), "base", "content,marketplace")
    with _client(server, token) as client:
        assert client.categories == ["content", "marketplace", "common"]
        results = client.ping_all()
    assert list(results) == ["content", "marketplace", "common"]
    assert all(isinstance(r, Ping) and r.ok for r in results.values())

    async def main() -> dict[str, object]:
        async with AsyncClient(token, base_url=server.base_url) as client:
            return dict(await client.ping_all())

    again = asyncio.run(main())
    assert list(again) == ["content", "marketplace", "common"]
    assert all(isinstance(r, Ping) and r.ok for r in again.values())


def test_a_test_token_goes_to_the_sandbox(server: Server) -> None:
    # The CLI refuses a test token a category without a sandbox; a token of another issuer may carry one.
    sid = server.seller()

    async def issue(storage: Any) -> str:
        from wbseller.accounts import Accounts
        from wbseller.categories import mask_of
        from wbseller.clock import SystemClock
        from wbseller.tokens import TokenType

        accounts = Accounts(storage, SystemClock())
        await accounts.load_keys()
        scope = mask_of(["content", "prices", "analytics"])
        issued = await accounts.issue_token(sid, TokenType.TEST, scope=scope)
        return issued.token

    token = server.run_storage(issue)
    spy = Spy()
    with _client(server, token, transport=spy) as client:
        # analytics has no sandbox, common-api neither: a test token cannot reach them
        assert client.categories == ["content", "prices"]
        results = client.ping_all()
        assert {r.host for r in results.values() if isinstance(r, Ping)} == {
            "content-api-sandbox.wildberries.ru",
            "discounts-prices-api-sandbox.wildberries.ru",
        }
        assert [str(r.url) for r in spy.requests] == [
            f"{server.base_url}/content-api-sandbox/ping",
            f"{server.base_url}/discounts-prices-api-sandbox/ping",
        ]
        with pytest.raises(CategoryNotAllowed, match="has none"):
            client.ping("analytics")
        with pytest.raises(CategoryNotAllowed, match="has none"):
            client.ping("common")
        with pytest.raises(TokenTypeNotAllowed, match="test token"):
            client.news(from_id=1)
        with pytest.raises(TokenTypeNotAllowed):
            client.seller_info()
        with pytest.raises(TokenTypeNotAllowed):
            client.iter_news(from_id=1)  # refused when asked, not at the first item
    assert len(spy.requests) == 2  # the refusals sent nothing


def test_a_category_the_token_lacks_is_refused_without_sending(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    spy = Spy()
    with _client(server, token, transport=spy) as client:
        with pytest.raises(CategoryNotAllowed, match="no analytics category") as info:
            client.ping("analytics")
        assert info.value.host == "seller-analytics-api.wildberries.ru"
        with pytest.raises(ValueError, match="unknown category"):
            client.ping("nonsense")
    assert spy.requests == []

    async def main() -> None:
        async with AsyncClient(token, base_url=server.base_url) as client:
            with pytest.raises(CategoryNotAllowed):
                await client.ping("finance")

    asyncio.run(main())


# --- seller info -------------------------------------------------------------------------------------


def test_seller_info_sync_and_async(server: Server) -> None:
    sid = server.seller(name="ИП Клиентов К. К.", tin="7712345678", trade_mark="Client Store")
    token = server.token(
        sid, "service", service=server.cli("service", "create", "--name", "S", "--categories", "content")
    )
    expected = SellerInfo("ИП Клиентов К. К.", sid, "7712345678", "Client Store")
    with _client(server, token) as client:
        assert client.seller_info() == expected

    async def main() -> SellerInfo:
        async with AsyncClient(token, base_url=server.base_url) as client:
            return await client.seller_info()

    assert asyncio.run(main()) == expected
    assert expected.to_json()["tradeMark"] == "Client Store"


# --- news ----------------------------------------------------------------------------------------------


def test_news_from_a_date_and_from_an_id(news_server: Server) -> None:
    token = news_server.token(news_server.seller(), "personal", "content")
    with _client(news_server, token) as client:
        by_date = client.news(from_=date(2025, 2, 6))
        assert [n.id for n in by_date] == [7373]  # the demo news of 2025-02-06 (Moscow)
        item = by_date[0]
        assert item.date == datetime.fromisoformat("2025-02-06T18:14:58+03:00")
        assert item.date.utcoffset() == MSK
        assert [(t.id, t.name) for t in item.types] == [(8, "API"), (41, "Аналитика продавца")]
        page = client.news(from_id=7369)
        assert len(page) == 100  # WB's page
        assert [n.id for n in page[:3]] == [7369, 7373, 20001]
        both = client.news(from_="2025-02-05", from_id=7370)
        assert [n.id for n in both] == [7373]
        with pytest.raises(ValueError, match="from_"):
            client.news()
        with pytest.raises(ValueError, match=r"Invalid isoformat"):
            client.news(from_="yesterday")


def test_iter_news_follows_from_id_past_100(news_server: Server) -> None:
    token = news_server.token(news_server.seller(), "personal", "content")
    spy = Spy()
    with _client(news_server, token, transport=spy) as client:
        items = list(client.iter_news(from_id=IMPORTED[0]))
    assert [n.id for n in items] == list(IMPORTED)
    assert all(isinstance(n, NewsItem) for n in items)
    assert [r.url.params["fromID"] for r in spy.requests] == ["20001", "20101", "20201"]

    async def main() -> list[int]:
        async with AsyncClient(token, base_url=news_server.base_url) as client:
            return [n.id async for n in client.iter_news(from_id=IMPORTED[100])]

    assert asyncio.run(main()) == list(IMPORTED[100:])


# --- where requests go, and what a bad body does -------------------------------------------------------


def test_real_wb_hosts_by_default() -> None:
    seen: list[httpx.Request] = []

    def wb(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/ping":
            return httpx.Response(200, json={"TS": "2024-08-16T11:19:05+03:00", "Status": "OK"})
        return httpx.Response(200, json={"data": []})

    token = crafted_token()
    with Client(token, transport=httpx.MockTransport(wb)) as client:
        client.ping("marketplace")
        assert (
            client.news(from_=datetime(2025, 2, 5, 22, 30, tzinfo=datetime.now().astimezone().tzinfo)) == []
        )
    assert str(seen[0].url) == "https://marketplace-api.wildberries.ru/ping"
    assert seen[0].headers["authorization"] == token  # as the official spec: no "Bearer"
    assert seen[1].url.host == "common-api.wildberries.ru"
    assert seen[1].url.path == "/api/communications/v2/news"

    sandbox = crafted_token(acc=2, t=True, **{"for": None})
    sandbox_seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        sandbox_seen.append(str(request.url))
        return httpx.Response(200, json={"TS": "2024-08-16T11:19:05+03:00", "Status": "OK"})

    with Client(sandbox, transport=httpx.MockTransport(record)) as client:
        client.ping("content")
    assert sandbox_seen == ["https://content-api-sandbox.wildberries.ru/ping"]


def test_a_body_that_is_not_the_method_s_is_unexpected() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>", headers={"x-request-id": "r1"})

    with (
        Client(crafted_token(), transport=httpx.MockTransport(html)) as client,
        pytest.raises(UnexpectedResponse) as info,
    ):
        client.seller_info()
    assert info.value.status == 200 and info.value.request_id == "r1"


def test_async_spy_sees_one_request_per_call(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    spy = AsyncSpy()

    async def main() -> Ping:
        async with AsyncClient(token, base_url=server.base_url, transport=spy) as client:
            return await client.ping("common")

    assert asyncio.run(main()).host == "common-api.wildberries.ru"
    assert [str(r.url) for r in spy.requests] == [f"{server.base_url}/common-api/ping"]
