"""The `wbseller` command as a user runs it: real processes, stdout/stderr and exit codes.

A subprocess costs about a second, so calls that do not depend on each other run side by side, and
setup that is not the point of a test goes through the in-process CLI (`Server.cli`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import Server
from wbseller.storage import NewsItem

T = TypeVar("T")
DAYS_180 = 180 * 24 * 3600
KID_RE = re.compile(r"^(\d{8})v\d+$")
BITS = {"content": 1 << 1, "marketplace": 1 << 4, "finance": 1 << 13}
READ_ONLY = 1 << 30
Proc = subprocess.CompletedProcess[str]


def wbseller(data_dir: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Proc:
    """`python -m wbseller ARGS --data-dir DATA_DIR`, stdin from `input` (or nothing)."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"WB_API_TOKEN", "WBSELLER_DATABASE_URL", "WBSELLER_DATA_DIR", "WBSELLER_CONFIG"}
    }
    full_env.update({"COLUMNS": "250", "NO_COLOR": "1"}, **(env or {}))
    cmd = [sys.executable, "-m", "wbseller", *args, "--data-dir", str(data_dir)]
    if input is None:
        return subprocess.run(
            cmd,
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=120,
        )
    return subprocess.run(
        cmd, check=False, input=input, capture_output=True, text=True, env=full_env, timeout=120
    )


