"""The client's commands, registered on a Typer app of our own (and on a copy of `wbseller`'s)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

import wbseller.cli
from tests.client.helpers import IMPORTED, crafted_token
from tests.conftest import Server
from wbseller.client.cli import register

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def run(app: typer.Typer, token: str | None, *args: str, base_url: str | None = None) -> tuple[int, str, str]:
    env = {"WB_API_TOKEN": token or "", "WB_API_BASE_URL": base_url or ""}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_seller_info_json_and_table(app: typer.Typer, server: Server) -> None:
    sid = server.seller(name="ИП Консольный", tin="5001000001", trade_mark="CLI Store")
    token = server.token(sid, "personal", "content")
    code, out, _ = run(app, token, "seller-info", "--json", "--base-url", server.base_url)
    assert code == 0
    assert json.loads(out) == {"name": "ИП Консольный", "sid": sid, "tin": "5001000001", "tradeMark": "CLI Store"}
    code, out, _ = run(app, token, "seller-info", base_url=server.base_url)  # WB_API_BASE_URL
    assert code == 0 and "CLI Store" in out and "ИП Консольный" in out


def test_ping_one_and_all(app: typer.Typer, server: Server) -> None:
    token = server.token(server.seller(), "base", "content,marketplace")
    code, out, _ = run(app, token, "ping", "content", "--json", "--base-url", server.base_url)
    assert code == 0
    one = json.loads(out)
    assert (one["category"], one["host"], one["Status"]) == ("content", "content-api.wildberries.ru", "OK")
    assert one["TS"].endswith("+03:00")
    code, out, _ = run(app, token, "ping", "--all", "--json", "--base-url", server.base_url)
    assert code == 0
    assert [(r["category"], r["Status"]) for r in json.loads(out)] == [
        ("content", "OK"),
        ("marketplace", "OK"),
        ("common", "OK"),
    ]
    code, out, _ = run(app, token, "ping", "--base-url", server.base_url)
    assert code == 0 and "common" in out and "OK" in out


def test_ping_errors(app: typer.Typer, server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    code, _, err = run(app, token, "ping", "finance", "--base-url", server.base_url)
    assert code == 2 and "not sent" in err and "no finance category" in err
    code, _, err = run(app, token, "ping", "nonsense", "--base-url", server.base_url)
    assert code == 2 and "unknown category" in err
    code, _, err = run(app, token, "ping", "content", "--all")
    assert code == 2 and "not both" in err
    # A token of WB's shape this server never signed, expiring soon: warned, sent, refused.
    code, _, err = run(app, crafted_token(3), "ping", "content", "--base-url", server.base_url)
    assert code == 1
    assert "warning" in err and "expires in 3.0 days" in err
    assert "401 unauthorized" in err and "token-kid-unknown" in err and "request id" in err


def test_token_problems_exit_2(app: typer.Typer) -> None:
    code, _, err = run(app, None, "seller-info")
    assert code == 2 and "WB_API_TOKEN" in err
    code, _, err = run(app, "garbage", "seller-info")
    assert code == 2 and "not a JWT" in err and "garbage" not in err.replace("WB_API_TOKEN", "")


def test_news_pages_and_table(app: typer.Typer, news_server: Server) -> None:
    token = news_server.token(news_server.seller(), "personal", "content")
    base = ["--base-url", news_server.base_url]
    code, out, _ = run(app, token, "news", "--from-id", str(IMPORTED[0]), "--all", "--json", *base)
    assert code == 0
    assert [n["id"] for n in json.loads(out)["data"]] == list(IMPORTED)
    code, out, _ = run(app, token, "news", "--from-id", str(IMPORTED[0]), "--json", *base)
    assert code == 0 and len(json.loads(out)["data"]) == 100  # one page without --all
    code, out, _ = run(app, token, "news", "--from", "2025-02-06", *base)
    assert code == 0 and "7373" in out and "API" in out
    code, _, err = run(app, token, "news", *base)
    assert code == 2 and "--from" in err
    code, _, err = run(app, token, "news", "--from", "06.02.2025", *base)
    assert code == 2 and "YYYY-MM-DD" in err


def test_news_beside_the_server_s_news_group(news_server: Server) -> None:
    """`wbseller` has `news add` and `news import`: the client's commands, registered on the real
    app, keep them and make `news --from ...` read through the API."""
    app = wbseller.cli.app
    token = news_server.token(news_server.seller(), "personal", "content")
    code, out, _ = run(
        app, token, "news", "--from", "2025-02-06", "--json", "--base-url", news_server.base_url
    )
    assert code == 0, out
    assert [n["id"] for n in json.loads(out)["data"]] == [7373]
    result = runner.invoke(app, ["news", "add", "--help"])
    assert result.exit_code == 0 and "--header" in result.stdout
    assert [c.name for c in app.registered_commands].count("ping") == 1
