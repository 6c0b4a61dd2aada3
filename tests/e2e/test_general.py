"""The General section over HTTP: /ping on every host, news, seller information, routing. Every response is
validated against WB's own 01-general.yaml. (Our OpenAPI documents and Swagger UI: test_openapi.py.)"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import ImmutableMultiDict

from tests.conftest import SPECS, Server, assert_wb_error

MSK = timezone(timedelta(hours=3))
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+03:00$")
TOKEN_TYPES = {"base", "test", "personal", "service"}

# --- WB's document as the judge ----------------------------------------------------------------

GENERAL: dict[str, Any] = yaml.safe_load((SPECS / "01-general.yaml").read_text(encoding="utf-8"))
COMMON_URL = "https://common-api.wildberries.ru"  # the server 01-general.yaml gives its General paths

# openapi-core reads application/problem+json (the 401/429 bodies) as JSON only when told to.
_PROBLEM_JSON: dict[str, Callable[[bytes], Any]] = {"application/problem+json": json.loads}
# As written: the document's schemas, formats it does not know (its `format: UUID`) ignored.
SPEC = OpenAPI.from_dict(GENERAL, config=Config(extra_media_type_deserializers=_PROBLEM_JSON))
# Strict: every documented property present and no other (FACTS.md lists the fields exactly).
STRICT = OpenAPI.from_dict(
    GENERAL,
    config=Config(
        extra_media_type_deserializers=_PROBLEM_JSON,
        additional_properties_default_policy="forbid",
        response_properties_default_policy="required",
    ),
)


@dataclass
class _Request:
    path: str
    parameters: RequestParameters
    host_url: str = COMMON_URL
    method: str = "get"
    body: bytes | None = None
    content_type: str = ""


@dataclass
class _Response:
    status_code: int
    content_type: str
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def check(r: httpx.Response, path: str, query: Mapping[str, str] | None = None) -> Any:
    """Validate a response of the General method at `path` against 01-general.yaml (as written and
    strictly); returns the JSON body. /ping of every host is the one operation the document lists."""
    request = _Request(path, RequestParameters(query=ImmutableMultiDict(dict(query or {}))))
    response = _Response(r.status_code, r.headers.get("content-type", "").lower(), r.content, r.headers)
    SPEC.validate_response(request, response)
    STRICT.validate_response(request, response)
    return r.json()


def test_the_validator_is_not_a_rubber_stamp() -> None:
    """The judge refuses what is wrong: a bad enum, a missing field, a problem body sent as JSON."""
    req = _Request("/ping", RequestParameters())
    ok_401 = {
        "title": "unauthorized",
        "detail": "token problem; token is expired",
        "code": "token-expired",
        "requestId": "7b80742415072fe8b6b7f7761f1d1211",
        "origin": "x",
        "status": 401,
        "statusText": "Unauthorized",
        "timestamp": "2024-09-30T06:52:38Z",
    }
    STRICT.validate_response(req, _Response(401, "application/problem+json", json.dumps(ok_401).encode()))
    bad = [
        _Response(200, "application/json", b'{"TS": "2024-08-16T11:19:05+03:00", "Status": "NO"}'),
        _Response(200, "application/json", b'{"Status": "OK"}'),
        _Response(200, "application/json", b'{"TS": "x", "Status": "OK", "extra": 1}'),
        _Response(401, "application/json", json.dumps(ok_401).encode()),
        _Response(401, "application/problem+json", json.dumps({**ok_401, "status": "401"}).encode()),
        _Response(401, "application/problem+json", json.dumps({**ok_401, "timestamp": "yesterday"}).encode()),
    ]
    for response in bad:
        with pytest.raises(Exception):  # noqa: B017 - openapi-core's several error classes
            STRICT.validate_response(req, response)


# --- helpers -----------------------------------------------------------------------------------

# Every host of FACTS.md: (host prefix, category whose token opens it; None = any token).
HOSTS: list[tuple[str, str | None]] = [
    ("content-api", "content"),
    ("content-api-sandbox", "content"),
    ("seller-analytics-api", "analytics"),
    ("discounts-prices-api", "prices"),
    ("discounts-prices-api-sandbox", "prices"),
    ("marketplace-api", "marketplace"),
    ("statistics-api", "statistics"),
    ("statistics-api-sandbox", "statistics"),
    ("advert-api", "promotion"),
    ("advert-api-sandbox", "promotion"),
    ("feedbacks-api", "feedbacks"),
    ("feedbacks-api-sandbox", "feedbacks"),
    ("buyer-chat-api", "chat"),
    ("supplies-api", "supplies"),
    ("returns-api", "returns"),
    ("documents-api", "documents"),
    ("finance-api", "finance"),
    ("common-api", None),
]
PRODUCTION = [(p, c) for p, c in HOSTS if not p.endswith("-sandbox")]
SANDBOX = [(p, c) for p, c in HOSTS if p.endswith("-sandbox")]


def ways(srv: Server, prefix: str) -> list[tuple[str, str | None]]:
    """The three ways to reach one host: (path, Host header)."""
    return [
        ("/ping", f"{prefix}.wildberries.ru"),
        ("/ping", f"{prefix}.localhost:{srv.port}"),
        (f"/{prefix}/ping", None),
    ]


def check_ping(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = check(r, "/ping")
    assert set(body) == {"TS", "Status"}
    assert body["Status"] == "OK"
    assert TS_RE.match(body["TS"]), body["TS"]
    ts = datetime.fromisoformat(body["TS"])
    assert ts.utcoffset() == timedelta(hours=3)
    assert abs(ts.timestamp() - time.time()) < 10  # whole seconds, and a busy machine


def check_error(r: httpx.Response, status: int, path: str, code: str | None = None) -> dict[str, Any]:
    body = assert_wb_error(r, status, code)
    check(r, path)
    return body


def check_429(r: httpx.Response, path: str, limit: int) -> None:
    body = check_error(r, 429, path)
    assert body["title"] == "too many requests"
    assert body["detail"].startswith("limited by ")
    assert body["statusText"] == "Too Many Requests"
    assert "x-ratelimit-remaining" not in r.headers
    assert int(r.headers["x-ratelimit-limit"]) == limit
    assert int(r.headers["x-ratelimit-retry"]) >= 1
    assert int(r.headers["x-ratelimit-reset"]) >= int(r.headers["x-ratelimit-retry"])


def service(srv: Server, categories: str, read_only: bool = False) -> str:
    args = ["service", "create", "--name", f"svc-{uuid.uuid4().hex[:6]}", "--categories", categories]
    return srv.cli(*args, *(["--read-only"] if read_only else []))


# --- /ping -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "category"), HOSTS, ids=[h[0] for h in HOSTS])
def test_ping_on_every_host_three_ways(server: Server, prefix: str, category: str | None) -> None:
    sid = server.seller()
    if prefix.endswith("-sandbox"):
        token = server.token(sid, "test", category or "")
    elif category is None:
        token = server.token(sid, "base", "documents")  # common-api: any category
    else:
        token = server.token(sid, "personal", category)
    remaining = []
    for path, host in ways(server, prefix):
        r = server.get(path, token, host=host)
        check_ping(r)
        remaining.append(r.headers["x-ratelimit-remaining"])
    # One bucket of 3 (30 s, burst 3) for this host, whichever way it was reached.
    assert remaining == ["2", "1", "0"]
    r = server.get("/ping", f"Bearer {token}", host=f"{prefix}.wildberries.ru")
    check_429(r, "/ping", 3)


def test_common_api_ping_takes_any_token(server: Server) -> None:
    sid = server.seller()
    svc = service(server, "feedbacks", read_only=True)
    tokens = [
        server.token(sid, "base", "content", read_only=True),
        server.token(sid, "personal", "finance"),
        server.token(sid, "personal", "all"),
        server.token(sid, "service", service=svc),
    ]
    for token in tokens:
        check_ping(server.get("/ping", token, host="common-api.wildberries.ru"))
    # ... but a test token only on sandbox hosts: common-api is a production host.
    test_token = server.token(sid, "test", "content")
    check_error(server.get("/common-api/ping", test_token), 401, "/ping", "token-test-on-production")


def test_ping_refuses_tokens_that_do_not_match_the_host(server: Server) -> None:
    sid = server.seller()
    content = server.token(sid, "personal", "content")
    test_content = server.token(sid, "test", "content")
    for prefix, category in PRODUCTION:
        if category not in (None, "content"):
            r = server.get(f"/{prefix}/ping", content)
            body = check_error(r, 401, "/ping", "token-category-mismatch")
            assert body["title"] == "unauthorized"
            assert body["statusText"] == "Unauthorized"
            assert body["detail"].startswith("token problem; ")
    for prefix, category in SANDBOX:
        r = server.get("/ping", test_content, host=f"{prefix}.wildberries.ru")
        if category == "content":
            check_ping(r)
        else:
            check_error(r, 401, "/ping", "token-category-mismatch")
    # A non-test token on a sandbox host, a test token on a production host.
    check_error(server.get("/content-api-sandbox/ping", content), 401, "/ping", "token-not-test")
    check_error(server.get("/content-api/ping", test_content), 401, "/ping", "token-test-on-production")


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "token-missing"),
        ("", "token-missing"),
        ("Bearer garbage", "token-malformed"),
        ("garbage", "token-malformed"),
        ("a.b.c", "token-malformed"),
    ],
)
def test_ping_without_a_usable_token(server: Server, authorization: str | None, code: str) -> None:
    for path, host in ways(server, "content-api"):
        check_error(server.get(path, authorization, host=host), 401, "/ping", code)


def test_ping_limit_is_per_host(server: Server) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "all")
    for _ in range(3):
        check_ping(server.get("/content-api/ping", token))
    check_429(server.get("/content-api/ping", token), "/ping", 3)
    r = server.get("/marketplace-api/ping", token)
    check_ping(r)
    assert r.headers["x-ratelimit-remaining"] == "2"


# --- routing of a bare address -----------------------------------------------------------------


def test_a_bare_address_routes_ping_and_seller_info_to_common_api(server: Server) -> None:
    sid = server.seller(name="ИП Голый А. А.", tin="500100732259", trade_mark="Bare")
    token = server.token(sid, "personal", "content")
    seen = []
    for path, host in [
        ("/ping", None),
        ("/common-api/ping", None),
        ("/ping", f"common-api.localhost:{server.port}"),
    ]:
        r = server.get(path, token, host=host)
        check_ping(r)
        seen.append(r.headers["x-ratelimit-remaining"])
    assert seen == ["2", "1", "0"]  # the bare /ping spent common-api's bucket
    r = server.get("/api/v1/seller-info", token)
    assert r.status_code == 200, r.text
    assert check(r, "/api/v1/seller-info")["sid"] == sid
    # Bare /ping is a production host: a test token is refused there.
    check_error(server.get("/ping", server.token(sid, "test", "content")), 401, "/ping")


def test_unknown_localhost_names_fall_back_to_path_routing(server: Server) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "content")
    unknown = f"nosuch-api.localhost:{server.port}"
    r = server.get("/content-api/ping", token, host=unknown)
    check_ping(r)
    assert r.headers["x-ratelimit-remaining"] == "2"
    r = server.get("/ping", token, host=f"content-api.localhost:{server.port}")
    check_ping(r)
    assert r.headers["x-ratelimit-remaining"] == "1"  # the same host: content-api
    # A bare path under an unknown name: common-api.
    r = server.get("/ping", token, host=f"Other.LocalHost:{server.port}")
    check_ping(r)
    assert r.headers["x-ratelimit-remaining"] == "2"
    r = server.get("/common-api/ping", token)
    assert r.headers["x-ratelimit-remaining"] == "1"
    r = server.get("/api/v1/seller-info", token, host=unknown)
    assert r.status_code == 200, r.text
    assert check(r, "/api/v1/seller-info")["sid"] == sid
    # A test token on an unknown name + sandbox path prefix reaches the sandbox.
    check_ping(server.get("/content-api-sandbox/ping", server.token(sid, "test", "content"), host=unknown))


# --- seller information ------------------------------------------------------------------------


def test_seller_info_is_exactly_the_tokens_seller(server: Server) -> None:
    mine = server.seller(name="ИП Кружинин В. Р.", tin="1234567890", trade_mark="Flax Store")
    other = server.seller(name="ООО Другой", tin="7700000001", trade_mark="Other")
    token = server.token(mine, "personal", "content", read_only=True)
    expected = {"name": "ИП Кружинин В. Р.", "sid": mine, "tin": "1234567890", "tradeMark": "Flax Store"}
    for path, host in [
        ("/api/v1/seller-info", "common-api.wildberries.ru"),
        ("/api/v1/seller-info", f"common-api.localhost:{server.port}"),
        ("/common-api/api/v1/seller-info", None),
        ("/api/v1/seller-info", None),
    ]:
        r = server.get(path, token, host=host)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        body = check(r, "/api/v1/seller-info")
        assert body == expected
        assert list(body) == ["name", "sid", "tin", "tradeMark"]
        assert int(r.headers["x-ratelimit-remaining"]) >= 0
    r = server.get("/api/v1/seller-info", server.token(other, "personal", "finance"))
    assert check(r, "/api/v1/seller-info") == {
        "name": "ООО Другой",
        "sid": other,
        "tin": "7700000001",
        "tradeMark": "Other",
    }


def test_seller_info_with_other_token_types(server: Server) -> None:
    sid = server.seller(name="ИП Пустой", tin="", trade_mark="")
    expected = {"name": "ИП Пустой", "sid": sid, "tin": "", "tradeMark": ""}
    svc = service(server, "marketplace")
    for token in (server.token(sid, "base", "analytics"), server.token(sid, "service", service=svc)):
        r = server.get("/api/v1/seller-info", token)
        assert r.status_code == 200, r.text
        assert check(r, "/api/v1/seller-info") == expected
    # Refused to test tokens.
    r = server.get("/api/v1/seller-info", server.token(sid, "test", "content"))
    check_error(r, 401, "/api/v1/seller-info")


def test_seller_info_limits(server: Server) -> None:
    sid = server.seller()
    base = server.token(sid, "base", "content")
    r = server.get("/api/v1/seller-info", base)
    assert r.status_code == 200, r.text
    assert r.headers["x-ratelimit-remaining"] == "0"  # base: 1 a day, burst 1
    check_429(server.get("/api/v1/seller-info", base), "/api/v1/seller-info", 1)
    personal = server.token(sid, "personal", "content")
    seen = [server.get("/api/v1/seller-info", personal).headers["x-ratelimit-remaining"] for _ in range(10)]
    assert seen == [str(n) for n in range(9, -1, -1)]  # personal: burst 10
    check_429(server.get("/api/v1/seller-info", personal), "/api/v1/seller-info", 10)


def test_seller_info_is_only_on_common_api(server: Server) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "all")
    for path, host in [
        ("/content-api/api/v1/seller-info", None),
        ("/api/v1/seller-info", "content-api.wildberries.ru"),
        ("/api/communications/v2/news?fromID=1", "marketplace-api.wildberries.ru"),
    ]:
        body = assert_wb_error(server.get(path, token, host=host), 404, "path-not-found")
        assert body["title"] == "path not found"


# --- news --------------------------------------------------------------------------------------

FIRST_ID = 100_001
NEWS_COUNT = 150
DAY0 = datetime(2030, 1, 1, tzinfo=MSK)  # news i is published DAY0 + i hours (Moscow)


def news_id(i: int) -> int:
    return FIRST_ID + 2 * i  # every other id: fromID may name an id that does not exist


def news_item(i: int) -> dict[str, Any]:
    """What the API answers for news i."""
    when = DAY0 + timedelta(hours=i)
    tags = [{"id": 4, "name": "Маркетинг"}] if i % 3 == 0 else [{"id": 8, "name": "API"}]
    if i % 5 == 0:
        tags.append({"id": 41, "name": "Аналитика продавца"})
    return {
        "id": news_id(i),
        "header": f"Новость {i}",
        "content": f"Текст новости {i}.\nВторая строка «{i}».",
        "date": when.isoformat(),
        "types": tags,
    }


def news_file(path: Path) -> Path:
    items = []
    for i in reversed(range(NEWS_COUNT)):  # not in id order
        item = dict(news_item(i))
        if i % 2:  # the same moment written in UTC: the API answers in Moscow time
            item["date"] = (DAY0 + timedelta(hours=i)).astimezone(UTC).isoformat().replace("+00:00", "Z")
        items.append(item)
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def news_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A private server whose news we know: the demo news and 150 of ours (ids > 100000, in 2030)."""
    data = tmp_path_factory.mktemp("news") / "data"
    srv = Server(data).start()
    try:
        out = srv.cli("news", "import", str(news_file(data.parent / "news.json")))
        assert "150" in out
        yield srv
    finally:
        srv.stop()


