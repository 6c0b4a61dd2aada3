"""A small TCP proxy in front of Redis or PostgreSQL that a test can cut and restore.

It runs its own event loop in a daemon thread, so synchronous tests and server processes alike talk to
it. `cut()` drops every open connection (with a reset, as a crashed host would) and refuses new ones
until `restore()`. `cut(blackhole=True)` is the other way a network fails: connections stay open and
new ones are accepted, but nothing gets through, so only timeouts notice. The listening port stays the
same throughout, so the URL a server was given keeps pointing at the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = 0
        self.accepted = 0  # connections accepted, refused ones included
        self.refused = 0
        self._mode: str | None = None  # None: forwarding; "refuse"; "blackhole"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._held: set[asyncio.StreamWriter] = set()  # accepted while blackholed

    # --- control, from any thread ---------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._handle, self.host, 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def cut(self, *, blackhole: bool = False) -> None:
        """Close every connection at once and refuse new ones; or, blackholed, let nothing through."""
        self._call(self._set_mode("blackhole" if blackhole else "refuse"))

    def restore(self) -> None:
        """Accept and forward connections again (connections held while blackholed are dropped)."""
        self._call(self._set_mode(None))

    @property
    def is_cut(self) -> bool:
        return self._mode is not None

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # --- in the proxy's loop --------------------------------------------------------------------

    async def _set_mode(self, mode: str | None) -> None:
        self._mode = mode
        if mode == "refuse":
            for pair in list(self._conns):
                for writer in pair:
                    writer.transport.abort()
            self._conns.clear()
        if mode is None:
            for writer in list(self._held):
                writer.transport.abort()
            self._held.clear()

    async def _shutdown(self) -> None:
        await self._set_mode("refuse")
        await self._set_mode(None)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._mode == "refuse":
            self.refused += 1
            writer.transport.abort()
            return
        if self._mode == "blackhole":
            self._held.add(writer)
            with contextlib.suppress(ConnectionError, OSError):
                while await reader.read(CHUNK):
                    pass
            self._held.discard(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        if self._mode is not None:  # cut while connecting upstream
            up_writer.transport.abort()
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._conns.add(pair)
        pumps = [
            asyncio.ensure_future(self._pump(reader, up_writer)),
            asyncio.ensure_future(self._pump(up_reader, writer)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            for task in pumps:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._conns.discard(pair)
            for w in pair:
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(CHUNK):
                if self._mode == "blackhole":
                    continue  # swallowed: the peer waits for an answer that never comes
                writer.write(data)
                await writer.drain()
