"""The request path: host -> route -> auth -> limit -> method -> headers (see `app.Gateway`)."""

from wbseller.gateway.app import Gateway, create_app

__all__ = ["Gateway", "create_app"]
