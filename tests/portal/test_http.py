"""The account pages over plain HTTP (no browser): sign-in, sessions, CSRF, tokens, news, headers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx

from tests.conftest import Server, assert_wb_error
from tests.portal.conftest import PASSWORD, Account, Portal, make_user

TOKEN_RE = re.compile(r'<textarea id="new-token"[^>]*>([^<]+)</textarea>')


def new_token(r: httpx.Response) -> str:
    m = TOKEN_RE.search(r.text)
    assert m, r.text[:2000]
    return m.group(1)


def token_ids(server: Server, sid: str) -> list[str]:
    return [t["id"] for t in json.loads(server.cli("token", "list", "--seller", sid, "--json"))]


# --- sign-in and sessions --------------------------------------------------------------------------


def test_signin_page_sets_a_safe_session_cookie(portal: Portal) -> None:
    r = portal.get("/signin")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("wbseller_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/;" in cookie or cookie.endswith("Path=/")
    assert '<label for="login">Login</label>' in r.text
    assert '<label for="password">Password</label>' in r.text


def test_sign_in_and_out(server: Server, portal: Portal) -> None:
    seller_user = make_user(server, server.seller(), "Anna Petrova", cli_password=True)
    r = portal.get("/integrations")
    assert r.status_code == 303
    assert r.headers["location"] == "/seller/signin?next=/seller/integrations"
    r = portal.sign_in(seller_user)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/seller/integrations"
    r = portal.get("/integrations")
    assert r.status_code == 200
    assert "Anna Petrova" in r.text
    assert "No tokens yet" in r.text
    kept = dict(portal.http.cookies)
    r = portal.post("/signout", {})
    assert r.status_code == 303
    assert portal.get("/integrations").status_code == 303
    # A copy of the signed-out session's cookie no longer works either.
    again = httpx.get(portal.server.base_url + "/seller/integrations", cookies=kept)
    assert again.status_code == 303


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(
    portal: Portal, seller_user: Account
) -> None:
    portal.get("/signin")
    r = portal.post("/signin", {"login": seller_user.login, "password": PASSWORD, "next": "/seller/decode"})
    assert r.headers["location"] == "/seller/decode"
    portal.get("/decode")
    assert portal.post("/signout", {}).status_code == 303
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/other"):
        portal.get("/signin")
        r = portal.post("/signin", {"login": seller_user.login, "password": PASSWORD, "next": evil})
        assert r.headers["location"] == "/seller/integrations", evil
        portal.get("/decode")
        assert portal.post("/signout", {}).status_code == 303


def test_wrong_password_is_refused(portal: Portal, seller_user: Account) -> None:
    r = portal.sign_in(seller_user, password="not-the-password")
    assert r.status_code == 400
    assert "Wrong login or password." in r.text
    assert 'role="alert"' in r.text
    r = portal.post("/signin", {"login": "nobody-at-all", "password": PASSWORD})
    assert r.status_code == 400
    assert "Wrong login or password." in r.text


def test_wrong_passwords_are_limited_per_login_and_address(
    start_server: Callable[..., Server], new_portal: Callable[..., Portal]
) -> None:
    srv = start_server()
    account = make_user(srv, srv.seller(), "Anna Petrova")
    p = new_portal(srv)
    for _ in range(5):
        assert p.sign_in(account, password="wrong-password").status_code == 400
    # Paused now, even with the right password: guessing learns nothing more.
    r = p.sign_in(account)
    assert r.status_code == 429, r.text
    assert "Too many wrong passwords" in r.text
    assert int(r.headers["retry-after"]) > 0
    srv.advance(15 * 60)
    assert p.sign_in(account).status_code == 303

    # One address trying many logins: 20 failures, then the address waits too, whatever the login.
    sid = srv.seller()
    other = new_portal(srv)
    for _ in range(4):
        victim = make_user(srv, sid, "Victim")
        for _ in range(5):
            assert other.sign_in(victim, password="wrong-password").status_code == 400
    assert other.sign_in(make_user(srv, sid, "Next")).status_code == 429
    other.get("/signin")
    assert other.post("/signin", {"login": "nobody", "password": "x"}).status_code == 429


def test_a_deleted_user_cannot_sign_in_and_their_session_ends(
    server: Server, portal: Portal, seller_user: Account, new_portal: Callable[..., Portal]
) -> None:
    assert portal.sign_in(seller_user).status_code == 303
    assert portal.get("/integrations").status_code == 200
    server.cli("user", "delete", str(seller_user.uid))
    r = portal.get("/integrations")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/seller/signin")
    assert "Your session has ended" in portal.get(r.headers["location"]).text
    again = new_portal()
    r = again.sign_in(seller_user)
    assert r.status_code == 400
    assert "Wrong login or password." in r.text


def test_a_new_password_ends_older_sessions(server: Server, portal: Portal, seller_user: Account) -> None:
    assert portal.sign_in(seller_user).status_code == 303
    server.cli("user", "password", str(seller_user.uid), input="another-secret\n")
    assert portal.get("/integrations").status_code == 303


def test_a_forged_cookie_is_an_anonymous_session(server: Server) -> None:
    r = httpx.get(server.base_url + "/seller/integrations", cookies={"wbseller_session": '{"u": 1}.forged'})
    assert r.status_code == 303
    assert r.headers["location"].startswith("/seller/signin")


# --- CSRF --------------------------------------------------------------------------------------------


def test_forms_without_their_csrf_token_are_refused(
    server: Server, portal: Portal, seller_user: Account, operator: Account, new_portal: Callable[..., Portal]
) -> None:
    assert portal.sign_in(seller_user).status_code == 303
    cookies = dict(portal.http.cookies)
    form = {"tab": "manual", "type": "base", "name": "x", "categories": "content", "access": "rw"}
    url = server.base_url + "/seller/integrations/new"
    # A raw POST with a valid session cookie and no CSRF field.
    r = httpx.post(url, data=form, cookies=cookies)
    assert r.status_code == 403
    assert "This form cannot be accepted" in r.text
    # A wrong one, and one from another session.
    assert httpx.post(url, data={**form, "csrf": "guess"}, cookies=cookies).status_code == 403
    stranger = new_portal()
    stranger.get("/signin")
    assert httpx.post(url, data={**form, "csrf": stranger.csrf}, cookies=cookies).status_code == 403
    # Sent from another site (the browser says so in Origin).
    r = httpx.post(
        url, data={**form, "csrf": portal.csrf}, cookies=cookies, headers={"origin": "https://evil.example"}
    )
    assert r.status_code == 403
    assert token_ids(server, str(seller_user.sid)) == []
    # Sign-out and sign-in are forms too.
    assert portal.post("/signout", {}, csrf=False).status_code == 403
    assert portal.get("/integrations").status_code == 200
    anon = new_portal()
    anon.get("/signin")
    r = anon.post("/signin", {"login": seller_user.login, "password": PASSWORD}, csrf=False)
    assert r.status_code == 403
    # And the operators' news form.
    op = new_portal()
    assert op.sign_in(operator).status_code == 303
    r = op.post("/news/new", {"header": "h", "content": "c", "date": "2025-02-05T14:10"}, csrf=False)
    assert r.status_code == 403


# --- tokens ------------------------------------------------------------------------------------------


def test_create_use_and_delete_a_token(server: Server, portal: Portal, seller_user: Account) -> None:
    assert portal.sign_in(seller_user).status_code == 303
    portal.get("/integrations")
    r = portal.post(
        "/integrations/new",
        {
            "tab": "manual",
            "type": "base",
            "name": "Warehouse sync",
            "categories": ["content", "marketplace"],
            "access": "ro",
            "comment": "nightly",
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    token = new_token(r)
    assert r.text.count(token) == 1
    # The list shows what is stored about the token, never the token.
    listing = portal.get("/integrations").text
    assert token not in listing
    assert "Warehouse sync" in listing
    assert "nightly" in listing
    assert "Read only" in listing
    assert "Content" in listing and "Marketplace" in listing
    # The token works on the API: read-only, base, content.
    assert server.get("/content-api/ping", token).status_code == 200
    (token_id,) = token_ids(server, str(seller_user.sid))
    assert f"/seller/integrations/{token_id}/delete" in listing
    # Delete (the confirmation page is for browsers without JS), effective at once.
    confirm = portal.get(f"/integrations/{token_id}/delete")
    assert confirm.status_code == 200
    assert "Delete token “Warehouse sync”?" in confirm.text
    r = portal.post(f"/integrations/{token_id}/delete", {})
    assert r.status_code == 303
    assert_wb_error(server.get("/content-api/ping", token), 401, "token-revoked")
    listing = portal.get("/integrations").text
    assert "Token “Warehouse sync” deleted" in listing
    assert "Warehouse sync</span>" not in listing
    assert portal.post(f"/integrations/{token_id}/delete", {}).status_code == 404
    assert token not in server.log  # nor in the server's log


def test_a_personal_token_needs_the_liability_box(
    server: Server, portal: Portal, seller_user: Account
) -> None:
    portal.sign_in(seller_user)
    portal.get("/integrations")
    form = {"tab": "manual", "type": "personal", "name": "ERP", "categories": "content", "access": "rw"}
    r = portal.post("/integrations/new", form)
    assert r.status_code == 400
    assert "Tick the box to confirm you will not share the token." in r.text
    assert 'id="new-token"' not in r.text
    assert token_ids(server, str(seller_user.sid)) == []
    r = portal.post("/integrations/new", {**form, "liability": "on"})
    assert r.status_code == 200
    claims = json.loads(server.cli("token", "decode", "--json", input=new_token(r) + "\n"))
    assert claims["type"] == "personal"


def test_form_errors_keep_the_values(portal: Portal, seller_user: Account) -> None:
    portal.sign_in(seller_user)
    portal.get("/integrations")
    r = portal.post("/integrations/new", {"tab": "manual", "type": "base", "name": "", "comment": "keep me"})
    assert r.status_code == 400
    assert "Enter the token name." in r.text
    assert "Choose at least one category." in r.text
    assert "keep me" in r.text
    assert 'aria-invalid="true"' in r.text
    # A test token only gets categories the sandbox has.
    r = portal.post(
        "/integrations/new",
        {"tab": "manual", "type": "test", "name": "t", "categories": ["content", "marketplace"]},
    )
    assert r.status_code == 400
    assert "which has no Marketplace" in r.text


def test_a_service_token_takes_the_services_categories(
    server: Server, portal: Portal, seller_user: Account
) -> None:
    service_id = server.cli(
        "service", "create", "--name", "Acme Cloud", "--categories", "statistics", "--read-only"
    )
    portal.sign_in(seller_user)
    page = portal.get("/integrations").text
    assert "Acme Cloud" in page
    r = portal.post("/integrations/new", {"tab": "service", "service": service_id})
    assert r.status_code == 200, r.text
    token = new_token(r)
    assert server.get("/statistics-api/ping", token).status_code == 200
    assert_wb_error(server.get("/content-api/ping", token), 401, "token-category-mismatch")
    listing = portal.get("/integrations").text
    assert "Acme Cloud" in listing and "Read only" in listing and "Statistics" in listing
    r = portal.post("/integrations/new", {"tab": "service", "service": "999999"})
    assert r.status_code == 400
    assert "This service is not in the catalog." in r.text


def test_a_seller_sees_and_deletes_only_its_own_tokens(
    server: Server, portal: Portal, seller_user: Account
) -> None:
    other_sid = server.seller()
    other_token = server.token(other_sid, "personal", "content")
    (other_id,) = token_ids(server, other_sid)
    portal.sign_in(seller_user)
    assert other_id not in portal.get("/integrations").text
    assert portal.get(f"/integrations/{other_id}/delete").status_code == 404
    assert portal.post(f"/integrations/{other_id}/delete", {}).status_code == 404
    assert server.get("/content-api/ping", other_token).status_code == 200


# --- operators and news ------------------------------------------------------------------------------


def test_operators_publish_and_edit_news_that_the_api_shows(
    server: Server, new_portal: Callable[..., Portal], operator: Account
) -> None:
    op = new_portal()
    assert op.sign_in(operator).headers["location"] == "/seller/news"
    page = op.get("/news")
    assert page.status_code == 200
    assert "+ Publish news" in page.text
    assert 'href="/seller/decode"' in page.text  # the operator's menu reaches the decoder too
    op.get("/news/new")
    r = op.post(
        "/news/new",
        {
            "header": "Новый метод API",
            "content": "Текст новости",
            "date": "2026-03-01T10:00",
            "types": "API, Маркетинг",
        },
    )
    assert r.status_code == 303, r.text
    listing = op.get("/news").text
    m = re.search(r"News #(\d+) published", listing)
    assert m
    news_id = int(m.group(1))
    titles = re.findall(r'class="news-title">([^<]+)<', listing)
    assert titles[0] == "Новый метод API"  # newest first
    assert "Маркетинг" in listing

    sid = server.seller()
    token = server.token(sid, "personal", "content")
    api = server.get(f"/common-api/api/communications/v2/news?fromID={news_id}", token)
    assert api.status_code == 200, api.text
    (item,) = [n for n in api.json()["data"] if n["id"] == news_id]
    assert item["header"] == "Новый метод API"
    assert item["date"] == "2026-03-01T10:00:00+03:00"
    assert [t["name"] for t in item["types"]] == ["API", "Маркетинг"]

    edit = op.get(f"/news/{news_id}/edit")
    assert 'value="2026-03-01T10:00:00"' in edit.text
    assert 'value="API, Маркетинг"' in edit.text
    r = op.post(
        f"/news/{news_id}/edit",
        {"header": "Новый метод API (v2)", "content": "Текст", "date": "2026-03-01T11:30:00", "types": "API"},
    )
    assert r.status_code == 303
    api = server.get(f"/common-api/api/communications/v2/news?fromID={news_id}", token)
    (item,) = [n for n in api.json()["data"] if n["id"] == news_id]
    assert item["header"] == "Новый метод API (v2)"
    assert item["date"] == "2026-03-01T11:30:00+03:00"
    assert [t["name"] for t in item["types"]] == ["API"]

    bad = op.post("/news/new", {"header": "", "content": "", "date": "tomorrow"})
    assert bad.status_code == 400
    assert "Enter the header." in bad.text and "Enter the date and time" in bad.text
    assert op.get("/news/999999/edit").status_code == 404


def test_operators_and_sellers_users_see_their_own_pages(
    new_portal: Callable[..., Portal], operator: Account, seller_user: Account
) -> None:
    op = new_portal()
    op.sign_in(operator)
    assert op.get("/integrations").status_code == 403
    assert op.get("/integrations/new").status_code == 403
    user = new_portal()
    user.sign_in(seller_user)
    r = user.get("/news")
    assert r.status_code == 403
    assert "Operators only" in r.text
    assert user.get("/news/new").status_code == 403
    assert 'href="/seller/news"' not in user.get("/integrations").text


# --- addresses, assets, headers ---------------------------------------------------------------------


def test_served_by_host_name_too(server: Server) -> None:
    host = f"seller.localhost:{server.port}"
    r = server.get("/signin", host=host)
    assert r.status_code == 200
    assert 'href="/static/portal.css?v=' in r.text
    assert "/seller/" not in r.text
    assert server.get("/", host=host).headers["location"] == "/signin"
    css = server.get("/static/portal.css", host=host)
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    # Under the prefix, without the trailing slash.
    r = httpx.get(server.base_url + "/seller", follow_redirects=True)
    assert r.status_code == 200 and r.url.path == "/seller/signin"


def test_every_asset_is_local_and_every_page_is_protected(
    server: Server, portal: Portal, seller_user: Account
) -> None:
    anonymous = portal.get("/signin")
    portal.sign_in(seller_user)
    for path in ("/signin", "/integrations", "/integrations/new", "/decode"):
        r = anonymous if path == "/signin" else portal.get(path)
        assert r.status_code == 200, path
        # No CDN: every src and href is a path on this site.
        for attr in re.findall(r'(?:src|href)="([^"]*)"', r.text):
            assert attr.startswith(("/seller/", "#")), (path, attr)
        for asset in re.findall(r'(?:src|href)="(/seller/static/[^"?]+)', r.text):
            assert httpx.get(server.base_url + asset).status_code == 200, asset
        csp = r.headers["content-security-policy"]
        assert "connect-src 'none'" in csp and "script-src 'self'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"
        assert "<script>" not in r.text  # no inline script (CSP allows none)


def test_errors_are_pages(portal: Portal) -> None:
    r = portal.get("/no-such-page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text
    r = portal.http.put("/signin")
    assert r.status_code == 405


def test_the_decoder_page_carries_the_category_table(portal: Portal) -> None:
    r = portal.get("/decode")
    assert r.status_code == 200
    data = json.loads(
        re.search(r'<script type="application/json" id="decoder-data">(.*?)</script>', r.text, re.S).group(1)  # type: ignore[union-attr]
    )
    assert {"bit": 1, "name": "content", "title": "Content", "sandbox": True} in data["categories"]
    assert data["readOnlyBit"] == 30
    assert data["types"] == {"1": "Base", "2": "Test", "3": "Personal", "4": "Service"}
    assert "<form" not in r.text.split('id="token-input"')[0].split("<main")[1]
