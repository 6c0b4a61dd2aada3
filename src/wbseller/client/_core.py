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
from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

import wbseller
from wbseller.categories import BY_NAME, CATEGORIES, Category, Host
from wbseller.client._retry import RetryPolicy
from wbseller.client._throttle import Clock, Throttle
from wbseller.client._token import EXPIRY_WARNING_DAYS, decode_token
from wbseller.client.exceptions import (
    CategoryNotAllowed,
    ConnectionFailed,
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
from wbseller.client.models import NewsItem, Ping, SellerInfo, TokenInfo, as_news_date
from wbseller.methods.table import ALL, Method, Table, load_table
from wbseller.ratelimit.gcra import Rate
from wbseller.tokens import strip_scheme

T = TypeVar("T")

TOKEN_ENV = "WB_API_TOKEN"  # noqa: S105 -- the variable's name, not a token
NEWS_PAGE = 100  # WB returns at most 100 news a call
USER_AGENT = f"wbseller-client/{wbseller.__version__}"


@dataclass(frozen=True, slots=True)
class Wait:
    """Sleep before going on. `reason`: throttle (our pacer), rate-limited (a 429), retry (backoff)."""

    seconds: float
    reason: str
    limit: str  # the limit group (throttle, rate-limited) or the method (retry)


Step = httpx.Request | Wait
Outcome = httpx.Response | httpx.TransportError | None
Plan = Generator[Step, Outcome, T]
WaitHook = Callable[[Wait], None]


@functools.cache
def _builtin_table() -> Table:
    return load_table(handlers=False)


def category_named(name: str | Category) -> Category:
    if isinstance(name, Category):
        return name
    cat = BY_NAME.get(name)
    if cat is None:
        raise ValueError(f"unknown category {name!r}; expected one of: {', '.join(BY_NAME)}")
    return cat


class Core:
    """What a client knows (token, table, hosts, policies) and how a call goes, without I/O."""

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        config: str | Path | None = None,
        table: Table | None = None,
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
        # One source of limits: the server's own table (plus the same config file, if given).
        self.table = table or (load_table(Path(config), handlers=False) if config else _builtin_table())
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.throttle: Throttle | None = (
            throttle if isinstance(throttle, Throttle) else Throttle(clock) if throttle else None
        )
        self.on_wait = on_wait
        self.headers = {"Authorization": self.token, "User-Agent": user_agent, "Accept": "application/json"}

    # --- where a call goes, and whether this token may make it ---------------------------------

    def host_for(self, method: Method, category: str | Category | None = None) -> Host:
        """The host a method is called on; NotAllowed (nothing sent) if this token cannot call it there."""
        if method.category == ALL:
            if category is None:
                raise ValueError(f"method {method.id} is on every host: name a category")
            cat = category_named(category)
        else:
            cat = BY_NAME[method.category]
            if category is not None and category_named(category) is not cat:
                raise ValueError(f"method {method.id} is only on {cat.name}")
        info = self.token_info
        if info.type not in method.token_types:
            raise TokenTypeNotAllowed(
                f"{method.id} does not accept a {info.type.value} token", method=method.id
            )
        if info.read_only and not method.read_only:
            raise ReadOnlyNotAllowed(f"{method.id} writes; the token is read-only", method=method.id)
        if cat.bit is not None and cat.name not in info.categories:
            raise CategoryNotAllowed(
                f"the token has no {cat.name} category ({cat.title}); it has: "
                f"{', '.join(info.categories) or 'none'}",
                method=method.id,
                host=cat.host,
            )
        if info.sandbox:
            if not cat.sandbox:
                raise CategoryNotAllowed(
                    f"a test token works only on sandbox hosts, and {cat.name} ({cat.host}) has none",
                    method=method.id,
                    host=cat.host,
                )
            return Host(cat, True)
        return Host(cat, False)

    def url(self, host: Host, path: str) -> str:
        if self.base_url is not None:
            return f"{self.base_url}/{host.prefix}{path}"  # a wbseller server routes by path prefix
        return f"https://{host.name}{path}"

    def ping_categories(self) -> list[str]:
        """Every category this token can /ping: its own, and common-api unless it is a test token."""
        ping = self.table.by_id("ping")
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
        method = self.table.by_id("ping")
        host = self.host_for(method, category)
        return self._plan(method, host, None, lambda d: Ping.from_json(d, host.category.name, host.name))

    def news(
        self, from_: date | datetime | str | None = None, from_id: int | None = None
    ) -> Plan[list[NewsItem]]:
        return self._news(news_params(from_, from_id))

    def _news(self, params: dict[str, str]) -> Plan[list[NewsItem]]:
        method = self.table.by_id("news")
        return self._plan(method, self.host_for(method), params, parse_news)

    def news_pager(self, from_: date | datetime | str | None = None, from_id: int | None = None) -> NewsPager:
        params = news_params(from_, from_id)
        self.host_for(self.table.by_id("news"))  # refuse before the first page, not inside iteration
        return NewsPager(self, params)

    def seller_info(self) -> Plan[SellerInfo]:
        method = self.table.by_id("seller-info")
        return self._plan(method, self.host_for(method), None, SellerInfo.from_json)

    # --- one call: pace, send, interpret, retry ----------------------------------------------------

    def _wait(self, seconds: float, reason: str, limit: str) -> Wait:
        wait = Wait(seconds, reason, limit)
        if self.on_wait is not None:
            self.on_wait(wait)
        return wait

    def _plan(
        self, method: Method, host: Host, params: dict[str, str] | None, parse: Callable[[Any], T]
    ) -> Plan[T]:
        group = method.limit
        rate: Rate | None = group.rate_for(self.token_info.type)
        # One client is one token is one seller: the server's bucket key without the seller and type.
        key: Hashable = (group.id, host.prefix if group.per_host else None)
        url = self.url(host, method.path)
        throttle = self.throttle if rate is not None else None
        rate_limited = failures = 0
        while True:
            if throttle is not None and rate is not None:
                delay = throttle.reserve(key, rate, 1, limit=self.retry.max_wait)
                if delay > self.retry.max_wait:
                    raise RateLimited(
                        429,
                        "too many requests",
                        f"limited by {group.id}: the client's pacer would wait {delay:.0f} s, "
                        f"over max_wait ({self.retry.max_wait:.0f} s); nothing was sent",
                        code="client-throttled",
                        retry_after=delay,
                        limit=rate.burst,
                    )
                if delay > 0:
                    yield self._wait(delay, "throttle", group.id)
                while (delay := throttle.admit(key, rate)) > 0:
                    yield self._wait(delay, "throttle", group.id)
            request = httpx.Request(method.http, url, params=params, headers=self.headers)
            sent_at = self.clock()
            outcome: Outcome = None
            try:
                outcome = yield request
            finally:
                # Admitted means counted in flight: close it whatever happens, even if abandoned.
                if throttle is not None and rate is not None:
                    if not isinstance(outcome, httpx.Response):
                        throttle.lost(key, rate)
                    elif outcome.status_code == 429:
                        throttle.refused(key, rate, _number(outcome.headers.get("x-ratelimit-retry")))
                    else:
                        throttle.answered(
                            key,
                            rate,
                            sent_at=sent_at,
                            remaining_after=_int(outcome.headers.get("x-ratelimit-remaining")),
                            cost=group.costs.get(outcome.status_code, 1),
                        )
            if not isinstance(outcome, httpx.Response):
                failures += 1
                wait = self.retry.after_failure(method.http, failures)
                if wait is None:
                    # The URL actually contacted: with base_url, not the WB host it stands for.
                    raise ConnectionFailed(
                        f"{method.http} {url}: {type(outcome).__name__}: {outcome}"
                    ) from outcome
                yield self._wait(wait, "retry", method.id)
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
                yield self._wait(wait, "rate-limited", group.id)
                continue
            if status >= 300:
                failures += 1
                wait = self.retry.after_failure(method.http, failures, status)
                if wait is None:
                    raise error_from(response)
                yield self._wait(wait, "retry", method.id)
                continue
            try:
                return parse(response.json())
            except (ValueError, KeyError, TypeError) as exc:
                raise UnexpectedResponse(
                    status,
                    "unexpected response",
                    f"{method.id}: the body is not what the method returns ({exc})",
                    request_id=response.headers.get("x-request-id"),
                    response=response,
                ) from exc


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
        raise ValueError("news needs from_ (a date) or from_id (a news id), or both")
    params: dict[str, str] = {}
    if from_ is not None:
        params["from"] = as_news_date(from_)
    if from_id is not None:
        if isinstance(from_id, bool) or not isinstance(from_id, int) or from_id < 0:
            raise ValueError(f"from_id must be a non-negative integer, not {from_id!r}")
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


__all__ = ["Core", "NewsPager", "Plan", "Wait", "error_from"]
