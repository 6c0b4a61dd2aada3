"""The request path: host -> route -> auth -> limit -> method -> headers (see `app.Gateway`). The whole
server, with the pages beside the API plugged in, is `wbseller.server.create_app`."""

from wbseller.gateway.app import Gateway

__all__ = ["Gateway"]
