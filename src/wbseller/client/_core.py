"""The client's logic, sans I/O: one place for both drivers.

A call is a generator (a "plan") that yields what it needs done — an `httpx.Request` to send, or a
`Wait` to sleep — and is sent back the outcome (an `httpx.Response`, or the `httpx.TransportError`
the send raised). It returns the typed result or raises a `WBClientError`. The sync and async
drivers only run plans: `time.sleep` vs `asyncio.sleep`, `httpx.Client` vs `httpx.AsyncClient`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import warnings
from collections.abc import Callable, Generator, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

import wbseller
from wbseller.catalog import ALL, Catalog, Operation
from wbseller.catalog import Rate as CatalogRate
from wbseller.catalog import load as load_catalog
from wbseller.categories import (
    ALL_BY_NAME,
    ALL_HOST_BY_PREFIX,
    ALL_HOSTS,
    CATEGORIES,
    Category,
    Host,
    sandbox_of,
)
from wbseller.client._ops import Operations, PathValue, fill_path, read_config
from wbseller.client._retry import RetryPolicy
from wbseller.client._throttle import Clock, Throttle
from wbseller.client._token import EXPIRY_WARNING_DAYS, decode_token
from wbseller.client.exceptions import (
    CategoryNotAllowed,
    ConnectionFailed,
    InvalidCall,
    NotAllowed,
    RateLimited,
    ReadOnlyNotAllowed,
    TokenError,
    TokenExpiringWarning,
    TokenTypeNotAllowed,
    UnexpectedResponse,
    WBAPIError,
    error_class,
)
from wbseller.client.models import CallResult, NewsItem, Ping, SellerInfo, TokenInfo, as_news_date
from wbseller.ratelimit.gcra import Rate
from wbseller.tokens import strip_scheme

T = TypeVar("T")

TOKEN_ENV = "WB_API_TOKEN"  # noqa: S105 -- the variable's name, not a token
NEWS_PAGE = 100  # WB returns at most 100 news a call
USER_AGENT = f"wbseller-client/{wbseller.__version__}"

# What `call` passes on to httpx, as httpx takes it (a value None is left out of the query).
Primitive = str | int | float | bool | None
Params = Mapping[str, Primitive | Sequence[Primitive]]
FileContent = bytes | IO[bytes]
FileField = FileContent | tuple[str | None, FileContent] | tuple[str | None, FileContent, str | None]
Files = Mapping[str, FileField]


@dataclass(frozen=True, slots=True)
class Wait:
    """Sleep before going on. `reason`: throttle (our pacer), rate-limited (a 429), retry (backoff)."""

    seconds: float
    reason: str
    limit: str  # the bucket (its group, or the operation's id) for throttle and rate-limited; the
    # operation for retry


Step = httpx.Request | Wait
Outcome = httpx.Response | httpx.TransportError | None
Plan = Generator[Step, Outcome, T]
WaitHook = Callable[[Wait], None]


@functools.cache
def _gcra(rate: CatalogRate) -> Rate:
    """The catalog's numbers as the GCRA's rate (the same arithmetic as the server's buckets)."""
    return Rate(rate.period, rate.limit, rate.burst)


def category_named(name: str | Category) -> Category:
    if isinstance(name, Category):
        return name
    cat = ALL_BY_NAME.get(name)
    if cat is None:
        raise InvalidCall(f"unknown category {name!r}; expected one of: {', '.join(ALL_BY_NAME)}")
    return cat


def host_named(name: str | Category) -> Host:
    """A production host by category (its own host: `promotion` is advert-api) or by host prefix."""
    if isinstance(name, Category) or name in ALL_BY_NAME:
        return ALL_HOST_BY_PREFIX[category_named(name).prefix]
    host = ALL_HOST_BY_PREFIX.get(name)
    if host is None or host.sandbox:
        hint = (
            "; name the production host: a test token goes to its sandbox by itself"
            if host is not None
            else ""
        )
        raise InvalidCall(
            f"unknown category or host {name!r}{hint}; categories: {', '.join(ALL_BY_NAME)}; hosts: "
            + ", ".join(h.prefix for h in ALL_HOSTS if not h.sandbox)
        )
    return host


def _accept(op: Operation) -> str:
    """The media types the operation's success answers come in, as the Accept header."""
    types = sorted({ct for status, media in op.responses.items() if status.startswith("2") for ct in media})
    return ", ".join(types) or "application/json"


class Core:
    """What a client knows (token, operations, hosts, policies) and how a call goes, without I/O."""

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        config: str | Path | None = None,
        catalog: Catalog | None = None,
        retry: RetryPolicy | None = None,
        throttle: Throttle | bool = True,
        clock: Clock = time.monotonic,
        on_wait: WaitHook | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        raw = token if token is not None else os.environ.get(TOKEN_ENV, "")
        if not raw.strip():
            raise TokenError(f"no token: pass token= or set {TOKEN_ENV}")
        self.token = strip_scheme(raw)
        self.token_info: TokenInfo = decode_token(self.token)
        if self.token_info.days_left < EXPIRY_WARNING_DAYS:
            left = self.token_info.days_left
            warnings.warn(
                f"the WB API token has expired ({self.token_info.expires:%Y-%m-%d})"
                if left <= 0
                else f"the WB API token expires in {left:.1f} days ({self.token_info.expires:%Y-%m-%d})",
                TokenExpiringWarning,
                stacklevel=3,  # the line that made the client: Core <- Client.__init__ <- there
            )
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// or https:// URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/") if base_url else None
        # One source of operations and limits: the catalog the server serves from (plus the same
        # config file, if given), read once per process.
        self.operations = Operations(
            catalog if catalog is not None else load_catalog(),
            read_config(Path(config)) if config else None,
            str(config),
        )
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.throttle: Throttle | None = (
            throttle if isinstance(throttle, Throttle) else Throttle(clock) if throttle else None
        )
        self.on_wait = on_wait
        self.headers = {"Authorization": self.token, "User-Agent": user_agent, "Accept": "application/json"}

    # --- where a call goes, and whether this token may make it ---------------------------------

    def operation(self, name: str) -> Operation:
        """The catalog's operation `name` (an id, or `VERB /path`), with the config's limits; else
        UnknownOperation naming the closest ids."""
        return self.operations.get(name)

    def host_for(self, op: Operation, where: str | Category | None = None) -> Host:
        """The host an operation is called on; NotAllowed (nothing sent) if this token cannot call it there.

        `where` (a category or a production host prefix) is needed for an operation on every host (/ping)
        and otherwise only checked. A test token goes to the host's sandbox twin."""
        if op.category == ALL:
            if where is None:
                raise InvalidCall(
                    f"{op.id} is on every host: name one, host= a category or a host prefix", operation=op.id
                )
            prod = host_named(where)
            if not prod.ping:
                raise InvalidCall(f"{prod.name} has no {op.path}", operation=op.id)
        else:
            prod = ALL_HOST_BY_PREFIX[op.host]
            if where is not None:
                named = host_named(where)
                by_category = isinstance(where, Category) or where in ALL_BY_NAME
                if named is not prod and not (by_category and named.category is prod.category):
                    raise InvalidCall(f"{op.id} is only on {prod.prefix}, not {where}", operation=op.id)
        info = self.token_info
        if info.type.value not in op.token_types:
            raise TokenTypeNotAllowed(f"{op.id} does not accept a {info.type.value} token", method=op.id)
        if info.read_only and not op.read_only:
            raise ReadOnlyNotAllowed(f"{op.id} writes; the token is read-only", method=op.id)
        cat = prod.category
        if cat.bit is not None and cat.name not in info.categories:
            raise CategoryNotAllowed(
                f"the token has no {cat.name} category ({cat.title}); it has: "
                f"{', '.join(info.categories) or 'none'}",
                method=op.id,
                host=prod.name,
            )
        if info.sandbox:
            twin = sandbox_of(prod.prefix)
            if twin is None:
                raise CategoryNotAllowed(
                    f"a test token works only on sandbox hosts, and {cat.name} ({prod.name}) has none",
                    method=op.id,
                    host=prod.name,
                )
            if op.category == ALL and not twin.ping:
                raise CategoryNotAllowed(
                    f"a test token works only on sandbox hosts, and {twin.name} has no {op.path}",
                    method=op.id,
                    host=twin.name,
                )
            return twin
        return prod

    def url(self, host: Host, path: str) -> str:
        if self.base_url is not None:
            return f"{self.base_url}/{host.prefix}{path}"  # a wbseller server routes by path prefix
        return f"https://{host.name}{path}"

    def ping_categories(self) -> list[str]:
        """Every category this token can /ping: its own, and common-api unless it is a test token.

        Over the categories the server serves today (`categories.CATEGORIES`)."""
        ping = self.operation("ping")
        names = []
        for cat in CATEGORIES:
            try:
                self.host_for(ping, cat)
            except NotAllowed:
                continue
            names.append(cat.name)
        return names

    def default_ping_category(self) -> str:
        names = self.ping_categories()
        if not names:
            raise CategoryNotAllowed("the token can /ping no host", method="ping")
        return "common" if "common" in names else names[0]

    # --- the methods -------------------------------------------------------------------------------

    def ping(self, category: str | Category) -> Plan[Ping]:
        op = self.operation("ping")
        host = self.host_for(op, category)
        return self._plan(
            op,
            host,
            self._get(host, op.path),
            _json(lambda d: Ping.from_json(d, host.category.name, host.name)),
        )

    def news(
        self, from_: date | datetime | str | None = None, from_id: int | None = None
    ) -> Plan[list[NewsItem]]:
        return self._news(news_params(from_, from_id))

    def _news(self, params: dict[str, str]) -> Plan[list[NewsItem]]:
        op = self.operation("news")
        host = self.host_for(op)
        return self._plan(op, host, self._get(host, op.path, params), _json(parse_news))

    def news_pager(self, from_: date | datetime | str | None = None, from_id: int | None = None) -> NewsPager:
        params = news_params(from_, from_id)
        self.host_for(self.operation("news"))  # refuse before the first page, not inside iteration
        return NewsPager(self, params)

    def seller_info(self) -> Plan[SellerInfo]:
        op = self.operation("seller-info")
        host = self.host_for(op)
        return self._plan(op, host, self._get(host, op.path), _json(SellerInfo.from_json))

    def call(
        self,
        operation: str,
        *,
        path: Mapping[str, PathValue] | None = None,
        params: Params | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Files | None = None,
        headers: Mapping[str, str] | None = None,
        host: str | Category | None = None,
    ) -> Plan[CallResult]:
        """Any operation of the catalog. Everything is checked here, before the plan sends anything."""
        op = self.operation(operation)
        filled = fill_path(op, path)
        where = self.host_for(op, host)
        bodies = [name for name, v in (("json", json), ("content", content)) if v is not None]
        if data is not None or files is not None:
            bodies.append("data/files")
        if len(bodies) > 1:
            raise InvalidCall(f"{op.id}: give one body, not {' and '.join(bodies)}", operation=op.id)
        extra = dict(headers or {})
        if any(k.lower() == "authorization" for k in extra):
            raise InvalidCall(
                f"{op.id}: the token is the client's (its limits are paced for it), not a header",
                operation=op.id,
            )
        request = httpx.Request(
            op.http,
            self.url(where, filled),
            params=params,
            json=json,
            content=content,
            data=data,
            files=files,
            headers={**self.headers, "Accept": _accept(op), **extra},
        )
        request.read()  # the body once, as bytes: every retry sends the same (file objects are read once)
        return self._plan(op, where, request, lambda r: CallResult.of(op.id, r))

    # --- one call: pace, send, interpret, retry ----------------------------------------------------

    def _get(self, host: Host, path: str, params: dict[str, str] | None = None) -> httpx.Request:
        return httpx.Request("GET", self.url(host, path), params=params, headers=self.headers)

    def _wait(self, seconds: float, reason: str, limit: str) -> Wait:
        wait = Wait(seconds, reason, limit)
        if self.on_wait is not None:
            self.on_wait(wait)
        return wait

    def bucket_key(self, op: Operation, host: Host) -> Hashable:
        """The pacer's key of an operation's bucket: the server's, seller + `Limit.bucket` (group or
        operation, token type, and host where the limit counts hosts apart)."""
        return (self.token_info.seller_id, op.limit.bucket(op.id, self.token_info.type.value, host.prefix))

    def rate_for(self, op: Operation) -> Rate | None:
        """This token's rate for an operation (None: not limited for it)."""
        rate = op.limit.rate_for(self.token_info.type.value)
        return None if rate is None else _gcra(rate)

    def _plan(
        self, op: Operation, host: Host, request: httpx.Request, parse: Callable[[httpx.Response], T]
    ) -> Plan[T]:
        limit = op.limit
        rate = self.rate_for(op)
        bucket = op.limit.bucket(op.id, self.token_info.type.value, host.prefix)
        name = bucket.partition(":")[0]  # what the bucket is named after: the group, or the operation
        key = self.bucket_key(op, host)
        url = str(request.url)
        throttle = self.throttle if rate is not None else None
        rate_limited = failures = 0
        while True:
            if throttle is not None and rate is not None:
                delay = throttle.reserve(key, rate, 1, limit=self.retry.max_wait)
                if delay > self.retry.max_wait:
                    raise RateLimited(
                        429,
                        "too many requests",
                        f"limited by {name}: the client's pacer would wait {delay:.0f} s, "
                        f"over max_wait ({self.retry.max_wait:.0f} s); nothing was sent",
                        code="client-throttled",
                        retry_after=delay,
                        limit=rate.burst,
                    )
                if delay > 0:
                    yield self._wait(delay, "throttle", name)
                while (delay := throttle.admit(key, rate)) > 0:
                    yield self._wait(delay, "throttle", name)
            # A fresh request each attempt, with the same bytes.
            attempt = httpx.Request(
                request.method, request.url, headers=request.headers, content=request.content
            )
            sent_at = self.clock()
            outcome: Outcome = None
            try:
                outcome = yield attempt
            finally:
                # Admitted means counted in flight: close it whatever happens, even if abandoned.
                if throttle is not None and rate is not None:
                    if not isinstance(outcome, httpx.Response):
                        throttle.lost(key, rate)
                    elif outcome.status_code == 429:
                        throttle.refused(key, rate, _number(outcome.headers.get("x-ratelimit-retry")))
                    else:
                        # The server's cost rules, on our side too: a 4xx of marketplace-api counts 10.
                        throttle.answered(
                            key,
                            rate,
                            sent_at=sent_at,
                            remaining_after=_int(outcome.headers.get("x-ratelimit-remaining")),
                            cost=limit.cost(outcome.status_code),
                        )
            if not isinstance(outcome, httpx.Response):
                failures += 1
                wait = self.retry.after_failure(op.http, failures)
                if wait is None:
                    # The URL actually contacted: with base_url, not the WB host it stands for.
                    raise ConnectionFailed(
                        f"{op.http} {url}: {type(outcome).__name__}: {outcome}"
                    ) from outcome
                yield self._wait(wait, "retry", op.id)
                continue
            response = outcome
            status = response.status_code
            if status == 429:
                rate_limited += 1
                wait = self.retry.after_rate_limited(
                    _number(response.headers.get("x-ratelimit-retry")), rate_limited
                )
                if wait is None:
                    raise error_from(response)
                yield self._wait(wait, "rate-limited", name)
                continue
            if status >= 300:
                failures += 1
                wait = self.retry.after_failure(op.http, failures, status)
                if wait is None:
                    raise error_from(response)
                yield self._wait(wait, "retry", op.id)
                continue
            try:
                return parse(response)
            except (ValueError, KeyError, TypeError) as exc:
                raise UnexpectedResponse(
                    status,
                    "unexpected response",
                    f"{op.id}: the body is not what the operation returns ({exc})",
                    request_id=response.headers.get("x-request-id"),
                    response=response,
                ) from exc


def _json(parse: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    """A typed method's parser: the body as JSON, then the model's."""
    return lambda response: parse(response.json())


class NewsPager:
    """Pages of news: `fromID` moves past the last item while pages come back full."""

    def __init__(self, core: Core, params: dict[str, str]) -> None:
        self._core = core
        self.params = params
        self.done = False
        self.fetched = 0

    def next_page(self) -> Plan[list[NewsItem]]:
        items = yield from self._core._news(dict(self.params))
        self.fetched += len(items)
        next_id = items[-1].id + 1 if items else 0
        if len(items) < NEWS_PAGE or next_id <= int(self.params.get("fromID", "0")):
            self.done = True  # a short page is the last; a server that does not move on is not followed
        else:
            self.params["fromID"] = str(next_id)
        return items


def news_params(from_: date | datetime | str | None, from_id: int | None) -> dict[str, str]:
    """WB refuses news without `from` or `fromID`; so do we, before sending."""
    if from_ is None and from_id is None:
        raise InvalidCall("news needs from_ (a date) or from_id (a news id), or both")
    params: dict[str, str] = {}
    if from_ is not None:
        params["from"] = as_news_date(from_)
    if from_id is not None:
        if isinstance(from_id, bool) or not isinstance(from_id, int) or from_id < 0:
            raise InvalidCall(f"from_id must be a non-negative integer, not {from_id!r}")
        params["fromID"] = str(from_id)
    return params


def parse_news(data: Any) -> list[NewsItem]:
    items = data["data"]
    if not isinstance(items, list):
        raise TypeError("data: expected a list")
    return [NewsItem.from_json(it) for it in items]


def error_from(response: httpx.Response) -> WBAPIError:
    """The exception for an error response, with WB's error body fields (or what can be salvaged)."""
    status = response.status_code
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if not isinstance(body, dict):
        body = {"detail": response.text[:300].strip()}

    def field(name: str) -> str | None:
        value = body.get(name)
        return None if value is None else str(value)

    common: dict[str, Any] = {
        "code": field("code"),
        "request_id": field("requestId") or response.headers.get("x-request-id"),
        "origin": field("origin"),
        "timestamp": field("timestamp"),
        "response": response,
    }
    title = field("title") or response.reason_phrase.lower() or f"status {status}"
    detail = field("detail") or ""
    cls = error_class(status)
    if cls is RateLimited:
        return RateLimited(
            status,
            title,
            detail,
            retry_after=_number(response.headers.get("x-ratelimit-retry")),
            limit=_int(response.headers.get("x-ratelimit-limit")),
            reset_after=_number(response.headers.get("x-ratelimit-reset")),
            **common,
        )
    return cls(status, title, detail, **common)


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


__all__ = ["Core", "Files", "NewsPager", "Params", "Plan", "Wait", "error_from"]
