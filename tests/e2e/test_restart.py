"""A restart loses nothing: sellers, users, services, tokens, revocations, news and signing keys live in
the data directory, which only its owner can read and which never holds a token."""

from __future__ import annotations

import base64
import json
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server


def token_id(token: str) -> str:
    payload = token.split(".")[1]
    value: str = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["id"]
    return value


def kid_of(token: str) -> str:
    header = token.split(".", maxsplit=1)[0]
    value: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return value


def signing_keys(srv: Server) -> list[tuple[str, bytes]]:
    rows: list[tuple[str, bytes, float]] = srv.run_storage(lambda s: s.signing_keys())
    return [(kid, pem) for kid, pem, _ in rows]


def assert_owner_only(data_dir: Path) -> None:
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    db = data_dir / "wbseller.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for f in data_dir.rglob("*"):  # the WAL and its index too
        assert not stat.S_IMODE(f.stat().st_mode) & 0o077, f


def assert_no_token_stored(data_dir: Path, tokens: list[str], log: str) -> None:
    blobs = {f.name: f.read_bytes() for f in data_dir.rglob("*") if f.is_file()}
    assert "wbseller.db" in blobs
    for token in tokens:
        signature = token.split(".")[2]
        raw_signature = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        for name, blob in blobs.items():
            assert token.encode() not in blob, name
            assert signature.encode() not in blob, name
            assert raw_signature not in blob, name
        assert signature not in log  # nor logged


def wait_for(check: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class World:
    """What we make on the first run, and what we observe on each run."""

    def __init__(self, srv: Server, news_file: Path) -> None:
        self.sid = srv.seller(name="ИП Постоянный П. П.", tin="500100732259", trade_mark="Persistent")
        self.uid = int(srv.cli("user", "create", "--seller", self.sid, "--name", "Анна"))
        svc = srv.cli(
            "service", "create", "--name", "ERP", "--categories", "content,marketplace", "--read-only"
        )
        # (token, host whose /ping it opens)
        self.working: dict[str, tuple[str, str]] = {
            "personal": (srv.token(self.sid, "personal", "all"), "common-api"),
            "base": (
                srv.token(self.sid, "base", "content", read_only=True, user=str(self.uid)),
                "content-api",
            ),
            "service": (srv.token(self.sid, "service", service=svc), "marketplace-api"),
            "test": (srv.token(self.sid, "test", "content"), "content-api-sandbox"),
        }
        self.revoked = srv.token(self.sid, "personal", "content")
        srv.cli("token", "revoke", token_id(self.revoked))
        gone = int(srv.cli("user", "create", "--seller", self.sid, "--name", "Ушедший"))
        self.by_deleted_user = srv.token(self.sid, "base", "finance", user=str(gone))
        srv.cli("user", "delete", str(gone))
        srv.cli("news", "import", str(news_file))
        srv.cli("news", "add", "--header", "После импорта", "--content", "Текст", "--type", "API")
        self.old_kid = kid_of(self.working["personal"][0])
        self.new_kid = srv.cli("key", "rotate")
        rotated = srv.token(self.sid, "personal", "all")
        assert kid_of(rotated) == self.new_kid != self.old_kid
        self.working["rotated"] = (rotated, "finance-api")

    @property
    def tokens(self) -> list[str]:
        return [t for t, _ in self.working.values()] + [self.revoked, self.by_deleted_user]

    def observe(self, srv: Server) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for name, (token, host) in self.working.items():
            r = srv.get(f"/{host}/ping", token)
            assert r.status_code == 200, (name, r.text)
        # Refusals come from the database once the server has seen the change.
        wait_for(lambda: srv.get("/ping", self.revoked).status_code == 401)
        r = srv.get("/ping", self.revoked)
        assert r.json()["code"] == "token-revoked", r.text
        wait_for(lambda: srv.get("/ping", self.by_deleted_user).status_code == 403)
        assert srv.get("/ping", self.by_deleted_user).json()["code"] == "user-deleted"
        personal = self.working["personal"][0]
        r = srv.get("/api/v1/seller-info", personal)
        assert r.status_code == 200, r.text
        seen["seller-info"] = r.json()
        r = srv.get("/api/communications/v2/news", personal, params={"fromID": "1"})
        assert r.status_code == 200, r.text
        seen["news"] = r.json()
        seen["keys"] = signing_keys(srv)
        seen["tokens"] = json.loads(srv.cli("token", "list", "--seller", self.sid, "--all", "--json"))
        seen["sellers"] = json.loads(srv.cli("seller", "list", "--json"))
        return seen


def news_file(path: Path) -> Path:
    items = [
        {
            "id": 9000 + i,
            "header": f"Новость {i}",
            "content": f"Текст {i}",
            "date": f"2025-03-{i + 1:02d}T12:00:00+03:00",
            "types": [{"id": 8, "name": "API"}],
        }
        for i in range(5)
    ]
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["terminate", "kill -9"])
def test_a_restart_loses_nothing(how: str, tmp_path: Path, start_server: Callable[..., Server]) -> None:
    data = tmp_path / "data"
    # The server makes the data directory, the first signing key and the demo seller itself.
    first = start_server(data_dir=data)
    world = World(first, news_file(tmp_path / "news.json"))
    before = world.observe(first)
    assert [kid for kid, _ in before["keys"]] == [world.old_kid, world.new_kid]
    assert before["seller-info"] == {
        "name": "ИП Постоянный П. П.",
        "sid": world.sid,
        "tin": "500100732259",
        "tradeMark": "Persistent",
    }
    assert [n["id"] for n in before["news"]["data"]][-6:-1] == [9000, 9001, 9002, 9003, 9004]
    assert len(before["tokens"]) == 7
    assert_owner_only(data)
    assert_no_token_stored(data, world.tokens, first.log)

    if how == "terminate":
        first.stop()
        assert first.proc is not None
        # Graceful: uvicorn shuts down, then re-raises SIGTERM (so -15 is a clean exit too).
        assert first.proc.returncode in (0, -signal.SIGTERM), first.log
        assert "Traceback" not in first.log
    else:
        first.kill()
    second = start_server(data_dir=data)
    after = world.observe(second)
    assert after == before
    assert_owner_only(data)
    assert_no_token_stored(data, world.tokens, first.log + second.log)

    # And the keys keep signing: a token made now uses the newest key and works.
    token = second.token(world.sid, "personal", "content")
    assert kid_of(token) == world.new_kid
    assert second.get("/content-api/ping", token).status_code == 200


def test_a_kill_right_after_the_first_start_keeps_the_servers_own_writes(
    tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    """What the server wrote itself on an empty data directory (its first key, the demo seller)
    survives kill -9: tokens signed with that key still verify after the restart."""
    data = tmp_path / "data"
    first = start_server(data_dir=data)
    keys = signing_keys(first)
    assert len(keys) == 1
    sellers = json.loads(first.cli("seller", "list", "--json"))
    sid = sellers[0]["sid"]
    token = first.token(sid, "personal", "content")
    assert kid_of(token) == keys[0][0]
    first.kill()
    second = start_server(data_dir=data)
    assert signing_keys(second) == keys
    assert json.loads(second.cli("seller", "list", "--json")) == sellers
    r = second.get("/content-api/ping", token)
    assert r.status_code == 200, r.text
    assert_owner_only(data)
