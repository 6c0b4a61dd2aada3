"""A new user's first hour (issue 11): the real `wbseller`, in a pipe, with a home directory and an
environment of its own. Every printed command runs as printed; every mistake is one sentence on
stderr and a non-zero exit, never a traceback; no read-only command makes a database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import REPO, Server, free_port, stop_process
from wbseller.storage import TokenRecord

T = TypeVar("T")
Proc = subprocess.CompletedProcess[str]
VENV_BIN = Path(sys.executable).parent
WBSELLER = VENV_BIN / "wbseller"  # the script `make run` starts, with the virtualenv not active
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SANDBOX = {
    "content": 1 << 1,
    "prices": 1 << 3,
    "statistics": 1 << 5,
    "promotion": 1 << 6,
    "feedbacks": 1 << 7,
}


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A newcomer's shell: no WBSELLER_* or WB_API_* settings, no COLUMNS, a PATH without the venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WBSELLER_", "WB_API_", "PYTEST", "COV_")) and k != "COLUMNS"
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN)
    env.update(HOME=str(home), NO_COLOR="1", **extra)
    return env


def run(home: Path, *args: str, input: str | None = None, cwd: Path | None = None, **env: str) -> Proc:
    """`wbseller ARGS` in a pipe (stdin from `input`, or nothing)."""
    return subprocess.run(
        [str(WBSELLER), *args],
        check=False,
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        env=clean_env(home, **env),
        cwd=cwd or home,
        timeout=120,
    )


def side_by_side(*calls: Callable[[], T]) -> list[T]:
    with ThreadPoolExecutor(max_workers=min(4, len(calls))) as pool:
        return list(pool.map(lambda call: call(), calls))


def one_sentence(p: Proc, *words: str) -> str:
    """A refusal: exit != 0, nothing on stdout, one line on stderr with these words, no traceback."""
    assert p.returncode != 0, (p.args, p.stdout, p.stderr)
    assert p.stdout == "", p.stdout
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def ok(p: Proc) -> str:
    assert p.returncode == 0, (p.args, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    return p.stdout


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def made(home: Path) -> tuple[Path, str]:
    """A data directory with a seller (made by the real CLI), and its sid."""
    data = home / "data"
    return data, ok(run(home, "seller", "create", "--name", "ИП Новичков", "--data-dir", str(data))).strip()


class Serving:
    """`wbseller serve` started as `make run` starts it; its start-up text read as it comes."""

    def __init__(self, home: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(WBSELLER), "serve", "--port", str(self.port), "--log-level", "warning", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(home, **env),
            cwd=home,
        )
        self.lines: list[str] = []

    def read_until(self, word: str, timeout: float = 30) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            if word in line:
                return "".join(self.lines)
        raise AssertionError(f"no {word!r} in:\n{''.join(self.lines)}")

    def command(self, starts: str) -> str:
        """The printed command line that starts so (its leading spaces gone)."""
        found = [line.strip() for line in self.lines if line.strip().startswith(starts)]
        assert found, "".join(self.lines)
        return found[0]

    def stop(self) -> None:
        stop_process(self.proc)  # type: ignore[arg-type]


@pytest.fixture
def serving(home: Path) -> Iterator[Callable[..., Serving]]:
    started: list[Serving] = []

    def start(*args: str, **env: str) -> Serving:
        started.append(Serving(home, *args, **env))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def shell(line: str, home: Path, cwd: Path, **env: str) -> Proc:
    return subprocess.run(
        ["bash", "-c", line],
        check=False,
        capture_output=True,
        text=True,
        env=clean_env(home, **env),
        cwd=cwd,
        timeout=60,
    )


# --- items 1-3: the printed commands run as printed, on the storage that is served --------------


def test_make_run_prints_commands_that_run_as_printed(
    home: Path, tmp_path: Path, serving: Callable[..., Serving]
) -> None:
    # `make run` serves ./data of the directory it is started in, with the virtualenv not active.
    make = subprocess.run(
        ["make", "-n", "run"], cwd=REPO, capture_output=True, text=True, check=False, timeout=60
    )
    assert f"--data-dir {REPO / 'data'}" in make.stdout, make.stdout
    srv = serving("--data-dir", "data")
    text = srv.read_until("--login owner")
    assert f"SQLite in {home / 'data'}" in text
    create = srv.command("TOKEN=$(")
    password = srv.command("echo ")
    assert f"--data-dir {home / 'data'}" in create and f"--data-dir {home / 'data'}" in password
    # In another shell, elsewhere, without the virtualenv on the PATH: the lines work as printed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = shell(create + ' && printf %s "$TOKEN"', home, elsewhere)
    assert got.returncode == 0, got.stderr
    r = httpx.get(f"http://127.0.0.1:{srv.port}/ping", headers={"Authorization": got.stdout}, timeout=10)
    assert r.status_code == 200, r.text
    assert shell(password, home, elsewhere).returncode == 0
    # The CLI's default data directory is the server's default, and a miss says where it looked.
    sid = re.search(r"--seller (\S+)", create)
    assert sid is not None
    miss = run(home, "token", "list", "--seller", sid.group(1))
    one_sentence(miss, str(home / ".local" / "share" / "wbseller"), "--data-dir")
    assert not (home / ".local").exists()


def test_read_only_commands_make_no_database(home: Path, made: tuple[Path, str]) -> None:
    data, sid = made
    token = ok(run(home, "token", "create", "--seller", sid, "--type", "base", "--categories", "content",
                   "--data-dir", str(data))).strip()  # fmt: skip
    fresh = home / "fresh"
    where = str(fresh)
    procs = side_by_side(
        *[
            (lambda a=a: run(home, *a, "--data-dir", where))
            for a in (
                ("seller", "list", "--json"),
                ("token", "list", "--seller", sid),
                ("key", "list"),
                ("service", "list"),
                ("user", "list", "--seller", sid),
            )
        ],
        lambda: run(home, "token", "decode", "--data-dir", where, input=token),
        lambda: run(home, "token", "decode", "--data-dir", str(data), input=token),
    )
    *misses, decoded_elsewhere, decoded_here = procs
    for p in misses:
        one_sentence(p, f"no wbseller database in {where}")
    assert decoded_elsewhere.returncode == 1
    assert f"reason: not checked: no wbseller database in {where}" in decoded_elsewhere.stdout
    assert not fresh.exists()
    # Against the data directory that signed it: valid, and no `reason: None`.
    text = ok(decoded_here)
    assert "valid: True" in text and "reason" not in text and "serviceId" not in text
    assert re.search(r"^expires: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", text, re.M)


# --- items 4, 10-13: mistakes before start: one sentence, nothing made -------------------------


def test_mistakes_at_start_are_one_sentence(home: Path) -> None:
    data = home / "never"
    cfg_bad = home / "bad.toml"
    cfg_bad.write_text("[server\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        dd = ("--data-dir", str(data))
        procs = side_by_side(
            lambda: run(home, "serve", "--port", port, *dd),
            lambda: run(home, "serve", "--port", str(free_port()), *dd, WBSELLER_REDIS_URL="notaurl"),
            lambda: run(home, "serve", "--port", str(free_port()), "--config", str(home / "none.toml"), *dd),
            lambda: run(home, "serve", "--port", str(free_port()), "--config", str(cfg_bad), *dd),
            lambda: run(home, "serve", "--port", str(free_port()), "--data-dir", "/etc/hostname/sub"),
            lambda: run(home, "seller", "create", "--name", "X", "--data-dir", "/etc/hostname/sub"),
            lambda: run(home, "seller", "list", *dd, WBSELLER_DATABASE_URL="mysql://u@h/db"),
        )
    busy_port, bad_redis, no_config, bad_config, not_dir, not_dir_cli, mysql = procs
    one_sentence(busy_port, f"port {port} is in use")
    one_sentence(bad_redis, "notaurl", "redis://")
    one_sentence(no_config, str(home / "none.toml"), "no such file")
    one_sentence(bad_config, str(cfg_bad), "not valid TOML")
    for p in (not_dir, not_dir_cli):
        one_sentence(p, "/etc/hostname/sub", "Not a directory")
    one_sentence(mysql, "mysql://", "postgresql://", "postgres://")
    assert not data.exists()


def redis_up(port: int = 6379) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_redis_is_checked_at_start(home: Path, serving: Callable[..., Serving]) -> None:
    if not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    data = ("--data-dir", str(home / "data"))
    refused = run(
        home,
        "serve",
        "--port",
        str(free_port()),
        *data,
        WBSELLER_REDIS_URL="redis://:s3cret@127.0.0.1:6379/99",
        WBSELLER_LIMITER_FAIL_OPEN="0",
    )
    line = one_sentence(refused, "redis://127.0.0.1:6379/99", "DB index", "fail closed")
    assert "s3cret" not in line
    # Away, failing open: it starts, and says so first.
    away = f"redis://127.0.0.1:{free_port()}/0"
    srv = serving(*data, WBSELLER_REDIS_URL=away)
    text = srv.read_until("listening on")
    text = srv.read_until("warning")
    assert f"Redis at {away} does not answer" in text and "fail open" in text


def postgres_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
    except OSError:
        return False
    return subprocess.run(["psql", "--version"], capture_output=True, check=False).returncode == 0


def test_postgresql_url_forms_and_a_missing_database(
    home: Path, tmp_path: Path, serving: Callable[..., Serving]
) -> None:
    if not postgres_up():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    name = f"wbseller_first_hour_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    srv: Serving | None = None
    try:
        missing = run(home, "seller", "list", WBSELLER_DATABASE_URL=url)
        one_sentence(
            missing, f"'{name}'", "does not exist", f"createdb -h 127.0.0.1 -p 5432 -U postgres {name}"
        )
        # The server may make it; its hint names the setting that reaches the same storage.
        srv = serving(WBSELLER_DATABASE_URL=url.replace("postgresql://", "postgres://"))
        text = srv.read_until("TOKEN=$(")
        assert f"created the PostgreSQL database '{name}'" in text
        export = srv.command("export WBSELLER_DATABASE_URL=")
        assert export.endswith(f"postgres://postgres@127.0.0.1:5432/{name}")
        got = shell(export + " && " + srv.command("TOKEN=$(") + ' && printf %s "$TOKEN"', home, tmp_path)
        assert got.returncode == 0, got.stderr
        r = httpx.get(f"http://127.0.0.1:{srv.port}/ping", headers={"Authorization": got.stdout}, timeout=10)
        assert r.status_code == 200, r.text
    finally:
        if srv is not None:
            srv.stop()  # before the drop: a database in use cannot be dropped
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}"'],
            capture_output=True,
            check=False,
            timeout=30,
        )


# --- items 5-9: output a script can use ----------------------------------------------------------


def test_tables_json_and_help_in_a_pipe(home: Path, made: tuple[Path, str]) -> None:
    data, sid = made
    dd = ("--data-dir", str(data))
    svc = ok(run(home, "service", "create", "--name", "ERP", "--categories", "content", "--read-only", *dd))
    token = ok(run(home, "token", "create", "--seller", sid, "--type", "base", "--categories", "all", *dd))
    table, sellers, services, keys, helped, top_help = side_by_side(
        lambda: run(home, "token", "list", "--seller", sid, *dd),
        lambda: run(home, "seller", "list", *dd),
        lambda: run(home, "service", "list", "--json", *dd),
        lambda: run(home, "key", "list", "--json", *dd),
        lambda: run(home, "token", "create", "--help"),
        lambda: run(home, "--help"),
    )
    # Whole ids, first in tab-separated columns: `cut -f1` gives what `token revoke` takes.
    rows = [line.split("\t") for line in ok(table).splitlines()]
    assert rows[0][:3] == ["id", "type", "state"]
    token_id = rows[1][0]
    assert str(uuid.UUID(token_id)) == token_id and token.strip() not in table.stdout
    assert [r[0] for r in (line.split("\t") for line in ok(sellers).splitlines())][1:] == [sid]
    assert json.loads(ok(services)) == [
        {
            "id": int(svc),
            "name": "ERP",
            "categories": ["content"],
            "readOnly": True,
            "created": json.loads(services.stdout)[0]["created"],
        }
    ]
    assert RFC3339.match(json.loads(services.stdout)[0]["created"])
    [key] = json.loads(ok(keys))
    assert key["signing"] is True and RFC3339.match(key["created"])
    for h in (helped, top_help):
        assert "…" not in ok(h)
    assert "--accept-liability" in helped.stdout and "$WBSELLER_DATA_DIR" in helped.stdout
    ok(run(home, "token", "revoke", token_id, *dd))


def test_token_states_decode_and_keys(home: Path, made: tuple[Path, str]) -> None:
    data, sid = made
    dd = ("--data-dir", str(data))
    srv = Server(data)
    uid = srv.cli("user", "create", "--seller", sid, "--name", "Уходящий")
    svc = srv.cli("service", "create", "--name", "ERP", "--categories", "marketplace")
    active = srv.token(sid, "base", "content")
    revoked = srv.token(sid, "base", "content")
    orphan = srv.token(sid, "base", "content", user=uid)
    service = srv.token(sid, "service", service=svc)
    ids = {name: json.loads(decode_payload(t))["id"] for name, t in
           (("active", active), ("revoked", revoked), ("orphan", orphan), ("service", service))}  # fmt: skip
    srv.cli("token", "revoke", ids["revoked"])
    srv.cli("user", "delete", uid)
    expired_id = str(uuid.uuid4())

    async def insert_expired(storage: Any) -> None:
        owner = await storage.owner_of(sid)
        kid = (await storage.signing_keys())[0][0]
        await storage.insert_token(
            TokenRecord(expired_id, sid, owner.id, kid, "base", "old", "", 2, None, 1.0e9, 1.0e9 + 60, None)
        )

    srv.run_storage(insert_expired)
    listed, every, decoded = side_by_side(
        lambda: run(home, "token", "list", "--seller", sid, "--json", *dd),
        lambda: run(home, "token", "list", "--seller", sid, "--all", "--json", *dd),
        lambda: run(home, "token", "decode", *dd, input=service),
    )
    states = {r["id"]: r["state"] for r in json.loads(ok(listed))}
    assert states == {
        ids["active"]: "active",
        ids["orphan"]: "user deleted",
        ids["service"]: "active",
        expired_id: "expired",
    }
    all_rows = {r["id"]: r for r in json.loads(ok(every))}
    assert all_rows[ids["revoked"]]["state"] == "revoked" and all_rows[ids["revoked"]]["revoked"] is True
    for r in all_rows.values():
        for field in ("created", "expires"):
            assert RFC3339.match(r[field]), r
    assert RFC3339.match(all_rows[ids["revoked"]]["revokedAt"])
    assert all_rows[ids["active"]]["revokedAt"] is None
    text = ok(decoded)
    assert f"serviceId: {svc}" in text and "type: service" in text and "reason" not in text
    # key list marks the key that signs new tokens: the newest, after a rotation.
    new_kid = srv.cli("key", "rotate")
    lines = [line.split("\t") for line in srv.cli("key", "list").splitlines()]
    assert [(line[0], line[2:]) for line in lines][-1] == (new_kid, ["signing"])
    assert all(len(line) == 2 for line in lines[:-1])


def decode_payload(token: str) -> str:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


# --- items 14-16: typos and bad input are refused, saying what is valid -------------------------


def test_typos_and_bad_input_are_refused(home: Path, made: tuple[Path, str]) -> None:
    data, sid = made
    dd = ("--data-dir", str(data))
    news = home / "news.json"
    bad = {
        "no-id.json": [{"header": "h", "content": "c", "date": "2025-02-05"}],
        "bad-type-id.json": [
            {
                "id": 1,
                "header": "h",
                "content": "c",
                "date": "2025-02-05",
                "types": [{"id": "x", "name": "n"}],
            }
        ],
        "empty-header.json": [{"id": 2, "header": "", "content": "c", "date": "2025-02-05"}],
        "bad-date.json": [{"id": 3, "header": "h", "content": "c", "date": "вчера"}],
    }
    for name, doc in bad.items():
        (home / name).write_text(json.dumps(doc, ensure_ascii=False))
    news.write_text("[]")
    calls = [
        ("seller", "block", "--seller", sid, "--method", "seler-info"),
        ("seller", "subscribe", "--seller", sid, "--name", "whatever"),
        ("token", "list", "--seller", "nope"),
        ("token", "create", "--seller", sid, "--type", "test", "--categories", "marketplace"),
        ("seller", "create", "--name", " "),
        ("seller", "create", "--name", "ООО Х", "--tin", "12345"),
        ("news", "add", "--header", "", "--content", "x"),
        ("news", "add", "--header", "x", "--content", " "),
        *[("news", "import", str(home / name)) for name in bad],
    ]
    procs = side_by_side(*[(lambda c=c: run(home, *c, *dd)) for c in calls])
    block, subscribe, no_seller, test_outside, no_name, bad_tin, no_header, no_text, *imports = procs
    one_sentence(block, "'seler-info'", "did you mean seller-info")
    one_sentence(subscribe, "'whatever'", "jam")
    one_sentence(no_seller, "no seller nope", str(data / "wbseller.db"), sid)
    one_sentence(test_outside, "marketplace", "sandbox", "content, prices")
    one_sentence(no_name, "name")
    one_sentence(bad_tin, "10 digits", "12")
    one_sentence(no_header, "header")
    one_sentence(no_text, "--content")
    no_id, bad_type_id, empty_header, bad_date = imports
    one_sentence(no_id, 'item 0 has no "id"', "positive whole number")
    one_sentence(bad_type_id, "item 0 (id 1), types[0]", '"id"', '"x"')
    one_sentence(empty_header, "item 0 (id 2)", '"header"', "non-empty")
    one_sentence(bad_date, "item 0 (id 3)", '"date"', "ISO 8601")
    for p in imports:
        assert "KeyError" not in p.stderr and "ValueError" not in p.stderr
    # `all` for a test token: every category with a sandbox, and no other.
    test = ok(run(home, "token", "create", "--seller", sid, "--type", "test", "--categories", "all", *dd))
    assert json.loads(decode_payload(test.strip()))["s"] == sum(SANDBOX.values())
    # user list --seller: the owner made with the seller, found.
    [owner] = json.loads(ok(run(home, "user", "list", "--seller", sid, "--json", *dd)))
    assert (owner["role"], owner["deleted"]) == ("owner", None) and RFC3339.match(owner["created"])


# --- click's own usage errors too: one sentence, a hint, exit 2, for every command ---------------


def usage_error(p: Proc, path: str, *words: str) -> str:
    """A usage mistake: exit 2, nothing on stdout, `error: PATH: ...` and the hint, no box, no traceback."""
    assert p.returncode == 2, (p.args, p.returncode, p.stdout, p.stderr)
    assert p.stdout == "", p.stdout
    for bad in ("Traceback", "╭", "│", "Usage:"):
        assert bad not in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert lines == [lines[0], f"see `{path} --help`"], p.stderr
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_usage_mistakes_are_one_sentence(home: Path, tmp_path: Path) -> None:
    data = home / "never"
    dd = ("--data-dir", str(data))
    cases: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = [
        # the server's commands
        (("token", "create", "--bogus", *dd), "wbseller token create", ("no such option --bogus",)),
        (("token", "create", "--type", "base", *dd), "wbseller token create", ("missing option '--seller'",)),
        (("token", "revoke", *dd), "wbseller token revoke", ("missing argument",)),
        (("token", "revoke", "a", "b", *dd), "wbseller token revoke", ("unexpected extra argument", "(b)")),
        (("serve", "--port", "x", *dd), "wbseller serve", ("'--port'", "valid integer")),
        (("token", "create", "--seller", "s", "--type", "nope", *dd), "wbseller token create",
         ("'--type'", "'nope' is not one of", "'personal'")),
        (("seller", "create", *dd, "--name"), "wbseller seller create", ("'--name' requires an argument",)),
        (("token", "list", "--seller", "s", "--json=3", *dd), "wbseller token list", ("'--json'",)),
        (("frobnicate",), "wbseller", ("no such command 'frobnicate'", "token", "catalog", "seller-info")),
        (("tokn", "list"), "wbseller", ("no such command 'tokn'", "did you mean 'token'")),
        (("news", "frob", *dd), "wbseller news", ("no such command 'frob'", "add, import")),
        # the client's commands
        (("ping", "--bogus"), "wbseller ping", ("no such option --bogus",)),
        (("news", "--from-id", "-1"), "wbseller news", ("'--from-id'", "greater than or equal to 0")),
        (("seller-info", "extra"), "wbseller seller-info", ("unexpected extra argument", "(extra)")),
        # the catalog's
        (("catalog", "build"), "wbseller catalog build", ("missing option '--from'",)),
        (("catalog", "diff", "--from"), "wbseller catalog diff", ("'--from' requires an argument",)),
        (("catalog", "bild"), "wbseller catalog", ("no such command 'bild'", "did you mean 'build'")),
    ]  # fmt: skip
    procs = side_by_side(*[(lambda a=args: run(home, *a)) for args, _, _ in cases])
    for p, (_, path, words) in zip(procs, cases, strict=True):
        usage_error(p, path, *words)
    assert not data.exists()
    # `python -m wbseller.catalog` is the same app under its own name.
    module = subprocess.run(
        [sys.executable, "-m", "wbseller.catalog", "build"],
        capture_output=True, text=True, check=False, env=clean_env(home), cwd=home, timeout=60,
    )  # fmt: skip
    usage_error(module, "python -m wbseller.catalog build", "missing option '--from'")
    # --help is untouched: exit 0, on stdout; a group given no command still shows its help.
    helped, bare = side_by_side(lambda: run(home, "token", "create", "--help"), lambda: run(home, "token"))
    assert "Usage: wbseller token create" in ok(helped) and "--accept-liability" in helped.stdout
    assert bare.returncode == 2 and "Usage: wbseller token" in bare.stdout and "create" in bare.stdout


def test_catalog_commands(home: Path, tmp_path: Path) -> None:
    from tests.conftest import SPECS

    empty = tmp_path / "empty"
    empty.mkdir()
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    no_documents = run(home, "catalog", "diff", "--from", str(empty))
    assert no_documents.returncode == 1
    one_sentence(no_documents, str(empty), "no NN-*.yaml")
    if not SPECS.is_dir():
        pytest.skip(f"no WB documents in {SPECS}")
    out = tmp_path / "built"
    built, unwritable = side_by_side(
        lambda: run(home, "catalog", "build", "--from", str(SPECS), "--out", str(out)),
        lambda: run(home, "catalog", "build", "--from", str(SPECS), "--out", str(not_a_dir)),
    )
    assert "302 operations in 14 files" in ok(built) and "302 added" in built.stdout
    assert unwritable.returncode == 1
    one_sentence(unwritable, "cannot write the catalog to", str(not_a_dir))
    # diff writes nothing: against what was just built, unchanged; against an empty one, all added.
    (out / "01-general.json").unlink()
    same, fresh = side_by_side(
        lambda: run(home, "catalog", "diff", "--from", str(SPECS), "--against", str(out)),
        lambda: run(home, "catalog", "diff", "--from", str(SPECS), "--against", str(empty)),
    )
    assert re.search(r"^operations: \d+ added, 0 removed, 0 changed;", ok(same), re.M), same.stdout
    assert not (out / "01-general.json").exists()
    assert "operations: 302 added" in ok(fresh) and list(empty.iterdir()) == []


# --- items 2, 13 and 18, the parts not shown above ----------------------------------------------


def test_serve_and_the_cli_share_one_default_data_dir(home: Path, serving: Callable[..., Serving]) -> None:
    default = home / ".local" / "share" / "wbseller"
    srv = serving()  # no --data-dir, no WBSELLER_DATA_DIR
    text = srv.read_until("--login owner")
    assert f"SQLite in {default}" in text
    sid = re.search(r"--seller (\S+)", srv.command("TOKEN=$("))
    assert sid is not None
    # The CLI without --data-dir finds the seller `serve` made there.
    [seller] = json.loads(ok(run(home, "seller", "list", "--json")))
    assert seller["sid"] == sid.group(1) and RFC3339.match(seller["created"])


def test_a_data_dir_that_cannot_be_written(home: Path) -> None:
    """A directory of another owner, read-only: as root that takes dropping root's file capabilities
    (setpriv), since root may write anywhere."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to make a directory this process cannot write")
    locked = home / "locked"
    locked.mkdir()
    os.chown(locked, 65534, 65534)
    locked.chmod(0o555)
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--", str(WBSELLER)]

    def unprivileged(*args: str) -> Proc:
        return subprocess.run(
            [*drop, *args, "--data-dir", str(locked)],
            check=False, input="", capture_output=True, text=True, env=clean_env(home), cwd=home, timeout=120,
        )  # fmt: skip

    created, served = side_by_side(
        lambda: unprivileged("seller", "create", "--name", "X"),
        lambda: unprivileged("serve", "--port", str(free_port())),
    )
    for p in (created, served):
        assert p.returncode == 1
        one_sentence(p, f"cannot use the data directory {locked}")
    assert list(locked.iterdir()) == []


def test_head_and_options_are_answered(server: Server) -> None:
    token = server.token(server.seller(), "personal", "content")
    got = server.get("/content-api/ping", token)
    head = server.get("/content-api/ping", token, method="HEAD")
    assert (got.status_code, head.status_code) == (200, 200)
    assert head.content == b""
    same = ("content-type", "content-length", "x-ratelimit-limit")
    assert [head.headers.get(h) for h in same] == [got.headers.get(h) for h in same]
    # HEAD is a GET for the limit too: it is charged, and shows what is left.
    assert int(head.headers["x-ratelimit-remaining"]) < int(got.headers["x-ratelimit-remaining"])
    refused = server.get("/content-api/ping", method="HEAD")  # no token: the 401's headers, no body
    assert refused.status_code == 401 and refused.content == b""
    assert refused.headers["content-type"] == "application/problem+json"
    for path, allow in (
        ("/content-api/ping", "GET, HEAD, OPTIONS"),
        ("/api/v1/seller-info", "GET, HEAD, OPTIONS"),
    ):
        options = server.get(path, method="OPTIONS")
        assert (options.status_code, options.headers.get("allow"), options.content) == (204, allow, b"")
