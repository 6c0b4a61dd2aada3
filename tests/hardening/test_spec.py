"""The official OpenAPI document as the judge: schemathesis generates requests from WB's
`01-general.yaml` (and from our own /openapi.json) and sends them to a running server with a valid
token. No 5xx, every response conforms to the document (status, content type, headers, schema), no
request without or with a broken token passes, and no other HTTP method than the documented one is
accepted (405 with Allow).

Bounded and repeatable for CI: at most 50 examples per operation, schemathesis' deterministic mode,
one worker. The official document also describes methods we do not implement (user management,
rating, subscriptions): the run is restricted to the three General methods we serve, under the
common-api path prefix. The server's General limits are lifted so that the run meets the methods and
not the limiter (the limits have their own suites).

One deviation from the spec is configured, not hidden: the official document marks `from` and `fromID`
of the news method as both optional, while its description (and WB) require one of them; a request
with neither is answered 400, which `positive_data_acceptance` is told to accept for that method.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SPECS, Server
from tests.hardening.conftest import COMMON, ERROR_KEYS, python_env

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
MAX_EXAMPLES = 50
OPERATIONS = ["/ping", "/api/communications/v2/news", "/api/v1/seller-info"]
CONFIG = f"""
[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true

[checks]
enabled = true

[[operations]]
include-path = "/api/communications/v2/news"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "429"]
"""


def run_schemathesis(tmp_path: Path, location: str, base_url: str, token: str, *extra: str) -> dict[str, Any]:
    """One schemathesis run; its HAR log (every request and response it made)."""
    if not SCHEMATHESIS.exists():
        pytest.fail(
            f"schemathesis is not installed in this environment ({SCHEMATHESIS}): pip install -e '.[dev]'"
        )
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    har = tmp_path / "run.har"
    args = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        location,
        "--url",
        base_url,
        "--header",
        f"Authorization: {token}",
        "--workers",
        "1",
        "--no-color",
        "--report",
        "har",
        "--report-har-path",
        str(har),
        *extra,
    ]
    done = subprocess.run(
        args, cwd=tmp_path, env=python_env(), capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert token not in output  # schemathesis masks the Authorization header in its report
    assert done.returncode == 0, output[-6000:]
    assert "No issues found" in output, output[-6000:]
    log: dict[str, Any] = json.loads(har.read_text())
    return log


def judge(log: dict[str, Any], figures: dict[str, Any]) -> None:
    """Our own look at every exchange: never a 5xx; every refusal is a WB error body."""
    entries = log["log"]["entries"]
    statuses: Counter[str] = Counter()
    for e in entries:
        status = e["response"]["status"]
        statuses[str(status)] += 1
        assert status < 500, e
        if status >= 400:
            content = e["response"]["content"]
            assert content["mimeType"] == "application/problem+json", e
            body = json.loads(content["text"])
            assert set(body) == ERROR_KEYS, body
            assert body["status"] == status
            headers = {h["name"].lower(): h["value"] for h in e["response"]["headers"]}
            assert body["requestId"] == headers["x-request-id"]
            if status == 405:
                assert headers["allow"] == "GET, HEAD, OPTIONS"
    figures["requests"] = len(entries)
    figures["statuses"] = dict(sorted(statuses.items()))
    assert statuses["200"] > 0 and statuses["401"] > 0 and statuses["405"] > 0, statuses


def test_the_official_spec_judges_the_general_methods(
    lifted_server: Server, tmp_path: Path, figures: dict[str, Any]
) -> None:
    srv = lifted_server
    token = srv.token(srv.seller(), "personal", "all")
    spec = SPECS / "01-general.yaml"
    assert spec.exists(), spec
    include = [arg for path in OPERATIONS for arg in ("--include-path", path)]
    log = run_schemathesis(tmp_path, str(spec), f"{srv.base_url}{COMMON}", token, *include)
    judge(log, figures)
    tested = {
        e["request"]["url"].split("?")[0].removeprefix(f"{srv.base_url}{COMMON}")
        for e in log["log"]["entries"]
    }
    assert set(OPERATIONS) <= tested, tested
    figures["operations"] = len(OPERATIONS)
    figures["max examples per operation"] = MAX_EXAMPLES


def test_our_own_openapi_document_judges_the_server(
    lifted_server: Server, tmp_path: Path, figures: dict[str, Any]
) -> None:
    """Our /openapi.json, fetched from the server itself, against the bare address (routing by path)."""
    srv = lifted_server
    token = srv.token(srv.seller(), "base", "content")
    log = run_schemathesis(tmp_path, f"{srv.base_url}/openapi.json", srv.base_url, token)
    judge(log, figures)
