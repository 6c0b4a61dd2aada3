"""One in-process gateway for the module (tests/api's `Api`), its seller subscribed to nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.kit import Api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    harness = Api(tmp_path_factory.mktemp("general") / "data")
    try:
        yield harness
    finally:
        harness.close()
