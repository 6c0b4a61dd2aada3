"""The portal's forms: what a submitted form says, and what is wrong with it, as plain data.

Pages re-render a form with its values and errors, so a form is parsed into a dataclass that keeps
every value as typed, with `errors` keyed by field name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from wbseller.categories import BY_NAME, CATEGORIES, Category
from wbseller.methods.general import MSK
from wbseller.portal.i18n import Msg, m

MAX_NAME = 100
MAX_COMMENT = 500
MAX_HEADER = 300
MAX_CONTENT = 20_000
MAX_TYPES = 10
MAX_TYPE_NAME = 64

MANUAL_TYPES = ("base", "personal", "test")
TOKEN_CATEGORIES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c.bit is not None)
SANDBOX_CATEGORIES: tuple[Category, ...] = tuple(c for c in TOKEN_CATEGORIES if c.sandbox)


class Form:
    """A submitted form's text fields (files are never accepted)."""

    def __init__(self, items: Iterable[tuple[str, object]]) -> None:
        self._items = [(k, v) for k, v in items if isinstance(v, str)]

    def get(self, key: str) -> str:
        """The first value of `key`, "" when absent."""
        return next((v for k, v in self._items if k == key), "")

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self._items if k == key]


def _text(form: Form, key: str) -> str:
    return form.get(key).strip()


@dataclass(slots=True)
class TokenForm:
    tab: str = "manual"  # manual | service
    type: str = "base"
    name: str = ""
    categories: list[str] = field(default_factory=list)
    access: str = "rw"  # rw | ro
    comment: str = ""
    liability: bool = False
    service: str = ""
    errors: dict[str, Msg] = field(default_factory=dict)

    @property
    def read_only(self) -> bool:
        return self.access == "ro"

    @property
    def service_id(self) -> int | None:
        return int(self.service) if self.service.isdigit() else None


def parse_token_form(form: Form) -> TokenForm:
    f = TokenForm(
        tab="service" if _text(form, "tab") == "service" else "manual",
        type=_text(form, "type") or "base",
        name=_text(form, "name"),
        categories=form.getlist("categories"),
        access="ro" if _text(form, "access") == "ro" else "rw",
        comment=_text(form, "comment"),
        liability=_text(form, "liability") == "on",
        service=_text(form, "service"),
    )
    err = f.errors
    if len(f.name) > MAX_NAME:
        err["name"] = m("form.name_long", max=MAX_NAME)
    if len(f.comment) > MAX_COMMENT:
        err["comment"] = m("form.comment_long", max=MAX_COMMENT)
    if f.tab == "service":
        if f.service_id is None:
            err["service"] = m("form.service_choose")
        return f
    if f.type not in MANUAL_TYPES:
        err["type"] = m("form.type_choose")
        return f
    if not f.name:
        err["name"] = m("form.name_enter")
    unknown = [c for c in f.categories if c not in BY_NAME or BY_NAME[c].bit is None]
    if unknown:
        err["categories"] = m("form.categories_list")
    elif not f.categories:
        err["categories"] = m("form.categories_one")
    elif f.type == "test":
        # A test token works only on sandbox hosts; a category without one would be a dead bit.
        outside = [c for c in f.categories if not BY_NAME[c].sandbox]
        if outside:
            err["categories"] = m("form.categories_sandbox", categories=[m(f"category.{c}") for c in outside])
    if f.type == "personal" and not f.liability:
        err["liability"] = m("form.liability")
    return f


@dataclass(slots=True)
class NewsForm:
    header: str = ""
    content: str = ""
    date: str = ""  # as the datetime-local input sends it, Moscow time
    types: str = ""  # comma-separated names
    errors: dict[str, Msg] = field(default_factory=dict)

    @property
    def type_names(self) -> list[str]:
        names: list[str] = []
        for raw in self.types.split(","):
            name = " ".join(raw.split())
            if name and name not in names:
                names.append(name)
        return names

    @property
    def timestamp(self) -> float:
        return parse_msk(self.date)

    @classmethod
    def of(cls, header: str, content: str, date: float, types: list[str]) -> NewsForm:
        return cls(header, content, msk_input(date), ", ".join(types))


def parse_msk(value: str) -> float:
    """`2025-02-05T14:10[:35]` in Moscow time (a zone, if given, wins) -> epoch seconds."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=MSK)
    return dt.timestamp()


def msk_input(ts: float) -> str:
    """Epoch seconds -> the value of a datetime-local input, in Moscow time."""
    return datetime.fromtimestamp(ts, MSK).strftime("%Y-%m-%dT%H:%M:%S")


def parse_news_form(form: Form) -> NewsForm:
    f = NewsForm(
        header=_text(form, "header"),
        content=_text(form, "content"),
        date=_text(form, "date"),
        types=_text(form, "types"),
    )
    err = f.errors
    if not f.header:
        err["header"] = m("form.header_enter")
    elif len(f.header) > MAX_HEADER:
        err["header"] = m("form.header_long", max=MAX_HEADER)
    if not f.content:
        err["content"] = m("form.text_enter")
    elif len(f.content) > MAX_CONTENT:
        err["content"] = m("form.text_long", max=MAX_CONTENT)
    try:
        f.timestamp  # noqa: B018 - parsing is the check
    except ValueError:
        err["date"] = m("form.date")
    names = f.type_names
    if len(names) > MAX_TYPES:
        err["types"] = m("form.types_many", max=MAX_TYPES)
    elif any(len(n) > MAX_TYPE_NAME for n in names):
        err["types"] = m("form.type_long", max=MAX_TYPE_NAME)
    return f


MAX_SUBJECT = 200
MAX_MESSAGE = 5000
MAX_REQUEST_ID = 64
_REQUEST_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


@dataclass(slots=True)
class SupportForm:
    category: str = ""
    subject: str = ""
    text: str = ""
    request_id: str = ""
    errors: dict[str, Msg] = field(default_factory=dict)


def _message_error(text: str) -> Msg | None:
    if not text:
        return m("form.message_enter")
    if len(text) > MAX_MESSAGE:
        return m("form.message_long", max=MAX_MESSAGE)
    return None


def parse_support_form(form: Form, categories: tuple[str, ...]) -> SupportForm:
    f = SupportForm(
        category=_text(form, "category"),
        subject=" ".join(form.get("subject").split()),
        text=form.get("text").strip(),
        request_id=_text(form, "request_id"),
    )
    err = f.errors
    if f.category not in categories:
        err["category"] = m("form.category_choose")
    if not f.subject:
        err["subject"] = m("form.subject_enter")
    elif len(f.subject) > MAX_SUBJECT:
        err["subject"] = m("form.subject_long", max=MAX_SUBJECT)
    if (text_error := _message_error(f.text)) is not None:
        err["text"] = text_error
    if f.request_id and (len(f.request_id) > MAX_REQUEST_ID or not set(f.request_id) <= _REQUEST_ID_CHARS):
        err["request_id"] = m("form.request_id", max=MAX_REQUEST_ID)
    return f


def parse_reply(form: Form) -> tuple[str, Msg | None]:
    """A reply's text and what is wrong with it."""
    text = form.get("text").strip()
    return text, _message_error(text)
