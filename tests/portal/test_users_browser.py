"""Users, invitations and Jam in headless Chromium: the owner (an English browser) invites through the page,
the invited person (a Russian one) accepts by the link and is signed in, and `GET /api/v1/users` lists
them; that user has no Jam in the menu and a 403 page by URL; the owner's row offers no delete; the Jam page
connects and cancels and `/api/common/v1/subscriptions` follows. Every page says only its catalog's words."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import Server
from tests.portal.catalogs import untranslated
from tests.portal.conftest import PASSWORD, sign_in_browser
from tests.portal.test_users import JAM, SUBSCRIPTIONS, api_users, owner_of

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

Shots = Callable[["Page", str], Path]


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(target)


@pytest.fixture
def russian(browser: Browser) -> Iterator[Page]:
    ctx: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 860}, locale="ru-RU")
    ctx.set_default_timeout(10_000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    ctx.close()
    assert not errors, errors


def test_invite_accept_sections_and_jam_in_the_browser(
    page: Page, russian: Page, server: Server, shots: Shots
) -> None:
    base = server.base_url + "/seller"
    sid = server.seller()
    owner = owner_of(server, sid)
    token = server.token(sid)
    svc = server.cli("service", "create", "--name", "Jam reader", "--categories", "analytics")
    service = server.token(sid, "service", service=svc)
    seller = server.run_storage(lambda storage: storage.get_seller(sid))
    login = f"maria-{sid[:8]}"
    data = [seller.name, seller.trade_mark, "Owner", "Мария Смирнова", "Аналитик", owner.login, login]

    def clean(pg: Page, lang: str) -> None:
        assert untranslated(pg.content(), lang, data) == [], pg.url

    sign_in_browser(page, base, owner)
    page.get_by_role("navigation").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    owner_row = page.locator(f'tr[data-user-id="{owner.uid}"]')
    expect(owner_row).to_contain_text("Every section")
    expect(owner_row.get_by_role("link")).to_have_count(0)  # no delete, no accesses to change
    page.get_by_label("Phone").fill("79991234567")
    page.get_by_label(re.compile("^Position")).fill("Аналитик")
    page.get_by_role("checkbox", name="Connecting Jam").check()  # beyond the defaults
    page.get_by_role("checkbox", name="Connecting Jam").uncheck()
    page.get_by_role("button", name="Create invitation").click()
    expect(page.get_by_role("heading", name="Invitation created")).to_be_visible()
    link = page.get_by_label("Invitation link").input_value()
    assert re.fullmatch(rf"{re.escape(base)}/invite/[0-9a-f-]{{36}}", link), link
    clean(page, "en")
    shots(page, "users-invited")

    # The invited person: no account yet, a Russian browser.
    russian.goto(link)
    expect(russian.get_by_role("heading", name="Приглашение в кабинет")).to_be_visible()
    russian.get_by_label("Ваше имя").fill("Мария Смирнова")
    russian.get_by_label("Логин").fill(login)
    russian.get_by_label("Пароль", exact=True).fill(PASSWORD)
    russian.get_by_label("Пароль ещё раз").fill(PASSWORD)
    clean(russian, "ru")
    russian.evaluate("window.scrollTo(0, 0)")
    shots(russian, "invite-accept")
    russian.get_by_role("button", name="Принять приглашение").click()
    russian.wait_for_url(re.compile(r".*/integrations$"))
    expect(russian.locator(".notice")).to_contain_text("Добро пожаловать!")
    listed = [u for u in api_users(server, token) if u["firstName"] == "Мария Смирнова"]
    assert len(listed) == 1 and listed[0]["position"] == "Аналитик"
    # Without changeJam (a default-denied access): no Jam in the menu, and 403 by URL.
    menu = russian.get_by_role("navigation", name="Главное меню")
    expect(menu.get_by_role("link", name="Джем")).to_have_count(0)
    expect(menu.get_by_role("link", name="Пользователи")).to_have_count(0)
    response = russian.goto(f"{base}/jam")
    assert response is not None and response.status == 403
    expect(russian.get_by_role("heading", name="Нет доступа к разделу")).to_be_visible()
    clean(russian, "ru")
    shots(russian, "section-denied")

    page.goto(f"{base}/users")
    expect(page.locator("#people tbody tr")).to_have_count(2)
    page.mouse.move(0, 0)
    shots(page, "users")

    # Jam: connect, then cancel; the API's answer follows each (validated against 01-general.yaml).
    page.get_by_role("navigation").get_by_role("link", name="Jam").click()
    expect(page.get_by_text("Jam has never been connected.")).to_be_visible()
    assert server.get(SUBSCRIPTIONS, service).content == b"{}"
    page.get_by_role("radio", name=re.compile("^Premium")).check()
    page.get_by_role("radio", name="90 days").check()
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator(".notice")).to_have_text("Jam connected.")
    r = server.get(SUBSCRIPTIONS, service)
    from tests.api.kit import check_answer

    check_answer(JAM, r)
    assert (r.json()["state"], r.json()["level"]) == ("active", "premium")
    clean(page, "en")
    shots(page, "jam")
    page.get_by_role("button", name="Cancel Jam").click()
    expect(page.locator('#jam-state [data-state="inactive"]')).to_be_visible()
    r = server.get(SUBSCRIPTIONS, service)
    check_answer(JAM, r)
    assert r.json()["state"] == "inactive"
