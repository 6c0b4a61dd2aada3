"""Pages beside the API on a bare address: our OpenAPI document, Swagger UI (served locally, no CDN),
/metrics, /ready, and under /_wbseller/ the control API (gateway/control.py: with the test clock on, the
endpoint that moves time; with --control, all of it)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from wbseller.errors import (
    PROBLEM_JSON,
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    WBError,
    render_error,
)
from wbseller.gateway.control import control_routes
from wbseller.gateway.metrics import render as render_metrics
from wbseller.methods.openapi import Documents

if TYPE_CHECKING:
    from wbseller.gateway.asgi import ASGIApp
    from wbseller.gateway.parts import Services

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>wbseller — the WB seller API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/static/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      urls: %(urls)s,
      "urls.primaryName": %(primary)s,
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
      persistAuthorization: true,
    });
  </script>
</body>
</html>
"""

_BY_STATUS: dict[int, type[WBError]] = {400: BadRequest, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed}

PATHS = ("/openapi.json", "/openapi/", "/docs", "/metrics", "/ready", "/_wbseller/")


def build_extras(gw: Services) -> tuple[ASGIApp, tuple[str, ...]]:
    # Each document is built on its first request (0.2 s for all), not at start.
    documents = Documents(gw.table)
    urls = documents.urls()
    page = SWAGGER_PAGE % {"urls": json.dumps(urls), "primary": json.dumps(urls[0]["name"])}

    async def openapi(_: Request) -> Response:
        return Response(await documents.json_async(None), media_type="application/json")

    async def openapi_section(request: Request) -> Response:
        try:
            data = await documents.json_async(request.path_params["section"])
        except KeyError:
            raise HTTPException(404) from None
        return Response(data, media_type="application/json")

    async def docs(_: Request) -> Response:
        return HTMLResponse(page)

    async def metrics(_: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST  # at the first scrape, not at every start

        return Response(render_metrics(gw), media_type=CONTENT_TYPE_LATEST)

    async def ready(_: Request) -> Response:
        """Ready when storage answers; a limiter falling back to in-process is reported, not fatal."""
        checks: dict[str, str] = {}
        try:
            await gw.storage.ping()
            checks["storage"] = "ok"
        except WBError:
            checks["storage"] = "unavailable"
        checks["limiter"] = await gw.limiter.health()
        ok = all(v in ("ok", "fallback") for v in checks.values())
        return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

    routes = [
        Route("/openapi.json", openapi),
        Route("/openapi/{section}.json", openapi_section),
        Route("/metrics", metrics),
        Route("/ready", ready),
        Route("/docs", docs),
        Mount("/docs/static", StaticFiles(directory=str(swagger_ui_path))),
    ]
    routes += control_routes(gw)  # /_wbseller/: the clock under --test-clock, everything under --control

    async def http_error(request: Request, exc: Exception) -> Response:
        # Pages beside the API refuse with the same WB error body as the API.
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        kind = _BY_STATUS.get(status, WBError)
        err = NotFound() if kind is NotFound else kind(str(getattr(exc, "detail", "")) or "request refused")
        request_id = os.urandom(16).hex()
        body = render_error(err, request_id, "wbseller-extras", gw.clock.now())
        return Response(
            body,
            status_code=err.status,
            media_type=PROBLEM_JSON.decode(),
            headers={"x-request-id": request_id},
        )

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error}), PATHS
