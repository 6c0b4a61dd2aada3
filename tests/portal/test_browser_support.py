"""Support in headless Chromium: a seller's user (a Russian browser) asks about a real 401 with its
requestId, an operator (an English one) sees what the server recorded, answers; the user sees the answer
and its unread mark, closes the request; another seller's user cannot open it, by link either; a message
with HTML is shown as text; the pages (and the decoder's script) in both languages say nothing outside
the catalogs."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import Server
from tests.portal.catalogs import untranslated
from tests.portal.conftest import Account, make_user, own_server
from tests.portal.test_support import HTML_TEXT, real_401

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

Shots = Callable[["Page", str], Path]
LABELS = {"ru": ("Логин", "Пароль", "Войти"), "en": ("Login", "Password", "Sign in")}


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(target)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with own_server(tmp_path_factory, "support-browser") as srv:
        yield srv


@pytest.fixture
def people(browser: Browser) -> Iterator[Callable[[str], Page]]:
    made: list[BrowserContext] = []

    def person(locale: str) -> Page:
        ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale=locale)
        ctx.set_default_timeout(10_000)
        made.append(ctx)
        pg = ctx.new_page()
        pg.on("pageerror", lambda exc: pytest.fail(f"JavaScript error: {exc}"))
        return pg

    yield person
    for ctx in made:
        ctx.close()


def sign_in(pg: Page, base: str, account: Account, lang: str) -> None:
    login, password, button = LABELS[lang]
    pg.goto(f"{base}/signin")
    expect(pg.locator("html")).to_have_attribute("lang", lang)
    pg.get_by_label(login).fill(account.login)
    pg.get_by_label(password).fill(account.password)
    pg.get_by_role("button", name=button).click()
    pg.wait_for_url(re.compile(r".*/(integrations|news)$"))


def clean(pg: Page, lang: str, data: list[str]) -> None:
    expect(pg.locator("html")).to_have_attribute("lang", lang)
    assert untranslated(pg.content(), lang, data) == [], pg.url


def test_support_in_the_browser(
    people: Callable[[str], Page], server: Server, seller_user: Account, operator: Account, shots: Shots
) -> None:
    base = server.base_url + "/seller"
    bad, request_id = real_401(server)
    subject = "401 на /ping с новым токеном"
    answer = "Это не токен WB: создайте его в «Интеграциях по API»."
    data = [subject, HTML_TEXT, answer, request_id, "Anna Petrova", "Oleg Operator", "Boris", "API"]
    seller = server.run_storage(lambda storage: storage.get_seller(str(seller_user.sid)))
    data += [seller.name, seller.trade_mark]

    user = people("ru-RU")
    sign_in(user, base, seller_user, "ru")
    user.get_by_role("link", name="Поддержка").click()
    expect(user.get_by_role("heading", name="Поддержка")).to_be_visible()
    clean(user, "ru", data)
    user.get_by_role("link", name="+ Новое обращение").click()
    user.get_by_label("Категория").select_option("api")
    user.get_by_label("Тема").fill(subject)
    user.get_by_label("Сообщение").fill(HTML_TEXT)
    user.get_by_label(re.compile("^requestId")).fill(request_id)
    clean(user, "ru", data)
    shots(user, "support-new")
    user.get_by_role("button", name="Отправить обращение").click()
    expect(user.locator(".notice")).to_contain_text("отправлено")
    rid = int(user.url.rsplit("/", 1)[1])
    # The message is text: the page shows the markup as typed, and no element came of it.
    expect(user.locator(".message-text").first).to_have_text(HTML_TEXT)
    assert user.locator(".dialogue b, .dialogue script").count() == 0
    clean(user, "ru", data)

    op = people("en-US")
    sign_in(op, base, operator, "en")
    op.get_by_role("link", name=re.compile("^Support")).click()
    op.get_by_label("Category").select_option("api")
    op.get_by_label("State").select_option("new")
    op.get_by_role("button", name="Show").click()
    row = op.locator(f'tr[data-request-id="{rid}"]')
    expect(row).to_contain_text(subject)
    expect(row).to_contain_text("New")
    clean(op, "en", data)
    op.mouse.move(0, 0)
    shots(op, "support-operator")
    row.get_by_role("link").click()
    recorded = op.locator("#recorded")
    expect(recorded).to_contain_text("401")
    expect(recorded).to_contain_text("marketplace-api")
    assert bad.removeprefix("Bearer ") not in op.content()
    clean(op, "en", data)
    op.get_by_label("Your message").fill(answer)
    shots(op, "support-recorded")
    op.get_by_role("button", name="Send", exact=True).click()
    expect(op.locator(".badge-state-seller")).to_have_text("Waiting for the seller")

    user.get_by_role("link", name=re.compile("^Поддержка")).click()
    expect(user.locator(".mainnav .unread")).to_contain_text("1")
    expect(user.locator(f'tr[data-request-id="{rid}"] .badge-unread')).to_have_text("1 новое")
    clean(user, "ru", data)
    user.locator(f'tr[data-request-id="{rid}"] a').click()
    expect(user.locator(".message.is-unread")).to_have_count(1)
    expect(user.locator(".message.is-unread .message-text")).to_have_text(answer)
    clean(user, "ru", data)
    user.mouse.move(0, 0)
    shots(user, "support-answered")
    expect(user.locator(".mainnav .unread")).to_have_count(0)  # read now
    # One click to English, on the same page; and back.
    user.get_by_role("link", name="English").click()
    expect(user.get_by_role("button", name="Close request")).to_be_visible()
    clean(user, "en", data)
    user.get_by_role("link", name="Русский").click()
    user.get_by_role("button", name="Закрыть обращение").click()
    expect(user.locator(".badge-state-closed")).to_have_text("Закрыто")
    expect(user.get_by_label("Ваше сообщение")).to_have_count(0)
    clean(user, "ru", data)

    stranger = people("ru-RU")
    sign_in(stranger, base, make_user(server, server.seller(), "Boris"), "ru")
    r = stranger.goto(f"{base}/support/{rid}")
    assert r is not None and r.status == 404
    expect(stranger.get_by_role("heading", name="Нет такого обращения")).to_be_visible()
    assert subject not in stranger.content()
    stranger.goto(f"{base}/support")
    expect(stranger.locator(f'tr[data-request-id="{rid}"]')).to_have_count(0)

    # The decoder's script speaks the page's language too (its words come from the catalog).
    token = server.token(str(seller_user.sid), "personal", "content")
    header, payload = (json.loads(base64.urlsafe_b64decode(p + "==")) for p in token.split(".")[:2])
    data += [str(seller_user.sid), header["kid"], header["alg"], payload["id"]]
    for lang, pg in (("ru", user), ("en", op)):
        pg.goto(f"{base}/decode")
        pg.locator("#token-input").fill(token)
        expect(pg.locator("#decode-result")).to_be_visible()
        clean(pg, lang, data)
        pg.locator("#token-input").fill("not a token")
        expect(pg.locator("#decode-error")).to_be_visible()
        clean(pg, lang, data)
