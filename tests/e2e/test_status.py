"""Every row of FACTS.md's status-code table, end to end: real server processes over HTTP.

Each case asserts the status, the WB error body (application/problem+json, requestId = X-Request-Id),
the stable `code` and a meaningful `detail`. Methods the General section lacks (a write method, a
Jam-only method, handlers answering 409/422/500, a small body limit) are registered through a config
file on one server per module (`cfg_server`); handlers live in tests/e2e/plugin_status.py.

Tests never move the shared `server` fixture's clock; the expiry test starts its own server.
"""

from __future__ import annotations

import base64
import fcntl
import http.client
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import Server, assert_wb_error, serving
from tests.e2e.plugin_status import CRASH_MARKER
from wbseller.categories import mask_of
from wbseller.errors import NOT_FOUND_DETAIL
from wbseller.tokens import TokenType, payload_for

ORIGIN = "wbseller-gateway"
SELLER_INFO = "/common-api/api/v1/seller-info"
NEWS = "/common-api/api/communications/v2/news"

# The methods this module adds. Content (with its sandbox) and Marketplace hosts; the Marketplace
# group charges a 409 as 5 requests, as FACTS says WB does. Both groups refill slowly (36 s and
# 180 s a request) so that X-Ratelimit-Remaining can be asserted exactly on a slow machine.
CONFIG = """
[limits.status-open]
rates.all = { period = 3600, limit = 100, burst = 100 }

[limits.status-market]
rates.all = { period = 3600, limit = 20, burst = 20 }
costs = { "409" = 5 }

[[methods]]
id = "status-write"
http = "POST"
path = "/api/v1/status-test/write"
category = "content"
read_only = false
token_types = ["base", "test", "personal", "service"]
limit = "status-open"
handler = "tests.e2e.plugin_status:ok"

[[methods]]
id = "status-no-base"
http = "GET"
path = "/api/v1/status-test/no-base"
category = "content"
read_only = true
token_types = ["test", "personal", "service"]
limit = "status-open"
handler = "tests.e2e.plugin_status:ok"

[[methods]]
id = "status-jam"
http = "GET"
path = "/api/v1/status-test/jam"
category = "content"
read_only = true
token_types = ["base", "test", "personal", "service"]
limit = "status-open"
subscription = "jam"
handler = "tests.e2e.plugin_status:ok"

[[methods]]
id = "status-upload"
http = "POST"
path = "/api/v1/status-test/upload"
category = "content"
read_only = false
token_types = ["base", "test", "personal", "service"]
limit = "status-open"
max_body = 256
handler = "tests.e2e.plugin_status:ok"

[[methods]]
id = "status-crash"
http = "GET"
path = "/api/v1/status-test/crash"
category = "content"
read_only = true
token_types = ["base", "test", "personal", "service"]
limit = "status-open"
handler = "tests.e2e.plugin_status:crash"

[[methods]]
id = "status-conflict"
http = "POST"
path = "/api/v3/status-test/conflict"
category = "marketplace"
read_only = false
token_types = ["base", "personal", "service"]
limit = "status-market"
handler = "tests.e2e.plugin_status:conflict"

[[methods]]
id = "status-unprocessable"
http = "POST"
path = "/api/v3/status-test/unprocessable"
category = "marketplace"
read_only = false
token_types = ["base", "personal", "service"]
limit = "status-market"
handler = "tests.e2e.plugin_status:unprocessable"
"""

WRITE = "/content-api/api/v1/status-test/write"
NO_BASE = "/content-api/api/v1/status-test/no-base"
JAM = "/content-api/api/v1/status-test/jam"
UPLOAD = "/content-api/api/v1/status-test/upload"
CRASH = "/content-api/api/v1/status-test/crash"
CONFLICT = "/marketplace-api/api/v3/status-test/conflict"
UNPROCESSABLE = "/marketplace-api/api/v3/status-test/unprocessable"
UPLOAD_LIMIT = 256


