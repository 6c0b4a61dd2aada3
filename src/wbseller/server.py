"""The whole server, composed: the parts the settings name (storage, limiter, accounts, backends), the
gateway on them, and the pages beside the API plugged into it (extras: OpenAPI, Swagger UI, /metrics,
/ready, the test clock; the seller's account pages).

The one module that knows them all: the gateway, the pages and the metrics import none of each other's
builders, and nothing imports this module but the CLI (and uvicorn, for `serve --workers N`:
`wbseller.server:create_app`).
"""

from __future__ import annotations

from wbseller.backends import Backend
from wbseller.clock import Clock
from wbseller.config import Settings
from wbseller.gateway.app import Gateway
from wbseller.gateway.asgi import ASGIApp
from wbseller.gateway.extras import build_extras
from wbseller.gateway.parts import open_parts
from wbseller.methods.table import Table


def create_app(
    settings: Settings | None = None,
    *,
    table: Table | None = None,
    clock: Clock | None = None,
    backends: tuple[type[Backend], ...] | None = None,
) -> Gateway:
    """The server's ASGI app. Settings default to the environment's (a uvicorn worker's); `backends`, to
    the installed ones (`wbseller.backends.INSTALLED`)."""
    settings = settings or Settings.from_env()
    gw = Gateway(settings, table, parts=open_parts(settings, clock, backends))
    # Built in the process that serves (a worker): the extras at start-up, the pages on first request.
    gw.plug(extras=lambda: build_extras(gw), portal=lambda: _portal(gw))
    return gw


def _portal(gw: Gateway) -> ASGIApp:
    from wbseller.portal.app import build_portal  # imported when first served: ~0.2 s of every start

    return build_portal(gw)


__all__ = ["create_app"]
