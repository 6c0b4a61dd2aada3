"""End to end in headless Chromium: sign in, create each token type, copy it, use it on /ping, delete it,
decode a token with the network watched, publish news, and the pages at phone width."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import Server, assert_wb_error
from tests.portal.conftest import Account, sign_in_browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request

pytestmark = pytest.mark.usefixtures("browser")

Shots = Callable[["Page", str], Path]
LIABILITY = "I understand that the token should not be shared with third parties"

# Every form field has a label (or an aria-label) that a screen reader reads out.
UNLABELLED_FIELDS_JS = """() => Array.from(document.querySelectorAll('input, textarea, select'))
  .filter(el => el.type !== 'hidden' && el.labels.length === 0 && !el.getAttribute('aria-label'))
  .map(el => el.outerHTML)"""


# The words of the matched elements' text that the browser laid out over more than one line.
BROKEN_WORDS_JS = """(selector) => {
  const broken = [];
  for (const el of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /\\S+/g;
      for (let m = re.exec(node.data); m; m = re.exec(node.data)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(target)


def field(pg: Page, name: str) -> str:
    return pg.locator(f'#decode-result [data-field="{name}"]').inner_text()


def b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def create_token(pg: Page, kind: str, name: str, categories: list[str], service: str = "") -> str:
    """Through the dialog, as a person would; returns the token the page shows once."""
    pg.get_by_role("link", name="+ Create token").click()
    dialog = pg.get_by_role("dialog", name="Create token")
    expect(dialog).to_be_visible()
    if kind == "service":
        dialog.get_by_role("tab", name="Service").click()
        dialog.get_by_role("radio", name=re.compile(re.escape(service))).check()
        dialog.get_by_role("textbox", name=re.compile("^Name")).fill(name)
    else:
        dialog.get_by_role("tab", name="Manual integration").click()
        dialog.get_by_role("radio", name=re.compile(f"^{kind}", re.I)).check()
        dialog.get_by_role("textbox", name="Name", exact=True).fill(name)
        for title in categories:
            dialog.get_by_role("checkbox", name=title, exact=True).check()
        if kind == "personal":
            dialog.get_by_role("checkbox", name=LIABILITY).check()
    dialog.get_by_role("button", name="Create", exact=True).click()
    shown = pg.get_by_role("dialog", name=f"Token “{name}” created")
    expect(shown).to_be_visible()
    return pg.locator("#new-token").input_value()


def test_tokens_end_to_end(page: Page, server: Server, seller_user: Account, shots: Shots) -> None:
    base = server.base_url + "/seller"
    service_id = server.cli(
        "service", "create", "--name", "Acme Cloud ERP", "--categories", "content,statistics"
    )
    assert service_id.isdigit()

    page.goto(f"{base}/signin")
    assert page.evaluate(UNLABELLED_FIELDS_JS) == []
    shots(page, "signin")
    page.get_by_label("Login").fill(seller_user.login)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong login or password.")
    sign_in_browser(page, base, seller_user)
    expect(page.get_by_role("heading", name="API integrations")).to_be_visible()
    expect(page.get_by_text("No tokens yet.")).to_be_visible()

    cases = [
        ("base", "Warehouse sync", ["Content"], "/content-api/ping"),
        ("personal", "Own ERP", ["Content", "Marketplace"], "/marketplace-api/ping"),
        ("test", "Sandbox trial", ["Content", "Statistics"], "/statistics-api-sandbox/ping"),
        ("service", "Acme for us", [], "/statistics-api/ping"),
    ]
    made: list[tuple[str, str, str]] = []
    for kind, name, categories, ping in cases:
        if kind == "personal":  # the dialog as a person sees it, filled in
            page.get_by_role("link", name="+ Create token").click()
            dialog = page.get_by_role("dialog", name="Create token")
            dialog.get_by_role("radio", name=re.compile("^personal", re.I)).check()
            expect(dialog.get_by_role("checkbox", name=LIABILITY)).to_be_visible()
            dialog.get_by_role("textbox", name="Name", exact=True).fill(name)
            for title in categories:
                dialog.get_by_role("checkbox", name=title, exact=True).check()
            assert page.evaluate(UNLABELLED_FIELDS_JS) == []
            shots(page, "create-dialog")
            dialog.get_by_role("link", name="Cancel").click()
            expect(dialog).to_be_hidden()
        if kind == "test":  # the sandbox has no Marketplace: the form says so by switching it off
            page.get_by_role("link", name="+ Create token").click()
            dialog = page.get_by_role("dialog", name="Create token")
            dialog.get_by_role("radio", name=re.compile("^test", re.I)).check()
            expect(dialog.get_by_role("checkbox", name="Marketplace", exact=True)).to_be_disabled()
            expect(dialog.get_by_role("checkbox", name=LIABILITY)).to_be_hidden()
            dialog.get_by_role("link", name="Close").click()
        if kind == "service":
            page.get_by_role("link", name="+ Create token").click()
            page.get_by_role("dialog", name="Create token").get_by_role("tab", name="Service").click()
            shots(page, "create-dialog-service")
            page.get_by_role("dialog", name="Create token").get_by_role("link", name="Close").click()

        token = create_token(page, kind, name, categories, service="Acme Cloud ERP")
        if kind == "personal":
            shots(page, "token-created")
        # Shown once: the page answered the POST, and is already at the list's address.
        assert page.url == f"{base}/integrations"
        page.get_by_role("button", name="Copy and close").click()
        expect(page.locator("#token-dialog")).to_have_count(0)
        expect(page.locator("#live")).to_have_text("Token copied to the clipboard.")
        assert page.evaluate("navigator.clipboard.readText()") == token
        assert token not in page.content()
        # The new token works over HTTP.
        r = httpx.get(server.base_url + ping, headers={"Authorization": token}, timeout=10)
        assert r.status_code == 200, (kind, r.text)
        made.append((name, token, ping))
        # Each token a second of its own (a record's time is whole seconds, as a token's `iat`): "newest
        # first" is then one order, not a tie broken by the random ids.
        time.sleep(1.02 - time.time() % 1.0)

    page.reload()
    rows = page.locator("table.tokens tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("Acme for us")  # newest first
    expect(rows.first).to_contain_text("Acme Cloud ERP")
    html = page.content()
    assert all(token not in html for _, token, _ in made)
    # At 1280 px no word of a name, a comment or a badge is broken across lines ("perso/nal").
    assert page.evaluate(BROKEN_WORDS_JS, "table.tokens tbody th, table.tokens tbody td") == []
    page.mouse.move(0, 0)
    shots(page, "integrations")

    for name, token, ping in made:
        page.get_by_role("link", name=f"Delete token {name}").click()
        confirm = page.get_by_role("dialog", name="Delete token?")
        expect(confirm).to_be_visible()
        expect(confirm).to_contain_text(name)
        if name == "Own ERP":
            shots(page, "delete-dialog")
        confirm.get_by_role("button", name="Delete", exact=True).click()
        expect(page.locator(".notice")).to_have_text(f"Token “{name}” deleted. It no longer works.")
        r = httpx.get(server.base_url + ping, headers={"Authorization": token}, timeout=10)
        assert_wb_error(r, 401, "token-revoked")
    expect(page.locator("table.tokens")).to_have_count(0)


def test_decoder_never_sends_the_token(
    page: Page, server: Server, seller_user: Account, shots: Shots
) -> None:
    assert seller_user.sid is not None
    token = server.token(seller_user.sid, "personal", "content,marketplace", read_only=True)
    expired = ".".join(
        [
            b64({"alg": "ES256", "kid": "20240101v1", "typ": "JWT"}),
            b64(
                {
                    "id": "5d2c3f4e-1111-4222-8333-944455556666",
                    "s": (1 << 5) | (1 << 8) | (1 << 30),
                    "sid": "0b0e8c1e-0000-4000-8000-000000000001",
                    "exp": 1_700_000_000,
                    "acc": 4,
                    "for": "asid:7",
                    "t": False,
                }
            ),
            "c2lnbmF0dXJl",
        ]
    )
    base = server.base_url + "/seller"
    sign_in_browser(page, base, seller_user)
    page.goto(f"{base}/decode")
    assert page.evaluate(UNLABELLED_FIELDS_JS) == []

    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))  # noqa: PLW0108 - Playwright wants a function, not a builtin method
    box = page.get_by_label("Paste the token")
    box.fill(token)
    page.get_by_role("button", name="Decode").click()
    expect(page.locator("#decode-result")).to_be_visible()
    assert field(page, "type") == "Personal"
    assert field(page, "categories") == "Content, Marketplace"
    assert field(page, "access") == "Read only"
    assert seller_user.sid in field(page, "seller")
    assert "your account" in field(page, "seller")
    assert field(page, "status").startswith("Not expired: 179 days left")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d MSK", field(page, "expires"))
    expect(page.locator("#decode-summary")).to_contain_text("Decoded: Personal.")
    shots(page, "decoder")

    box.fill("Bearer " + expired)
    assert field(page, "type") == "Service (service 7 of the catalog)"
    assert field(page, "categories") == "Statistics · unknown bits: 8"
    assert field(page, "access") == "Read only"
    assert field(page, "status").startswith("Expired")
    assert field(page, "expires") == "2023-11-15 01:13 MSK"
    assert field(page, "kid") == "20240101v1 · ES256"

    box.fill("not a token")
    expect(page.get_by_role("alert")).to_have_text(
        "This is not a JWT: a token has three parts separated by dots."
    )
    expect(page.locator("#decode-result")).to_be_hidden()
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#decode-summary")).to_have_text("Nothing decoded yet.")

    page.wait_for_timeout(300)  # time for anything a script might send late
    for request in sent:
        for secret in (token, expired):
            assert secret not in request.url
            assert all(secret not in v for v in request.all_headers().values())
            assert secret not in (request.post_data or "")
    assert [r.url for r in sent if r.resource_type in ("fetch", "xhr", "document", "ping", "beacon")] == []


def test_operators_publish_news_in_the_browser(
    page: Page, server: Server, operator: Account, shots: Shots
) -> None:
    base = server.base_url + "/seller"
    sign_in_browser(page, base, operator)
    expect(page.get_by_role("heading", name="News", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="API integrations")).to_have_count(0)
    page.get_by_role("link", name="+ Publish news").click()
    page.get_by_label("Header").fill("Обновление API цен")
    page.get_by_label("Text").fill("Добавили метод для загрузки цен пакетом.\nПодробности — в документации.")
    page.get_by_label("Date and time (Moscow)").fill("2026-04-01T12:30:00")
    page.get_by_label(re.compile("^Types")).fill("API, Цены и скидки")
    assert page.evaluate(UNLABELLED_FIELDS_JS) == []
    shots(page, "news-form")
    page.get_by_role("button", name="Publish").click()
    notice = page.locator(".notice")
    expect(notice).to_contain_text("published")
    news_id = int(re.search(r"#(\d+)", notice.inner_text()).group(1))  # type: ignore[union-attr]
    item = page.locator("li.news-item").first
    expect(item).to_contain_text("Обновление API цен")
    expect(item).to_contain_text("Цены и скидки")
    page.mouse.move(0, 0)
    shots(page, "news-admin")

    page.get_by_role("link", name=f"Edit news #{news_id}").click()
    expect(page.get_by_label(re.compile("^Types"))).to_have_value("API, Цены и скидки")
    page.get_by_label(re.compile("^Types")).fill("Цены и скидки")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text(f"News #{news_id} saved.")

    token = server.token(server.seller(), "personal", "content")
    r = server.get(f"/common-api/api/communications/v2/news?fromID={news_id}", token)
    assert r.status_code == 200, r.text
    (item_json,) = [n for n in r.json()["data"] if n["id"] == news_id]
    assert item_json["header"] == "Обновление API цен"
    assert item_json["date"] == "2026-04-01T12:30:00+03:00"
    assert [t["name"] for t in item_json["types"]] == ["Цены и скидки"]


def test_phone_width(browser: Browser, server: Server, seller_user: Account, shots: Shots) -> None:
    assert seller_user.sid is not None
    server.token(seller_user.sid, "personal", "content,marketplace,statistics", name="Own ERP", comment="1C")
    server.token(seller_user.sid, "base", "analytics", read_only=True, name="Reports")
    ctx = browser.new_context(
        viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale="en-US"
    )
    try:
        pg = ctx.new_page()
        base = server.base_url + "/seller"
        pg.goto(f"{base}/signin")
        shots(pg, "signin-phone")
        sign_in_browser(pg, base, seller_user)
        expect(pg.locator("table.tokens tbody tr")).to_have_count(2)
        fits = "document.documentElement.scrollWidth <= window.innerWidth"
        assert pg.evaluate(fits)
        shots(pg, "integrations-phone")
        pg.get_by_role("link", name="+ Create token").click()
        expect(pg.get_by_role("dialog", name="Create token")).to_be_visible()
        box = pg.get_by_role("dialog", name="Create token").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        shots(pg, "create-dialog-phone")
        pg.goto(f"{base}/decode")
        assert pg.evaluate(fits)
        shots(pg, "decoder-phone")
    finally:
        ctx.close()


def test_served_by_host_name_in_the_browser(page: Page, server: Server, seller_user: Account) -> None:
    base = f"http://seller.localhost:{server.port}"
    sign_in_browser(page, base, seller_user)
    assert page.url == f"{base}/integrations"
    expect(page.get_by_role("heading", name="API integrations")).to_be_visible()
    # The stylesheet loaded: the header has its colour.
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundImage") != "none"
