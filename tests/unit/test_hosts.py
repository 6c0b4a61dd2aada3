"""Which WB host a request is for (gateway/hosts.py): Host header names and path prefixes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wbseller.categories import ALL_HOSTS, BY_NAME, HOSTS, Host
from wbseller.gateway.hosts import BARE, PORTAL, HostResolver, Target, split_prefix

CONTENT = Target(Host(BY_NAME["content"], False))
CONTENT_SANDBOX = Target(Host(BY_NAME["content"], True))
COMMON = Target(Host(BY_NAME["common"], False))

# Every host of FACTS.md by its prefix (production hosts and sandbox twins).
FACTS_PREFIXES = [
    "content-api",
    "content-api-sandbox",
    "seller-analytics-api",
    "discounts-prices-api",
    "discounts-prices-api-sandbox",
    "marketplace-api",
    "statistics-api",
    "statistics-api-sandbox",
    "advert-api",
    "advert-api-sandbox",
    "feedbacks-api",
    "feedbacks-api-sandbox",
    "buyer-chat-api",
    "supplies-api",
    "returns-api",
    "documents-api",
    "finance-api",
    "common-api",
]


def resolve(value: bytes | None) -> Target:
    return HostResolver().by_header(value)


def host_of(prefix: str) -> Host:
    return next(h for h in HOSTS if h.prefix == prefix)


# --- by Host header ----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", FACTS_PREFIXES)
def test_every_host_by_its_wb_name_and_by_localhost(prefix: str) -> None:
    expected = Target(host_of(prefix))
    assert resolve(f"{prefix}.wildberries.ru".encode()) == expected
    assert resolve(f"{prefix}.wildberries.ru:443".encode()) == expected
    assert resolve(f"{prefix}.localhost".encode()) == expected
    assert resolve(f"{prefix}.localhost:8000".encode()) == expected
    assert expected.host is not None
    assert expected.host.sandbox == prefix.endswith("-sandbox")


def test_the_facts_hosts_are_all_the_hosts() -> None:
    assert sorted(h.prefix for h in HOSTS) == sorted(FACTS_PREFIXES)


@pytest.mark.parametrize("host", [h for h in ALL_HOSTS if h not in HOSTS], ids=lambda h: h.prefix)
def test_the_hosts_of_the_documents_beside_the_facts(host: Host) -> None:
    """The four production hosts the documents add and WB's two sandbox twins without a /ping."""
    assert resolve(host.name.encode()) == Target(host)
    assert resolve(f"{host.prefix}.localhost:8000".encode()) == Target(host)


def test_exact_wb_names() -> None:
    assert resolve(b"content-api.wildberries.ru") == CONTENT
    assert resolve(b"content-api-sandbox.wildberries.ru") == CONTENT_SANDBOX
    assert resolve(b"common-api.wildberries.ru") == COMMON


@pytest.mark.parametrize("port", ["1", "80", "8000", "65535", "12345"])
def test_localhost_on_any_port(port: str) -> None:
    assert resolve(f"content-api.localhost:{port}".encode()) == CONTENT
    assert resolve(f"content-api-sandbox.localhost:{port}".encode()) == CONTENT_SANDBOX


@pytest.mark.parametrize(
    "value",
    [
        b"Content-API.Wildberries.RU",
        b"CONTENT-API.WILDBERRIES.RU",
        b"content-api.WildBerries.ru:443",
        b"Content-Api.LocalHost:8000",
        b"CONTENT-API.LOCALHOST",
    ],
)
def test_names_are_case_insensitive(value: bytes) -> None:
    assert resolve(value) == CONTENT


@pytest.mark.parametrize(
    "value",
    [
        b"content-api.wildberries.ru.",
        b"content-api.wildberries.ru.:443",
        b"content-api.localhost.",
        b"content-api.localhost.:8000",
        b"Content-Api.Localhost.:8000",
    ],
)
def test_a_trailing_dot_is_the_same_name(value: bytes) -> None:
    assert resolve(value) == CONTENT


def test_surrounding_whitespace_is_ignored() -> None:
    assert resolve(b" content-api.wildberries.ru ") == CONTENT


