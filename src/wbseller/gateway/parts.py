"""What the gateway is built on (`Parts`: storage, limiter, accounts, backends, made from the settings by
`open_parts`), and what the pages beside the API are given (`Services`), so that neither the pages nor the
metrics import the gateway: the server (wbseller/server.py) builds the gateway and plugs them in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wbseller import backends
from wbseller.accounts import Accounts
from wbseller.backends import Backends
from wbseller.clock import Clock, OffsetClock, SystemClock
from wbseller.config import Settings
from wbseller.gateway.auth import TokenCache
from wbseller.gateway.metrics import Stats, WorkerShare
from wbseller.methods.table import Table
from wbseller.ratelimit import Limiter, MemoryLimiter
from wbseller.storage import Storage, sqlite_url
from wbseller.storage.store import prepare_data_dir

if TYPE_CHECKING:
    from wbseller.gateway.control import Control
    from wbseller.gateway.journal import Journal


@dataclass(frozen=True, slots=True)
class Parts:
    """The pieces a gateway is built on, each made once per process."""

    clock: Clock
    storage: Storage
    limiter: Limiter
    accounts: Accounts
    backends: Backends


def open_parts(
    settings: Settings, clock: Clock | None = None, kinds: tuple[type[backends.Backend], ...] | None = None
) -> Parts:
    """The parts the settings name: SQLite in the data directory or PostgreSQL by URL, buckets in this
    process or on Redis, and the installed backends (`kinds`, default `backends.INSTALLED`) on the same
    engine. Nothing is connected yet: that happens at start-up."""
    clock = clock or (OffsetClock() if settings.test_clock else SystemClock())
    url = settings.database_url or sqlite_url(settings.data_dir)
    if url.startswith("sqlite"):
        prepare_data_dir(settings.data_dir)
    storage = Storage(url)
    limiter: Limiter
    if settings.redis_url:
        from wbseller.ratelimit.redis import RedisLimiter  # redis-py, only when asked for

        limiter = RedisLimiter(
            settings.redis_url, clock, fail_open=settings.limiter_fail_open, cluster=settings.redis_cluster
        )
    else:
        limiter = MemoryLimiter(clock)
    made = backends.build(storage, backends.INSTALLED if kinds is None else kinds)
    return Parts(clock, storage, limiter, Accounts(storage, clock), made)


class Services(Protocol):
    """What a page beside the API (extras, metrics, the account pages) may use: the parts, the method
    table, and the gateway's counters and token cache. The gateway has them all."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def storage(self) -> Storage: ...
    @property
    def limiter(self) -> Limiter: ...
    @property
    def accounts(self) -> Accounts: ...
    @property
    def backends(self) -> Backends: ...
    @property
    def table(self) -> Table: ...
    @property
    def stats(self) -> Stats: ...
    @property
    def tokens(self) -> TokenCache: ...
    @property
    def worker_share(self) -> WorkerShare | None: ...
    @property
    def journal(self) -> Journal:
        """Error responses (always; `error(request_id)`), and every request with the control API on."""
        ...

    @property
    def control(self) -> Control | None: ...


__all__ = ["Parts", "Services", "open_parts"]