def get_news(srv: Server, token: str, **query: str) -> list[dict[str, Any]]:
    r = srv.get("/api/communications/v2/news", token, params=query)
    assert r.status_code == 200, r.text
    body = check(r, "/api/communications/v2/news", query)
    assert set(body) == {"data"}
    data: list[dict[str, Any]] = body["data"]
    assert len(data) <= 100
    ids = [n["id"] for n in data]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for n in data:
        assert set(n) == {"id", "header", "content", "date", "types"}
        assert TS_RE.match(n["date"]), n["date"]
        for t in n["types"]:
            assert set(t) == {"id", "name"}
            assert isinstance(t["id"], int)
            assert isinstance(t["name"], str)
    return data


def reader(srv: Server) -> str:
    """A personal token of a new seller: its news bucket (burst 10) is its own."""
    return srv.token(srv.seller(), "personal", "content")


def test_news_from_id_in_pages_of_100(news_server: Server) -> None:
    token = reader(news_server)
    page1 = get_news(news_server, token, fromID=str(FIRST_ID))
    assert len(page1) == 100
    assert page1 == [news_item(i) for i in range(100)]
    page2 = get_news(news_server, token, fromID=str(page1[-1]["id"] + 1))
    assert page2 == [news_item(i) for i in range(100, NEWS_COUNT)]
    assert get_news(news_server, token, fromID=str(page2[-1]["id"] + 1)) == []