def side_by_side(*calls: Callable[[], T]) -> list[T]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def ok(p: Proc) -> str:
    """A successful run: exit 0, one line on stdout, no traceback; returns that line."""
    assert p.returncode == 0, (p.args, p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    assert p.stdout.endswith("\n")
    assert p.stdout.count("\n") == 1, p.stdout
    return p.stdout.strip()


def failed(p: Proc, *words: str) -> str:
    """A refusal: exit != 0, a clear message (with these words) on stderr, no traceback."""
    assert p.returncode != 0, (p.args, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    message = " ".join(p.stderr.split())
    assert message, "no message on stderr"
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = token.split(".")
    assert len(parts) == 3, token
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts), token
    header, payload = json.loads(unb64(parts[0])), json.loads(unb64(parts[1]))
    assert isinstance(header, dict)
    assert isinstance(payload, dict)
    assert len(unb64(parts[2])) == 64  # ES256: r || s
    return header, payload


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def local(data_dir: Path) -> Server:
    """The in-process CLI on `data_dir` (no server is started), its database made."""
    srv = Server(data_dir)
    srv.run_storage(lambda storage: storage.migrate())  # read-only commands make no database
    return srv


def token_list(local: Server, sid: str, *extra: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(local.cli("token", "list", "--seller", sid, "--json", *extra))
    return rows


# --- sellers, users, services ------------------------------------------------------------------


def test_seller_create_prints_only_a_sid(data_dir: Path) -> None:
    # The first command on a new data directory makes it.
    full = wbseller(
        data_dir,
        "seller",
        "create",
        "--name",
        "ИП Иванов И. И.",
        "--tin",
        "7707083893",
        "--trade-mark",
        "Иванов и сыновья",
    )
    bare = wbseller(data_dir, "seller", "create", "--name", "ООО Ромашка")
    sid_full, sid_bare = ok(full), ok(bare)
    for sid in (sid_full, sid_bare):
        assert str(uuid.UUID(sid)) == sid
    assert sid_full != sid_bare
    local = Server(data_dir)
    sellers = {s["sid"]: s for s in json.loads(local.cli("seller", "list", "--json"))}
    assert set(sellers) == {sid_full, sid_bare}
    assert sellers[sid_full]["name"] == "ИП Иванов И. И."
    assert sellers[sid_full]["tin"] == "7707083893"
    assert sellers[sid_full]["tradeMark"] == "Иванов и сыновья"
    assert (sellers[sid_bare]["name"], sellers[sid_bare]["tin"], sellers[sid_bare]["tradeMark"]) == (
        "ООО Ромашка",
        "",
        "",
    )


def test_commands_at_once_on_a_new_data_dir(data_dir: Path) -> None:
    """Commands started together on a data directory that does not exist yet (a server and a
    CLI, say) make it, or wait for the other: none fails. The race is not deterministic:
    this finds it most of the time, never fails when there is none."""
    procs = side_by_side(
        *[(lambda n=n: wbseller(data_dir, "seller", "create", "--name", f"S{n}")) for n in range(3)]
    )
    sids = [ok(p) for p in procs]
    assert len(set(sids)) == 3


def test_user_create_and_delete(data_dir: Path, local: Server) -> None:
    sid = local.seller()
    uid = int(ok(wbseller(data_dir, "user", "create", "--seller", sid, "--name", "Пётр")))
    out = local.cli("user", "create", "--seller", str(uuid.uuid4()), "--name", "X", ok=False)
    assert "error" in out
    assert "seller" in out
    # A token the user creates carries the user's id.
    token = local.token(sid, "personal", "content", user=str(uid))
    assert jwt_parts(token)[1]["uid"] == uid
    deleted = wbseller(data_dir, "user", "delete", str(uid))
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == ""
    assert "987654321" in local.cli("user", "delete", "987654321", ok=False)
    assert "error" in local.cli("user", "delete", str(uid), ok=False)  # deleted already
    # A deleted user creates no token, and the user's tokens are no longer valid.
    out = local.cli(
        "token",
        "create",
        "--seller",
        sid,
        "--type",
        "base",
        "--categories",
        "content",
        "--user",
        str(uid),
        ok=False,
    )
    assert "deleted" in out
    decoded = json.loads(local.cli("token", "decode", "--json", input=token, ok=False))
    assert decoded["valid"] is False
    assert "deleted" in decoded["reason"]


def test_service_create_prints_an_id(data_dir: Path, local: Server) -> None:
    rw, ro = side_by_side(
        lambda: wbseller(
            data_dir, "service", "create", "--name", "ERP", "--categories", "content,marketplace"
        ),
        lambda: wbseller(
            data_dir, "service", "create", "--name", "BI", "--categories", "finance", "--read-only"
        ),
    )
    ids = {int(ok(rw)), int(ok(ro))}
    assert len(ids) == 2
    out = local.cli("service", "create", "--name", "Bad", "--categories", "content,nosuch", ok=False)
    assert "nosuch" in out


# --- tokens ------------------------------------------------------------------------------------


def test_token_create_for_each_type_prints_only_the_token(data_dir: Path, local: Server) -> None:
    sid = local.seller()
    other = local.seller(name="ИП Осторожный")
    uid = int(local.cli("user", "create", "--seller", sid, "--name", "Анна"))
    svc = int(
        local.cli("service", "create", "--name", "ERP", "--categories", "content,marketplace", "--read-only")
    )
    first = local.token(sid, "base", "finance")  # also makes the signing key
    kid = jwt_parts(first)[0]["kid"]

    def create(seller: str, type: str, *args: str) -> Callable[[], Proc]:
        return lambda: wbseller(data_dir, "token", "create", "--seller", seller, "--type", type, *args)

    before = int(time.time())
    base, test, personal, service, no_liability = side_by_side(
        create(sid, "base", "--categories", "content,marketplace", "--read-only", "--user", str(uid)),
        create(sid, "test", "--categories", "content"),
        create(sid, "personal", "--categories", "content,marketplace", "--accept-liability"),
        create(sid, "service", "--service", str(svc)),
        create(other, "personal", "--categories", "content"),
    )
    after = int(time.time()) + 1
    owner_uid = jwt_parts(first)[1]["uid"]
    expected = {
        "base": (base, 1, False, None, BITS["content"] | BITS["marketplace"] | READ_ONLY, uid),
        "test": (test, 2, True, None, BITS["content"], owner_uid),
        "personal": (personal, 3, False, "self", BITS["content"] | BITS["marketplace"], owner_uid),
        # A service token takes the service's categories and access.
        "service": (
            service,
            4,
            False,
            f"asid:{svc}",
            BITS["content"] | BITS["marketplace"] | READ_ONLY,
            owner_uid,
        ),
    }
    ids = []
    for type, (proc, acc, t, for_, s, by) in expected.items():
        token = ok(proc)
        assert proc.stdout == token + "\n"
        assert not re.search(r"\s", token)
        header, payload = jwt_parts(token)
        assert header == {"alg": "ES256", "kid": kid, "typ": "JWT"}, type
        match = KID_RE.match(header["kid"])
        assert match
        # The key was made moments ago: its kid is today's date (UTC).
        assert match.group(1) in {time.strftime("%Y%m%d", time.gmtime(before - d)) for d in (0, 120)}
        assert uuid.UUID(payload["id"]).version == 4
        assert str(uuid.UUID(payload["id"])) == payload["id"]
        assert payload["sid"] == sid
        assert payload["s"] == s, type
        assert payload["acc"] == acc, type
        assert payload["t"] is t, type
        assert payload.get("for") == for_, type
        assert ("for" in payload) is (for_ is not None), type
        assert payload["uid"] == by, type
        assert before + DAYS_180 <= payload["exp"] <= after + DAYS_180
        ids.append(payload["id"])
    assert len(set(ids)) == 4

    # No liability acknowledgement: no personal token, and nothing stored.
    failed(no_liability, "shared with third parties")
    assert no_liability.stdout == ""
    assert token_list(local, other, "--all") == []

    # A service token takes nothing but the service; other types need categories.
    out = local.cli(
        "token",
        "create",
        "--seller",
        sid,
        "--type",
        "service",
        "--service",
        str(svc),
        "--categories",
        "content",
        ok=False,
    )
    assert "service" in out
    out = local.cli("token", "create", "--seller", sid, "--type", "base", ok=False)
    assert "categories" in out
    assert len(token_list(local, sid)) == 5


def test_token_list_shows_metadata_never_the_token(data_dir: Path, local: Server) -> None:
    sid = local.seller()
    svc = int(local.cli("service", "create", "--name", "ERP", "--categories", "marketplace"))
    tokens = {
        "base": local.token(sid, "base", "content,finance", read_only=True, name="Склад", comment="для 1С"),
        "personal": local.token(sid, "personal", "content"),
        "service": local.token(sid, "service", service=str(svc)),
    }
    ids = {t: jwt_parts(tok)[1]["id"] for t, tok in tokens.items()}
    table, as_json = side_by_side(
        lambda: wbseller(data_dir, "token", "list", "--seller", sid),
        lambda: wbseller(data_dir, "token", "list", "--seller", sid, "--json"),
    )
    assert table.returncode == 0, table.stderr
    assert as_json.returncode == 0, as_json.stderr
    for out in (table.stdout, as_json.stdout):
        for token in tokens.values():
            assert token not in out
            for part in token.split("."):
                assert part not in out
    for token_id in ids.values():
        assert token_id in table.stdout
    rows = {r["id"]: r for r in json.loads(as_json.stdout)}
    assert set(rows) == set(ids.values())
    base = rows[ids["base"]]
    assert base["type"] == "base"
    assert base["name"] == "Склад"
    assert base["comment"] == "для 1С"
    assert base["categories"] == ["content", "finance"]
    assert base["readOnly"] is True
    assert base["revoked"] is False
    assert rows[ids["personal"]]["readOnly"] is False
    assert rows[ids["service"]]["serviceId"] == svc
    assert rows[ids["service"]]["categories"] == ["marketplace"]

    # Revoke one: it leaves the list (and shows as revoked with --all).
    revoked = wbseller(data_dir, "token", "revoke", ids["personal"])
    assert revoked.returncode == 0, revoked.stderr
    assert {r["id"] for r in token_list(local, sid)} == {ids["base"], ids["service"]}
    every = {r["id"]: r for r in token_list(local, sid, "--all")}
    assert every[ids["personal"]]["revoked"] is True
    # Revoking it again, or an unknown id, is an error.
    assert "error" in local.cli("token", "revoke", ids["personal"], ok=False)
    assert "error" in local.cli("token", "revoke", str(uuid.uuid4()), ok=False)


def test_token_decode(data_dir: Path, local: Server) -> None:
    sid = local.seller()
    token = local.token(sid, "personal", "content,marketplace", read_only=True)
    revoked = local.token(sid, "base", "finance")
    revoked_id = jwt_parts(revoked)[1]["id"]
    local.cli("token", "revoke", revoked_id)

    def decode(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Callable[[], Proc]:
        return lambda: wbseller(data_dir, "token", "decode", *args, input=input, env=env)

    text, from_env, gone, garbage, as_argument = side_by_side(
        decode(input=token + "\n"),
        decode("--json", env={"WB_API_TOKEN": token}),
        decode("--json", input=revoked),
        decode(input="this is not a token\n"),
        lambda: wbseller(data_dir, "token", "decode", "--json", token),
    )
    for p in (text, from_env, gone):
        assert token not in p.stdout  # the decoder shows what a token says, not the token
    assert text.returncode == 0, text.stderr
    lines = dict(line.split(": ", 1) for line in text.stdout.strip().splitlines())
    assert lines["type"] == "personal"
    assert lines["categories"] == "content, marketplace"
    assert lines["access"] == "read only"
    assert lines["seller"] == sid
    assert lines["valid"] == "True"
    expires = time.time() + DAYS_180
    assert abs(datetime.fromisoformat(lines["expires"]).timestamp() - expires) < 60

    bearer = local.cli("token", "decode", "--json", input=f"Bearer {token}\n")
    for out in (from_env.stdout, bearer):
        info = json.loads(out)
        assert info["type"] == "personal"
        assert info["categories"] == ["content", "marketplace"]
        assert info["access"] == "read only"
        assert info["seller"] == sid
        assert info["tokenId"] == jwt_parts(token)[1]["id"]
        assert info["valid"] is True
        assert info["reason"] is None
        assert info["unknownBits"] == []
        assert 179.9 < info["daysLeft"] <= 180
        assert abs(datetime.fromisoformat(info["expires"]).timestamp() - expires) < 60
    assert from_env.returncode == 0, from_env.stderr

    info = json.loads(gone.stdout)
    assert info["type"] == "base"
    assert info["categories"] == ["finance"]
    assert info["access"] == "read and write"
    assert info["valid"] is False
    assert "revoked" in info["reason"]

    failed(garbage, "not a WB token")
    assert garbage.stdout == ""
    empty = local.cli("token", "decode", input="", ok=False)
    assert "stdin" in empty
    assert "WB_API_TOKEN" in empty
    # The token is never an argument (arguments end up in shell history and `ps`).
    assert as_argument.returncode != 0
    assert as_argument.stdout == ""


def test_token_decode_of_a_token_from_elsewhere(tmp_path: Path, local: Server) -> None:
    """A well-formed token this data dir never signed: decoded, and said to be not valid."""
    elsewhere = Server(tmp_path / "elsewhere")
    token = elsewhere.token(elsewhere.seller(), "test", "content")
    local.seller()
    local.cli("key", "rotate")
    info = json.loads(local.cli("token", "decode", "--json", input=token, ok=False))
    assert info["type"] == "test"
    assert info["valid"] is False
    assert info["reason"]


# --- news --------------------------------------------------------------------------------------


def stored_news(local: Server) -> list[NewsItem]:
    items: list[NewsItem] = local.run_storage(lambda s: s.news(None, 0, 10_000))
    return items


def write(path: Path, content: Any) -> str:
    path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
    return str(path)


def test_news_add_and_import(tmp_path: Path, data_dir: Path, local: Server) -> None:
    good = [
        {
            "id": 7369,
            "header": "Новые настройки",
            "content": "Текст",
            "date": "2025-02-05T14:10:35+03:00",
            "types": [{"id": 4, "name": "Маркетинг"}],
        },
        {
            "id": 7373,
            "header": "Изменения в API",
            "content": "Текст 2",
            "date": "2025-02-06T15:14:58Z",
            "types": [{"id": 8, "name": "API"}, {"id": 41, "name": "Аналитика продавца"}],
        },
    ]
    bad_files = [
        write(tmp_path / "not-json.json", "{not json"),
        write(
            tmp_path / "no-header.json",
            [{**good[0], "id": 50}, {"id": 51, "content": "x", "date": "2025-01-01"}],
        ),
    ]
    in_process_bad_files = [
        write(tmp_path / "not-a-list.json", {"news": []}),
        write(tmp_path / "bad-date.json", [{**good[0], "id": 52}, {**good[0], "id": 53, "date": "вчера"}]),
        write(tmp_path / "dup-in-file.json", [{**good[0], "id": 54}, {**good[0], "id": 54}]),
        write(
            tmp_path / "bad-types.json",
            [{**good[0], "id": 55}, {**good[0], "id": 56, "types": [{"id": "x"}]}],
        ),
        str(tmp_path / "missing.json"),
    ]
    added, imported, *bad = side_by_side(
        lambda: wbseller(
            data_dir,
            "news",
            "add",
            "--header",
            "Заголовок",
            "--content",
            "Текст новости",
            "--date",
            "2030-01-01T10:00:00+03:00",
            "--type",
            "Акции",
        ),
        lambda: wbseller(data_dir, "news", "import", write(tmp_path / "good.json", {"data": good})),
        *[(lambda f=f: wbseller(data_dir, "news", "import", f)) for f in bad_files],
    )
    assert int(ok(added)) > 0
    assert re.search(r"\b2\b", ok(imported))
    for p in bad:
        failed(p, "error")
        assert p.stdout == ""
    for f in in_process_bad_files:
        assert "error" in local.cli("news", "import", f, ok=False)
    news = {n.id: n for n in stored_news(local)}
    assert set(news) == {7369, 7373, int(added.stdout)}
    assert news[7369].date == 1738753835  # 2025-02-05T11:10:35Z
    assert news[7373].date == 1738854898  # 2025-02-06T15:14:58Z
    assert news[7373].types == [(8, "API"), (41, "Аналитика продавца")]
    assert news[int(added.stdout)].header == "Заголовок"
    assert news[int(added.stdout)].date == 1893481200  # 2030-01-01T07:00:00Z

    # A file whose last item collides with a stored news: none of it is imported.
    clash = write(tmp_path / "clash.json", [{**good[0], "id": 60}, {**good[0], "id": 61}, good[1]])
    failed(wbseller(data_dir, "news", "import", clash), "7373")
    assert {n.id for n in stored_news(local)} == set(news)


# --- keys --------------------------------------------------------------------------------------


def test_key_rotate(data_dir: Path, local: Server, start_server: Callable[..., Server]) -> None:
    sid = local.seller()
    old = local.token(sid, "personal", "all")
    old_kid = jwt_parts(old)[0]["kid"]
    rotated = wbseller(data_dir, "key", "rotate")
    new_kid = ok(rotated)
    assert KID_RE.match(new_kid)
    assert new_kid != old_kid
    kids = [line.split("\t")[0] for line in local.cli("key", "list").splitlines()]
    assert kids == [old_kid, new_kid]
    new = local.token(sid, "personal", "all")
    assert jwt_parts(new)[0]["kid"] == new_kid

    srv = start_server(data_dir=data_dir)
    for token, host in ((old, "content-api"), (new, "common-api")):
        r = srv.get(f"/{host}/ping", token)
        assert r.status_code == 200, (host, r.text)
    # A rotation while the server runs: the new key's tokens work at once, the older ones still do.
    newest_kid = srv.cli("key", "rotate")
    assert newest_kid not in (old_kid, new_kid)
    newest = srv.token(sid, "personal", "all")
    assert jwt_parts(newest)[0]["kid"] == newest_kid
    for token, host in ((newest, "marketplace-api"), (old, "finance-api"), (new, "documents-api")):
        r = srv.get(f"/{host}/ping", token)
        assert r.status_code == 200, (host, r.text)


def test_unknown_categories_and_types_are_usage_errors(local: Server) -> None:
    sid = local.seller()
    out = local.cli("token", "create", "--seller", sid, "--type", "base", "--categories", "foo", ok=False)
    assert "foo" in out
    out = local.cli("token", "create", "--seller", sid, "--type", "admin", "--categories", "all", ok=False)
    assert "admin" in out
    assert token_list(local, sid, "--all") == []
