"""The General section against real servers: the CLI's invitation accepted becomes a user the API lists; Jam
connected and cancelled by the CLI opens and closes a gated method; on two servers sharing one PostgreSQL, a
user deleted through the API has every token refused on both within 1 s."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.kit import CATALOG, check_answer
from tests.conftest import Server, assert_wb_error, serving
from tests.scale.conftest import pg_database, pg_sqlalchemy_url
from wbseller.backends.general import General

USERS = CATALOG.by_id("get-api-v1-users")
INVITE = CATALOG.by_id("post-api-v1-invite")
DELETE = CATALOG.by_id("delete-api-v1-user")
UM = "/user-management-api"
GATED = "/seller-analytics-api/api/v2/nm-report/downloads"
REPORT = {
    "id": "06eae887-9d9f-491f-b16a-bb1766fcb8d2",
    "reportType": "DETAIL_HISTORY_REPORT",
    "params": {"startDate": "2024-01-01", "endDate": "2024-01-02"},
}


def users(srv: Server, token: str, **query: str) -> list[dict[str, Any]]:
    r = srv.get(f"{UM}/api/v1/users", token, params=query)
    check_answer(USERS, r)
    return list(r.json()["users"])


def test_an_invitation_accepted_becomes_a_user_the_api_lists(server: Server) -> None:
    sid = server.seller()
    owner = server.token(sid)
    url = server.cli("user", "invite", "--seller", sid, "--phone", "79991234567", "--access", "finance=false")
    uuid = url.rsplit("/", 1)[1]
    assert url == f"http://127.0.0.1:8000/seller/invite/{uuid}"
    r = server.get(
        f"{UM}/api/v1/invite", owner, method="POST", json={"invite": {"phoneNumber": "+375291234567"}}
    )
    check_answer(INVITE, r)  # the API's URL names this server, by the bare address asked
    assert re.fullmatch(rf"{server.base_url}/seller/invite/[0-9a-f-]{{36}}", r.json()["inviteUrl"])
    invited = users(server, owner, isInviteOnly="true")
    assert [u["inviteeInfo"]["inviteUuid"] for u in invited] == [r.json()["inviteID"], uuid]  # newest first

    async def accept(storage: Any) -> int:
        user = await General(storage).accept_invite(uuid, f"anna-{sid}", "correct horse", "Анна", time.time())
        return user.id

    uid = server.run_storage(accept)
    listed = {u["id"]: u for u in users(server, owner)}
    assert listed[uid]["firstName"] == "Анна" and not listed[uid]["isOwner"]
    assert {a["code"]: a["disabled"] for a in listed[uid]["access"]}["finance"] is True
    assert "anna" in server.cli("user", "list", "--seller", sid)


def _until(
    srv: Server, method: str, path: str, token: str, status: int, deadline: float, **kw: Any
) -> float | None:
    """Monotonic time at which `srv` first answered `status`, or None by the deadline."""
    with httpx.Client(base_url=srv.base_url, headers={"Authorization": token}, timeout=5) as c:
        while time.monotonic() < deadline:
            if c.request(method, path, **kw).status_code == status:
                return time.monotonic()
            time.sleep(0.005)
    return None


# The gate on the report type runs after the limit (it reads the body), so each poll below is charged:
# the report's own 3 a minute would run out before the CLI's change arrives.
LIFTED = """
[limits.post-api-v2-nm-report-downloads]
rates.all = { period = 1, limit = 1000, burst = 1000 }
"""


@pytest.fixture(scope="module")
def lifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory, "general-lifted", LIFTED) as srv:
        yield srv


def test_jam_by_the_cli_opens_and_closes_a_gated_method(lifted: Server) -> None:
    server = lifted
    sid = server.seller()
    token = server.token(sid, categories="analytics")
    body = assert_wb_error(server.get(GATED, token, method="POST", json=REPORT), 403, "subscription-jam")
    assert (
        body["detail"]
        == "If you want to use the Jam methods, check your subscription in your personal account"
    )
    out = server.cli(
        "seller", "subscribe", "--seller", sid, "--name", "jam", "--level", "premium", "--days", "30"
    )
    assert out.startswith("jam active (premium) till ")
    assert _until(server, "POST", GATED, token, 200, time.monotonic() + 2, json=REPORT) is not None
    server.cli("seller", "subscribe", "--seller", sid, "--name", "jam", "--off")
    assert _until(server, "POST", GATED, token, 403, time.monotonic() + 2, json=REPORT) is not None


@pytest.fixture(scope="module")
def pg_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    root: Path = tmp_path_factory.mktemp("general-pg")
    with pg_database() as db:
        env = {"WBSELLER_DATABASE_URL": pg_sqlalchemy_url(db)}
        (root / "a").mkdir()
        (root / "b").mkdir()
        a = Server(root / "a" / "data", extra_env=env)
        b = Server(root / "b" / "data", extra_env=env)
        try:
            a.start()  # one after the other: the first migrates
            b.start()
            yield a, b
        finally:
            a.stop()
            b.stop()


def test_a_user_deleted_through_the_api_is_refused_on_two_servers_within_1s(
    pg_pair: tuple[Server, Server],
) -> None:
    a, b = pg_pair
    sid = a.seller()
    owner = a.token(sid)
    uid = a.cli("user", "create", "--seller", sid, "--name", "Уходящий")
    theirs = b.token(sid, user=uid)
    for srv in (a, b):  # admitted, and cached, on both
        for _ in range(2):
            assert srv.get(f"{UM}/api/v1/users", theirs).status_code == 200
    r = a.get(f"{UM}/api/v1/user", owner, method="DELETE", params={"deletedUserID": uid})
    check_answer(DELETE, r)
    deleted_at = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        seen = list(
            pool.map(lambda s: _until(s, "GET", f"{UM}/api/v1/users", theirs, 403, deleted_at + 1.0), (a, b))
        )
    assert None not in seen, f"still accepted after 1 s: {seen}"
    for srv in (a, b):
        assert_wb_error(srv.get(f"{UM}/api/v1/users", theirs), 403, "user-deleted")
    assert int(uid) not in [u["id"] for u in users(b, owner)]
    (owner_id,) = [u["id"] for u in users(b, owner) if u["isOwner"]]
    r = b.get(f"{UM}/api/v1/user", owner, method="DELETE", params={"deletedUserID": owner_id})
    assert r.status_code == 400 and "cannot be deleted" in r.json()["detail"]
