"""The pages in Russian and English: the catalogs agree, the language is chosen and switched, and every page
(with its forms' errors, flash messages and error pages) says nothing outside its language's catalog."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator

import pytest
from jinja2 import Environment
from jinja2.filters import do_truncate

from tests.conftest import Server
from tests.portal.catalogs import texts_of, untranslated
from tests.portal.conftest import Account, Portal, make_user, own_server
from tests.portal.test_support import real_401
from wbseller.portal.i18n import LANGS, Translator, catalog, choose, plural_form
from wbseller.storage import Storage
from wbseller.storage.support import SupportStore

FORMAT = string.Formatter()
ENV = Environment(autoescape=True)


def params_of(value: str | dict[str, str]) -> set[str]:
    texts = list(value.values()) if isinstance(value, dict) else [value]
    return {name for text in texts for _, name, _, _ in FORMAT.parse(text) if name}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """This module's own: its pages list every seller's news and support requests."""
    with own_server(tmp_path_factory, "i18n") as srv:
        yield srv


def test_both_catalogs_have_the_same_messages() -> None:
    ru, en = catalog("ru"), catalog("en")
    assert set(ru) == set(en)
    for key in ru:
        assert params_of(ru[key]) == params_of(en[key]), key
        assert isinstance(ru[key], dict) == isinstance(en[key], dict), key
        if isinstance(ru[key], dict):
            assert set(ru[key]) == {"one", "few", "many"}, key
            assert set(en[key]) == {"one", "other"}, key
        else:
            assert ru[key] != en[key] or not re.search(r"[^\W\d_]{3}", str(ru[key])) or key in SAME, key


# Messages that are the same words in both languages.
SAME = {"news.types_example", "support.cat.api", "support.request_id"}


def test_plural_forms_and_the_choice_of_language() -> None:
    assert [plural_form("ru", n) for n in (1, 2, 5, 11, 21, 22, 25, 112)] == [
        "one", "few", "many", "many", "one", "few", "many", "many"
    ]  # fmt: skip
    assert Translator("ru")("signin.paused_text", n=3).endswith("через 3 минуты.")
    assert Translator("en")("signin.paused_text", n=1).endswith("in 1 minute.")
    assert choose(None, None) == "ru"
    assert choose(None, "de-DE,de;q=0.9") == "ru"
    assert choose(None, "en-US,en;q=0.9,ru;q=0.8") == "en"
    assert choose(None, "ru-RU,ru;q=0.9,en-US;q=0.8") == "ru"
    assert choose(None, "de, en;q=0.5, ru;q=0.7") == "ru"
    assert choose("en", "ru") == "en"
    assert choose("xx", "en") == "en"
    with pytest.raises(KeyError):
        Translator("en")("no.such.key")


def test_russian_first_english_from_accept_language_and_one_click_away(
    new_portal: Callable[..., Portal],
) -> None:
    first = new_portal(lang=None)
    r = first.get("/signin")
    assert '<html lang="ru">' in r.text
    assert '<h1 id="signin-title">Вход</h1>' in r.text
    english = first.http.get("/signin", headers={"accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text
    # The switch link: sets the cookie, back to the same page; never off the site.
    m = re.search(r'href="(/seller/lang/en\?next=[^"]+)"', r.text)
    assert m, r.text
    switched = first.get(m.group(1).replace("&amp;", "&").removeprefix("/seller"))
    assert switched.status_code == 303
    assert switched.headers["location"] == "/seller/signin"
    assert "wbseller_lang=en" in switched.headers["set-cookie"]
    assert '<html lang="en">' in first.get("/signin").text
    assert first.get("/lang/ru?next=https://evil.example/").headers["location"] == "/seller/"
    assert first.get("/lang/de").status_code == 404
    assert '<html lang="ru">' in first.get("/decode").text


def walk(portal: Portal, account: Account, operator: Account, server: Server) -> dict[str, str]:
    """Every page, in the portal's language: the signed-out ones, a seller's, an operator's, errors."""
    pages: dict[str, str] = {}
    pages["signin"] = portal.get("/signin").text
    r = portal.post("/signin", {"login": account.login, "password": "wrong"})
    pages["signin-wrong"] = r.text
    pages["decode"] = portal.get("/decode").text
    portal.sign_in(account)
    pages["integrations"] = portal.get("/integrations").text
    pages["token-new"] = portal.get("/integrations/new?tab=service").text
    bad = {"tab": "manual", "type": "test", "name": "", "categories": ["analytics"], "comment": "c" * 501}
    pages["token-errors"] = portal.post("/integrations/new", bad).text
    made = {"tab": "manual", "type": "personal", "name": "ERP", "categories": ["content"], "liability": "on"}
    pages["token-created"] = portal.post("/integrations/new", made).text
    token_id = re.search(r"/seller/integrations/([0-9a-f-]{36})/delete", pages["token-created"])
    assert token_id, pages["token-created"]
    pages["token-delete"] = portal.get(f"/integrations/{token_id.group(1)}/delete").text
    portal.post(f"/integrations/{token_id.group(1)}/delete", {})
    pages["token-deleted"] = portal.get("/integrations").text
    pages["not-found"] = portal.get("/integrations/nope/delete").text
    pages["no-page"] = portal.get("/nowhere").text
    pages["operators-only"] = portal.get("/news").text
    pages["support-empty"] = portal.get("/support").text
    pages["support-new"] = portal.get("/support/new").text
    bad_request = {"category": "x", "subject": "s" * 201, "text": "", "request_id": "<>"}
    pages["support-errors"] = portal.post("/support/new", bad_request).text
    _, request_id = real_401(server)
    asked = {"category": "api", "subject": "Тема", "text": "Вопрос", "request_id": request_id}
    rid = portal.post("/support/new", asked).headers["location"].removeprefix("/seller")
    pages["support-view"] = portal.get(rid).text
    pages["support-list"] = portal.get("/support").text
    pages["no-request"] = portal.get("/support/999999").text
    portal.post("/signout", {})
    pages["signed-out"] = portal.get("/signin").text
    portal.sign_in(operator)
    pages["news-new"] = portal.get("/news/new").text
    news = {"header": "Заголовок", "content": "Текст", "date": "2026-01-02T10:00", "types": "API"}
    pages["news-errors"] = portal.post("/news/new", {**news, "header": "", "date": "x"}).text
    portal.post("/news/new", news)
    pages["news"] = portal.get("/news").text
    news_id = re.search(r"/seller/news/(\d+)/edit", pages["news"])
    assert news_id
    pages["news-edit"] = portal.get(f"/news/{news_id.group(1)}/edit").text
    pages["sellers-only"] = portal.get("/integrations").text
    pages["support-operator"] = portal.get("/support?category=api&state=new").text
    pages["support-recorded"] = portal.get(rid).text
    assert 'id="recorded"' in pages["support-recorded"]
    portal.post(rid + "/reply", {"text": "Ответ"})
    pages["support-answered"] = portal.get("/support").text
    portal.post(rid + "/close", {})
    pages["support-closed"] = portal.get(rid).text
    pages["support-closed-reply"] = portal.post(rid + "/reply", {"text": "Ещё"}).text
    portal.post("/signout", {})
    portal.sign_in(account)
    pages["support-unread"] = portal.get("/support").text
    assert 'class="unread"' in pages["support-unread"]
    pages["csrf"] = portal.post("/news/new", news, csrf=False).text
    return pages


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_says_only_what_its_catalog_has(
    server: Server, new_portal: Callable[..., Portal], operator: Account, lang: str
) -> None:
    sid = server.seller()
    account = make_user(server, sid, "Анна Петрова")
    data = ["Анна Петрова", "Oleg Operator", "ERP", "Заголовок", "Текст", "API", account.login, sid]
    data += ["Тема", "Вопрос", "Ответ", "Ещё"]
    pages = walk(new_portal(lang=lang), account, operator, server)
    # The operator's list shows every seller's requests, other tests' too: their subjects and sellers.
    others = server.run_storage(lambda storage: SupportStore(storage.engine).requests("support"))
    sids = {r.sid for r in others}

    async def names(storage: Storage) -> list[str]:
        return [(await storage.get_seller(s)).name for s in sids]

    data += server.run_storage(names)
    data += [r.subject for r in others]
    seller = server.run_storage(lambda storage: storage.get_seller(sid))
    services = server.run_storage(lambda storage: storage.list_services())
    news = server.run_storage(lambda storage: storage.latest_news(20))
    data += [seller.name, seller.trade_mark or "", *(s.name for s in services)]
    data += [x for n in news for x in (n.header, do_truncate(ENV, n.content, 280), *(t for _, t in n.types))]
    for name, html in pages.items():
        assert f'<html lang="{lang}">' in html, name
        assert untranslated(html, lang, data) == [], name
    # The checker sees English in a Russian page (and the other way round).
    other = "en" if lang == "ru" else "ru"
    assert untranslated(pages["integrations"], other, data)
    assert any("401" in t for t in texts_of(pages["token-delete"]))