@pytest.fixture(scope="module")
def cfg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for this module with the methods of CONFIG added."""
    with serving(tmp_path_factory, "status", CONFIG) as srv:
        yield srv


# --- helpers ------------------------------------------------------------------------------------


def wb_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A WB error body with this status and code, from our gateway; returns the body."""
    body = assert_wb_error(r, status, code)
    assert body["statusText"] == HTTPStatus(status).phrase
    assert body["origin"] == ORIGIN
    assert isinstance(body["detail"], str)
    assert body["detail"].strip(), body
    assert isinstance(body["title"], str)
    assert body["title"].strip(), body
    return body


def token_refused(r: httpx.Response, code: str, token: str | None = None) -> dict[str, Any]:
    """401 `unauthorized` for a token problem; the detail never quotes the token."""
    body = wb_error(r, 401, code)
    assert body["title"] == "unauthorized"
    assert body["detail"].startswith("token problem; "), body
    if token:
        assert token not in r.text
        signature = token.split(".")[-1]
        assert not signature or signature not in r.text
    assert "x-ratelimit-remaining" not in r.headers
    return body


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(part: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a JWT, unverified."""
    header, payload, _sig = token.split(".")
    return b64json(header), b64json(payload)


def sign_with_new_key(payload: dict[str, Any], kid: str) -> str:
    """`payload` signed ES256 by a P-256 key the server has never seen, under `kid`."""
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid, "typ": "JWT"})


def wait_for_status(fetch: Callable[[], httpx.Response], status: int, seconds: float = 2.0) -> httpx.Response:
    """Repeat `fetch` until it answers `status` (the server polls other processes' changes every 0.1 s)."""
    deadline = time.monotonic() + seconds
    while True:
        r = fetch()
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def raw_response(resp: http.client.HTTPResponse) -> httpx.Response:
    """An http.client response as an httpx one, for assert_wb_error."""
    return httpx.Response(resp.status, headers=resp.getheaders(), content=resp.read())


def raw_get(srv: Server, path: str, headers: dict[str, str]) -> httpx.Response:
    """GET with headers sent byte for byte as given."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        return raw_response(conn.getresponse())
    finally:
        conn.close()


# --- 400 ----------------------------------------------------------------------------------------


def test_400_news_without_from_or_from_id(server: Server) -> None:
    token = server.token(server.seller())
    r = server.get(NEWS, token)
    body = wb_error(r, 400, "parameter-missing")
    assert "from" in body["detail"]
    assert "fromID" in body["detail"]
    # A refusal by the method itself is still a response of a limited method.
    assert r.headers["x-ratelimit-remaining"] == "9"


@pytest.mark.parametrize("value", ["2025-13-45", "yesterday", "06.02.2025"])
def test_400_news_bad_from_date(server: Server, value: str) -> None:
    token = server.token(server.seller())
    body = wb_error(server.get(NEWS, token, params={"from": value}), 400, "parameter-invalid")
    assert "from" in body["detail"]
    assert "date" in body["detail"]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", str(1 << 64)])
def test_400_news_bad_from_id(server: Server, value: str) -> None:
    token = server.token(server.seller())
    body = wb_error(server.get(NEWS, token, params={"fromID": value}), 400, "parameter-invalid")
    assert "fromID" in body["detail"]


def test_news_with_good_parameters_is_200(server: Server) -> None:
    token = server.token(server.seller())
    for params in ({"from": "2025-02-06"}, {"fromID": "1"}, {"from": "2025-02-06", "fromID": "0"}):
        r = server.get(NEWS, token, params=params)
        assert r.status_code == 200, r.text
        assert isinstance(r.json()["data"], list)


# --- 401 ----------------------------------------------------------------------------------------


def test_401_no_authorization_header(server: Server) -> None:
    body = token_refused(server.get("/content-api/ping"), "token-missing")
    assert "missing" in body["detail"]


@pytest.mark.parametrize("value", ["", "   "])
def test_401_empty_authorization(server: Server, value: str) -> None:
    # Sent as is (httpx refuses a header value with surrounding spaces).
    body = token_refused(raw_get(server, "/content-api/ping", {"Authorization": value}), "token-missing")
    assert "missing" in body["detail"]


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "bearer   "])
def test_401_bearer_scheme_without_a_token(server: Server, value: str) -> None:
    """`Authorization: Bearer $TOKEN` with an empty $TOKEN: the token is missing, not malformed.

    The HTTP server strips the trailing spaces (RFC 9110 OWS), so the gateway sees `Bearer`.
    """
    body = token_refused(raw_get(server, "/content-api/ping", {"Authorization": value}), "token-missing")
    assert "missing" in body["detail"]


@pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", "BEARER  "])
def test_bearer_prefix_is_accepted(server: Server, scheme: str) -> None:
    token = server.token(server.seller(), "personal", "content")
    r = server.get("/content-api/ping", scheme + token)
    assert r.status_code == 200, r.text
    assert r.json()["Status"] == "OK"


@pytest.mark.parametrize("value", ["garbage", "Bearer garbage", "a.b.c", "Basic dXNlcjpwYXNz", "x" * 5000])
def test_401_garbage_token_is_malformed(server: Server, value: str) -> None:
    body = token_refused(server.get("/content-api/ping", value), "token-malformed")
    assert "malformed" in body["detail"]


def test_401_signature_by_another_key_with_a_known_kid(server: Server) -> None:
    real = server.token(server.seller(), "personal", "content")
    header, payload = jwt_parts(real)
    forged = sign_with_new_key(payload, header["kid"])
    assert jwt_parts(forged)[0]["kid"] == header["kid"]
    body = token_refused(server.get("/content-api/ping", forged), "token-signature-invalid", forged)
    assert "signature" in body["detail"]
    # The real token still works: the refusal was about the signature alone.
    assert server.get("/content-api/ping", real).status_code == 200


def test_401_unknown_kid(server: Server) -> None:
    real = server.token(server.seller(), "personal", "content")
    _header, payload = jwt_parts(real)
    forged = sign_with_new_key(payload, "19990101v1")
    body = token_refused(server.get("/content-api/ping", forged), "token-kid-unknown", forged)
    assert "key" in body["detail"]


def test_401_alg_none_with_a_signature_part(server: Server) -> None:
    real = server.token(server.seller(), "personal", "content")
    header, payload = jwt_parts(real)
    head = b64url(json.dumps({**header, "alg": "none"}).encode())
    forged = f"{head}.{real.split('.')[1]}.{real.split('.')[2]}"
    body = token_refused(server.get("/content-api/ping", forged), "token-alg-invalid", forged)
    assert "ES256" in body["detail"]
    assert payload["id"] not in body["detail"]


def test_401_alg_none_unsecured_jwt(server: Server) -> None:
    """The canonical `alg: none` token (RFC 7519 §6.1): an empty signature part."""
    real = server.token(server.seller(), "personal", "content")
    header, _payload = jwt_parts(real)
    head = b64url(json.dumps({**header, "alg": "none"}).encode())
    forged = f"{head}.{real.split('.')[1]}."
    body = token_refused(server.get("/content-api/ping", forged), "token-alg-invalid", forged)
    assert "ES256" in body["detail"]


def test_401_expired(start_server: Callable[..., Server]) -> None:
    srv = start_server()  # a private server: its clock is moved
    token = srv.token(srv.seller(), "personal", "content")
    assert srv.get("/content-api/ping", token).status_code == 200  # and now it is cached
    srv.advance(181 * 24 * 3600)
    body = token_refused(srv.get("/content-api/ping", token), "token-expired", token)
    assert body["detail"] == "token problem; token is expired"  # as in FACTS' example body
    # A token not used before is refused the same way.
    fresh = srv.token(srv.seller(), "personal", "content")
    token_refused(srv.get("/content-api/ping", fresh), "token-expired", fresh)


def test_401_revoked_while_cached(server: Server) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "all")
    token_id = jwt_parts(token)[1]["id"]
    listed = json.loads(server.cli("token", "list", "--seller", sid, "--json"))
    assert [t["id"] for t in listed] == [token_id]
    assert server.get(SELLER_INFO, token).status_code == 200  # cached from now on

    server.cli("token", "revoke", token_id)
    r = wait_for_status(lambda: server.get(SELLER_INFO, token), 401)
    body = token_refused(r, "token-revoked", token)
    assert "revoked" in body["detail"]


def test_401_revoked_before_first_use(server: Server) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "content")
    server.cli("token", "revoke", jwt_parts(token)[1]["id"])
    body = token_refused(server.get("/content-api/ping", token), "token-revoked", token)
    assert "revoked" in body["detail"]


def test_401_category_mismatch(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    body = token_refused(server.get("/finance-api/ping", token), "token-category-mismatch", token)
    assert "finance-api.wildberries.ru" in body["detail"]
    # The same token on its own category's host passes.
    assert server.get("/content-api/ping", token).status_code == 200


def test_401_category_mismatch_by_host_header(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    r = server.get("/ping", token, host="finance-api.wildberries.ru")
    body = token_refused(r, "token-category-mismatch", token)
    assert "finance-api.wildberries.ru" in body["detail"]


def test_401_test_token_on_a_production_host(server: Server) -> None:
    token = server.token(server.seller(), "test", "content")
    body = token_refused(server.get("/content-api/ping", token), "token-test-on-production", token)
    assert "test token" in body["detail"]
    assert "sandbox" in body["detail"]
    assert server.get("/content-api-sandbox/ping", token).status_code == 200


def test_401_test_token_on_news(server: Server) -> None:
    """common-api has no sandbox: a test token is refused there before the method's token types."""
    token = server.token(server.seller(), "test", "content")
    r = server.get(NEWS, token, params={"fromID": "1"})
    token_refused(r, "token-test-on-production", token)


def test_401_non_test_token_on_a_sandbox_host(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    body = token_refused(server.get("/content-api-sandbox/ping", token), "token-not-test", token)
    assert "sandbox" in body["detail"]
    assert "test token" in body["detail"]


def test_401_non_test_token_on_a_sandbox_host_by_name(server: Server) -> None:
    token = server.token(server.seller(), "base", "content")
    r = server.get("/ping", token, host="content-api-sandbox.wildberries.ru")
    token_refused(r, "token-not-test", token)


def test_401_read_only_token_on_a_write_method(cfg_server: Server) -> None:
    sid = cfg_server.seller()
    read_only = cfg_server.token(sid, "personal", "content", read_only=True)
    body = token_refused(
        cfg_server.get(WRITE, read_only, method="POST", content=b"{}"), "token-read-only", read_only
    )
    assert "read-only" in body["detail"]
    # The same token reads; a read-and-write token writes.
    assert cfg_server.get("/content-api/ping", read_only).status_code == 200
    writer = cfg_server.token(sid, "personal", "content")
    r = cfg_server.get(WRITE, writer, method="POST", content=b"{}")
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True


def test_401_token_without_a_record(server: Server) -> None:
    """Signed with the server's own key, well formed, but never issued: no record in storage."""
    sid = server.seller()
    ring = server.key_ring()
    payload = payload_for(
        token_id=str(uuid.uuid4()),
        sid=sid,
        scope=mask_of(["content"]),
        type=TokenType.PERSONAL,
        now=int(time.time()),
    )
    forged = ring.sign(payload)
    body = token_refused(server.get("/content-api/ping", forged), "token-unknown", forged)
    assert "unknown" in body["detail"]


def test_401_token_with_unknown_scope_bits(server: Server) -> None:
    """FACTS: our server refuses a token with a bit it never issues (8 and 16 exist on real tokens)."""
    real = server.token(server.seller(), "personal", "content")
    _header, payload = jwt_parts(real)
    forged = server.key_ring().sign({**payload, "s": payload["s"] | 1 << 8})
    body = token_refused(server.get("/content-api/ping", forged), "token-scope-unknown", forged)
    assert "scope" in body["detail"]


# --- 403 ----------------------------------------------------------------------------------------


def test_403_token_of_a_deleted_user(server: Server) -> None:
    sid = server.seller()
    uid = server.cli("user", "create", "--seller", sid, "--name", "Иван Менеджеров")
    token = server.token(sid, "personal", "all", user=uid)
    assert jwt_parts(token)[1]["uid"] == int(uid)
    assert server.get(SELLER_INFO, token).status_code == 200  # cached from now on

    server.cli("user", "delete", uid)
    r = wait_for_status(lambda: server.get(SELLER_INFO, token), 403)
    body = wb_error(r, 403, "user-deleted")
    assert body["title"] == "forbidden"
    assert "deleted" in body["detail"]
    assert token not in r.text
    # The owner's tokens of the same seller keep working.
    assert server.get(SELLER_INFO, server.token(sid, "personal", "all")).status_code == 200


def test_403_token_of_a_deleted_user_not_used_before(server: Server) -> None:
    sid = server.seller()
    uid = server.cli("user", "create", "--seller", sid, "--name", "Пётр Ушедший")
    token = server.token(sid, "personal", "content", user=uid)
    server.cli("user", "delete", uid)
    body = wb_error(server.get("/content-api/ping", token), 403, "user-deleted")
    assert "deleted" in body["detail"]


def test_403_method_blocked_for_the_seller(server: Server) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "all")
    assert server.get(NEWS, token, params={"fromID": "1"}).status_code == 200  # seller cached

    server.cli("seller", "block", "--seller", sid, "--method", "news")
    r = wait_for_status(lambda: server.get(NEWS, token, params={"fromID": "1"}), 403)
    body = wb_error(r, 403, "method-blocked")
    assert body["title"] == "forbidden"
    assert "blocked" in body["detail"]
    # Only that method: seller-info answers, and another seller's news too.
    assert server.get(SELLER_INFO, token).status_code == 200
    other = server.token(server.seller(), "personal", "all")
    assert server.get(NEWS, other, params={"fromID": "1"}).status_code == 200

    server.cli("seller", "block", "--seller", sid, "--method", "news", "--off")
    r = wait_for_status(lambda: server.get(NEWS, token, params={"fromID": "1"}), 200)
    assert r.status_code == 200, r.text


def test_403_method_needs_a_subscription(cfg_server: Server) -> None:
    sid = cfg_server.seller()
    token = cfg_server.token(sid, "personal", "content")
    r = cfg_server.get(JAM, token)
    body = wb_error(r, 403, "subscription-jam")
    assert body["title"] == "forbidden"
    assert "Jam" in body["detail"]  # the seed's 403 row, word for word
    assert "subscription" in body["detail"]

    cfg_server.cli("seller", "subscribe", "--seller", sid, "--name", "jam")
    r = wait_for_status(lambda: cfg_server.get(JAM, token), 200)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True

    cfg_server.cli("seller", "subscribe", "--seller", sid, "--name", "jam", "--off")
    wb_error(wait_for_status(lambda: cfg_server.get(JAM, token), 403), 403, "subscription-jam")


def test_403_token_type_not_allowed(cfg_server: Server) -> None:
    sid = cfg_server.seller()
    base = cfg_server.token(sid, "base", "content")
    body = wb_error(cfg_server.get(NO_BASE, base), 403, "token-type-not-allowed")
    assert body["title"] == "forbidden"
    assert body["detail"] == "base token is not allowed"  # the official spec's words
    r = cfg_server.get(NO_BASE, cfg_server.token(sid, "personal", "content"))
    assert r.status_code == 200, r.text


# --- 404, 405 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "host"),
    [
        ("/no/such/path", None),
        ("/", None),
        ("/content-api/no/such/path", None),
        ("/finance-api/api/v1/seller-info", None),  # a path of common-api on another host
        ("/api/v2/nothing", "content-api.wildberries.ru"),
        ("/api/v1/seller-info", "content-api.wildberries.ru"),
    ],
)
def test_404_unknown_path(server: Server, path: str, host: str | None) -> None:
    token = server.token(server.seller(), "personal", "all")
    body = wb_error(server.get(path, token, host=host), 404, "path-not-found")
    assert body["title"] == "path not found"
    assert body["detail"] == NOT_FOUND_DETAIL
    assert body["detail"] == "Please consult the https://dev.wildberries.ru/openapi/api-information"


def test_404_comes_before_the_token_check(server: Server) -> None:
    body = wb_error(server.get("/content-api/no/such/path"), 404, "path-not-found")
    assert body["title"] == "path not found"


def test_405_wrong_http_method(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    r = server.get("/content-api/ping", token, method="POST", content=b"{}")
    body = wb_error(r, 405, "method-not-allowed")
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"
    assert "POST" in body["detail"]
    assert "GET" in body["detail"]


def test_405_on_a_post_only_method(cfg_server: Server) -> None:
    token = cfg_server.token(cfg_server.seller(), "personal", "content")
    for verb in ("GET", "PUT", "DELETE"):
        r = cfg_server.get(WRITE, token, method=verb)
        body = wb_error(r, 405, "method-not-allowed")
        assert r.headers["allow"] == "OPTIONS, POST"
        assert verb in body["detail"]


# --- 409, 422 -----------------------------------------------------------------------------------


def test_409_from_a_handler(cfg_server: Server) -> None:
    token = cfg_server.token(cfg_server.seller(), "personal", "marketplace")
    r = cfg_server.get(CONFLICT, token, method="POST", json={"orderId": 1})
    body = wb_error(r, 409, "conflict")
    assert body["title"] == "conflict"
    assert body["detail"] == "the order is already in a supply"
    # Burst 20; a 409 costs 5 in all, and this response already shows it.
    assert r.headers["x-ratelimit-remaining"] == "15"
    r = cfg_server.get(CONFLICT, token, method="POST", json={"orderId": 1})
    wb_error(r, 409, "conflict")
    assert r.headers["x-ratelimit-remaining"] == "10"


def test_422_from_a_handler(cfg_server: Server) -> None:
    token = cfg_server.token(cfg_server.seller(), "personal", "marketplace")
    r = cfg_server.get(UNPROCESSABLE, token, method="POST", json={"dateFrom": 2, "dateTo": 1})
    body = wb_error(r, 422, "unprocessable")
    assert body["detail"] == "dateFrom is after dateTo"
    assert r.headers["x-ratelimit-remaining"] == "19"


# --- 413 ----------------------------------------------------------------------------------------


def test_413_content_length_over_the_limit_before_the_body_is_sent(cfg_server: Server) -> None:
    """Only the headers go out: the server answers without waiting for the 10 MB it was promised."""
    token = cfg_server.token(cfg_server.seller(), "personal", "content")
    conn = http.client.HTTPConnection("127.0.0.1", cfg_server.port, timeout=5)
    try:
        conn.putrequest("POST", UPLOAD)
        conn.putheader("Authorization", token)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(10 * 1024 * 1024))
        conn.endheaders()
        r = raw_response(conn.getresponse())
    finally:
        conn.close()
    body = wb_error(r, 413, "body-too-large")
    assert str(UPLOAD_LIMIT) in body["detail"]


def test_413_content_length_over_the_limit_with_the_body(cfg_server: Server) -> None:
    token = cfg_server.token(cfg_server.seller(), "personal", "content")
    r = cfg_server.get(UPLOAD, token, method="POST", content=b"x" * (UPLOAD_LIMIT + 1))
    body = wb_error(r, 413, "body-too-large")
    assert str(UPLOAD_LIMIT) in body["detail"]
    # At the limit it passes.
    r = cfg_server.get(UPLOAD, token, method="POST", content=b"x" * UPLOAD_LIMIT)
    assert r.status_code == 200, r.text
    assert r.json()["bodySize"] == UPLOAD_LIMIT


def test_413_chunked_body_over_the_limit(cfg_server: Server) -> None:
    token = cfg_server.token(cfg_server.seller(), "personal", "content")

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 100

    r = cfg_server.get(UPLOAD, token, method="POST", content=chunks())
    assert r.request.headers.get("transfer-encoding") == "chunked"
    body = wb_error(r, 413, "body-too-large")
    assert str(UPLOAD_LIMIT) in body["detail"]

    def small() -> Iterator[bytes]:
        yield b"z" * 100
        yield b"z" * 100

    r = cfg_server.get(UPLOAD, token, method="POST", content=small())
    assert r.status_code == 200, r.text
    assert r.json()["bodySize"] == 200


def test_413_chunked_body_refused_before_it_ends(cfg_server: Server) -> None:
    """Chunks past the limit, then no final chunk: the answer comes without the body's end."""
    token = cfg_server.token(cfg_server.seller(), "personal", "content")
    conn = http.client.HTTPConnection("127.0.0.1", cfg_server.port, timeout=5)
    try:
        conn.putrequest("POST", UPLOAD)
        conn.putheader("Authorization", token)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for _ in range(3):
            conn.send(b"%x\r\n%s\r\n" % (150, b"w" * 150))
        r = raw_response(conn.getresponse())
    finally:
        conn.close()
    body = wb_error(r, 413, "body-too-large")
    assert str(UPLOAD_LIMIT) in body["detail"]


def test_413_after_the_charge_carries_remaining(cfg_server: Server) -> None:
    """A chunked body is refused after the request was charged: the response still tells the rest."""
    token = cfg_server.token(cfg_server.seller(), "personal", "content")
    r = cfg_server.get(UPLOAD, token, method="POST", content=iter([b"v" * 200, b"v" * 200]))
    wb_error(r, 413, "body-too-large")
    # It was charged (burst 100): the next request of the group is the second.
    after = cfg_server.get(WRITE, token, method="POST", content=b"{}")
    assert after.headers["x-ratelimit-remaining"] == "98"
    assert r.headers.get("x-ratelimit-remaining") == "99", dict(r.headers)


# --- 429 ----------------------------------------------------------------------------------------


def test_429_ping_exhausted(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    for left in ("2", "1", "0"):
        r = server.get("/content-api/ping", token)
        assert r.status_code == 200, r.text
        assert r.headers["x-ratelimit-remaining"] == left
    r = server.get("/content-api/ping", token)
    body = wb_error(r, 429, "rate-limited")
    assert body["title"] == "too many requests"
    assert body["detail"] == "limited by ping"
    assert "x-ratelimit-remaining" not in r.headers
    assert r.headers["x-ratelimit-limit"] == "3"
    assert 1 <= int(r.headers["x-ratelimit-retry"]) <= 10
    assert 1 <= int(r.headers["x-ratelimit-reset"]) <= 30


# --- 500 ----------------------------------------------------------------------------------------


def test_500_from_a_crashing_handler(cfg_server: Server) -> None:
    token = cfg_server.token(cfg_server.seller(), "personal", "content")
    r = cfg_server.get(CRASH, token)
    body = wb_error(r, 500, "internal-error")
    assert body["title"] == "internal server error"
    for leak in ("Traceback", "RuntimeError", CRASH_MARKER, "plugin_status", ".py", 'File "'):
        assert leak not in r.text, leak
    # The request id names the failure in the server's log, with the traceback there.
    deadline = time.monotonic() + 2
    while body["requestId"] not in cfg_server.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert body["requestId"] in cfg_server.log
    assert CRASH_MARKER in cfg_server.log
    # The server keeps serving, the crashing method included.
    assert cfg_server.get("/content-api/ping", token).status_code == 200
    assert cfg_server.get(NO_BASE, token).status_code == 200
    r = cfg_server.get(CRASH, token)
    wb_error(r, 500, "internal-error")
    assert r.json()["requestId"] != body["requestId"]


def test_500_after_the_charge_carries_remaining(cfg_server: Server) -> None:
    """The crash comes after the request was charged: the response still tells the rest."""
    token = cfg_server.token(cfg_server.seller(), "personal", "content")
    r = cfg_server.get(CRASH, token)
    wb_error(r, 500, "internal-error")
    # It was charged (burst 100): the next request of the group is the second.
    after = cfg_server.get(NO_BASE, token)
    assert after.headers["x-ratelimit-remaining"] == "98"
    assert r.headers.get("x-ratelimit-remaining") == "99", dict(r.headers)


# --- 503 ----------------------------------------------------------------------------------------

# SQLite's WAL-index (the `-shm` file) has its lock bytes at offset 120: write, checkpoint, recover,
# then the five read marks (https://sqlite.org/walformat.html). A reader must hold one read mark.
SHM_READ_MARKS = (123, 5)


def test_503_storage_unavailable(cfg_server: Server) -> None:
    """A request that needs storage (a token not seen before) while no one can read the database.

    `BEGIN EXCLUSIVE` does not do it: the database is in WAL mode, where readers go on under a
    writer's lock, and exclusive locking mode cannot be had while the server has the WAL open. So
    this test takes every read mark of the WAL-index, as a process stuck mid-checkpoint would:
    SQLite's readers retry for about 10 s, then fail ("locking protocol").
    """
    sid = cfg_server.seller()
    cached = cfg_server.token(sid, "personal", "all")
    assert cfg_server.get(SELLER_INFO, cached).status_code == 200
    fresh = cfg_server.token(sid, "personal", "all")
    shm = Path(cfg_server.data_dir) / "wbseller.db-shm"
    assert shm.exists()

    # No CLI call while the lock is held: closing any descriptor of the file in this process
    # (as SQLite does when an engine is disposed) would drop the lock.
    fd = os.open(shm, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, SHM_READ_MARKS[1], SHM_READ_MARKS[0])
        started = time.monotonic()
        r = httpx.get(cfg_server.base_url + SELLER_INFO, headers={"Authorization": fresh}, timeout=30)
        elapsed = time.monotonic() - started
        body = wb_error(r, 503, "storage-unavailable")
        assert body["title"] == "service unavailable"
        assert "storage" in body["detail"]
        assert "sqlite" not in r.text.lower()
        assert "locking protocol" not in r.text
        assert elapsed < 25
        # A token already checked needs no storage, and keeps working.
        r = httpx.get(cfg_server.base_url + SELLER_INFO, headers={"Authorization": cached}, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        fcntl.lockf(fd, fcntl.LOCK_UN, SHM_READ_MARKS[1], SHM_READ_MARKS[0])
        os.close(fd)
    # Storage back: the same request succeeds.
    r = httpx.get(cfg_server.base_url + SELLER_INFO, headers={"Authorization": fresh}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["sid"] == sid


# --- every error body ---------------------------------------------------------------------------


def test_every_error_carries_its_request_id(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    responses = [
        server.get(NEWS, token),  # 400
        server.get("/content-api/ping"),  # 401
        server.get("/content-api/ping", "garbage"),  # 401
        server.get("/no/such/path"),  # 404
        server.get("/content-api/ping", token, method="DELETE"),  # 405
    ]
    ids = set()
    for r in responses:
        assert r.status_code >= 400
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["requestId"] == r.headers["x-request-id"]
        assert int(body["requestId"], 16) >= 0
        assert body["status"] == r.status_code
        assert int(r.headers["content-length"]) == len(r.content)
        ids.add(body["requestId"])
    assert len(ids) == len(responses)
    # Decision: a success carries none (the id is the error body's; see gateway/app.py).
    ok = server.get("/content-api/ping", token)
    assert ok.status_code == 200
    assert "x-request-id" not in ok.headers
