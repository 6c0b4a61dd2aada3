"""The access log's lines (gateway/accesslog.py): what its looked-up numbers and per-batch middles write is
the line as spelled by one plain format, for every kind of entry."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from wbseller.gateway import accesslog
from wbseller.gateway.accesslog import AccessLog


def _plain(entry: accesslog.Entry, to_wall: float) -> str:
    started, ended, verb, host, path, status, rid = entry
    at = ended + to_wall
    stamp = datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    shown = "-" if host is None else host.decode("latin-1")
    printable = path if path.isprintable() else path.encode("unicode_escape").decode("ascii")
    took = int((ended - started) * 100_000 + 0.5) / 100
    line = f"{stamp}.{int(at * 1000) % 1000:03d}Z {verb} {shown} {printable} {status or '-'} {took:.2f}ms"
    return line if rid is None else f"{line} {rid.decode()}"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    log = logging.getLogger("wbseller.access")
    saved = log.handlers[:], log.level, log.propagate
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    yield out
    log.handlers[:], log.level, log.propagate = saved[0], saved[1], saved[2]


def test_lines_as_plainly_formatted(captured: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_790_000_000.25)  # flush's reading of both clocks
    monkeypatch.setattr(time, "perf_counter", lambda: 1000.0)
    to_wall = 1_790_000_000.25 - 1000.0
    entries: list[accesslog.Entry] = [
        (999.0, 999.00001, "GET", b"content-api.localhost", "/ping", 200, None),  # 0.01 ms
        (999.1, 999.1042, "GET", b"content-api.localhost", "/ping", 200, None),  # the same middle
        (999.2, 999.26, "POST", None, "/x\n2026-01-01 forged", 404, b"abcdef"),  # no Host, a control char
        (999.3, 999.9, "GET", "ßhost".encode("latin-1"), "/y", 0, None),  # 600 ms; a page: status 0
        (999.5, 999.99999, "HEAD", b"h", "/z", 429, b"0123"),  # into the next second
        (999.999, 1000.0, "GET", b"h", "/z", 429, b"0124"),
    ]
    log = AccessLog()
    log._pending = list(entries)
    log.flush()
    lines = captured.getvalue().splitlines()
    assert lines == [_plain(e, to_wall) for e in entries]
    assert lines[0].endswith(" GET content-api.localhost /ping 200 0.01ms")
    assert "\\n2026" in lines[2] and lines[2].endswith(" 404 60.00ms abcdef")
    assert " - 600.00ms" in lines[3]
    assert len(captured.getvalue().splitlines()) == len(entries)  # no forged line


def test_a_stalled_writer_drops_and_says_so(captured: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accesslog, "MAX_PENDING", 3)
    log = AccessLog()
    for _ in range(5):
        log.add(log.started(), "GET", b"h", "/ping", 200, None)
    log.flush()
    lines = captured.getvalue().splitlines()
    assert lines[0] == "access log: 2 lines dropped (the writer could not keep up)"
    assert len(lines) == 4 and all(" GET h /ping 200 " in line for line in lines[1:])
