"""One in-process gateway per test module (tests/api/kit.py: `Api`), started and stopped with the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.kit import Api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    harness = Api(tmp_path_factory.mktemp("api") / "data")
    try:
        yield harness
    finally:
        harness.close()