def test_news_from_id_is_inclusive(news_server: Server) -> None:
    token = reader(news_server)
    assert get_news(news_server, token, fromID=str(news_id(140))) == [
        news_item(i) for i in range(140, NEWS_COUNT)
    ]
    # An id between two news: the next one.
    assert get_news(news_server, token, fromID=str(news_id(140) + 1))[0] == news_item(141)
    # Below every id: the oldest ids first, at most 100 (the demo news come first).
    everything = get_news(news_server, token, fromID="0")
    assert len(everything) == 100
    assert everything[-1]["id"] < news_id(100)


@pytest.mark.parametrize("from_id", [str((1 << 63) - 1), str(1 << 63), str((1 << 64) - 1)])
def test_news_from_id_takes_any_uint64(news_server: Server, from_id: str) -> None:
    """`fromID` is a uint64 (01-general.yaml): past every news is an empty page, not an error."""
    assert get_news(news_server, reader(news_server), fromID=from_id) == []


def test_news_from_is_inclusive_of_the_moscow_day(news_server: Server) -> None:
    token = reader(news_server)
    # News 0 is published at 00:00 Moscow on 2030-01-01 (21:00 UTC the day before).
    page1 = get_news(news_server, token, **{"from": "2030-01-01"})
    assert page1 == [news_item(i) for i in range(100)]
    page2 = get_news(news_server, token, **{"from": "2030-01-01", "fromID": str(page1[-1]["id"] + 1)})
    assert page2 == [news_item(i) for i in range(100, NEWS_COUNT)]
    # 2030-01-02 starts with news 24 (00:00 Moscow), not news 27 (00:00 UTC) nor news 23 (23:00 the day before).
    day2 = get_news(news_server, token, **{"from": "2030-01-02"})
    assert day2 == [news_item(i) for i in range(24, 124)]
    last_day = get_news(news_server, token, **{"from": "2030-01-07"})  # 6 * 24 = 144
    assert last_day == [news_item(i) for i in range(144, NEWS_COUNT)]
    assert get_news(news_server, token, **{"from": "2030-01-08"}) == []
    # Every news of ours is published after the demo news of 2025.
    assert get_news(news_server, token, **{"from": "2029-12-31"})[0] == news_item(0)


