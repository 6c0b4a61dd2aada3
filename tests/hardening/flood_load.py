"""A load generator for the floods of the soak: raw HTTP/1.1 on asyncio sockets, no tool needed.

Two shapes, both on 127.0.0.1 only and both bounded by a count of requests:

- `pipelined`: a few keep-alive connections, each writing `depth` requests in one write and then
  reading their `depth` responses (HTTP/1.1 pipelining; uvicorn answers them in order). The requests
  may all differ (`make(i)` builds the i-th). Tens of thousands of requests a second from one
  Python process, because the client does almost nothing per request: a join, a write, a scan.
- `one_shot`: one new connection per request, closed by us once its response is in: for bytes that are
  not HTTP (uvicorn's parser refuses them, the server answers 400 and hangs up) and for a declared body
  over the limit (answered 413 at once; the connection then waits for a body that never comes).

Each returns a `FloodTally`: statuses counted, and the first response of each status kept whole so the test
can check its body. A response is read by its Content-Length (every response of the gateway has one).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"
CLOSED = -1  # the status counted for a connection that closed before its answer came
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


@dataclass
class FloodTally:
    statuses: Counter[int] = field(default_factory=Counter)
    first: dict[int, bytes] = field(default_factory=dict)  # status -> its first response, head and body
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def add(self, other: FloodTally) -> None:
        self.statuses.update(other.statuses)
        for status, raw in other.first.items():
            self.first.setdefault(status, raw)
        self.seconds += other.seconds


def _responses(buf: bytearray, tally: FloodTally, want: int) -> int:
    """Count the complete responses at the start of `buf` (at most `want`), drop them; how many."""
    pos = done = 0
    while done < want:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = bytes(buf[pos:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            raise AssertionError(f"a response without Content-Length: {bytes(buf[pos : end + 4])[:300]!r}")
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        if len(buf) < end + 4 + length:
            break
        status = int(head[9:12])
        tally.statuses[status] += 1
        if status not in tally.first:
            tally.first[status] = bytes(buf[pos : end + 4 + length])
        pos = end + 4 + length
        done += 1
    del buf[:pos]
    return done


async def _pipeline(
    port: int, make: Callable[[int], bytes], take: Callable[[int], range], depth: int
) -> FloodTally:
    tally = FloodTally()
    reader, writer = await asyncio.open_connection(HOST, port)
    buf = bytearray()
    try:
        while batch := take(depth):
            writer.write(b"".join(make(i) for i in batch))
            left = len(batch)
            while left:
                chunk = await reader.read(1 << 18)
                if not chunk:  # the server hung up: the rest of the batch is unanswered, start afresh
                    tally.statuses[CLOSED] += left
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    buf.clear()
                    break
                buf += chunk
                left -= _responses(buf, tally, left)
    finally:
        writer.close()
    return tally


def _counter(total: int) -> Callable[[int], range]:
    """Hands out request numbers 0..total-1 in batches, to whichever connection asks next."""
    nxt = 0

    def take(n: int) -> range:
        nonlocal nxt
        start, nxt = nxt, min(nxt + n, total)
        return range(start, nxt)

    return take


async def pipelined(
    port: int, make: Callable[[int], bytes], total: int, connections: int = 8, depth: int = 64
) -> FloodTally:
    """`total` requests, `make(i)` the i-th, over `connections` keep-alive connections, `depth` at a time."""
    started = time.monotonic()
    take = _counter(total)
    tally = FloodTally()
    for part in await asyncio.gather(*(_pipeline(port, make, take, depth) for _ in range(connections))):
        tally.add(part)
    tally.seconds = time.monotonic() - started
    return tally


async def _shots(port: int, make: Callable[[int], bytes], take: Callable[[int], range]) -> FloodTally:
    tally = FloodTally()
    while batch := take(1):
        reader, writer = await asyncio.open_connection(HOST, port)
        # Closed with a reset, not a FIN: no TIME_WAIT on our side, however many connections a flood opens.
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        buf = bytearray()
        try:
            writer.write(make(batch[0]))
            # Up to the end of the first response: the server may close after it (bytes that are not
            # HTTP) or wait for a body it will not read (a declared body over the limit: 413).
            while not _responses(buf, tally, 1):
                chunk = await reader.read(65536)
                if not chunk:
                    tally.statuses[CLOSED] += 1
                    break
                buf += chunk
        except ConnectionResetError:
            tally.statuses[CLOSED] += 1
        finally:
            writer.close()
    return tally


async def one_shot(port: int, make: Callable[[int], bytes], total: int, connections: int = 32) -> FloodTally:
    """`total` requests, each on a connection of its own that the server closes after answering."""
    started = time.monotonic()
    take = _counter(total)
    tally = FloodTally()
    for part in await asyncio.gather(*(_shots(port, make, take) for _ in range(connections))):
        tally.add(part)
    tally.seconds = time.monotonic() - started
    return tally
