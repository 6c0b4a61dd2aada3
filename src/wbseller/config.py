"""Settings of a server or CLI run: where data lives, which config file, test switches.

Every setting has an environment variable `WBSELLER_<NAME>`; a command-line flag wins over it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_data_dir() -> Path:
    env = os.environ.get("WBSELLER_DATA_DIR")
    if env:
        return Path(env)
    return Path.home() / ".local" / "share" / "wbseller"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str | None = None  # None: SQLite in data_dir
    config_file: Path | None = None  # a TOML file over the built-in method and limit table
    test_clock: bool = False  # expose POST /_wbseller/clock to move time (tests only)
    event_poll: float = 0.1  # seconds between checks for changes made by other processes
    token_cache_size: int = 100_000
    demo: bool = True  # on an empty store, create a demo seller

    @classmethod
    def from_env(
        cls,
        data_dir: Path | None = None,
        config_file: Path | None = None,
        test_clock: bool | None = None,
    ) -> Settings:
        env_config = os.environ.get("WBSELLER_CONFIG")
        return cls(
            data_dir=data_dir or default_data_dir(),
            database_url=os.environ.get("WBSELLER_DATABASE_URL") or None,
            config_file=config_file or (Path(env_config) if env_config else None),
            test_clock=test_clock if test_clock is not None else os.environ.get("WBSELLER_TEST_CLOCK") == "1",
        )
