"""The pages' words: two catalogs (messages/ru.toml, messages/en.toml) of the same keys, and the language
of a request (its cookie, else Accept-Language, else Russian).

A message is plain text with `{name}` parameters; a plural message is a table of forms (`one`, `few`,
`many` in Russian; `one`, `other` in English) picked by the parameter `n`. Python code that builds a text
for a page (form errors, flash messages, error pages) makes a `Msg` (key and parameters) and the page
translates it; no text of the pages is written anywhere else.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "messages"
LANGS = ("ru", "en")
DEFAULT = "ru"
COOKIE = "wbseller_lang"
PLURAL_FORMS = {"ru": ("one", "few", "many"), "en": ("one", "other")}
_FORMS = {"one", "few", "many", "other"}


@dataclass(frozen=True, slots=True)
class Msg:
    """A text for a page, not yet in a language."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def dump(self) -> str:
        return json.dumps([self.key, dict(self.params)], ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str) -> Msg | None:
        try:
            key, params = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if not isinstance(key, str) or not isinstance(params, dict):
            return None
        return cls(key, params)


def m(key: str, **params: Any) -> Msg:
    return Msg(key, params)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str | dict[str, str]]:
    out: dict[str, str | dict[str, str]] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, dict) and value and set(value) <= _FORMS:
            out[key] = {str(k): str(v) for k, v in value.items()}
        elif isinstance(value, dict):
            out.update(_flatten(value, key + "."))
        else:
            raise ValueError(f"{key}: a message is a string or a table of plural forms")
    return out


@cache
def catalog(lang: str, folder: Path = HERE) -> dict[str, str | dict[str, str]]:
    with (folder / f"{lang}.toml").open("rb") as f:
        return _flatten(tomllib.load(f))


def plural_form(lang: str, n: int) -> str:
    if lang == "ru":
        n = abs(n)
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if n == 1 else "other"


class Translator:
    """The messages of one language. A key missing from the catalog is an error, never a silent gap."""

    def __init__(self, lang: str, messages: Mapping[str, str | dict[str, str]] | None = None) -> None:
        self.lang = lang
        self.messages = catalog(lang) if messages is None else messages

    def __call__(self, key: str | Msg, /, **params: Any) -> str:
        if isinstance(key, Msg):
            params = {**key.params, **params}
            key = key.key
        value = self.messages[key]
        if isinstance(value, dict):
            n = int(params.get("n", 0))
            value = value.get(plural_form(self.lang, n)) or value.get("other") or value["many"]
        return value.format_map({k: self._param(v) for k, v in params.items()}) if params else value

    def _param(self, value: Any) -> Any:
        if isinstance(value, Msg):
            return self(value)
        if isinstance(value, list | tuple):
            return ", ".join(str(self._param(v)) for v in value)
        return value

    def table(self, prefix: str) -> dict[str, str | dict[str, str]]:
        """The messages under `prefix.`, for a script (which formats them itself)."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.messages.items() if k.startswith(prefix + ".")}


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if it is one of ours; else the first of ours that Accept-Language prefers."""
    if cookie in LANGS:
        return cookie
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                continue
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGS and q > 0 and (best is None or (q, -i) > (best[0], best[1])):
            best = (q, -i, lang)
    return best[2] if best else DEFAULT
