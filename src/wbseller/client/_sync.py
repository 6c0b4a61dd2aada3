"""The synchronous driver: runs the core's plans with httpx.Client and time.sleep."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx

from wbseller.catalog import Catalog, Operation
from wbseller.categories import Category
from wbseller.client._core import Core, Files, NewsPager, Params, Plan, Wait, WaitHook
from wbseller.client._ops import PathValue
from wbseller.client._retry import RetryPolicy
from wbseller.client._throttle import Clock, Throttle
from wbseller.client.exceptions import WBClientError
from wbseller.client.models import CallResult, NewsItem, Ping, SellerInfo, TokenInfo

T = TypeVar("T")


class Client:
    """The WB seller API, synchronous. See docs/client.md; every argument but `token` is optional.

    token      the API token; default: $WB_API_TOKEN
    base_url   send every category to one wbseller server (`{base_url}/{host prefix}/...`)
    transport  an httpx transport (tests, proxies)
    config     a TOML file whose [limits.*] change the catalog's: the same one the server was given
    catalog    the operations (default: the checked-in `wbseller.catalog.load()`)
    retry      a RetryPolicy; throttle=False turns the client-side pacer off
    clock, sleep   injectable time (tests): a monotonic clock and the sleep that goes with it
    on_wait    called with a Wait before every pause (pacing, 429, backoff)
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        config: str | Path | None = None,
        catalog: Catalog | None = None,
        retry: RetryPolicy | None = None,
        throttle: Throttle | bool = True,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: WaitHook | None = None,
    ) -> None:
        self._core = Core(
            token,
            base_url=base_url,
            config=config,
            catalog=catalog,
            retry=retry,
            throttle=throttle,
            clock=clock,
            on_wait=on_wait,
        )
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, timeout=timeout)

    # --- what the token allows ---

    @property
    def token_info(self) -> TokenInfo:
        return self._core.token_info

    @property
    def categories(self) -> list[str]:
        """The categories whose hosts this token can call (common included unless it is a test token)."""
        return self._core.ping_categories()

    # --- the General section ---

    def ping(self, category: str | Category) -> Ping:
        """Check that a category's host answers and takes this token."""
        return self._run(self._core.ping(category))

    def ping_all(self) -> dict[str, Ping | WBClientError]:
        """/ping every category the token has, one after another; each result, or the error it raised."""
        results: dict[str, Ping | WBClientError] = {}
        for name in self._core.ping_categories():
            try:
                results[name] = self.ping(name)
            except WBClientError as exc:
                results[name] = exc
        return results

    def news(
        self, *, from_: date | datetime | str | None = None, from_id: int | None = None
    ) -> list[NewsItem]:
        """One page (at most 100) of seller-portal news from a date and/or a news id."""
        return self._run(self._core.news(from_, from_id))

    def iter_news(
        self, *, from_: date | datetime | str | None = None, from_id: int | None = None
    ) -> Iterator[NewsItem]:
        """All news from a date and/or id, page after page (paced by the news limit)."""
        return self._pages(self._core.news_pager(from_, from_id))

    def seller_info(self) -> SellerInfo:
        return self._run(self._core.seller_info())

    # --- every operation of the catalog ---

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
    ) -> CallResult:
        """Call any operation of the catalog by its id (docs/client.md, "Any operation: call").

        path      the path template's values: call("get-api-v3-supplies-supply-id", path={"supplyId": "WB-1"})
        params    the query; json, content, or data/files: the body (one of them)
        headers   more headers (not Authorization: the token is the client's)
        host      for an operation on every host (/ping): a category or a host prefix

        Paced by the operation's own limit (its group's bucket, cost rules included), retried and refused
        like the other methods. A 2xx is returned; any other status raises its WBAPIError."""
        return self._run(
            self._core.call(
                operation,
                path=path,
                params=params,
                json=json,
                content=content,
                data=data,
                files=files,
                headers=headers,
                host=host,
            )
        )

    def operation(self, name: str) -> Operation:
        """The catalog's entry for an operation (path, parameters, limit), as this client paces it."""
        return self._core.operation(name)

    # --- lifecycle ---

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the driver ---

    def _pages(self, pager: NewsPager) -> Iterator[NewsItem]:
        while not pager.done:
            yield from self._run(pager.next_page())

    def _run(self, plan: Plan[T]) -> T:
        try:
            step = next(plan)
            while True:
                if isinstance(step, Wait):
                    self._sleep(step.seconds)
                    step = plan.send(None)
                    continue
                try:
                    response = self._http.send(step)
                except httpx.TransportError as exc:
                    step = plan.send(exc)
                else:
                    step = plan.send(response)
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            plan.close()  # an abandoned call (an error, a cancelled task) releases its slot


__all__ = ["Client"]
