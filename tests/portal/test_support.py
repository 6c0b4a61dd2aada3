"""Support dialogues over plain HTTP: a request with the requestId of a real 401 and what the server
recorded of it, states moved by messages, unread counts, closing, another seller kept out (404 by link
too), text shown escaped, length limits, CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tests.conftest import Server
from tests.portal.conftest import Account, Portal, make_user

HTML_TEXT = '<script>alert("x")</script><b>bold</b> & "quotes"'


def real_401(server: Server) -> tuple[str, str]:
    """A request the API refused: the bad token sent, and the response's request id."""
    bad = "Bearer not-a-real-token-" + re.sub(r"\W", "", server.seller())[:8]
    r = httpx.get(server.base_url + "/marketplace-api/ping", headers={"Authorization": bad}, timeout=10)
    assert r.status_code == 401, r.text
    assert r.json()["requestId"] == r.headers["x-request-id"]
    return bad, r.headers["x-request-id"]


def open_request(p: Portal, **fields: str) -> httpx.Response:
    p.get("/support/new")
    return p.post("/support/new", {"category": "api", "subject": "401 on ping", "text": "Why?", **fields})


def rid_of(r: httpx.Response) -> int:
    assert r.status_code == 303, r.text[:3000]
    m = re.fullmatch(r"/seller/support/(\d+)", r.headers["location"])
    assert m, r.headers["location"]
    return int(m.group(1))


def unread_in_menu(html: str) -> int:
    m = re.search(r'<span class="unread"[^>]*><span aria-hidden="true">(\d+)</span>', html)
    return int(m.group(1)) if m else 0


def test_a_dialogue_with_support(
    server: Server, new_portal: Callable[..., Portal], seller_user: Account, operator: Account
) -> None:
    bad, request_id = real_401(server)
    user = new_portal()
    user.sign_in(seller_user)
    rid = rid_of(open_request(user, request_id=request_id, text=HTML_TEXT))
    page = user.get(f"/support/{rid}").text
    assert "Waiting for support" not in page and ">New</span>" in page
    # Plain text, escaped: no markup of the message reaches the page.
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; &#34;quotes&#34;"
        in page
    )
    assert 'id="recorded"' not in page  # the seller does not see the server's record

    op = new_portal()
    op.sign_in(operator)
    listing = op.get("/support?category=api&state=new").text
    assert f'data-request-id="{rid}"' in listing
    assert f'data-request-id="{rid}"' not in op.get("/support?category=prices").text
    assert f'data-request-id="{rid}"' not in op.get("/support?state=closed").text
    view = op.get(f"/support/{rid}").text
    recorded = re.search(r'<dl class="facts facts-compact" id="recorded">(.*?)</dl>', view, re.S)
    assert recorded, view
    assert "<code>401</code>" in recorded.group(1)
    assert "marketplace-api" in recorded.group(1)
    assert bad not in view and bad.removeprefix("Bearer ") not in view  # never the token
    r = op.post(
        f"/support/{rid}/reply", {"text": "Your token is not a WB token: make one in API integrations."}
    )
    assert r.status_code == 303
    assert "Waiting for the seller" in op.get(f"/support/{rid}").text

    listing = user.get("/support").text
    assert unread_in_menu(listing) == 1
    assert "1 new" in listing
    page = user.get(f"/support/{rid}").text
    assert "is-unread" in page and "make one in API integrations" in page
    assert unread_in_menu(user.get("/support").text) == 0  # read now
    assert user.post(f"/support/{rid}/reply", {"text": "Thanks!"}).status_code == 303
    assert "Waiting for support" in user.get(f"/support/{rid}").text
    assert unread_in_menu(op.get("/support").text) >= 1
    assert user.post(f"/support/{rid}/close", {}).status_code == 303
    closed = user.get(f"/support/{rid}").text
    assert "The request is closed." in closed and 'name="text"' not in closed
    r = op.post(f"/support/{rid}/reply", {"text": "late"})
    assert r.status_code == 400
    assert "The request is closed: it takes no more messages." in r.text

    # A request the server has no record of says so.
    other = rid_of(open_request(user, request_id="0000000000000000ff"))
    assert 'id="recorded-missing"' in op.get(f"/support/{other}").text


def test_another_seller_never_sees_a_request(
    server: Server, new_portal: Callable[..., Portal], seller_user: Account
) -> None:
    user = new_portal()
    user.sign_in(seller_user)
    rid = rid_of(open_request(user, subject="Секрет продавца"))
    stranger_account = make_user(server, server.seller(), "Boris")
    stranger = new_portal()
    stranger.sign_in(stranger_account)
    assert "Секрет продавца" not in stranger.get("/support").text
    stranger.get("/support")
    for r in (
        stranger.get(f"/support/{rid}"),
        stranger.post(f"/support/{rid}/reply", {"text": "hi"}),
        stranger.post(f"/support/{rid}/close", {}),
        stranger.get("/support/999999"),
    ):
        assert r.status_code == 404
        assert "No such request" in r.text and "Секрет продавца" not in r.text
    # A colleague of the same seller sees it.
    colleague = new_portal()
    colleague.sign_in(make_user(server, seller_user.sid, "Vera"))
    assert colleague.get(f"/support/{rid}").status_code == 200


def test_limits_and_csrf(
    server: Server, new_portal: Callable[..., Portal], seller_user: Account, operator: Account
) -> None:
    user = new_portal()
    user.sign_in(seller_user)
    r = open_request(user, subject="s" * 201, text="t" * 5001, request_id="<bad id>", category="nope")
    assert r.status_code == 400
    for error in (
        "A subject is at most 200 characters.",
        "A message is at most 5000 characters.",
        "A requestId is at most 64 characters",
        "Choose a category from the list.",
    ):
        assert error in r.text
    assert open_request(user, subject=" ", text=" ").status_code == 400
    rid = rid_of(open_request(user))
    assert user.post(f"/support/{rid}/reply", {"text": "x" * 5001}).status_code == 400
    cookies = dict(user.http.cookies)
    base = server.base_url + "/seller"
    for path, data in (
        ("/support/new", {"category": "api", "subject": "s", "text": "t"}),
        (f"/support/{rid}/reply", {"text": "t"}),
        (f"/support/{rid}/close", {}),
    ):
        assert httpx.post(base + path, data=data, cookies=cookies).status_code == 403
        assert httpx.post(base + path, data={**data, "csrf": "guess"}, cookies=cookies).status_code == 403
    assert "Waiting" not in user.get(f"/support/{rid}").text  # nothing of that got in
    op = new_portal()
    op.sign_in(operator)
    assert op.get("/support/new").status_code == 403  # operators answer; sellers ask
