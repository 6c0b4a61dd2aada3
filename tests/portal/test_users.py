"""The users, invitation and Jam pages over HTTP, against the session's real server: the owner invites
(the list is the API's), changes accesses, revokes, deletes (never the owner); an invitation is accepted with
the password rules and CSRF, and unknown, used and expired ones get their pages; accesses decide the menu,
the 403 pages and the categories a user may make tokens for; every API answer checked against 01-general."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.api.kit import CATALOG, check_answer
from tests.conftest import Server, assert_wb_error
from tests.portal.catalogs import untranslated
from tests.portal.conftest import _CHEAP, PASSWORD, Account, Portal, own_server
from wbseller.backends.general import General
from wbseller.portal.i18n import LANGS

USERS = CATALOG.by_id("get-api-v1-users")
JAM = CATALOG.by_id("get-common-v1-subscriptions")
UM = "/user-management-api"
SUBSCRIPTIONS = "/common-api/api/common/v1/subscriptions"
INVITE_PATH = re.compile(r"/seller/invite/([0-9a-f-]{36})")


def owner_of(server: Server, sid: str) -> Account:
    """The seller's owner (made with the seller), with a login and a (cheap) password to sign in."""

    async def work(storage: Any) -> int:
        (owner,) = [u for u in await storage.list_users(sid) if u.role == "owner"]
        await storage.set_password(owner.id, _CHEAP.hash(PASSWORD), f"owner-{sid[:12]}")
        return int(owner.id)

    return Account(sid, server.run_storage(work), f"owner-{sid[:12]}")


def api_users(server: Server, token: str, **query: str) -> list[dict[str, Any]]:
    r = server.get(f"{UM}/api/v1/users", token, params=query)
    check_answer(USERS, r)
    return list(r.json()["users"])


def invite(portal: Portal, phone: str, access: list[str] | None = None) -> str:
    """The owner's form, as it starts (the defaults checked) unless `access` is given; the new uuid."""
    page = portal.get("/users").text
    boxes = access if access is not None else re.findall(r'name="access" value="(\w+)" checked', page)
    r = portal.post("/users/invite", {"phone": phone, "position": "Менеджер", "access": boxes})
    assert r.status_code == 200, r.text
    found = INVITE_PATH.search(r.text.split('id="invite-url"')[1])
    assert found, r.text
    return found.group(1)


def accept(portal: Portal, uuid: str, login: str, over: dict[str, str] | None = None) -> httpx.Response:
    portal.get(f"/invite/{uuid}")
    form = {"name": "Иван Новиков", "login": login, "password": PASSWORD, "password2": PASSWORD}
    form.update(over or {})
    return portal.post(f"/invite/{uuid}", form)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """This module's own: its pages list every seller's news and support requests."""
    with own_server(tmp_path_factory, "users") as srv:
        yield srv


def test_owner_invites_user_accepts_and_the_api_lists_the_same_people(
    server: Server, new_portal: Callable[..., Portal]
) -> None:
    sid = server.seller()
    owner = owner_of(server, sid)
    token = server.token(sid)
    op = new_portal()
    assert op.sign_in(owner).headers["location"] == "/seller/integrations"
    page = op.get("/users").text
    assert 'href="/seller/users" aria-current="page"' in page and 'href="/seller/jam"' in page
    # The form starts at the document's defaults: all but the showcase and Jam.
    assert set(re.findall(r'name="access" value="(\w+)"(?! checked)>', page)) == {"showcase", "changeJam"}
    bad = op.post("/users/invite", {"phone": "12345", "access": []})
    assert bad.status_code == 400 and "Phone number: digits only" in bad.text

    # GET /api/v1/users allows a burst of 5 per seller: this test makes 5 calls.
    uuid = invite(op, "+79991234567")
    gone = invite(op, "79990000001", access=["finance"])
    assert op.post(f"/users/invitations/{gone}/revoke", {}).status_code == 303
    assert "Invitation revoked" in op.get("/users").text
    assert op.post(f"/users/invitations/{gone}/revoke", {}).status_code == 404
    pending = api_users(server, token, isInviteOnly="true")
    assert [u["inviteeInfo"]["inviteUuid"] for u in pending] == [uuid]
    assert {a["code"]: a["disabled"] for a in pending[0]["access"]}["changeJam"] is True

    # The owner: no buttons, and by hand 400.
    row = op.get("/users").text.split(f'data-user-id="{owner.uid}"')[1].split("</tr>")[0]
    assert f"/users/{owner.uid}/" not in row
    assert op.get(f"/users/{owner.uid}/delete").status_code == 400
    refused = op.post(f"/users/{owner.uid}/delete", {})
    assert refused.status_code == 400 and "cannot be deleted" in refused.text

    # Accepted (no sign-in needed): signed in as the new user, who the API lists beside the owner.
    guest = new_portal()
    r = accept(guest, uuid, f"ivan-{sid[:8]}")
    assert r.status_code == 303 and r.headers["location"] == "/seller/integrations", r.text
    home = guest.get("/integrations").text
    assert "Welcome! You are now a user" in home and "Иван Новиков" in home
    listed = {u["id"]: u for u in api_users(server, token)}
    (uid,) = [i for i, u in listed.items() if u["firstName"] == "Иван Новиков"]
    assert listed[uid]["phone"] == "79991234567" and listed[owner.uid]["isOwner"]
    assert f'data-user-id="{uid}"' in op.get("/users").text
    # Used now: its page says so; and the list of invitations is empty.
    assert guest.get(f"/invite/{uuid}").status_code == 410
    assert api_users(server, token, isInviteOnly="true") == []

    # A user deleted from the page: gone from the API, their token refused, their session over.
    theirs = server.token(sid, user=str(uid))
    assert server.get(f"{UM}/api/v1/users", theirs).status_code == 200
    assert op.get(f"/users/{uid}/delete").status_code == 200
    assert op.post(f"/users/{uid}/delete", {}).headers["location"] == "/seller/users"
    assert [u["id"] for u in api_users(server, token)] == [owner.uid]
    assert_wb_error(server.get(f"{UM}/api/v1/users", theirs), 403, "user-deleted")
    assert guest.get("/integrations").headers["location"] == "/seller/signin?next=/seller/integrations"


