"""A key added by another process signs a token that the running server accepts on its first use, before
the key-added event arrives: the token check reloads the key ring and checks against the new one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from wbseller.accounts import Accounts
from wbseller.clock import SystemClock
from wbseller.config import Settings
from wbseller.gateway.app import Gateway
from wbseller.storage import Storage, sqlite_url
from wbseller.tokens import TokenType

SCOPE = (1 << 12) | (1 << 13)  # documents, finance


async def _ping(gw: Gateway, token: str, host: str) -> tuple[int, bytes]:
    out: list[MutableMapping[str, Any]] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/ping",
        "query_string": b"",
        "headers": [(b"host", host.encode()), (b"authorization", token.encode())],
        "client": ("127.0.0.1", 1),
    }

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        out.append(message)

    await gw(scope, receive, send)
    return int(out[0]["status"]), bytes(out[1]["body"])


async def _scenario(data_dir: Path) -> list[int]:
    gw = Gateway(Settings(data_dir=data_dir, event_poll=60.0))  # no event arrives during the test
    await gw.startup()
    try:
        seller, _ = await gw.storage.create_seller("x", tin="7700000001", trade_mark="t", now=time.time())
        first = (await gw.accounts.issue_token(seller.sid, TokenType.BASE, scope=SCOPE)).token
        statuses = [(await _ping(gw, first, "finance-api.localhost"))[0]]
        other = Accounts(Storage(sqlite_url(data_dir)), SystemClock())  # another process: the CLI
        await other.load_keys(create=False)
        await other.add_key()
        second = (await other.issue_token(seller.sid, TokenType.BASE, scope=SCOPE)).token
        await other.storage.close()
        statuses.append((await _ping(gw, second, "documents-api.localhost"))[0])
        statuses.append((await _ping(gw, first, "documents-api.localhost"))[0])
        return statuses
    finally:
        await gw.shutdown()


def test_a_new_key_works_before_its_event(tmp_path: Path) -> None:
    assert asyncio.run(_scenario(tmp_path)) == [200, 200, 200]
