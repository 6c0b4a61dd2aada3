"""The asynchronous driver: runs the core's plans with httpx.AsyncClient and asyncio.sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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


class AsyncClient:
    """The WB seller API, asynchronous: the same arguments and methods as `Client`, awaited.

    Concurrent calls are safe and paced together: each books its slot in the limit group first."""

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        config: str | Path | None = None,
        catalog: Catalog | None = None,
        retry: RetryPolicy | None = None,
        throttle: Throttle | bool = True,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)

    @property
    def token_info(self) -> TokenInfo:
        return self._core.token_info

    @property
    def categories(self) -> list[str]:
        return self._core.ping_categories()

    async def ping(self, category: str | Category) -> Ping:
        return await self._run(self._core.ping(category))

    async def ping_all(self) -> dict[str, Ping | WBClientError]:
        """/ping every category the token has, concurrently; each result, or the error it raised."""
        names = self._core.ping_categories()

        async def one(name: str) -> Ping | WBClientError:
            try:
                return await self.ping(name)
            except WBClientError as exc:
                return exc

        return dict(zip(names, await asyncio.gather(*(one(n) for n in names)), strict=True))

    async def news(
        self, *, from_: date | datetime | str | None = None, from_id: int | None = None
    ) -> list[NewsItem]:
        return await self._run(self._core.news(from_, from_id))

    def iter_news(
        self, *, from_: date | datetime | str | None = None, from_id: int | None = None
    ) -> AsyncIterator[NewsItem]:
        """`async for item in client.iter_news(...)`: all news, page after page."""
        return self._pages(self._core.news_pager(from_, from_id))

    async def seller_info(self) -> SellerInfo:
        return await self._run(self._core.seller_info())

    async def call(
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
        """`Client.call`, awaited; concurrent calls of one bucket queue one interval apart."""
        return await self._run(
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
        return self._core.operation(name)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _pages(self, pager: NewsPager) -> AsyncIterator[NewsItem]:
        while not pager.done:
            for item in await self._run(pager.next_page()):
                yield item

    async def _run(self, plan: Plan[T]) -> T:
        try:
            step = next(plan)
            while True:
                if isinstance(step, Wait):
                    await self._sleep(step.seconds)
                    step = plan.send(None)
                    continue
                try:
                    response = await self._http.send(step)
                except httpx.TransportError as exc:
                    step = plan.send(exc)
                else:
                    step = plan.send(response)
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            plan.close()  # an abandoned call (an error, a cancelled task) releases its slot


__all__ = ["AsyncClient"]
