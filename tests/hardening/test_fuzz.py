"""Fuzzing the request path with hypothesis, over raw sockets: whatever arrives, the server answers
without a 5xx, a 4xx from the API is a well-formed WB error body, and the limiter keeps its exact state.

Each example is one request on its own connection, built byte by byte: random or real host names,
paths (real routes, their near misses, percent-encoding, pages beside the API, the account pages),
HTTP methods, query strings, header names and values (non-UTF-8 bytes included, up to thousands of
headers), Authorization values (real tokens, mangled ones, noise), and bodies with every framing: none,
a right, short, long, negative, doubled or non-numeric Content-Length, chunked (good, bad, unterminated)
and both at once. The server runs the built-in limits, so real tokens meet real buckets and 429s.

Requests that uvicorn's HTTP parser refuses before our application sees them get uvicorn's own plain
400; they are counted here, and `test_malformed_http_gets_a_wb_error_body` holds them to FACTS.md.
The clock endpoint of test servers (/_wbseller/clock) is left out: it moves time, which would make the
limiter check below meaningless.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, serving
from tests.hardening.conftest import (
    PING,
    Counts,
    RawResponse,
    assert_wb_body,
    get_raw,
    parse_response,
    send_raw,
)
from wbseller.gateway.protocol import MAX_HEAD

EXAMPLES = int(os.environ.get("WBSELLER_FUZZ_EXAMPLES", "500"))
HOSTS = [
    b"127.0.0.1",
    b"localhost",
    b"common-api.wildberries.ru",
    b"content-api.wildberries.ru",
    b"CONTENT-API.WILDBERRIES.RU.",
    b"content-api-sandbox.wildberries.ru",
    b"finance-api.localhost:8000",
    b"marketplace-api.localhost",
    b"seller.localhost",
    b"seller.wildberries.ru",
    b"nope.wildberries.ru",
    b"[::1]:8000",
    b"",
    b"\xff\xfe\xfd",
    b"common-api.wildberries.ru:99999999999999999999",
]
PATHS = [
    "/ping",
    "/api/v1/seller-info",
    "/api/communications/v2/news",
    "/common-api/ping",
    "/common-api/api/v1/seller-info",
    "/common-api/api/communications/v2/news",
    "/content-api/ping",
    "/content-api-sandbox/ping",
    "/finance-api/api/v1/seller-info",
    "/marketplace-api/api/communications/v2/news",
    "/",
    "/openapi.json",
    "/metrics",
    "/ready",
    "/docs",
    "/docs/static/swagger-ui.css",
    "/docs/static/../../../../etc/passwd",
    "/seller",
    "/seller/",
    "/seller/signin",
    "/seller/integrations",
    "/seller/decode",
    "/seller/news",
    "/nope",
    "//ping",
    "/ping/",
    "/PING",
    "/common-api//ping",
    "/%70ing",
    "/common-api/../ping",
    "/common-api/%2e%2e/ping",
    "/ping%00",
    "/ping;x=1",
    "*",
    "http://common-api.wildberries.ru/ping",
]
# (Host, path) pairs that reach a method: by path prefix on a bare address, or by WB host name.
ROUTES = [
    (b"127.0.0.1", "/ping"),
    (b"127.0.0.1", "/common-api/ping"),
    (b"127.0.0.1", "/content-api/ping"),
    (b"127.0.0.1", "/content-api-sandbox/ping"),
    (b"127.0.0.1", "/finance-api/ping"),
    (b"127.0.0.1", "/api/v1/seller-info"),
    (b"localhost", "/common-api/api/communications/v2/news"),
    (b"common-api.wildberries.ru", "/ping"),
    (b"common-api.wildberries.ru", "/api/v1/seller-info"),
    (b"common-api.wildberries.ru", "/api/communications/v2/news"),
    (b"content-api.wildberries.ru", "/ping"),
    (b"marketplace-api.localhost:8000", "/ping"),
]
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"OPTIONS", b"TRACE", b"QUERY"]
FRAMINGS = [
    "none",
    "length",
    "length-short",
    "length-long",
    "length-garbage",
    "length-negative",
    "length-twice",
    "chunked",
    "chunked-bad",
    "chunked-unterminated",
    "chunked-and-length",
]
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
B64 = string.ascii_letters + string.digits + "-_."


@dataclass
class Sent:
    request: bytes
    method: bytes
    path: str
    host: bytes
    framing: str
    half_close: bool


@dataclass
class Pool:
    tokens: list[str]  # of every type
    personal: list[str]  # personal tokens for all categories


def _header_value(wild: bool = False) -> st.SearchStrategy[bytes]:
    """Any bytes but CR and LF (wild), or what RFC 9110 allows: visible ASCII, space, tab, obs-text."""
    if wild:
        return st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").strip())
    return st.binary(max_size=80).map(
        lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128).strip()
    )


def _paths() -> st.SearchStrategy[str]:
    """Real routes and their near misses, composed paths (percent-encoded text), printable noise."""
    return st.one_of(
        st.sampled_from(PATHS),
        st.tuples(
            st.sampled_from(["", "/common-api", "/content-api", "/seller", "/docs", "/api/v1"]),
            st.text(min_size=0, max_size=30),
        ).map(lambda t: t[0] + "/" + quote(t[1], safe="/;=:@!$&'()*+,")),
        st.text(
            string.ascii_letters + string.digits + string.punctuation.replace("#", "").replace("?", ""),
            max_size=40,
        ).map(lambda p: "/" + p),
    )


@st.composite
def requests(draw: st.DrawFn, pool: Pool) -> Sent:
    # One request in five is wild (any method token, any bytes in values, any framing); the others are
    # well-formed HTTP with random content, so that most of them reach the application. Two in five aim at the API (a real route, GET, an address that routes by path), so that
    # they meet tokens and buckets; the others go anywhere.
    kind = draw(st.sampled_from(["api", "api", "any", "any", "wild"]))
    wild = kind == "wild"
    if kind == "api":
        method = draw(st.sampled_from([b"GET", b"GET", b"GET", b"HEAD", b"POST"]))
        host, path = draw(st.sampled_from(ROUTES))
    else:
        methods = st.sampled_from(METHODS)
        if wild:
            methods = st.one_of(methods, st.text(TOKEN_CHARS, min_size=1, max_size=12).map(str.encode))
        method = draw(methods)
        host = draw(st.one_of(st.sampled_from(HOSTS), _header_value(wild)))
        path = draw(_paths())
    if path.startswith("/_wbseller"):
        path = "/_" + path
    params = draw(
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(["from", "fromID", "FROMID", "from[]"]), st.text(max_size=10)),
                st.one_of(
                    st.sampled_from(
                        ["1", "0", "-1", "18446744073709551615", "18446744073709551616", "2025-02-06", ""]
                    ),
                    st.text(max_size=30),
                    st.integers().map(str),
                ),
            ),
            max_size=5,
        )
    )
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
    raw_query = None
    if wild:
        raw_query = draw(st.binary(max_size=30).map(lambda b: bytes(c for c in b if c > 32 and c != 0x23)))
    target = path.encode() + (b"?" + query.encode() if query else b"")
    if raw_query:
        target += (b"&" if query else b"?") + raw_query
    real = st.sampled_from(pool.tokens)
    if kind == "api" and draw(st.integers(0, 3)) > 0:  # mostly a token that opens every host
        real = st.sampled_from(pool.personal)
    auth = draw(
        st.one_of(
            real,
            real,
            real,
            st.none(),
            st.sampled_from(pool.tokens).map(lambda t: "Bearer " + t),
            st.tuples(st.sampled_from(pool.tokens), st.integers(0, 400), st.text(B64, max_size=3)).map(
                lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]) :]
            ),
            st.text(B64, max_size=200),
            _header_value(wild).map(lambda b: b.decode("latin-1")),
        )
    )
    names = st.text(TOKEN_CHARS, min_size=1, max_size=20).filter(
        lambda n: (
            n.lower() not in {"content-length", "transfer-encoding", "host", "connection", "authorization"}
        )
    )
    headers = draw(st.lists(st.tuples(names.map(str.encode), _header_value(wild)), max_size=20))
    flood = draw(st.sampled_from([0, 0, 0, 0, 0, 0, 0, 0, 500, 3000]))
    body = draw(st.binary(max_size=2048))
    framing = draw(
        st.sampled_from(FRAMINGS if wild else ["none", "none", "length", "chunked", "length-long"])
    )

    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + host, b"Connection: close"]
    if auth is not None:
        lines.append(b"Authorization: " + auth.encode("latin-1"))
    lines += [k + b": " + v for k, v in headers]
    lines += [b"X-Flood-%d: %d" % (i, i) for i in range(flood)]
    half_close = False
    payload = b""
    if framing == "length":
        lines.append(b"Content-Length: %d" % len(body))
        payload = body
    elif framing == "length-short":
        lines.append(b"Content-Length: %d" % (len(body) // 2))
        payload = body
    elif framing == "length-long":
        lines.append(b"Content-Length: %d" % (len(body) + 100))
        payload, half_close = body, True
    elif framing == "length-garbage":
        lines.append(
            b"Content-Length: "
            + draw(st.sampled_from([b"abc", b"1e3", b"0x10", b" ", b"99999999999999999999999"]))
        )
        payload = body
    elif framing == "length-negative":
        lines.append(b"Content-Length: -5")
        payload = body
    elif framing == "length-twice":
        lines += [b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 1)]
        payload = body
    elif framing.startswith("chunked"):
        lines.append(b"Transfer-Encoding: chunked")
        if framing == "chunked-and-length":
            lines.append(b"Content-Length: %d" % len(body))
        cut = len(body) // 2
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:cut], body[cut:]) if c)
        if framing == "chunked-bad":
            payload = b"zz\r\n" + body + b"\r\n0\r\n\r\n"
        elif framing == "chunked-unterminated":
            half_close = True
        else:
            payload += b"0\r\n\r\n"
    request = b"\r\n".join(lines) + b"\r\n\r\n" + payload
    return Sent(request, method, path, host, framing, half_close)


def _is_portal(sent: Sent) -> bool:
    host = sent.host.lower().split(b":")[0].rstrip(b".")
    return sent.path.startswith("/seller") or host in (b"seller.localhost", b"seller.wildberries.ru")


COUNTS = Counts()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The built-in limits (the failed-auth limit lifted by tests/conftest.py: the fuzzer is one address)."""
    with serving(tmp_path_factory, "fuzz") as srv:
        yield srv


