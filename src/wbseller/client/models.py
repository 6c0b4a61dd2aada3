"""What the client returns: frozen dataclasses, datetimes always timezone-aware.

Each result parses itself from the API's JSON (`from_json`) and renders back to the API's shape
(`to_json`) for `--json` output. A body of the wrong shape raises ValueError/KeyError/TypeError;
the core turns that into `UnexpectedResponse`.
"""

from __future__ import annotations

import contextlib
import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx

from wbseller.client.exceptions import UnexpectedResponse
from wbseller.tokens import TokenType

# WB's zone. Written here, not imported from the server's handlers (methods/general.py has the same):
# the client imports nothing of the server's request path.
MSK = timezone(timedelta(hours=3), "MSK")

__all__ = [
    "MSK",
    "Access",
    "CallResult",
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


@dataclass(frozen=True, slots=True)
class CallResult:
    """The answer of a `call`: always a success (2xx); an error status raised its exception instead.

    The body is kept as sent (`content`): most operations answer JSON (`json()`), a few a PDF, a ZIP or an
    image. `response` is httpx's own, for anything else."""

    operation: str  # the catalog id of the operation called
    status: int
    headers: httpx.Headers = field(repr=False)
    content: bytes = field(repr=False)
    response: httpx.Response = field(repr=False, compare=False)

    @classmethod
    def of(cls, operation: str, response: httpx.Response) -> CallResult:
        return cls(operation, response.status_code, response.headers, response.content, response)

    @property
    def content_type(self) -> str:
        """The media type, without parameters (`application/json`); "" if none was sent."""
        value: str = self.headers.get("content-type", "")
        return value.split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def request_id(self) -> str | None:
        value: str | None = self.headers.get("x-request-id")
        return value

    @property
    def remaining(self) -> int | None:
        """X-Ratelimit-Remaining: requests the server's bucket takes now, after this one (and its cost)."""
        value = self.headers.get("x-ratelimit-remaining")
        with contextlib.suppress(ValueError):
            return None if value is None else int(value)
        return None

    def json(self) -> Any:
        """The body as JSON; None for an empty body (a 204). A body that is not JSON: UnexpectedResponse."""
        if not self.content:
            return None
        try:
            return json.loads(self.content)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
            raise UnexpectedResponse(
                self.status,
                "unexpected response",
                f"{self.operation}: the body is not JSON ({self.content_type or 'no content type'}): {exc}",
                request_id=self.request_id,
                response=self.response,
            ) from exc


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
