"""Handlers for methods that tests/e2e/test_limits.py registers through a deployment config.

The server imports them by `handler = "tests.e2e.plugin_limits:<name>"`: conftest puts the repository
on the server's PYTHONPATH.
"""

from __future__ import annotations

from wbseller.errors import Conflict
from wbseller.methods.context import Context, Reply, json_reply


async def ok(ctx: Context) -> Reply:
    return json_reply({"ok": True})


async def conflict(ctx: Context) -> Reply:
    """A 409 raised, as a method refusing on the service's state does."""
    raise Conflict("the order is already in another supply", "test-conflict")


async def conflict_reply(ctx: Context) -> Reply:
    """A 409 returned as a plain reply: costs the same."""
    return json_reply({"error": "conflict"}, 409)
