"""The pytest plugin (registered by wbseller's `pytest11` entry point): fixtures only, none autouse.

    def test_orders(wb_server, wb_token):
        wb_server.faults.add("GET /api/v3/orders/new", status=429, times=3)
        ...

`wb_server`: one `WBServer` for the whole session (started on first use), reset before each test that
asks for it. `wb_token`: a personal token of all categories of its demo seller. Override the fixture
`wb_server_options` (a dict of WBServer's keyword arguments) to start it otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from wbseller.testing import WBServer


@pytest.fixture(scope="session")
def wb_server_options() -> dict[str, Any]:
    """WBServer's keyword arguments (env, config, args, ...); override it in a conftest.py."""
    return {}


@pytest.fixture(scope="session")
def _wb_server_session(wb_server_options: dict[str, Any]) -> Iterator[WBServer]:
    with WBServer(**wb_server_options) as server:
        yield server


@pytest.fixture
def wb_server(_wb_server_session: WBServer) -> WBServer:
    """The session's server, reset: the demo seller alone, buckets full, no faults, an empty journal."""
    _wb_server_session.reset()
    return _wb_server_session


@pytest.fixture
def wb_token(wb_server: WBServer) -> str:
    """A personal token of all categories of the demo seller."""
    return wb_server.token("personal", categories="all")
