"""Reference (c): the same body from a plain Starlette endpoint, i.e. what a framework costs per request."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"TS": "2024-08-16T11:19:05+03:00", "Status": "OK"})


app = Starlette(routes=[Route("/ping", ping)])
