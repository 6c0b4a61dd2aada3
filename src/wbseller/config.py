"""Settings of a server or CLI run: where data lives, which backends, which config file, test switches.

Precedence: a command-line flag, then the environment (`WBSELLER_*`), then the config file's [server]
table, then the default. Without a database or Redis URL the embedded default stays: SQLite in the data
directory and the in-process limiter.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting that cannot be used (a config file that is missing or not TOML, a database URL of
    another kind): one sentence that names it."""


# The database URLs we accept: PostgreSQL (spelled as tools and cloud providers spell it, or with
# SQLAlchemy's driver name) means asyncpg; SQLite means aiosqlite.
DATABASE_SCHEMES = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def normalize_database_url(url: str) -> str:
    """`postgresql://...` or `postgres://...` -> `postgresql+asyncpg://...`; SettingsError otherwise."""
    scheme, sep, rest = url.partition("://")
    driver = DATABASE_SCHEMES.get(scheme.lower()) if sep else None
    if driver is None:
        accepted = ", ".join(f"{s}://" for s in DATABASE_SCHEMES)
        shown = f"{scheme}://" if sep else repr(url[:40])
        raise SettingsError(
            f"the database URL {shown}... is not one we can use; accepted schemes: {accepted}"
        )
    return f"{driver}://{rest}"


def default_data_dir() -> Path:
    env = os.environ.get("WBSELLER_DATA_DIR")
    if env:
        return Path(env)
    return Path.home() / ".local" / "share" / "wbseller"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str | None = None  # None: SQLite in data_dir
    redis_url: str | None = None  # None: the in-process limiter
    redis_cluster: bool = False  # redis_url names a node of a Redis Cluster
    limiter_fail_open: bool = True  # Redis away: in-process limiter (True) or 503 (False)
    config_file: Path | None = None  # a TOML file over the built-in method and limit table
    test_clock: bool = False  # expose POST /_wbseller/clock to move time (tests only)
    event_poll: float = 0.1  # seconds between checks for changes made by other processes
    token_cache_size: int = 100_000
    demo: bool = True  # on an empty store, create a demo seller
    metrics_dir: Path | None = None  # `serve --workers N`: where the workers share their metrics
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For / Forwarded names the client
    access_log: bool = False  # the gateway's own access log (`serve` turns it on unless --no-access-log)
    control: bool = False  # the test kit's control API under /_wbseller/ (implies the test clock)
    control_token: str | None = field(default=None, repr=False)  # lets non-loopback peers in; never shown

    def __post_init__(self) -> None:
        if self.control and not self.test_clock:  # the control API moves, freezes and reads this clock
            object.__setattr__(self, "test_clock", True)

    @classmethod
    def from_env(
        cls,
        data_dir: Path | None = None,
        config_file: Path | None = None,
        test_clock: bool | None = None,
        control: bool | None = None,
        control_token: str | None = None,
    ) -> Settings:
        env = os.environ
        config_file = config_file or (Path(env["WBSELLER_CONFIG"]) if env.get("WBSELLER_CONFIG") else None)
        server: dict[str, Any] = {}
        if config_file is not None:
            server = _server_table(config_file)

        def pick(name: str) -> Any:
            value = env.get(f"WBSELLER_{name.upper()}")
            return value if value else server.get(name)

        fail_open = pick("limiter_fail_open")
        proxies = pick("trusted_proxies") or ()
        if isinstance(proxies, str):
            proxies = proxies.split(",")
        access = pick("access_log")
        cluster = pick("redis_cluster")
        return cls(
            data_dir=data_dir or (Path(server["data_dir"]) if "data_dir" in server else default_data_dir()),
            database_url=normalize_database_url(url) if (url := pick("database_url")) else None,
            redis_url=pick("redis_url"),
            redis_cluster=_truthy(cluster) if cluster is not None else False,
            limiter_fail_open=_truthy(fail_open) if fail_open is not None else True,
            config_file=config_file,
            test_clock=test_clock if test_clock is not None else _truthy(env.get("WBSELLER_TEST_CLOCK", "0")),
            token_cache_size=int(pick("token_cache_size") or 100_000),
            metrics_dir=Path(env["WBSELLER_METRICS_DIR"]) if env.get("WBSELLER_METRICS_DIR") else None,
            trusted_proxies=tuple(str(p).strip() for p in proxies if str(p).strip()),
            access_log=_truthy(access) if access is not None else False,
            control=control if control is not None else _truthy(env.get("WBSELLER_CONTROL", "0")),
            control_token=control_token or env.get("WBSELLER_CONTROL_TOKEN") or None,
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes `from_env()` in another process (a worker) give these settings."""
        env = {
            "WBSELLER_DATA_DIR": str(self.data_dir),
            "WBSELLER_TEST_CLOCK": "1" if self.test_clock else "0",
        }
        env["WBSELLER_LIMITER_FAIL_OPEN"] = "1" if self.limiter_fail_open else "0"
        env["WBSELLER_REDIS_CLUSTER"] = "1" if self.redis_cluster else "0"
        env["WBSELLER_TOKEN_CACHE_SIZE"] = str(self.token_cache_size)
        env["WBSELLER_ACCESS_LOG"] = "1" if self.access_log else "0"
        env["WBSELLER_TRUSTED_PROXIES"] = ",".join(self.trusted_proxies)
        for name, value in (
            ("WBSELLER_DATABASE_URL", self.database_url),
            ("WBSELLER_REDIS_URL", self.redis_url),
            ("WBSELLER_CONFIG", str(self.config_file) if self.config_file else None),
            ("WBSELLER_METRICS_DIR", str(self.metrics_dir) if self.metrics_dir else None),
        ):
            if value:
                env[name] = value
        return env


def _server_table(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"config file {path}: no such file") from None
    except OSError as exc:
        raise SettingsError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    server = doc.get("server", {})
    if not isinstance(server, dict):
        raise SettingsError(f"config file {path}: [server] must be a table")
    return server


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")
