"""The access log, kept off the request path: a request appends one tuple; a task formats and writes
the lines in batches (every 0.25 s), so the default `serve` costs about what `--no-access-log` does.

A line: time, verb, host, path (never the query string: tokens and secrets travel there), status,
milliseconds, and the request id of an error. Never a header value but Host.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import UTC, datetime

log = logging.getLogger("wbseller.access")

Entry = tuple[float, float, str, bytes | None, str, int, bytes | None]
MAX_PENDING = 100_000  # a stalled writer drops lines (and says how many) instead of growing


class AccessLog:
    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._pending: list[Entry] = []
        self.dropped = 0
        self.started = time.perf_counter
        if not log.handlers:  # uvicorn's logging config knows only its own loggers: lines to stdout
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            log.propagate = False

    def add(
        self, started: float, verb: str, host: bytes | None, path: str, status: int, request_id: bytes | None
    ) -> None:
        if len(self._pending) < MAX_PENDING:
            # Times on the monotonic clock only; the wall clock is applied at flush (one call a batch).
            self._pending.append((started, time.perf_counter(), verb, host, path, status, request_id))
        else:
            self.dropped += 1

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.flush()

    def flush(self) -> None:
        batch, self._pending = self._pending, []
        if self.dropped:
            log.warning("access log: %d lines dropped (the writer could not keep up)", self.dropped)
            self.dropped = 0
        if not batch or not log.isEnabledFor(logging.INFO):
            return
        to_wall = time.time() - time.perf_counter()
        stamps: dict[int, str] = {}  # second -> its text: a batch spans a fraction of a second
        hosts: dict[bytes | None, str] = {None: "-"}
        lines = []
        for started, ended, verb, host, path, status, rid in batch:
            at = ended + to_wall
            sec = int(at)
            stamp = stamps.get(sec)
            if stamp is None:
                stamp = stamps[sec] = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            h = hosts.get(host)
            if h is None:
                h = hosts[host] = host.decode("latin-1")  # type: ignore[union-attr]  # None is in `hosts`
            line = "%s.%03dZ %s %s %s %s %.2fms" % (  # noqa: UP031 - the fastest spelling, once a line
                stamp,
                int(at * 1000) % 1000,
                verb,
                h,
                _printable(path),
                status or "-",
                (ended - started) * 1000,
            )
            lines.append(line if rid is None else f"{line} {rid.decode()}")
        log.info("\n".join(lines))


def _printable(path: str) -> str:
    # A path is what a client sent: no control characters reach the log (no forged lines).
    return path if path.isprintable() else path.encode("unicode_escape").decode("ascii")
