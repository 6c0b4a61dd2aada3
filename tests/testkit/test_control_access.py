"""Who may use the control API, and its CLI: refused without --control, from a non-loopback peer without
the control token, from a browser page or through a proxy; `wbseller control ...`; the journal's parts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import Server, assert_wb_error, free_port
from wbseller.cli import app
from wbseller.config import Settings
from wbseller.gateway.faults import FaultError, Faults
from wbseller.gateway.journal import Journal
from wbseller.methods.table import load_table
from wbseller.server import create_app
from wbseller.testing import ControlClient, ControlError, WBServer

SECRET = "kit-control-token-0123456789"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A started server in this process with the control API and a control token."""
    data_dir = tmp_path_factory.mktemp("control")
    gw = create_app(Settings(data_dir=data_dir, control=True, control_token=SECRET))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(gw.startup())
    gw.loop = loop  # type: ignore[attr-defined]
    yield gw
    loop.run_until_complete(gw.shutdown())
    loop.close()


def call(gw: Any, peer: str, path: str = "/_wbseller/sellers", **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=gw, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            return await c.get(path, headers=headers)

    r: httpx.Response = gw.loop.run_until_complete(go())
    assert "access-control-allow-origin" not in r.headers
    return r


def test_a_non_loopback_peer_needs_the_control_token(gateway: Any) -> None:
    body = assert_wb_error(call(gateway, "203.0.113.7"), 403)
    assert "X-Control-Token" in body["detail"].replace("x-control-token", "X-Control-Token")
    assert_wb_error(call(gateway, "203.0.113.7", **{"X-Control-Token": SECRET + "x"}), 403)
    assert call(gateway, "203.0.113.7", **{"X-Control-Token": SECRET}).status_code == 200
    assert call(gateway, "127.0.0.1").status_code == 200
    assert call(gateway, "::1").status_code == 200


def test_a_browser_page_or_a_proxy_on_loopback_needs_it_too(gateway: Any) -> None:
    assert_wb_error(call(gateway, "127.0.0.1", Origin="https://evil.example"), 403)
    assert_wb_error(call(gateway, "127.0.0.1", **{"X-Forwarded-For": "198.51.100.1"}), 403)
    ok = call(gateway, "127.0.0.1", Origin="https://evil.example", **{"X-Control-Token": SECRET})
    assert ok.status_code == 200


def test_the_control_token_is_never_shown(gateway: Any) -> None:
    assert SECRET not in repr(gateway.settings)
    shown = json.dumps([e.as_json() for e in gateway.journal.requests()])
    assert SECRET not in shown


def test_without_control_there_is_no_control_api(server: Server) -> None:
    for verb, path in (
        ("POST", "/_wbseller/reset"),
        ("GET", "/_wbseller/journal"),
        ("POST", "/_wbseller/faults"),
    ):
        assert_wb_error(httpx.request(verb, server.base_url + path, timeout=10), 404)
    with pytest.raises(ControlError, match="has no control API: start it with --control"):
        ControlClient(server.base_url).reset()
    r = httpx.post(server.base_url + "/_wbseller/clock", json={"advance": 0}, timeout=10)
    assert r.status_code == 200  # --test-clock alone keeps its clock endpoint


def test_the_cli_drives_a_running_server(wb_server: WBServer) -> None:
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(app, ["control", *args, "--url", wb_server.url])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if result.stdout.strip()[:1] in "[{" else result.stdout.strip()

    before = run("clock")["now"]
    assert run("clock", "--advance", "60")["now"] >= before + 60
    rule = run("fault", "add", "GET /api/v3/orders/new", "--status", "503", "--times", "1")
    assert [r["id"] for r in run("fault", "list")] == [rule["id"]]
    token = run("token", "--type", "personal", "--categories", "marketplace")
    r = httpx.get(wb_server.url + "/marketplace-api/api/v3/orders/new", headers={"Authorization": token})
    assert_wb_error(r, 503)
    assert [e["status"] for e in run("journal")] == [503]
    assert run("journal", "--errors")[0]["request_id"] == r.headers["x-request-id"]
    assert run("reset")["demo"]["name"] == "ИП Демо Д. Д."
    assert run("fault", "list") == []


def test_cli_mistakes_are_one_sentence(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["control", "reset", "--url", url])
    assert result.exit_code == 1 and result.output.startswith(f"error: cannot reach wbseller at {url}")
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    port = str(free_port())
    serve = ["serve", "--port", port, "--data-dir", str(tmp_path), "--control", "--workers", "2"]
    result = runner.invoke(app, serve)
    assert result.exit_code == 2, result.output
    assert "--control needs --workers 1" in result.output and "Traceback" not in result.output


def test_faults_refuse_a_bad_rule_in_one_sentence() -> None:
    faults = Faults(load_table(None), clock=type("C", (), {"now": lambda self: 0.0})())
    for spec, words in (
        ({"match": "*", "status": 200}, "status must be an error status"),
        ({"match": "*", "drop": True, "status": 503}, "not both"),
        ({"match": "*", "delay": -1}, "delay must be"),
        ({"match": "*", "status": 503, "share": 0}, "share must be"),
        ({"match": "*", "status": 503, "times": 0}, "times must be"),
        ({"match": "*", "status": 503, "colour": 1}, "unknown field 'colour'"),
        ({"match": "PUT nothing", "status": 503}, "is no operation id"),
    ):
        with pytest.raises(FaultError, match=words):
            faults.add(spec)
    assert faults.rules == ()


def test_the_error_journal_is_bounded_and_found_by_request_id() -> None:
    journal = Journal("ab" * 8, errors=3)
    for n in range(1, 6):
        journal.add_error((float(n), "marketplace-api", "op", 401, "token-unknown", "d", None, None, n))
    assert journal.error("ab" * 8 + "%016x" % 1) is None  # pushed out  # noqa: UP031
    found = journal.error("ab" * 8 + "%016x" % 5)  # noqa: UP031
    assert found is not None and found.at == 5.0 and found.status == 401
    assert found.request_id == "ab" * 8 + "%016x" % 5  # noqa: UP031
    assert journal.error("nonsense") is None and journal.error("ab" * 8 + "zz") is None
    assert [e.at for e in journal.errors()] == [5.0, 4.0, 3.0]


def test_the_redis_limiter_resets_only_its_own_keys() -> None:
    import uuid

    import redis

    from wbseller.clock import SystemClock
    from wbseller.ratelimit import Rate
    from wbseller.ratelimit.redis import RedisLimiter

    url = "redis://127.0.0.1:6379/0"
    prefix = (
        f"kit{uuid.uuid4().hex[:8]}"  # its own: a reset of the default prefix would empty others' buckets
    )
    other = f"{prefix}-not-ours"
    plain = redis.Redis.from_url(url)
    plain.set(other, "1")

    async def go() -> int:
        limiter = RedisLimiter(url, SystemClock(), prefix=prefix)
        rate = Rate(60, 1, 1)
        try:
            first = await limiter.admit("seller:group:personal", rate, None)
            refused = await limiter.admit("seller:group:personal", rate, None)
            assert first == 0 and not isinstance(refused, int) and not refused.allowed
            await limiter.reset()
            again = await limiter.admit("seller:group:personal", rate, None)
            assert again == 0  # full again
            return len(plain.keys(f"{prefix}:*"))
        finally:
            await limiter.close()

    try:
        assert asyncio.run(go()) >= 1  # the bucket made after the reset
        assert plain.get(other) == b"1"
    finally:
        plain.delete(other, *plain.keys(f"{prefix}:*"))
        plain.close()
