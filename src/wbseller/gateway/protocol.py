"""uvicorn's HTTP protocol with five changes: a request its parser rejects gets WB's error body too, a
request head (request line and headers) has a size limit, what uvicorn would log once per such request is
counted and summed up in one line a minute, a connection is not kept for a request body that the
answer left unread, and a response the gateway built is written with its head in one write.

uvicorn answers an unparsable request (bad Content-Length, bad chunk, non-ASCII path...) itself, before
any app sees it, with plain text. WB answers every refusal with one JSON body, so do we.

httptools sets no limit on a request's head: a client could send headers without end, and the parser
gathers a long header value by concatenation, which grows quadratically (measured: 16 MiB took 0.35 s of
CPU). A head over `MAX_HEAD` bytes is answered 431 and the connection closed, without reading the rest.

uvicorn logs a WARNING for every request that is not HTTP ("Invalid HTTP request received.") and two for
every request asking for an upgrade it cannot do: bytes cheaper to send than the lines they cost, so a
flood of them grows the log without bound. `TALLY` counts them by reason (`TALLY.counts`, for /metrics)
and logs the first at once, then at most one line each `SUMMARY_SECONDS` while they keep coming.

A response sent before the request's body is all in (a 413 on the declared Content-Length, a 401 on a
POST) leaves the rest of that body on the connection: uvicorn would read and drop it, however long it is,
and then keep the connection. So a request's cycle is not kept alive until its body has arrived; one
answered before then says `connection: close` and uvicorn closes the connection after it (RFC 9110
§15.5.14, and what nginx does). Also, uvicorn cancels a connection's keep-alive timer only when the
connection ends cleanly: one its client reset stays referenced by the timer, with its last request,
for the 5 s of `timeout_keep_alive`; here it is cancelled however the connection ends.

uvicorn writes a response's head as soon as `http.response.start` comes, and its body with the next
message: two writes, so two send() calls, each a trip through the kernel's TCP stack (measured under
wrk: the writes were over half of a 429's CPU, the head's the dearer). Before that it checks every
header's name and value with two regular expressions and lowercases the name. A start message that
carries `TRUSTED` is the gateway's own (gateway/app.py): its head is made without those checks for the
header names the gateway itself writes (`OWN_NAMES`: their values are constants, digits, hex or verb
names; any other name is checked as uvicorn checks it), and kept until the body's first message, then
written with it in one write. The bytes are uvicorn's, to the byte: the status line, its default
headers (`date`, `server` when on), the headers as given, `connection: close` when the connection is
not kept, and nothing else; a trusted message must give `content-length` (one without it, or with
`connection` or `transfer-encoding`, is written by uvicorn's own code), so a trusted response is never
chunked. HEAD answers, flow control, a client gone before the body, 100-continue and keep-alive go as
in uvicorn (`TrustedCycle.send`; tests/hardening/test_protocol_bytes.py compares the bytes with stock
uvicorn's for the same responses).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from wbseller.errors import PROBLEM_JSON, render

MAX_HEAD = 64 * 1024  # bytes; a token is ~0.4 KiB, and nginx (WB's front) takes 4 x 8 KiB lines
SUMMARY_SECONDS = 60.0  # at most one line this often about requests refused by the protocol

# reason -> (the first line, when none came for a while; how the summary line counts them)
REASONS = {
    "http-malformed": ("Invalid HTTP request received (answered 400)", "not HTTP (400)"),
    "headers-too-large": (
        f"Request head over {MAX_HEAD} bytes (answered 431)",
        f"with a head over {MAX_HEAD} bytes (431)",
    ),
    "upgrade-unsupported": (
        "Unsupported upgrade request (answered as plain HTTP)",
        "asking for an unsupported upgrade",
    ),
}


class Tally:
    """Requests the protocol refused (or would have logged), by reason: counted since start, and logged
    on uvicorn's error logger at most once per `interval`. The first one after a quiet interval is logged at
    once (an operator sees a lone bad client as before); those that follow within the interval are
    counted, and a timer on the event loop logs their sum when it ends, and goes on each interval while
    they keep coming. (A sum still pending when the server stops is not logged: uvicorn ends the process
    by its signal right after shutting down; the app's lifespan shutdown could call `flush`.)"""

    def __init__(self, interval: float = SUMMARY_SECONDS) -> None:
        self.interval = interval
        self.counts: dict[str, int] = dict.fromkeys(REASONS, 0)  # since start
        self._pending: dict[str, int] = {}  # since the last line
        self._since = 0.0  # monotonic time of the last line
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.logger = logging.getLogger("uvicorn.error")

    def note(self, reason: str, loop: asyncio.AbstractEventLoop, client: Any) -> None:
        self.counts[reason] += 1
        if self._timer is not None and self._loop is loop:
            self._pending[reason] = self._pending.get(reason, 0) + 1
            return
        self.flush()  # a sum left by another event loop (a process running several one after another)
        peer = f" from {client[0]}:{client[1]}" if client else ""
        self.logger.warning(
            "%s%s; more within %d s are summed up in one line",
            REASONS[reason][0],
            peer,
            self.interval,
        )
        self._since = time.monotonic()
        self._loop = loop
        self._timer = loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._pending and self._loop is not None:
            self.flush()
            self._timer = self._loop.call_later(self.interval, self._tick)  # still coming: keep summing

    def flush(self) -> None:
        """Log the sum of what came since the last line, if anything did."""
        if not self._pending:
            return
        now = time.monotonic()
        parts = [f"{n} {REASONS[reason][1]}" for reason, n in self._pending.items()]
        self.logger.warning(
            "In the last %.0f s, %d more requests were refused by the HTTP protocol: %s (since start: %d)",
            now - self._since,
            sum(self._pending.values()),
            ", ".join(parts),
            sum(self.counts.values()),
        )
        self._pending.clear()
        self._since = now


TALLY = Tally()

UVICORN = "0.54.0"  # the uvicorn whose on_headers_complete is copied below (pyproject pins it)
TRUSTED = "wbseller.trusted"  # a key of an http.response.start message: its headers are the gateway's
# Names whose values only the gateway makes, from constants, numbers, hex ids and verb names: written
# unchecked in a trusted head. Lowercase by construction (a name is looked up as given).
OWN_NAMES = frozenset(
    {
        b"content-type",
        b"x-request-id",
        b"x-ratelimit-remaining",
        b"x-ratelimit-retry",
        b"x-ratelimit-limit",
        b"x-ratelimit-reset",
        b"allow",
    }
)
_UNTRUSTED = frozenset({b"connection", b"transfer-encoding"})  # they change the framing: uvicorn's code
_JOINED_MAX = 64 * 1024  # a body up to this is copied after its head (one write); a larger one is not


class TrustedCycle(RequestResponseCycle):
    """uvicorn's request cycle, but a trusted response is written in one write (see the module's doc).

    Made by `WBHttpToolsProtocol.on_headers_complete` (uvicorn's names its class in the code); uvicorn's
    `send` still does everything but a trusted response's start and first body message."""

    _head: bytes | None = None  # a trusted response's head, until its body comes
    # The status lines with the server's default headers, for one list of them (uvicorn makes a new
    # list each second, for `date`): status -> bytes.
    _prefixes: dict[int, bytes] = {}  # noqa: RUF012 - shared by every cycle on purpose
    _defaults: list[tuple[bytes, bytes]] | None = None

    async def send(self, message: Any) -> None:
        head = self._head
        if head is not None:
            await self._send_body(head, message)
            return
        if self.response_started or TRUSTED not in message or message["type"] != "http.response.start":
            await RequestResponseCycle.send(self, message)
            return
        headers = message["headers"]
        length = -1
        parts = [self._prefix(message["status"])]
        for name, value in headers:
            if name in OWN_NAMES:
                parts += (name, b": ", value, b"\r\n")
                continue
            if name == b"content-length":
                if length >= 0:  # a second one: uvicorn's code takes the first
                    await RequestResponseCycle.send(self, message)
                    return
                length = int(value)
            elif name in _UNTRUSTED or HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                await RequestResponseCycle.send(self, message)  # the framing, or refused as uvicorn refuses
                return
            parts += (name.lower(), b": ", value, b"\r\n")
        if length < 0:
            await RequestResponseCycle.send(self, message)
            return
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        self.response_started = True
        self.waiting_for_100_continue = False
        if self.access_log:
            self._access_log(message["status"])
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        self.chunked_encoding = False
        self.expected_content_length = length
        self._head = b"".join(parts)

    def _prefix(self, status: int) -> bytes:
        defaults = self.default_headers
        if defaults is not TrustedCycle._defaults:
            TrustedCycle._prefixes = {}
            TrustedCycle._defaults = defaults
        prefix = TrustedCycle._prefixes.get(status)
        if prefix is None:
            parts = [STATUS_LINE[status]]
            for name, value in defaults:
                if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                    raise RuntimeError("Invalid HTTP header name or value in the server's default headers.")
                parts += (name.lower(), b": ", value, b"\r\n")
            prefix = TrustedCycle._prefixes[status] = b"".join(parts)
        return prefix

    def _access_log(self, status: int) -> None:  # uvicorn's line (serve turns it off: gateway/accesslog.py)
        self.access_logger.info(
            '%s - "%s %s HTTP/%s" %d',
            get_client_addr(self.scope),
            self.scope["method"],
            get_path_with_query_string(self.scope),
            self.scope["http_version"],
            status,
        )

    async def _send_body(self, head: bytes, message: Any) -> None:
        """The first body message of a trusted response: written with its head; the rest is uvicorn's."""
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if message["type"] != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
        self._head = None
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
            self.transport.write(head)
        else:
            size = len(body)
            if size > self.expected_content_length:
                self.transport.write(head)  # as uvicorn: the head is out when it finds the body too long
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= size
            if size <= _JOINED_MAX:
                self.transport.write(head + body if size else head)
            else:
                self.transport.write(head)
                self.transport.write(body)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()


class WBHttpToolsProtocol(HttpToolsProtocol):
    cycle_class: type[RequestResponseCycle] = TrustedCycle  # uvicorn's own: every response as uvicorn writes
    _head_bytes = 0  # bytes received while the current request's head is incomplete
    _keep_alive = False  # the parser's keep-alive decision for the current request, once its body is in
    _shutting_down = False
    scope: Any = None  # uvicorn sets it when a request begins

    def data_received(self, data: bytes) -> None:
        head = self._head_bytes + len(data)
        if head > MAX_HEAD and self._over_limit(data):
            self._refuse(
                431,
                "Request Header Fields Too Large",
                f"the request line and headers are over {MAX_HEAD} bytes",
                "headers-too-large",
            )
            return
        # uvicorn's data_received, but for what it logs (see _refuse and _unsupported_upgrade_warning)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
                return
            self._unsupported_upgrade_warning()
        # After a complete head uvicorn has made the request's cycle from the request's scope; until then
        # (a head split over reads) count what came.
        cycle: Any = self.cycle
        self._head_bytes = 0 if cycle is not None and cycle.scope is self.scope else head

    def _over_limit(self, data: bytes) -> bool:
        """Whether this read takes a request's head past the limit (a read of body bytes never does)."""
        cycle: Any = self.cycle
        if cycle is not None and cycle.scope is self.scope and cycle.more_body:
            return False
        return data.find(b"\r\n\r\n", 0, max(0, MAX_HEAD - self._head_bytes) + 4) < 0

    def on_headers_complete(self) -> None:
        # uvicorn's (UVICORN, httptools_impl.py), but the cycle is made of `cycle_class` (measured: making
        # uvicorn's and swapping its class cost 1 us a request) and is not kept alive until the body is in
        # (on_message_complete): an answer sent before says `connection: close`, and uvicorn closes after
        # it. Without a body, on_message_complete runs within this same read, before the app has run.
        parser = self.parser
        scope: Any = self.scope
        http_version = parser.get_http_version()
        scope["method"] = parser.get_method().decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        if parser.should_upgrade() and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = parsed_url.query or b""
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            app: Any = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        else:
            app = self.app
        existing = self.cycle
        self._keep_alive = http_version != "1.0" and parser.should_keep_alive()
        self.cycle = cycle = self.cycle_class(
            scope=scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=False,
            on_response=self.on_response_complete,
        )
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, app)
        else:  # pipelined: queued until the one before is answered
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))

    def on_message_complete(self) -> None:
        # uvicorn's, inlined (one call less on every request), and the keep-alive of on_headers_complete
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.more_body = False
        cycle.message_event.set()
        if not cycle.response_started and not self._shutting_down:
            cycle.keep_alive = self._keep_alive

    def shutdown(self) -> None:
        self._shutting_down = True  # uvicorn's shutdown ends keep-alive; a body coming in must not undo it
        HttpToolsProtocol.shutdown(self)

    def connection_lost(self, exc: Exception | None) -> None:
        HttpToolsProtocol.connection_lost(self, exc)
        # uvicorn cancels the timer only when exc is None; after a reset it would hold this protocol, its
        # parser and last request for timeout_keep_alive seconds (a flood of resets: thousands at once).
        self._unset_keepalive_if_required()

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn logs two lines per such request; the request itself is served as plain HTTP.
        TALLY.note("upgrade-unsupported", self.loop, self.client)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "Bad Request", f"malformed HTTP request: {msg}", "http-malformed")

    def _refuse(self, status: int, reason: str, detail: str, code: str) -> None:
        """Answer before any app has seen the request, and close: the stream cannot be trusted further."""
        TALLY.note(code, self.loop, self.client)
        request_id = os.urandom(16).hex()
        body = render(status, reason.lower(), detail, code, request_id, "wbseller-gateway")
        content = [b"HTTP/1.1 %d %s\r\n" % (status, reason.encode("ascii"))]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_JSON + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"x-request-id: " + request_id.encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