def test_an_empty_port_is_the_default_port() -> None:
    # RFC 3986 section 6.2.3: "http://example.com:/" is "http://example.com/".
    assert resolve(b"content-api.wildberries.ru:") == CONTENT


@pytest.mark.parametrize(
    "value",
    [b"[::1]", b"[::1]:8000", b"[::ffff:127.0.0.1]:8000", b"[2001:db8::1]:443", b"[fe80::1%25eth0]:80"],
)
def test_ipv6_literals_are_a_bare_address(value: bytes) -> None:
    assert resolve(value) is BARE


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"127.0.0.1",
        b"127.0.0.1:8000",
        b"localhost",
        b"localhost:8000",
        b"wildberries.ru",
        b"example.com",
        b"nosuch-api.localhost:8000",
        b"nosuch-api.wildberries.ru",
        b"content-api",  # no domain
        b"content-api.example.com",
        b"content-api.wildberries.ru.evil.example",
        b"x.content-api.wildberries.ru",
        b"evil-content-api.wildberries.ru",
        b"content-api-sandbox-sandbox.wildberries.ru",
        b"seller-analytics-api-sandbox.wildberries.ru",  # Analytics has no sandbox twin
        b"returns-api-sandbox.localhost:8000",  # Buyers Returns has no sandbox twin
        b"common-api-sandbox.wildberries.ru",
        b"\xff\xfe\x00",
    ],
)
def test_other_names_are_a_bare_address(value: bytes | None) -> None:
    assert resolve(value) is BARE


def test_the_portal_name() -> None:
    assert resolve(b"seller.wildberries.ru") is PORTAL
    assert resolve(b"seller.localhost:8000") is PORTAL
    assert PORTAL.host is None
    assert BARE.host is None
    assert not BARE.portal


def test_results_are_cached_but_the_cache_is_bounded() -> None:
    resolver = HostResolver()
    first = resolver.by_header(b"content-api.localhost:8000")
    assert resolver.by_header(b"content-api.localhost:8000") is first
    for i in range(10_050):
        assert resolver.by_header(f"random-{i}.example".encode()) is BARE
    assert len(resolver._cache) <= 10_000
    # Still correct after the cache is full.
    assert resolver.by_header(b"finance-api.localhost:1") == Target(host_of("finance-api"))


@given(st.binary(max_size=80))
def test_any_bytes_resolve_without_error(value: bytes) -> None:
    target = resolve(value)
    assert isinstance(target, Target)
    if target.host is not None:
        assert target.host in ALL_HOSTS


@given(st.sampled_from(FACTS_PREFIXES), st.integers(min_value=1, max_value=65535), st.booleans())
def test_any_port_any_case(prefix: str, port: int, upper: bool) -> None:
    name = f"{prefix}.localhost:{port}"
    if upper:
        name = name.upper()
    assert resolve(name.encode()) == Target(host_of(prefix))


# --- by path prefix ----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", FACTS_PREFIXES)
def test_every_host_by_path_prefix(prefix: str) -> None:
    assert split_prefix(f"/{prefix}/ping") == (Target(host_of(prefix)), "/ping")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/content-api/ping", (CONTENT, "/ping")),
        ("/content-api-sandbox/ping", (CONTENT_SANDBOX, "/ping")),
        ("/common-api/api/v1/seller-info", (COMMON, "/api/v1/seller-info")),
        ("/common-api/api/communications/v2/news", (COMMON, "/api/communications/v2/news")),
        ("/content-api", (CONTENT, "/")),
        ("/content-api/", (CONTENT, "/")),
        ("/content-api//ping", (CONTENT, "//ping")),
        ("/seller/tokens", (PORTAL, "/tokens")),
    ],
)
def test_split_prefix(path: str, expected: tuple[Target, str]) -> None:
    assert split_prefix(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/ping",
        "/api/v1/seller-info",
        "/nosuch-api/ping",
        "/content-api.wildberries.ru/ping",
        "/content/ping",
        "//content-api/ping",
        "/openapi.json",
        "/docs",
    ],
)
def test_paths_without_a_host_prefix(path: str) -> None:
    assert split_prefix(path) is None
