"""No secret leaks: a run with many failing requests (and working ones) leaves no token, and no token's
signature, in the server's log, in any response (bodies and headers), in /metrics, or in what the CLI
prints about tokens.

The server logs as much as an operator can make it: the access log on, uvicorn's `trace` level (every
ASGI message). The tokens: working ones, revoked, expired, a deleted user's, unknown to storage, with
a tampered payload, signed by another key, and truncated; sent raw and after `Bearer `, to every
General method, on several hosts, until the limits answer 429 too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from tests.conftest import Server
from tests.hardening.conftest import (
    NEWS,
    PING,
    SELLER_INFO,
    b64url,
    jwt_parts,
    secrets_of,
    token_id,
    wait_until,
)
from wbseller.cli import app

ROUNDS = 40
TAMPERED = b'{"id":"x"}'


class VerboseServer(Server):
    """`wbseller serve` with the access log on and uvicorn at its most verbose level."""

    log_flags = ("--access-log", "--log-level", "trace")


@pytest.fixture
def verbose_server(tmp_path: Path) -> Iterator[VerboseServer]:
    srv = VerboseServer(tmp_path / "data").start()
    yield srv
    srv.stop()


def make_tokens(srv: Server) -> dict[str, str]:
    sid = srv.seller()
    good = srv.token(sid, "personal", "all")
    base = srv.token(sid, "base", "content", read_only=True)
    revoked = srv.token(sid, "personal", "content")
    assert srv.get(PING, revoked).status_code == 200
    srv.cli("token", "revoke", token_id(revoked))
    uid = srv.cli("user", "create", "--seller", sid, "--name", "Ушедший")
    orphaned = srv.token(sid, "personal", "all", user=uid)
    srv.cli("user", "delete", uid)
    ring = srv.key_ring()
    payload = jwt_parts(good)[1]
    head, _, sig = good.split(".")
    return {
        "good": good,
        "base": base,
        "revoked": revoked,
        "deleted user": orphaned,
        "expired": ring.sign({**payload, "exp": int(time.time()) - 10}),
        "unknown": ring.sign({**payload, "id": str(uuid.uuid4())}),
        "tampered": f"{head}.{b64url(TAMPERED)}.{sig}",
        "other key": jwt.encode(
            payload,
            ec.generate_private_key(ec.SECP256R1()),
            algorithm="ES256",
            headers={"kid": jwt_parts(good)[0]["kid"]},
        ),
        "truncated": good[:-5],
    }


def test_no_token_in_logs_bodies_or_metrics(verbose_server: VerboseServer, figures: dict[str, Any]) -> None:
    srv = verbose_server
    tokens = make_tokens(srv)
    assert wait_until(lambda: srv.get(PING, tokens["revoked"]).status_code == 401, 5)
    seen: list[str] = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=srv.base_url, timeout=10) as http:
        for _ in range(ROUNDS):
            for token in tokens.values():
                for auth in (token, "Bearer " + token):
                    for path, params in (
                        (PING, {}),
                        ("/content-api/ping", {}),
                        (SELLER_INFO, {}),
                        (NEWS, {"fromID": "1"}),
                    ):
                        r = http.get(path, headers={"Authorization": auth}, params=params)
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        seen.append(r.text)
                        seen.append(repr(r.headers.multi_items()))
        metrics = http.get("/metrics").text
    seen.append(metrics)

    # The CLI about each token: decode (from stdin), and the seller's token list.
    runner = CliRunner()
    for token in tokens.values():
        result = runner.invoke(app, ["token", "decode", "--data-dir", str(srv.data_dir)], input=token)
        seen.append(result.output)
    sid = jwt_parts(tokens["good"])[1]["sid"]
    seen.append(srv.cli("token", "list", "--seller", sid, "--all", "--json"))
    # The access log is written in batches every 0.25 s (gateway/accesslog.py): wait for the lines.
    assert wait_until(
        lambda: srv.log.count(" GET 127.0.0.1") > 0 and srv.log.count(" /common-api/ping 401 ") >= ROUNDS, 5
    )
    log = srv.log
    seen.append(log)

    # Not a rubber stamp: the log has every request, the refusals were many and of every kind.
    assert log.count(" /common-api/ping 401 ") >= ROUNDS, log[-2000:]
    assert "ASGI [" in log  # uvicorn's trace level: every ASGI message was logged
    assert {200, 401, 403, 429} <= set(statuses), statuses
    assert 'wbseller_requests_total{host="common-api",status="401"}' in metrics

    everything = "\n".join(seen)
    leaks = [
        (name, secret[:24])
        for name, token in tokens.items()
        for secret in secrets_of(token)
        if secret in everything
    ]
    assert not leaks, f"token material found: {leaks}"
    figures.update(
        {
            "requests": sum(statuses.values()),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "tokens": len(tokens),
            "log bytes": len(log),
            "places searched": [
                "server log (access, trace)",
                "response bodies",
                "response headers",
                "/metrics",
                "token decode",
                "token list",
            ],
        }
    )
