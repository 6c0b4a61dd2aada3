"""The WB error body and the exceptions that map to it.

Every refusal the server makes is one of these exceptions, rendered by `render()` as WB's
`application/problem+json` body. `code` is a short stable name of the cause (clients branch on it).
"""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

PROBLEM_JSON = b"application/problem+json"
NOT_FOUND_DETAIL = "Please consult the https://dev.wildberries.ru/openapi/api-information"


class WBError(Exception):
    """A refusal with a WB error body. Subclasses fix the status and title."""

    status = 500
    title = "internal server error"
    default_code = "internal-error"

    def __init__(
        self,
        detail: str,
        code: str | None = None,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        origin: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.headers = headers or []
        self.origin = origin


class BadRequest(WBError):
    status = 400
    title = "bad request"
    default_code = "bad-request"


class Unauthorized(WBError):
    status = 401
    title = "unauthorized"
    default_code = "unauthorized"


class Forbidden(WBError):
    status = 403
    title = "forbidden"
    default_code = "forbidden"


class NotFound(WBError):
    status = 404
    title = "path not found"
    default_code = "path-not-found"

    def __init__(self, detail: str = NOT_FOUND_DETAIL, code: str | None = None) -> None:
        super().__init__(detail, code)


class MethodNotAllowed(WBError):
    status = 405
    title = "method not allowed"
    default_code = "method-not-allowed"


class Conflict(WBError):
    status = 409
    title = "conflict"
    default_code = "conflict"


class PayloadTooLarge(WBError):
    status = 413
    title = "request entity too large"
    default_code = "body-too-large"


class Unprocessable(WBError):
    status = 422
    title = "unprocessable entity"
    default_code = "unprocessable"


class TooManyRequests(WBError):
    status = 429
    title = "too many requests"
    default_code = "rate-limited"


class InternalError(WBError):
    status = 500
    title = "internal server error"
    default_code = "internal-error"


class ServiceUnavailable(WBError):
    status = 503
    title = "service unavailable"
    default_code = "backend-unavailable"


def render(
    status: int,
    title: str,
    detail: str,
    code: str,
    request_id: str,
    origin: str,
    now: float | None = None,
) -> bytes:
    """The WB error body, as bytes: every field but the request id and the time is rendered once."""
    head, mid = _template(status, title, detail, code, origin)
    return b"".join((head, request_id.encode(), mid, _timestamp(now), b'"}'))


def render_error(err: WBError, request_id: str, origin: str, now: float | None = None) -> bytes:
    return render(err.status, err.title, err.detail, err.code, request_id, err.origin or origin, now)


@functools.lru_cache(maxsize=4096)
def _template(status: int, title: str, detail: str, code: str, origin: str) -> tuple[bytes, bytes]:
    """The body around the request id and the timestamp; bounded, as details are few."""
    body = {
        "title": title,
        "detail": detail,
        "code": code,
        "requestId": "\x00",
        "origin": origin,
        "status": status,
        "statusText": HTTPStatus(status).phrase,
        "timestamp": "\x01",
    }
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    head, _, rest = text.partition(b"\\u0000")
    mid, _, _ = rest.partition(b"\\u0001")
    return head, mid


_stamp: list[Any] = [None, b""]  # the second last spelled, and its spelling


def _timestamp(now: float | None) -> bytes:
    second = int(now if now is not None else time.time())
    if _stamp[0] != second:
        _stamp[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        _stamp[0] = second
    stamp: bytes = _stamp[1]
    return stamp