def test_news_with_from_and_from_id_is_both(news_server: Server) -> None:
    token = reader(news_server)
    # `from` is the later bound: news 48 (2030-01-03 00:00) onwards.
    got = get_news(news_server, token, **{"from": "2030-01-03", "fromID": str(news_id(10))})
    assert got == [news_item(i) for i in range(48, 148)]
    # `fromID` is the later bound.
    got = get_news(news_server, token, **{"from": "2030-01-01", "fromID": str(news_id(60))})
    assert got == [news_item(i) for i in range(60, NEWS_COUNT)]


def test_news_needs_from_or_from_id(news_server: Server) -> None:
    path = "/api/communications/v2/news"
    token = reader(news_server)  # a 400 is charged too: at most 10 requests per token here
    for query in [{}, {"from": ""}, {"fromID": ""}, {"other": "1"}]:
        r = news_server.get(path, token, params=query)
        body = check_error(r, 400, path)
        assert body["title"] == "bad request"
    token = reader(news_server)
    for query in [
        {"from": "2025-13-01"},
        {"from": "06.02.2025"},
        {"from": "yesterday"},
        {"fromID": "-1"},
        {"fromID": "abc"},
        {"fromID": "1.5"},
        {"fromID": str(1 << 64)},
        {"fromID": "²"},  # a Unicode digit that int() refuses
    ]:
        check_error(news_server.get(path, token, params=query), 400, path)


