"""Fixtures for the client's tests: a private server with a fast seller-info limit, and its config.

`limited` is one private server for this directory (with the test clock, like every test server):
its config makes seller-info 3 per 0.3 s, and the client is given the very same file (one source).
Each test makes its own seller, so buckets never leak between tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.helpers import IMPORTED, TestTime
from tests.conftest import Server

FAST_CONFIG = """
[limits.seller-info]
rates.personal = { period = 0.3, limit = 3, burst = 3 }
"""


@pytest.fixture(scope="session")
def limited_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("client-config") / "limits.toml"
    path.write_text(FAST_CONFIG)
    return path


@pytest.fixture(scope="session")
def limited(tmp_path_factory: pytest.TempPathFactory, limited_config: Path) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("client-srv") / "data", limited_config).start()
    yield srv
    srv.stop()


@pytest.fixture
def test_time(limited: Server) -> Iterator[TestTime]:
    """The client's clock and sleep, moving the limited server's test clock."""
    tt = TestTime(limited)
    yield tt
    tt.close()


@pytest.fixture(scope="session")
def news_server(limited: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The limited server, with 250 more news (dated 2024, so a 2025 `from` skips them)."""
    items = [
        {
            "id": i,
            "header": f"News {i}",
            "content": "…",
            "date": "2024-03-01T10:00:00+03:00",
            "types": [{"id": 8, "name": "API"}],
        }
        for i in IMPORTED
    ]
    path: Path = tmp_path_factory.mktemp("news") / "news.json"
    path.write_text(json.dumps({"data": items}, ensure_ascii=False))
    limited.cli("news", "import", str(path))
    yield limited