def test_accesses_decide_menu_pages_and_token_categories(
    server: Server, new_portal: Callable[..., Portal]
) -> None:
    sid = server.seller()
    owner = owner_of(server, sid)
    op = new_portal()
    op.sign_in(owner)
    uuid = invite(op, "79991112233", access=["brands", "feedbacks"])  # over the defaults: still defaults
    # Exactly these: the form sends every box, so "all given" applies.
    boxes = ["brands", "feedbacks", "supply"]
    uuid = invite(op, "79991112234", access=boxes)
    user = new_portal(lang="ru")
    accept(user, uuid, f"olga-{sid[:8]}")
    home = user.get("/integrations").text
    assert 'href="/seller/users"' not in home and 'href="/seller/jam"' not in home
    for path in ("/users", "/jam", f"/users/{owner.uid}/delete"):
        r = user.get(path)
        assert r.status_code == 403 and "Нет доступа к разделу" in r.text, path
    assert user.http.post("/jam/connect", data={"csrf": user.csrf, "level": "premium"}).status_code == 403
    # Tokens: only the categories the accesses cover (brands -> content, supply -> supplies).
    form = user.get("/integrations/new").text
    assert re.findall(r'name="categories" value="(\w+)"', form) == ["content", "supplies"]
    denied = {"tab": "manual", "type": "base", "name": "x", "categories": ["content", "finance"]}
    r = user.post("/integrations/new", denied)
    assert r.status_code == 400 and "Ваши доступы не покрывают категории: Финансы" in r.text
    made = {"tab": "manual", "type": "base", "name": "x", "categories": ["content"]}
    assert user.post("/integrations/new", made).status_code == 200

    # The owner grants Jam: the user sees it at their next page; without any token category, no
    # integrations either, and the home page is the first section left.
    (uid,) = re.findall(r'data-user-id="(\d+)"', op.get("/users").text)[1:]
    assert op.post(f"/users/{uid}/access", {"access": ["changeJam"]}).status_code == 303
    page = user.get("/jam")
    assert page.status_code == 200 and 'href="/seller/jam" aria-current="page"' in page.text
    assert 'href="/seller/integrations"' not in page.text
    assert user.get("/integrations").status_code == 403
    assert user.get("/").headers["location"] == "/seller/jam"
    assert op.get(f"/users/{owner.uid}/access").status_code == 400