@pytest.fixture(scope="module")
def pool(fuzz_server: Server) -> Pool:
    srv = fuzz_server
    tokens, personal = [], []
    svc = srv.cli("service", "create", "--name", "Fuzz ERP", "--categories", "content,marketplace")
    for i in range(6):
        sid = srv.seller()
        personal.append(srv.token(sid, "personal", "all"))
        if i < 2:
            tokens += [
                srv.token(sid, "base", "content", read_only=True),
                srv.token(sid, "service", service=svc),
                srv.token(sid, "test", "content"),
            ]
    return Pool(tokens + personal, personal)


def check(sent: Sent, resp: RawResponse | None) -> None:
    """The invariants of one exchange."""
    COUNTS.add("requests")
    if resp is None:
        # Only a client that gave up mid-body (we shut our side) may go unanswered.
        assert sent.half_close, f"no response to {sent.request[:300]!r}"
        COUNTS.add("unanswered (client gave up mid-body)")
        return
    COUNTS.add(f"status {resp.status}")
    assert resp.status < 500, (resp.status, resp.body[:500], sent.request[:500])
    if resp.parser_refused:
        COUNTS.add("refused by the HTTP parser")
        return
    if _is_portal(sent):
        COUNTS.add("account pages")
        return
    if resp.status >= 400:
        if sent.method == b"HEAD":
            assert resp.header("content-type") == "application/problem+json", resp.headers
        else:
            body = assert_wb_body(resp)
            COUNTS.add(f"code {body['code']}")
    remaining = resp.header("x-ratelimit-remaining")
    if remaining is not None:
        assert 0 <= int(remaining) < 10, remaining
        COUNTS.add("charged")
    if resp.status == 429:
        assert remaining is None
        for name in ("x-ratelimit-retry", "x-ratelimit-limit", "x-ratelimit-reset"):
            value = resp.header(name)
            assert value is not None and value.isdigit(), (name, resp.headers)
        assert int(resp.header("x-ratelimit-limit") or 0) in (1, 3, 10)


