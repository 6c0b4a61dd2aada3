"""The portal's pieces alone: form parsing and validation, signed sessions, the secret file."""

from __future__ import annotations

import stat
from pathlib import Path

from wbseller.clock import OffsetClock
from wbseller.portal.forms import Form, NewsForm, msk_input, parse_msk, parse_news_form, parse_token_form
from wbseller.portal.i18n import Translator, m
from wbseller.portal.session import LIFETIME, Sessions, load_secret


def form(**fields: str | list[str]) -> Form:
    items: list[tuple[str, object]] = []
    for key, value in fields.items():
        items += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return Form(items)


def test_a_manual_token_form() -> None:
    f = parse_token_form(
        form(tab="manual", type="base", name=" ERP ", categories=["content", "finance"], access="ro")
    )
    assert f.errors == {}
    assert (f.name, f.categories, f.read_only) == ("ERP", ["content", "finance"], True)
    f = parse_token_form(form(tab="manual", type="personal", name="x", categories="content"))
    assert f.errors == {"liability": m("form.liability")}
    f = parse_token_form(form(tab="manual", type="personal", name="x", categories="content", liability="on"))
    assert f.errors == {}
    f = parse_token_form(form(tab="manual", type="service", name="x", categories="content"))
    assert "type" in f.errors  # a service token comes from the service tab only
    f = parse_token_form(form(tab="manual", type="base", name="x", categories=["content", "common"]))
    assert f.errors == {"categories": m("form.categories_list")}
    f = parse_token_form(form(tab="manual", type="test", name="x", categories=["content", "analytics"]))
    assert Translator("en")(f.errors["categories"]).endswith("which has no Analytics.")
    assert Translator("ru")(f.errors["categories"]).endswith("в ней нет: Аналитика.")
    f = parse_token_form(form(tab="manual", type="base", name="n" * 101, categories="content"))
    assert "name" in f.errors


def test_a_service_token_form() -> None:
    f = parse_token_form(form(tab="service", service="7"))
    assert f.errors == {}
    assert f.service_id == 7
    assert parse_token_form(form(tab="service", service="seven")).errors == {
        "service": m("form.service_choose")
    }
    # Files (or anything not text) never count as fields.
    assert Form([("csrf", object())]).get("csrf") == ""


def test_the_news_form() -> None:
    f = parse_news_form(
        form(header="H", content="C", date="2025-02-05T14:10:35", types=" API ,Маркетинг,, API ,  a  b ")
    )
    assert f.errors == {}
    assert f.type_names == ["API", "Маркетинг", "a b"]
    assert f.timestamp == parse_msk("2025-02-05T14:10:35+03:00")
    assert msk_input(f.timestamp) == "2025-02-05T14:10:35"
    assert parse_msk("2025-02-05T14:10") == parse_msk("2025-02-05T11:10Z")
    bad = parse_news_form(
        form(header="", content="", date="yesterday", types=",".join(f"t{i}" for i in range(11)))
    )
    assert set(bad.errors) == {"header", "content", "date", "types"}
    assert NewsForm.of("H", "C", f.timestamp, ["API"]).types == "API"


def test_sessions_are_signed_and_end() -> None:
    clock = OffsetClock()
    sessions = Sessions(b"k" * 64, clock)
    anon = sessions.new()
    assert anon.changed and not anon.signed_in
    s = sessions.signed_in(42, "$argon2id$hash")
    assert s.csrf != anon.csrf and s.nonce != anon.nonce
    cookie = sessions.dump(s)
    back = sessions.load(cookie)
    assert (back.uid, back.csrf, back.fp) == (42, s.csrf, s.fp)
    assert not back.changed
    assert back.csrf_ok(s.csrf) and not back.csrf_ok("") and not back.csrf_ok(None)
    # Forged, or signed with another key: a new anonymous session.
    assert sessions.load(cookie[:-2] + "xx").uid is None
    assert Sessions(b"other" * 13, clock).load(cookie).uid is None
    assert sessions.load("garbage").uid is None
    assert sessions.load(None).uid is None
    # Flash messages travel in the cookie, once.
    flashed = sessions.load(sessions.dump(back.with_flash("Saved.")))
    message, after = flashed.take_flash()
    assert message == "Saved." and after.changed and after.flash == ""
    # Signed out: that cookie stops working here.
    sessions.end(back)
    assert sessions.load(cookie).uid is None
    # Too old.
    other = sessions.dump(sessions.signed_in(7, "h"))
    clock.advance(LIFETIME + 1)
    assert sessions.load(other).uid is None


def test_the_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = load_secret(data)
    assert len(first) == 64
    assert stat.S_IMODE((data / "portal-secret").stat().st_mode) == 0o600
    assert load_secret(data) == first
    assert [p.name for p in data.iterdir()] == ["portal-secret"]
    # A data directory that cannot be made: a secret for this run only.
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert len(load_secret(blocker / "data")) == 64
