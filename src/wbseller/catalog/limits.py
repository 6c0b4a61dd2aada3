"""Parse the `<div class="description_limit">` block of a WB operation's description into numbers.

The block is prose in Russian; only its numbers, units, token types, group name, cost rule and a few flags
are taken out, and nothing of its wording is kept: the group name is turned into our own slug
(`GROUP_SLUGS`), token types into ours. Shapes (SPECS-REPORT.md §3.1):

- a 4-column table `Период | Лимит | Интервал | Всплеск`: one row for every token type;
- a 5-column table `Тип | Период | ...`: one row per token type;
- a sentence `Максимум N запросов за|в [M] <unit>` (no interval, no burst);
- a table of `<no value>` placeholders: no numbers at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


class LimitParseError(ValueError):
    """A limit block that none of the known shapes reads."""


# Named groups as the documents write them -> our slug. A name not here fails the build: a new group
# needs a slug of ours first.
GROUP_SLUGS: dict[str, str] = {
    "сборочных заданий, поставок и пропусков FBS": "fbs-orders",
    "Контент": "content",
    "Вопросы и отзывы": "feedbacks",
    "DBW": "dbw-orders",
    "Цены и скидки": "prices",
    "сборочных заданий DBS": "dbs-orders",
    "закрепления идентификаторов маркировки FBS": "fbs-marking-set",
    "складов продавца": "warehouses",
    "закрепления идентификаторов маркировки DBS": "dbs-marking-set",
    "закрепления идентификаторов маркировки Самовывоз": "pickup-marking-set",
    "Календарь акций": "promo-calendar",
    "остатков на складах продавца": "stocks",
    "закрепления идентификаторов маркировки DBW": "dbw-marking-set",
    "получения и удаления идентификаторов маркировки DBS": "dbs-marking-get",
    "сборочных заданий Самовывоз": "pickup-orders",
    "получения и удаления идентификаторов маркировки Самовывоз": "pickup-marking-get",
    "получения и удаления идентификаторов маркировки FBS": "fbs-marking-get",
}

# Token types of the tables -> ours. "Базовый с секретом" (base with a secret) is not a type we issue:
# its row is read and must equal the personal row (docs/catalog.md), else the build fails.
TOKEN_TYPES: dict[str, str] = {
    "Персональный": "personal",
    "Сервисный": "service",
    "Базовый": "base",
    "Базовый с секретом": "base-secret",
}
BASE_SECRET = "base-secret"  # noqa: S105 - a token type's name, not a secret

_UNITS: tuple[tuple[str, float], ...] = (
    ("мс", 0.001),
    ("сек", 1.0),
    ("с", 1.0),
    ("мин", 60.0),
    ("ч", 3600.0),
)

_BLOCK = re.compile(r'<div class="description_limit">(.*?)</div>', re.S)
_GROUP = re.compile(r"для (?:всех |следующих )?методов (?:категории )?<strong>(.*?)</strong>")
_GROUP_DBW = re.compile(r"для (?:всех |следующих )?методов DBW\b")
_COST = re.compile(r"кодами ответов\s*<code>(\dXX)</code>\s*учитывается как (\d+) запрос")
_SENTENCE = re.compile(r"Максимум (\d+) запрос\w* (?:за|в) (\d+ )?(\w+)")
_LINK_PATH = re.compile(r"paths/([^/\"]+)/(get|post|put|patch|delete)\"")
_LINK_OPID = re.compile(r"operation/([A-Za-z0-9_]+)\"")
_TAG = re.compile(r"<[^>]+>")
_PLACEHOLDER = "\x00no-value\x00"  # the documents' `<no value>`, kept through the tag stripping


@dataclass
class RawRate:
    period: float
    limit: int
    burst: int | None  # None: the sentence form states none
    interval: float | None = None


@dataclass
class ParsedLimit:
    group: str | None = None  # our slug
    # token type ("*" = one row for every type) -> numbers; empty: placeholders only
    rows: dict[str, RawRate] = field(default_factory=dict)
    costs: dict[str, int] = field(default_factory=dict)  # "4xx" -> total cost
    per_host: bool = False  # "separately for each variant of the method by domain"
    automation_block: bool = False  # "automated use is temporarily blocked"
    placeholders: bool = False
    sentence: bool = False
    exceptions: list[tuple[str, str] | str] = field(default_factory=list)  # (VERB, path) or operationId


def seconds(text: str) -> float:
    """`200 мс`, `1 сек`, `24 ч`, `10 минут`, `секунду` -> seconds."""
    m = re.fullmatch(r"(\d+)?\s*([^\d\s]+)", text.strip())
    if m is None:
        raise LimitParseError(f"not a duration: {text!r}")
    n = int(m.group(1)) if m.group(1) else 1
    word = m.group(2)
    for prefix, scale in _UNITS:
        if word.startswith(prefix):
            return round(n * scale, 6)
    raise LimitParseError(f"unknown unit in {text!r}")


def _count(text: str) -> int:
    m = re.fullmatch(r"(\d+) запрос\w*", text.strip())
    if m is None:
        raise LimitParseError(f"not a request count: {text!r}")
    return int(m.group(1))


def block_of(description: str) -> str:
    found = _BLOCK.findall(description)
    if len(found) != 1:
        raise LimitParseError(f"expected one limit block, found {len(found)}")
    return str(found[0])


def parse(description: str) -> ParsedLimit:
    block = block_of(description)
    out = ParsedLimit()
    m = _GROUP.search(block)
    name = m.group(1).strip() if m else ("DBW" if _GROUP_DBW.search(block) else None)
    if name is not None:
        if name not in GROUP_SLUGS:
            raise LimitParseError(f"unknown limit group {name!r}: give it a slug in catalog/limits.py")
        out.group = GROUP_SLUGS[name]
    for klass, cost in _COST.findall(block):
        out.costs[klass.lower()] = int(cost)
    text = _TAG.sub("", block.replace("<no value>", _PLACEHOLDER))
    out.per_host = "отдельно для каждого варианта метода" in text
    out.automation_block = "автоматизировать" in text
    if "Исключение" in block:
        for encoded, verb in _LINK_PATH.findall(block):
            out.exceptions.append((verb.upper(), unquote(encoded.replace("~1", "/"))))
        out.exceptions.extend(_LINK_OPID.findall(block))
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    if rows:
        _table(rows, out)
    else:
        s = _SENTENCE.search(text)
        if s is None:
            raise LimitParseError("no table and no sentence in the limit block")
        period = seconds(f"{s.group(2) or ''}{s.group(3)}")
        out.rows["*"] = RawRate(period, int(s.group(1)), None)
        out.sentence = True
    return out


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str], out: ParsedLimit) -> None:
    header = _cells(lines[0])
    typed = len(header) == 5
    if len(header) not in (4, 5) or not set(_cells(lines[1])) <= {"---", ":---", "---:"}:
        raise LimitParseError(f"unexpected table header {header!r}")
    for line in lines[2:]:
        cells = _cells(line)
        if len(cells) != len(header):
            raise LimitParseError(f"row {cells!r} does not fit the header")
        kind = "*"
        if typed:
            if cells[0] not in TOKEN_TYPES:
                raise LimitParseError(f"unknown token type {cells[0]!r}")
            kind = TOKEN_TYPES[cells[0]]
            cells = cells[1:]
        if all(c == _PLACEHOLDER for c in cells):
            out.placeholders = True
            continue
        period, interval = seconds(cells[0]), seconds(cells[2])
        rate = RawRate(period, _count(cells[1]), _count(cells[3]), interval)
        if abs(rate.period / rate.limit - interval) > 0.001 + 1e-9:
            raise LimitParseError(f"interval {interval} s is not period/limit in {cells!r}")
        if kind in out.rows:
            raise LimitParseError(f"token type {kind} has two rows")
        out.rows[kind] = rate


def rate_dict(rate: RawRate) -> dict[str, Any]:
    period: float | int = int(rate.period) if float(rate.period).is_integer() else rate.period
    return {"period": period, "limit": rate.limit, "burst": rate.burst}
