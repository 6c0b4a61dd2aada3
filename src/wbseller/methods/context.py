"""What a method's handler receives (Context) and returns (Reply)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from wbseller.backends.registry import Backends
from wbseller.categories import Host
from wbseller.tokens import Claims

if TYPE_CHECKING:
    from wbseller.clock import Clock
    from wbseller.methods.checks import Checked
    from wbseller.storage import SellerState, Storage

JSON = b"application/json"  # RFC 8259: JSON is UTF-8, and the type defines no charset parameter


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()  # a tuple: a Reply may be built once and sent often
    content_length: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_length", str(len(self.body)).encode())


def json_reply(data: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


@dataclass(slots=True)
class Context:
    http: str
    path: str
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    host: Host
    claims: Claims
    seller: SellerState
    storage: Storage
    clock: Clock
    now: float  # the request's time, on `clock`
    path_params: Mapping[str, str] = field(default_factory=dict)  # a templated path's variables, as sent
    checked: Checked | None = None  # the request's values, typed, once its operation's checks passed
    backends: Backends = field(default_factory=Backends)  # the sections' state: ctx.backends.of(Cards)
    _query: dict[str, list[str]] | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(self.query_string.decode("latin-1"), keep_blank_values=True)
        return self._query

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


class TimeOnly:
    """A handler whose reply depends on nothing but the request's time, like /ping's.

    The gateway calls `at(now)` directly for a request without a body: no Context, no coroutine.
    Called as an ordinary handler (a request with a body, a test), it does the same.
    """

    def __init__(self, at: Callable[[float], Reply]) -> None:
        self.at = at
        self.__doc__ = at.__doc__  # the method's description, for the OpenAPI document

    async def __call__(self, ctx: Context) -> Reply:
        return self.at(ctx.now)
