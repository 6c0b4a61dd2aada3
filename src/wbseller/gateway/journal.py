"""What the server answered, kept in memory: the error responses (always), and with the control API on
every request (the test kit's journal).

Errors are appended as plain tuples on the refusal paths (no formatting, no dict): the 401/404/429 rows
of the benchmark pay one `deque.append`. They are turned into `ErrorEntry` only when looked up (the
account pages' support requests ask by request id). Neither part ever holds a token: a token's id, the
seller's id, never the Authorization header.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

ERRORS_KEPT = 10_000
REQUESTS_KEPT = 1_000
BODY_KEPT = 4_096  # bytes of a write's body kept in the journal of requests


class ErrorEntry(NamedTuple):
    """One error response: when, where, which operation, what was answered, for whom."""

    at: float  # epoch seconds on the server's clock
    host: str | None  # the WB host's prefix (`marketplace-api`); None when no host was resolved
    operation: str | None  # the catalog's operation id; None before the path was routed
    status: int
    code: str  # the error body's `code`
    detail: str
    sid: str | None  # the seller, when a token was read
    token_id: str | None  # the token's `id` claim (never the token)
    request_id: str

    def as_json(self) -> dict[str, Any]:
        return self._asdict()


class RequestEntry(NamedTuple):
    """One request, as the control API's journal shows it."""

    at: float
    verb: str
    path: str
    query: str
    host: str | None
    operation: str | None
    status: int
    sid: str | None
    token_id: str | None
    request_id: str | None  # errors only (a success carries no request id)
    body: str | None  # a write's body, cut to BODY_KEPT bytes (decoded leniently)
    body_size: int

    def as_json(self) -> dict[str, Any]:
        return self._asdict()


class Journal:
    """The bounded record of errors (always on) and of requests (`recording`: the control API's)."""

    def __init__(self, prefix: str = "", errors: int = ERRORS_KEPT, requests: int = REQUESTS_KEPT) -> None:
        self.prefix = prefix  # the process's request-id prefix: a row keeps the request's number alone
        self._errors: deque[tuple[Any, ...]] = deque(maxlen=errors)
        # The refusal paths' one call: ErrorEntry's fields as a tuple, the request's number last.
        self.add_error = self._errors.append
        self._requests: deque[RequestEntry] = deque(maxlen=requests)
        self.recording = False

    # --- errors --------------------------------------------------------------------------------

    def error(self, request_id: str) -> ErrorEntry | None:
        """The error answered with this request id, if still kept (the newest 10,000 are)."""
        prefix, rest = request_id[: len(self.prefix)], request_id[len(self.prefix) :]
        if prefix != self.prefix or not rest:
            return None
        try:
            number = int(rest, 16)
        except ValueError:
            return None
        for row in reversed(self._errors):
            if row[8] == number:
                return self._entry(row)
        return None

    def errors(self, limit: int = 100) -> list[ErrorEntry]:
        """The newest errors first."""
        out: list[ErrorEntry] = []
        for row in reversed(self._errors):
            if len(out) >= limit:
                break
            out.append(self._entry(row))
        return out

    def _entry(self, row: tuple[Any, ...]) -> ErrorEntry:
        at, host, op, status, code, detail, sid, token_id, number = row
        request_id = "%s%016x" % (self.prefix, number)  # noqa: UP031 - as the gateway spells it
        return ErrorEntry(at, host, op, status, code, detail, sid, token_id, request_id)

    # --- requests (control on) -----------------------------------------------------------------

    def add_request(self, entry: RequestEntry) -> None:
        self._requests.append(entry)

    def requests(self) -> Iterator[RequestEntry]:
        """Oldest first, as they arrived."""
        return iter(list(self._requests))

    def clear(self) -> None:
        self._requests.clear()
        self._errors.clear()

    def __len__(self) -> int:
        return len(self._requests)


__all__ = ["BODY_KEPT", "ErrorEntry", "Journal", "RequestEntry"]
