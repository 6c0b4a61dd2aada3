"""What a page says that is not in its language's catalog.

A page's visible text (text nodes, and the attributes a person reads or hears: aria-label, placeholder,
title, alt, data-label) is taken apart: the data the test put there (names, subjects, messages) and the
catalog's messages of the page's language (parameters as wildcards, longest first), then the data, are cut
out; whatever
still has two letters in a row was written outside the catalogs (or in the other language's)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from html.parser import HTMLParser

from wbseller.portal.i18n import catalog

READ_ATTRS = ("aria-label", "placeholder", "title", "alt", "data-label")
SKIP = {"script", "style", "code", "textarea"}  # code: API paths; textarea: what a person typed
ALWAYS = ("WB Seller", "wb", "eyJhbGciOiJFUzI1NiIsImtpZCI6…")  # the product, its mark, a sample token
_WORD = re.compile(r"[^\W\d_]{2,}")


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP:
            self._skip += 1
        for name, value in attrs:
            if name in READ_ATTRS and value:
                self.texts.append(value)
            if (
                tag == "input"
                and name == "value"
                and value
                and dict(attrs).get("type") in ("submit", "button")
            ):
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(data)


def texts_of(html: str) -> list[str]:
    parser = _Texts()
    parser.feed(html)
    return [" ".join(t.split()) for t in parser.texts]


HOLE = "\x00"  # where the test's data was: a parameter's wildcard may take it


@cache
def _patterns(lang: str, data: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    values: list[str] = []
    for value in catalog(lang).values():
        values += list(value.values()) if isinstance(value, dict) else [value]
    out = []
    for raw in sorted(set(values), key=len, reverse=True):
        value = _holes(" ".join(raw.split()), data)
        parts = [re.escape(p) for p in re.split(r"\{\w+\}", value)]
        # A parameter inside a message takes anything up to the rest of it; one at an end, one word.
        body = ".+?".join(parts)
        if len(parts) > 1:
            body = (r"\S*" if not parts[0] else "") + body + (r"\S*" if not parts[-1] else "")
        out.append(re.compile(body))
    return tuple(out)


def _holes(text: str, data: tuple[str, ...]) -> str:
    # Whole words only: a short datum (another test's service named "S") must not punch "Save" to "ave".
    for d in data:
        text = re.sub(rf"(?<!\w){re.escape(d)}(?!\w)", HOLE, text)
    return text


def untranslated(html: str, lang: str, data: Iterable[str] = ()) -> list[str]:
    """The pieces of text of `html` outside the catalog of `lang` (and outside `data`)."""
    known = tuple(sorted({" ".join(d.split()) for d in data if d.strip()}, key=len, reverse=True))
    left = []
    for text in texts_of(html):
        rest = text
        for d in ALWAYS:
            rest = rest.replace(d, " ")
        rest = _holes(rest, known)
        for pattern in _patterns(lang, known):
            rest = pattern.sub(" ", rest)
        if _WORD.search(rest):
            left.append(f"{text!r} -> {rest.strip()!r}")
    return left
