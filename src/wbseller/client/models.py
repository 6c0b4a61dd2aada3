"""What the client returns: frozen dataclasses, datetimes always timezone-aware.

Each result parses itself from the API's JSON (`from_json`) and renders back to the API's shape
(`to_json`) for `--json` output. A body of the wrong shape raises ValueError/KeyError/TypeError;
the core turns that into `UnexpectedResponse`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from wbseller.methods.general import MSK
from wbseller.tokens import TokenType

__all__ = [
    "MSK",
    "Access",
    "NewsItem",
    "NewsType",
    "Ping",
    "SellerInfo",
    "TokenInfo",
    "TokenType",
    "parse_datetime",
]


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 time from WB; one without an offset is Moscow time (WB's own zone)."""
    if not isinstance(value, str):
        raise TypeError(f"expected a date-time string, got {type(value).__name__}")
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=MSK)


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise TypeError(f"{key}: expected a string")
    return value


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj[key]
    if type(value) is not int:
        raise TypeError(f"{key}: expected an integer")
    return value


def _obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("expected a JSON object")
    return value


@dataclass(frozen=True, slots=True)
class Ping:
    """One host answered /ping."""

    category: str  # our category name, e.g. "content"
    host: str  # the WB host name asked, e.g. "content-api-sandbox.wildberries.ru"
    status: str  # "OK"
    ts: datetime  # the server's time (WB sends Moscow time)

    @property
    def ok(self) -> bool:
        return self.status == "OK"

    @classmethod
    def from_json(cls, data: Any, category: str, host: str) -> Ping:
        obj = _obj(data)
        return cls(category, host, _str(obj, "Status"), parse_datetime(obj["TS"]))

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "host": self.host,
            "TS": self.ts.isoformat(),
            "Status": self.status,
        }


@dataclass(frozen=True, slots=True)
class NewsType:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class NewsItem:
    id: int
    header: str
    content: str
    date: datetime
    types: tuple[NewsType, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> NewsItem:
        obj = _obj(data)
        types = obj.get("types") or []
        if not isinstance(types, list):
            raise TypeError("types: expected a list")
        return cls(
            id=_int(obj, "id"),
            header=_str(obj, "header"),
            content=_str(obj, "content"),
            date=parse_datetime(obj["date"]),
            types=tuple(NewsType(_int(t, "id"), _str(t, "name")) for t in map(_obj, types)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "header": self.header,
            "content": self.content,
            "date": self.date.isoformat(),
            "types": [{"id": t.id, "name": t.name} for t in self.types],
        }


@dataclass(frozen=True, slots=True)
class SellerInfo:
    name: str
    sid: str
    tin: str
    trade_mark: str

    @classmethod
    def from_json(cls, data: Any) -> SellerInfo:
        obj = _obj(data)
        return cls(_str(obj, "name"), _str(obj, "sid"), _str(obj, "tin"), _str(obj, "tradeMark"))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sid": self.sid, "tin": self.tin, "tradeMark": self.trade_mark}


class Access(enum.Enum):
    READ_WRITE = "read and write"
    READ_ONLY = "read only"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What a token says about itself, read offline (the signature is not checked)."""

    type: TokenType
    categories: tuple[str, ...]  # category names whose bits are set ("common" needs none)
    read_only: bool
    seller_id: str
    token_id: str
    expires: datetime  # UTC
    days_left: float  # negative once expired
    unknown_bits: tuple[int, ...] = ()  # bits no category of ours uses (real tokens carry some)
    service_id: int | None = None  # service tokens: the catalog service
    kid: str = ""

    @property
    def sandbox(self) -> bool:
        """A test token: it works only on sandbox hosts."""
        return self.type is TokenType.TEST

    @property
    def expired(self) -> bool:
        return self.days_left <= 0

    @property
    def access(self) -> Access:
        return Access.READ_ONLY if self.read_only else Access.READ_WRITE

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "categories": list(self.categories),
            "access": self.access.value,
            "sandbox": self.sandbox,
            "seller": self.seller_id,
            "tokenId": self.token_id,
            "serviceId": self.service_id,
            "expires": self.expires.isoformat(),
            "daysLeft": round(self.days_left, 1),
            "expired": self.expired,
            "unknownBits": list(self.unknown_bits),
        }


def as_news_date(value: date | datetime | str) -> str:
    """The news `from` parameter: a date; an aware datetime counts in Moscow time, as WB does."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(MSK)
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(value).isoformat()  # ValueError for a bad string, before sending


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
