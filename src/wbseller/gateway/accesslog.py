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
from time import perf_counter

log = logging.getLogger("wbseller.access")

Entry = tuple[float, float, str, bytes | None, str, int, bytes | None]
MAX_PENDING = 100_000  # a stalled writer drops lines (and says how many) instead of growing


class AccessLog:
    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._pending: list[Entry] = []
        self.dropped = 0
        self.started = perf_counter
        if not log.handlers:  # uvicorn's logging config knows only its own loggers: lines to stdout
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            log.propagate = False

    def add(
        self, started: float, verb: str, host: bytes | None, path: str, status: int, request_id: bytes | None
    ) -> None:
        pending = self._pending
        if len(pending) < MAX_PENDING:
            # Times on the monotonic clock only; the wall clock is applied at flush (one call a batch).
            pending.append((started, perf_counter(), verb, host, path, status, request_id))
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
        # What repeats is made once a batch: the second's text (entries end in order, so it changes
        # at most a few times), and the middle of a line for each verb, host, path and status.
        last, stamp = -1, ""
        middles: dict[tuple[str, bytes | None, str, int], str] = {}
        lines: list[str] = []
        append = lines.append
        for started, ended, verb, host, path, status, rid in batch:
            at = ended + to_wall
            sec = int(at)
            if sec != last:
                last, stamp = sec, datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            key = (verb, host, path, status)
            middle = middles.get(key)
            if middle is None:
                shown = "-" if host is None else host.decode("latin-1")
                middle = middles[key] = f"Z {verb} {shown} {_printable(path)} {status or '-'} "
            took = int((ended - started) * 100_000.0 + 0.5)  # hundredths of a millisecond
            line = (
                f"{stamp}.{_MS[int(at * 1000) % 1000]}{middle}{_TOOK[took] if took < _TOOKS else _took(took)}"
            )
            append(line if rid is None else f"{line} {rid.decode()}")
        log.info("\n".join(lines))


# Numbers are most of a line's cost: the milliseconds of the second and the time taken under 10 ms are
# looked up (formatting two numbers took more than the rest of the line).
_MS = [f"{i:03d}" for i in range(1000)]
_TOOKS = 1000
_TOOK = [f"{i / 100:.2f}ms" for i in range(_TOOKS)]


def _took(hundredths: int) -> str:
    return f"{hundredths / 100:.2f}ms"


def _printable(path: str) -> str:
    # A path is what a client sent: no control characters reach the log (no forged lines).
    return path if path.isprintable() else path.encode("unicode_escape").decode("ascii")
