"""Handlers for the methods the scale-out suite adds (`CONFIG` in conftest.py).

The server imports them by `handler = "tests.scale.plugin:<name>"`: tests/conftest.py puts the
repository on the server's PYTHONPATH.
"""

from __future__ import annotations

from wbseller.errors import Conflict
from wbseller.methods.context import Context, Reply


async def conflict(ctx: Context) -> Reply:
    """A 409, which the scale-conflict limit group charges as 5 requests."""
    raise Conflict("the order is already in another supply", "test-conflict")