def test_fuzz_the_request_path(fuzz_server: Server, pool: Pool, figures: dict[str, Any]) -> None:
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(sent=requests(pool))
    def one(sent: Sent) -> None:
        check(sent, send_raw(fuzz_server.port, sent.request, timeout=10, half_close=sent.half_close))

    one()
    assert fuzz_server.proc is not None and fuzz_server.proc.poll() is None, "the server died"
    figures.update(COUNTS.values)
    figures["examples"] = EXAMPLES
    figures["seconds"] = round(time.monotonic() - started, 1)
    assert COUNTS["refused by the HTTP parser"] < COUNTS["requests"] / 2, "the fuzzer mostly missed the app"
    assert COUNTS["status 200"] > 0 and COUNTS["status 429"] > 0 and COUNTS["status 401"] > 0, COUNTS.values


def test_after_the_fuzz_the_limiter_is_exact_and_the_server_well(fuzz_server: Server) -> None:
    srv = fuzz_server
    assert srv.proc is not None and srv.proc.poll() is None
    token = srv.token(srv.seller(), "personal", "all")
    for left in (2, 1, 0):
        r = srv.get(PING, token)
        assert r.status_code == 200, r.text
        assert r.headers["x-ratelimit-remaining"] == str(left)
    r = srv.get(PING, token)
    body = assert_wb_body(r, 429)
    assert body["code"] == "rate-limited"
    assert body["detail"] == "limited by ping"
    assert r.headers["x-ratelimit-limit"] == "3"
    assert 1 <= int(r.headers["x-ratelimit-retry"]) <= 10
    assert 20 <= int(r.headers["x-ratelimit-reset"]) <= 30
    # Another host's bucket of the same seller is untouched; so are other groups.
    assert srv.get("/content-api/ping", token).headers["x-ratelimit-remaining"] == "2"
    assert (
        srv.get(f"{PING.removesuffix('/ping')}/api/v1/seller-info", token).headers["x-ratelimit-remaining"]
        == "9"
    )
    ready = httpx.get(f"{srv.base_url}/ready", timeout=5)
    assert ready.status_code == 200, ready.text
    metrics = httpx.get(f"{srv.base_url}/metrics", timeout=5).text
    total = sum(
        s.value
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
        if s.name == "wbseller_requests_total"
    )
    assert total > 0
    assert "Traceback" not in srv.log, srv.log[-3000:]