def test_news_is_refused_to_test_tokens(news_server: Server) -> None:
    sid = news_server.seller()
    token = news_server.token(sid, "test", "content")
    r = news_server.get("/api/communications/v2/news", token, params={"fromID": "1"})
    check_error(r, 401, "/api/communications/v2/news")


def test_news_limits(news_server: Server) -> None:
    sid = news_server.seller()
    base = news_server.token(sid, "base", "content")
    path = "/api/communications/v2/news"
    r = news_server.get(path, base, params={"fromID": str(news_id(149))})
    assert r.status_code == 200, r.text
    assert r.headers["x-ratelimit-remaining"] == "0"  # base: 1 an hour
    check_429(news_server.get(path, base, params={"fromID": "1"}), path, 1)
    service_token = news_server.token(sid, "service", service=service(news_server, "content"))
    for n in range(9, -1, -1):
        r = news_server.get(path, service_token, params={"fromID": str(news_id(149))})
        assert r.status_code == 200, r.text
        assert r.headers["x-ratelimit-remaining"] == str(n)
    check_429(news_server.get(path, service_token, params={"fromID": "1"}), path, 10)


def test_news_added_with_the_cli_is_served(news_server: Server) -> None:
    token = reader(news_server)
    nid = int(
        news_server.cli(
            "news",
            "add",
            "--header",
            "Заголовок",
            "--content",
            "Текст",
            "--date",
            "2031-02-05T14:10:35+03:00",
            "--type",
            "Маркетинг",
            "--type",
            "Новый тег",
        )
    )
    assert nid > news_id(NEWS_COUNT - 1)
    (item,) = get_news(news_server, token, fromID=str(nid))
    assert item["id"] == nid
    assert item["header"] == "Заголовок"
    assert item["content"] == "Текст"
    assert item["date"] == "2031-02-05T14:10:35+03:00"
    assert [t["name"] for t in item["types"]] == ["Маркетинг", "Новый тег"]
    assert item["types"][0]["id"] == 4  # an existing tag keeps its id
