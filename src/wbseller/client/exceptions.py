"""Every exception the client raises, and its one warning.

`WBClientError` is the root. Refused before sending: `TokenError`, `InvalidCall` (and `UnknownOperation`),
`NotAllowed` and its subclasses, and `RateLimited` with code `client-throttled`; the server refused:
`WBAPIError` and its subclasses, one per status, with WB's error body; the network failed:
`ConnectionFailed`. The whole tree, and when each is raised, is documented in one place: docs/client.md,
"Exceptions" (a test keeps them in step).
"""

from __future__ import annotations

from typing import Any

import httpx


class WBClientError(Exception):
    """The root of everything the client raises."""


class TokenError(WBClientError, ValueError):
    """No token was given, or it is not a WB token. The message says why and never quotes the token."""


class InvalidCall(WBClientError, ValueError):
    """The call cannot be made as written (a path parameter missing, a host the operation is not on, ...);
    nothing was sent. Also a ValueError. `operation`: the operation's id, where one was found."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation


class UnknownOperation(InvalidCall):
    """No operation of the catalog has this id. `matches`: the closest ids, best first."""

    def __init__(self, message: str, *, name: str, matches: tuple[str, ...]) -> None:
        super().__init__(message)
        self.name = name
        self.matches = matches


class NotAllowed(WBClientError):
    """The token cannot make this call; nothing was sent."""

    def __init__(self, message: str, *, method: str, host: str | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.host = host


class CategoryNotAllowed(NotAllowed):
    """The token does not carry the category of the host (or, for a test token, the host has no sandbox)."""


class TokenTypeNotAllowed(NotAllowed):
    """The method does not accept this token type."""


class ReadOnlyNotAllowed(NotAllowed):
    """A read-only token cannot call a write method."""


class ConnectionFailed(WBClientError):
    """The request could not be completed over the network; `__cause__` is the httpx error."""


class WBAPIError(WBClientError):
    """The server refused the request. The fields are WB's error body (`requestId` -> `request_id`)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        origin: str | None = None,
        timestamp: str | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.request_id = request_id
        self.origin = origin
        self.timestamp = timestamp
        self.response = response

    def to_dict(self) -> dict[str, Any]:
        """The WB error body's fields, as WB names them (for logs and `--json`)."""
        return {
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            "code": self.code,
            "requestId": self.request_id,
            "origin": self.origin,
            "timestamp": self.timestamp,
        }


class BadRequest(WBAPIError):
    """400: a bad or missing parameter, invalid JSON."""


class Unauthorized(WBAPIError):
    """401: the token is missing, invalid, expired, revoked, or not for this host."""


class Forbidden(WBAPIError):
    """403: the method is blocked, needs a subscription, or does not take this token type."""


class NotFound(WBAPIError):
    """404: no such path."""


class Conflict(WBAPIError):
    """409: the request conflicts with the service's state."""


class PayloadTooLarge(WBAPIError):
    """413: the request body is over the method's limit."""


class Unprocessable(WBAPIError):
    """422: the request data contradict each other."""


class RateLimited(WBAPIError):
    """429: over the limit. `retry_after`: seconds until a request would pass (X-Ratelimit-Retry)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        retry_after: float | None = None,
        limit: int | None = None,
        reset_after: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(status, title, detail, **kw)
        self.retry_after = retry_after
        self.limit = limit
        self.reset_after = reset_after

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retryAfter": self.retry_after}


class ServerError(WBAPIError):
    """5xx: the service failed."""


class ServiceUnavailable(ServerError):
    """503: a backing service is unavailable."""


class UnexpectedResponse(WBAPIError):
    """A success status, but the body is not what the method returns."""


class TokenExpiringWarning(UserWarning):
    """The client's token expires soon (or has expired): make a new one in the seller's account."""


_BY_STATUS: dict[int, type[WBAPIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_class(status: int) -> type[WBAPIError]:
    """The exception class for an error status."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else WBAPIError


__all__ = [
    "BadRequest",
    "CategoryNotAllowed",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "InvalidCall",
    "NotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ReadOnlyNotAllowed",
    "ServerError",
    "ServiceUnavailable",
    "TokenError",
    "TokenExpiringWarning",
    "TokenTypeNotAllowed",
    "Unauthorized",
    "UnexpectedResponse",
    "UnknownOperation",
    "Unprocessable",
    "WBAPIError",
    "WBClientError",
    "error_class",
]
