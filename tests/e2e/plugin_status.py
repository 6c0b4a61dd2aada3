"""Handlers for the methods that tests/e2e/test_status.py registers through a config file.

Each one stands for a real method's way of answering: a plain reply, a refusal with a WB error
(409, 422), or a crash the gateway must turn into a WB 500 body.
"""

from __future__ import annotations

from wbseller.errors import Conflict, Unprocessable
from wbseller.methods.context import Context, Reply, json_reply

# Text a crashing handler puts in its exception: it must reach the log, never the response.
CRASH_MARKER = "plugin-status-crash-7f3a: secret internal state"


async def ok(ctx: Context) -> Reply:
    """200 with what the method saw, so a test can tell the request got through."""
    return json_reply({"ok": True, "http": ctx.http, "path": ctx.path, "bodySize": len(ctx.body)})


async def conflict(ctx: Context) -> Reply:
    """409: the request conflicts with the service's state."""
    raise Conflict("the order is already in a supply")


async def unprocessable(ctx: Context) -> Reply:
    """422: the request data contradict each other."""
    raise Unprocessable("dateFrom is after dateTo")


async def crash(ctx: Context) -> Reply:
    """A bug in a method: a plain exception, not a WB error."""
    raise RuntimeError(CRASH_MARKER)