MALFORMED_HTTP = {
    "content-length not a number": b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "content-length negative": b"GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "content-length twice": b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "content-length and chunked": b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad chunk size": b"POST /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "unknown method": b"BREW /ping HTTP/1.1\r\nHost: x\r\n\r\n",
    "non-ASCII byte in the path": b"GET /p\xffing HTTP/1.1\r\nHost: x\r\n\r\n",
    "non-UTF-8 byte in the query": b"GET /api/communications/v2/news?from=\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    "no request line": b"\x00\x01\x02garbage\r\n\r\n",
}


def test_malformed_http_gets_a_wb_error_body(fuzz_server: Server) -> None:
    """FACTS.md: every error body, whatever the status, is one WB JSON object. Requests the HTTP parser
    refuses are errors too: they are answered 400 (not 5xx), and should carry the WB body."""
    plain: list[str] = []
    for name, request in MALFORMED_HTTP.items():
        resp = send_raw(fuzz_server.port, request)
        assert resp is not None, name
        assert resp.status == 400, (name, resp.status, resp.body)
        if resp.header("content-type") != "application/problem+json":
            plain.append(f"{name}: {resp.header('content-type')} {resp.body!r}")
            continue
        assert_wb_body(resp, 400)
    assert not plain, "answered without the WB error body:\n" + "\n".join(plain)


