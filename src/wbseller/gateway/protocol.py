"""uvicorn's HTTP protocol with two changes: a request its parser rejects gets WB's error body too, and a
request head (request line and headers) has a size limit.

uvicorn answers an unparsable request (bad Content-Length, bad chunk, non-ASCII path...) itself, before
any app sees it, with plain text. WB answers every refusal with one JSON body, so do we.

httptools sets no limit on a request's head: a client could send headers without end, and the parser
gathers a long header value by concatenation, which grows quadratically (measured: 16 MiB took 0.35 s of
CPU). A head over `MAX_HEAD` bytes is answered 431 and the connection closed, without reading the rest.
"""

from __future__ import annotations

import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from wbseller.errors import PROBLEM_JSON, render

MAX_HEAD = 64 * 1024  # bytes; a token is ~0.4 KiB, and nginx (WB's front) takes 4 x 8 KiB lines


class WBHttpToolsProtocol(HttpToolsProtocol):
    _head_bytes = 0  # bytes received while the current request's head is incomplete
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
        HttpToolsProtocol.data_received(self, data)  # on every read: no super() lookup
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

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "Bad Request", f"malformed HTTP request: {msg}", "http-malformed")

    def _refuse(self, status: int, reason: str, detail: str, code: str) -> None:
        """Answer before any app has seen the request, and close: the stream cannot be trusted further."""
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