def test_invitation_pages_refuse_what_they_must(server: Server, new_portal: Callable[..., Portal]) -> None:
    sid = server.seller()

    async def make(storage: Any) -> tuple[str, str]:
        g = General(storage)
        old = await g.create_invite(sid, "79995550000", now=time.time() - 8 * 86400)
        fresh = await g.create_invite(sid, "79995550001", now=time.time())
        return old.uuid, fresh.uuid

    expired, uuid = server.run_storage(make)
    guest = new_portal()
    r = guest.get(f"/invite/{expired}")
    assert r.status_code == 410 and "Invitation expired" in r.text
    r = guest.get("/invite/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and "Invitation not found" in r.text
    assert new_portal(lang="ru").get("/invite/nope").text.count("Приглашение не найдено") >= 1
    page = guest.get(f"/invite/{uuid}").text
    assert "79995550001" in page and "Test Store" not in page  # the seller by its name
    login = f"petr-{sid[:8]}"
    for over, error in (
        ({"password": "short", "password2": "short"}, "at least 8 characters"),
        ({"password2": "another1"}, "The passwords differ."),
        ({"login": "two words"}, "Login: no spaces"),
        ({"name": ""}, "Give your name."),
        ({"login": owner_of(server, sid).login}, "This login is taken."),
    ):
        r = accept(guest, uuid, login, over)
        assert r.status_code == 400 and error in r.text, (over, r.text)
    no_csrf = guest.post(
        f"/invite/{uuid}",
        {"name": "P", "login": login, "password": PASSWORD, "password2": PASSWORD},
        csrf=False,
    )
    assert no_csrf.status_code == 403
    assert accept(guest, uuid, login).status_code == 303  # still open after all of that
    assert "Invitation already accepted" in new_portal().get(f"/invite/{uuid}").text


def test_jam_page_connects_and_cancels_and_the_api_follows(
    server: Server, new_portal: Callable[..., Portal]
) -> None:
    sid = server.seller()
    owner = owner_of(server, sid)
    svc = server.cli("service", "create", "--name", "Jam watcher", "--categories", "analytics")
    token = server.token(sid, "service", service=svc)

    def state() -> dict[str, Any]:
        r = server.get(SUBSCRIPTIONS, token)
        if r.content != b"{}":  # never connected: the document's empty 200 (its schema cannot hold it)
            check_answer(JAM, r)
        return dict(r.json())

    op = new_portal()
    op.sign_in(owner)
    assert 'data-state="none"' in op.get("/jam").text and state() == {}
    assert op.post("/jam/connect", {"level": "gold", "days": "30"}).status_code == 400
    assert op.post("/jam/cancel", {}).status_code == 400
    assert op.post("/jam/connect", {"level": "advanced", "days": "90"}).headers["location"] == "/seller/jam"
    got = state()
    assert (got["state"], got["level"], got["activationSource"]) == ("active", "advanced", "jam")
    assert 'data-state="active"' in op.get("/jam").text
    assert op.post("/jam/cancel", {}).status_code == 303
    assert state()["state"] == "inactive" and 'data-state="inactive"' in op.get("/jam").text


@pytest.mark.parametrize("lang", LANGS)
def test_the_pages_say_only_what_their_catalog_has(
    server: Server, new_portal: Callable[..., Portal], lang: str
) -> None:
    sid = server.seller()
    owner = owner_of(server, sid)
    op = new_portal(lang=lang)
    op.sign_in(owner)
    pages = {"users-empty": op.get("/users").text}
    pages["invite-errors"] = op.post("/users/invite", {"phone": "", "position": "p" * 151}).text
    pages["invite-bad-phone"] = op.post("/users/invite", {"phone": "12"}).text
    uuid = invite(op, "79990001122")
    pages["invite-created"] = op.post("/users/invite", {"phone": "79990001123", "access": ["supply"]}).text
    guest = new_portal(lang=lang)
    pages["accept"] = guest.get(f"/invite/{uuid}").text
    pages["accept-errors"] = accept(guest, uuid, "a b", {"name": "", "password": "x"}).text
    pages["accept-mismatch"] = accept(guest, uuid, f"nina-{sid[:8]}", {"password2": "other-one"}).text
    accept(guest, uuid, f"nina-{sid[:8]}")
    pages["welcome"] = guest.get("/integrations").text
    pages["denied"] = guest.get("/jam").text
    pages["used"] = guest.get(f"/invite/{uuid}").text
    pages["unknown"] = guest.get("/invite/nope").text
    pages["users"] = op.get("/users").text
    uid = re.findall(r'data-user-id="(\d+)"', pages["users"])[1]
    pages["access"] = op.get(f"/users/{uid}/access").text
    op.post(f"/users/{uid}/access", {"access": ["finance"]})
    pages["access-saved"] = op.get("/users").text
    pages["delete"] = op.get(f"/users/{uid}/delete").text
    pages["owner-delete"] = op.get(f"/users/{owner.uid}/delete").text
    pages["owner-access"] = op.get(f"/users/{owner.uid}/access").text
    op.post(f"/users/{uid}/delete", {})
    pages["deleted"] = op.get("/users").text
    pending = re.findall(r'data-invite="([0-9a-f-]{36})"', pages["deleted"])
    op.post(f"/users/invitations/{pending[0]}/revoke", {})
    pages["revoked"] = op.get("/users").text
    pages["no-invite"] = op.post(f"/users/invitations/{pending[0]}/revoke", {}).text
    pages["no-user"] = op.get(f"/users/{uid}/access").text
    pages["jam-never"] = op.get("/jam").text
    pages["jam-choose"] = op.post("/jam/connect", {"level": "x"}).text
    pages["jam-not-active"] = op.post("/jam/cancel", {}).text
    op.post("/jam/connect", {"level": "standard", "days": "30"})
    pages["jam-active"] = op.get("/jam").text
    op.post("/jam/cancel", {})
    pages["jam-inactive"] = op.get("/jam").text
    seller = server.run_storage(lambda storage: storage.get_seller(sid))
    data = [
        seller.name,
        seller.trade_mark,
        "Owner",
        "Иван Новиков",
        "Менеджер",
        owner.login,
        f"nina-{sid[:8]}",
    ]
    data += ["a b", "p" * 151, *(s.name for s in server.run_storage(lambda st: st.list_services()))]
    for name, html in pages.items():
        assert f'<html lang="{lang}">' in html, name
        assert untranslated(html, lang, data) == [], name