def test_a_header_flood_is_answered(fuzz_server: Server) -> None:
    """Many headers within the head limit: answered (401: no token). Odd bytes in values too."""
    port = fuzz_server.port
    many = [(b"X-H%d" % i, b"v") for i in range(4000)]  # ~40 KiB of head
    assert_wb_body(get_raw(port, PING, None, extra=many), 401)
    assert_wb_body(
        get_raw(
            port, PING, b"\x80\xff" * 100, extra=[(b"X-Bin", bytes(range(32, 127)) + bytes(range(128, 256)))]
        ),
        401,
    )


def test_a_head_over_the_limit_is_431_at_once(fuzz_server: Server) -> None:
    """httptools sets no limit on headers and gathers a long value quadratically: the server stops
    reading at MAX_HEAD, answers 431 with the WB body and closes, whether the head is one huge header,
    thousands of small ones, or a head that never ends."""
    port = fuzz_server.port
    for extra in (
        [(b"X-Big", b"v" * (MAX_HEAD + 1))],
        [(b"X-H%d" % i, b"v" * 20) for i in range(MAX_HEAD // 20)],
    ):
        assert_wb_body(get_raw(port, PING, None, extra=extra), 431)
    # A head that never ends: 64 MiB would be offered; the answer comes after little more than the limit.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        sent, answer = 0, b""
        started = time.monotonic()
        try:
            while sent < 64 << 20:
                s.sendall(b"v" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(10)
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                answer += chunk
        assert time.monotonic() - started < 5
    assert sent < 16 << 20, sent  # refused long before the end (socket buffers take a few MiB)
    resp = parse_response(answer)
    assert resp is not None, answer[:200]
    assert_wb_body(resp, 431)
    assert_wb_body(get_raw(port, PING, None), 401)  # and the server still answers others


def test_body_bytes_do_not_count_as_head(fuzz_server: Server) -> None:
    """A body of almost 1 MiB sent in pieces (read by the server: the method's limit is 1 MiB), then a second
    request on the same connection: the body is no part of a head (no 431); each request gets its answer."""
    token = fuzz_server.token(fuzz_server.seller(), "personal", "all")
    body = b"x" * ((1 << 20) - 1)
    first = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n" % (
        token.encode(),
        len(body),
    )
    second = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", fuzz_server.port), timeout=10) as s:
        s.sendall(first)
        for i in range(0, len(body), 100_000):
            s.sendall(body[i : i + 100_000])
            time.sleep(0.01)
        s.sendall(second)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                answer += chunk
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]
    assert statuses == [200, 401], answer[:600]


def test_repeated_host_or_authorization_headers_are_refused(fuzz_server: Server) -> None:
    """Two Host headers are a 400 (RFC 9112); two Authorization headers a 401, even if both are good:
    which one a proxy in front checked cannot be known."""
    port = fuzz_server.port
    token = fuzz_server.token(fuzz_server.seller(), "personal", "all")
    assert get_raw(port, PING, token).status == 200
    body = assert_wb_body(get_raw(port, PING, token, extra=[(b"Host", b"content-api.localhost")]), 400)
    assert "Host" in body["detail"]
    for second in (token, "garbage"):
        body = assert_wb_body(get_raw(port, PING, token, extra=[(b"Authorization", second.encode())]), 401)
        assert "more than one Authorization" in body["detail"]


def test_the_test_clock_refuses_bad_bodies_without_a_5xx(start_server: Any) -> None:
    """A test server's POST /_wbseller/clock (left out of the fuzz, since it moves time) with a body it
    cannot use: a 400 WB error body, not a 500 (and no second response attempted after the first)."""
    srv: Server = start_server()
    wrong = []
    for body in (b"abc", b"[]", b'{"advance": "abc"}', b'{"advance": -1}', b'{"advance": 1e400}'):
        r = httpx.post(f"{srv.base_url}/_wbseller/clock", content=body, timeout=10)
        if r.status_code != 400 or r.headers.get("content-type") != "application/problem+json":
            wrong.append(f"{body!r}: {r.status_code} {r.headers.get('content-type')} {r.text[:80]!r}")
    ping = srv.get(PING)  # the server still answers (401: no token), its clock still works
    if ping.status_code != 401:
        wrong.append(f"then GET /ping: {ping.status_code} {ping.text[:80]!r}")
    assert not wrong, "\n".join(wrong)
    assert "Traceback" not in srv.log
