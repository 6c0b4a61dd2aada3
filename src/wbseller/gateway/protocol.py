"""uvicorn's HTTP protocol with one change: a request its parser rejects gets WB's error body too.

uvicorn answers an unparsable request (bad Content-Length, bad chunk, non-ASCII path...) itself, before
any app sees it, with plain text. WB answers every refusal with one JSON body, so do we.
"""

from __future__ import annotations

import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from wbseller.errors import PROBLEM_JSON, render


class WBHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        request_id = os.urandom(16).hex()
        body = render(
            400,
            "bad request",
            f"malformed HTTP request: {msg}",
            "http-malformed",
            request_id,
            "wbseller-gateway",
        )
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
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
