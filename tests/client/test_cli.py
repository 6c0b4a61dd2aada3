"""The client's commands, registered on a Typer app of our own (and on a copy of `wbseller`'s)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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
    assert json.loads(out) == {
        "name": "ИП Консольный",
        "sid": sid,
        "tin": "5001000001",
        "tradeMark": "CLI Store",
    }
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


# --- the real `wbseller` in a pipe (issue 11, item 17) -------------------------------------------


def in_a_pipe(*args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("WB_API_", "WBSELLER_")) and k != "COLUMNS"
    }
    env.update(WB_API_TOKEN=token, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "wbseller", *args],
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def refusal(p: subprocess.CompletedProcess[str], *words: str) -> str:
    assert p.returncode != 0 and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    line = p.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in line, (word, p.stderr)
    return line


def test_client_messages_in_a_pipe(server: Server) -> None:
    sid = server.seller()
    personal = server.token(sid, "personal", "content")
    base = server.token(sid, "base", "content")
    assert (
        in_a_pipe("news", "--from-id", "1", "--json", "--base-url", server.base_url, token=base).returncode
        == 0
    )
    calls = [
        lambda: in_a_pipe("seller-info", "--base-url", server.base_url),
        lambda: in_a_pipe("news", token=personal),
        lambda: in_a_pipe("seller-info", "--base-url", "http://127.0.0.1:9", token=personal),
        lambda: in_a_pipe("news", "--from-id", "1", "--base-url", server.base_url, token=base),
        lambda: in_a_pipe("news", "--from", "[/x]", token=personal),  # rich markup in a value
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        no_token, no_from, away, limited, markup = pool.map(lambda call: call(), calls)
    line = refusal(no_token, "set WB_API_TOKEN")
    assert "token=" not in line
    refusal(no_from, "--from DATE", "--from-id N", "`news add`")
    line = refusal(away, "http://127.0.0.1:9/common-api/api/v1/seller-info")
    assert "wildberries.ru" not in line
    line = refusal(limited, "429", "try again in")
    wait = re.search(r"try again in (\d+) s", line)
    assert wait is not None and 3500 < int(wait.group(1)) <= 3600, line
    assert markup.returncode == 2
    assert refusal(markup, "YYYY-MM-DD") == "error: bad date '[/x]'; use YYYY-MM-DD, e.g. 2025-02-06"


def test_ping_all_shows_its_pauses_in_a_pipe(start_server: Callable[..., Server]) -> None:
    # One bucket for every host, one request per 2 s: the second ping of `--all` waits for a 429's Retry.
    srv = start_server(
        config="[limits.ping]\nper_host = false\nrates.all = { period = 2, limit = 1, burst = 1 }\n"
    )
    token = srv.token(srv.seller(), "personal", "content")
    p = in_a_pipe("ping", "--all", "--base-url", srv.base_url, token=token)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^ping common: waiting \d+\.\d s \(the server answered 429, ping\)$", p.stderr, re.M), (
        p.stderr
    )
    rows = [line.split("\t") for line in p.stdout.splitlines()]
    assert rows[0] == ["category", "host", "status", "server time"]
    assert [(r[0], r[2]) for r in rows[1:]] == [("content", "OK"), ("common", "OK")]
