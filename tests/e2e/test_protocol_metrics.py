"""Requests the HTTP protocol refuses before any app sees them (gateway/protocol.py's tally) are counted
on /metrics as `wbseller_protocol_refused_total{reason}`, by a real `wbseller serve`; the workers of one
`serve` add theirs up (metrics.merge); and a sum still pending when the server stops is logged by the
gateway's shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server
from wbseller.config import Settings
from wbseller.gateway import protocol
from wbseller.gateway.metrics import merge
from wbseller.gateway.protocol import MAX_HEAD, REASONS
from wbseller.server import create_app

NAME = "wbseller_protocol_refused_total"


def refused(base_url: str) -> dict[str, float]:
    r = httpx.get(f"{base_url}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    return {
        s.labels["reason"]: s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name == NAME
    }


def send_raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_refusals_of_the_protocol_are_counted_by_reason(start_server: Callable[..., Server]) -> None:
    srv = start_server()
    assert refused(srv.base_url) == dict.fromkeys(REASONS, 0.0)  # every reason, from the start
    for i in range(3):
        answer = send_raw(srv.port, bytes([1 + i]) + b" not http\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    head = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * (MAX_HEAD + 10) + b"\r\n\r\n"
    assert send_raw(srv.port, head).startswith(b"HTTP/1.1 431")
    assert refused(srv.base_url) == {
        "http-malformed": 3.0,
        "headers-too-large": 1.0,
        "upgrade-unsupported": 0.0,
    }


def test_the_workers_counts_add_up() -> None:
    def snap(refusals: dict[str, int] | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": {},
            "limited": {},
            "backend_errors": {},
            "token_cache": {},
            "token_cache_size": 0,
        }
        if refusals is not None:
            out["protocol_refused"] = refusals
        return out

    merged = merge(
        [snap({"http-malformed": 2}), snap({"http-malformed": 1, "headers-too-large": 4}), snap(None)],
        [True, False, True],  # an exited worker's refusals still count; a file written before the key: none
    )
    assert merged["protocol_refused"] == {"http-malformed": 3, "headers-too-large": 4}


def test_the_pending_sum_is_logged_at_shutdown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        gw = create_app(Settings(data_dir=tmp_path / "data", event_poll=60.0))
        await gw.startup()
        loop = asyncio.get_running_loop()
        with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
            before = len(caplog.records)
            protocol.TALLY.note("upgrade-unsupported", loop, ("192.0.2.9", 1))  # logged at once
            protocol.TALLY.note("upgrade-unsupported", loop, ("192.0.2.9", 2))  # summed, pending
            assert len(caplog.records) == before + 1
            await gw.shutdown()
            lines = [r.getMessage() for r in caplog.records[before:]]
        assert len(lines) == 2, lines
        assert "1 more requests were refused" in lines[1] and "unsupported upgrade" in lines[1], lines

    asyncio.run(main())
