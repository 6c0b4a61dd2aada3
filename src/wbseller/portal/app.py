"""The account pages' ASGI app (placeholder until the portal is built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from wbseller.gateway.app import ASGIApp, Gateway


def build_portal(gw: Gateway) -> ASGIApp:
    async def home(_: Request) -> Response:
        return HTMLResponse("<!doctype html><title>wbseller</title><h1>Seller account</h1>")

    return Starlette(routes=[Route("/", home)])
