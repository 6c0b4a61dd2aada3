"""Pages beside the API on a bare address: our OpenAPI document, Swagger UI (served locally, no CDN),
and, with the test clock on, the endpoint that moves time."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from wbseller.clock import OffsetClock
from wbseller.methods.openapi import build_document

if TYPE_CHECKING:
    from wbseller.gateway.app import ASGIApp, Gateway

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>wbseller — WB API, General section</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
  </script>
</body>
</html>
"""

PATHS = ("/openapi.json", "/docs", "/_wbseller/")


def build_extras(gw: Gateway) -> tuple[ASGIApp, tuple[str, ...]]:
    document = json.dumps(build_document(gw.table, local=True), ensure_ascii=False).encode()

    async def openapi(_: Request) -> Response:
        return Response(document, media_type="application/json")

    async def docs(_: Request) -> Response:
        return HTMLResponse(SWAGGER_PAGE)

    async def clock(request: Request) -> Response:
        if not isinstance(gw.clock, OffsetClock):
            return JSONResponse({"detail": "the test clock is off"}, status_code=404)
        data: Any = await request.json()
        gw.clock.advance(float(data.get("advance", 0)))
        return JSONResponse({"now": gw.clock.now(), "offset": gw.clock.offset})

    routes = [
        Route("/openapi.json", openapi),
        Route("/docs", docs),
        Mount("/docs/static", StaticFiles(directory=str(swagger_ui_path))),
    ]
    if gw.settings.test_clock:
        routes.append(Route("/_wbseller/clock", clock, methods=["POST"]))
    return Starlette(routes=routes), PATHS
