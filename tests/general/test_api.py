"""The General section's six operations in-process, every answer validated against 01-general.yaml."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.api.kit import (
    CATALOG,
    Api,
    Call,
    check_answer,
    check_error,
    check_op_error,
    production,
    scope_for,
)
from wbseller.backends.general import ACCESS_CODES, DAY, DEFAULT_DENIED, General
from wbseller.catalog import Operation
from wbseller.tokens import TokenType

INVITE = CATALOG.by_id("post-api-v1-invite")
USERS = CATALOG.by_id("get-api-v1-users")
ACCESS = CATALOG.by_id("put-api-v1-users-access")
DELETE = CATALOG.by_id("delete-api-v1-user")
RATING = CATALOG.by_id("get-common-v1-rating")
JAM = CATALOG.by_id("get-common-v1-subscriptions")
GATED = CATALOG.by_id("post-api-v2-nm-report-downloads")
SEED_JAM = "If you want to use the Jam methods, check your subscription in your personal account"
DEFAULTS = {c: c in DEFAULT_DENIED for c in ACCESS_CODES}


def call(op: Operation, body: Any = None, **query: str) -> Call:
    raw = json.dumps(body).encode() if body is not None else b""
    headers = (("Content-Type", "application/json"),) if body is not None else ()
    return Call(op, {}, tuple(query.items()), headers, raw, body)


def personal(api: Api, sid: str, op: Operation = USERS) -> str:
    return api.token(sid, TokenType.PERSONAL, scope_for(production(op)))


def service(api: Api, sid: str, op: Operation) -> str:
    return api.token(sid, TokenType.SERVICE, scope_for(production(op)))


def send(api: Api, c: Call, token: str) -> httpx.Response:
    api.refill(c.op)
    return api.send(c, token)


def invite(api: Api, sid: str, access: Any = None, phone: str = "79991234567") -> str:
    body: dict[str, Any] = {"invite": {"phoneNumber": phone, "position": "Analyst"}}
    if access is not None:
        body["access"] = access
    r = send(api, call(INVITE, body), personal(api, sid))
    check_answer(INVITE, r)
    data = r.json()
    assert data["isSuccess"] is True
    assert data["inviteUrl"] == f"https://seller.wildberries.ru/invite/{data['inviteID']}"
    return str(data["inviteID"])


def invitations(api: Api, sid: str, **query: str) -> dict[str, Any]:
    r = send(api, call(USERS, isInviteOnly="true", **query), personal(api, sid))
    check_answer(USERS, r)
    return dict(r.json())


def access_of(api: Api, sid: str, uuid: str) -> dict[str, bool]:
    (row,) = [u for u in invitations(api, sid)["users"] if u["inviteeInfo"]["inviteUuid"] == uuid]
    return {a["code"]: a["disabled"] for a in row["access"]}


@pytest.fixture(scope="module")
def sid(api: Api) -> str:
    return api.seller()


def test_the_access_list_rules(api: Api, sid: str) -> None:
    assert access_of(api, sid, invite(api, sid)) == DEFAULTS  # absent
    assert access_of(api, sid, invite(api, sid, [])) == DEFAULTS  # empty
    subset = [{"code": "finance", "disabled": True}, {"code": "showcase", "disabled": False}]
    assert access_of(api, sid, invite(api, sid, subset)) == {**DEFAULTS, "finance": True, "showcase": False}
    every = [{"code": c, "disabled": i % 2 == 0} for i, c in enumerate(ACCESS_CODES)]
    assert access_of(api, sid, invite(api, sid, every)) == {a["code"]: a["disabled"] for a in every}
    twice = [
        {"code": "balance", "disabled": True},
        {"code": "balance", "disabled": False},  # different values: not granted
        {"code": "brands", "disabled": True},
        {"code": "brands", "disabled": True},  # both denied: not granted
        {"code": "changeJam", "disabled": False},
        {"code": "changeJam", "disabled": False},  # both granted: granted
    ]
    got = access_of(api, sid, invite(api, sid, twice))
    assert (got["balance"], got["brands"], got["changeJam"]) == (True, True, False)


@pytest.mark.parametrize("phone", ["12025550123", "7999", "+44 20 7946 0958", "abc"])
def test_phones_outside_the_documented_countries_are_400(api: Api, sid: str, phone: str) -> None:
    body = {"invite": {"phoneNumber": phone}}
    r = send(api, call(INVITE, body), personal(api, sid))
    assert "invite.phoneNumber" in check_op_error(r, INVITE, 400)["detail"]


def test_documented_countries_phones(api: Api, sid: str) -> None:
    for phone in ("+79991234567", "77011234567", "998901234567", "46701234567", "8613812345678"):
        invite(api, sid, phone=phone)


def test_users_and_invitations_pages(api: Api) -> None:
    sid = api.seller()
    token = personal(api, sid)
    uuids = []
    for _ in range(3):
        uuids.append(invite(api, sid))
        api.advance(1)
    page = invitations(api, sid, limit="2", offset="0")
    assert (page["total"], page["countInResponse"]) == (3, 2)
    assert [u["inviteeInfo"]["inviteUuid"] for u in page["users"]] == uuids[::-1][:2]  # newest first
    assert all(u["id"] == 0 and u["role"] == "" and u["isInvitee"] for u in page["users"])
    assert all(u["inviteeInfo"]["isActive"] for u in page["users"])
    rest = invitations(api, sid, limit="2", offset="2")
    assert [u["inviteeInfo"]["inviteUuid"] for u in rest["users"]] == uuids[:1]
    r = send(api, call(USERS), token)
    check_answer(USERS, r)
    (owner,) = r.json()["users"]
    assert (owner["isOwner"], owner["role"], owner["inviteeInfo"]) == (True, "user", None)
    assert not any(a["disabled"] for a in owner["access"])
    general = api.gw.backends.of(General)
    user = api.run(general.accept_invite(uuids[0], f"login-{sid}", "secret", "Bob", api.now))
    r = send(api, call(USERS), token)
    check_answer(USERS, r)
    assert [(u["id"], u["isOwner"]) for u in r.json()["users"]] == [(owner["id"], True), (user.id, False)]
    bob = r.json()["users"][1]
    assert (bob["firstName"], bob["phone"], bob["position"]) == ("Bob", "79991234567", "Analyst")
    assert bob["inviteeInfo"]["inviteUuid"] == uuids[0] and bob["inviteeInfo"]["isActive"] is False
    assert invitations(api, sid)["total"] == 2  # accepted: no longer an open invitation


def _member(api: Api, sid: str, access: Any = None) -> int:
    uuid = invite(api, sid, access)
    user = api.run(api.gw.backends.of(General).accept_invite(uuid, f"u-{uuid}", "pw", "Member", api.now))
    return user.id


def test_put_access_changes_only_those_given(api: Api, sid: str) -> None:
    uid = _member(api, sid, [{"code": "finance", "disabled": True}])
    body = {"usersAccesses": [{"userId": uid, "access": [{"code": "showcase", "disabled": False}]}]}
    r = send(api, call(ACCESS, body), personal(api, sid))
    check_answer(ACCESS, r)
    got = api.run(api.gw.backends.of(General).accesses(uid))
    assert got == {**DEFAULTS, "finance": True, "showcase": False}


def test_put_access_of_a_stranger_or_the_owner_is_400(api: Api, sid: str) -> None:
    other = api.seller()
    stranger = _member(api, other)
    body = {"usersAccesses": [{"userId": stranger, "access": [{"code": "finance", "disabled": True}]}]}
    r = send(api, call(ACCESS, body), personal(api, sid))
    assert check_op_error(r, ACCESS, 400)["detail"] == "bad request cause: user is not in current supplier"
    owner = api.run(api.gw.storage.owner_of(sid))
    body = {"usersAccesses": [{"userId": owner.id, "access": [{"code": "finance", "disabled": True}]}]}
    r = send(api, call(ACCESS, body), personal(api, sid))
    assert "owner" in check_op_error(r, ACCESS, 400)["detail"]


def test_delete_user(api: Api, sid: str) -> None:
    uid = _member(api, sid)
    theirs = api.run(
        api.gw.accounts.issue_token(
            sid, TokenType.PERSONAL, scope=scope_for(production(USERS)), uid=uid, accept_liability=True
        )
    )
    r = send(api, call(USERS), theirs.token)
    check_answer(USERS, r)  # admitted (and cached) before the delete
    r = send(api, call(DELETE, deletedUserID=str(uid)), personal(api, sid))
    check_answer(DELETE, r)
    api.run(api.gw.apply_events())
    check_error(send(api, call(USERS), theirs.token), 403, "user-deleted")
    ids = [u["id"] for u in send(api, call(USERS), personal(api, sid)).json()["users"]]
    assert uid not in ids
    check_answer(DELETE, send(api, call(DELETE, deletedUserID=str(uid)), personal(api, sid)))  # idempotent


def test_the_owner_is_not_deletable(api: Api, sid: str) -> None:
    owner = api.run(api.gw.storage.owner_of(sid))
    r = send(api, call(DELETE, deletedUserID=str(owner.id)), personal(api, sid))
    assert (
        check_op_error(r, DELETE, 400)["detail"]
        == f"user {owner.id} is the owner of the seller and cannot be deleted"
    )


def test_a_user_of_another_seller_is_400(api: Api, sid: str) -> None:
    stranger = _member(api, api.seller())
    for uid in (stranger, 999_999):
        r = send(api, call(DELETE, deletedUserID=str(uid)), personal(api, sid))
        assert (
            check_op_error(r, DELETE, 400)["detail"] == "bad request cause: user is not in current supplier"
        )


@pytest.mark.parametrize(
    ("op", "ttype"),
    [
        (USERS, TokenType.SERVICE),
        (INVITE, TokenType.BASE),
        (RATING, TokenType.PERSONAL),
        (JAM, TokenType.PERSONAL),
    ],
)
def test_token_types(api: Api, sid: str, op: Operation, ttype: TokenType) -> None:
    token = (
        service(api, sid, op)
        if ttype is TokenType.SERVICE
        else api.token(sid, ttype, scope_for(production(op)))
    )
    body = {"invite": {"phoneNumber": "79991234567"}} if op is INVITE else None
    r = send(api, call(op, body), token)
    assert check_error(r, 403, "token-type-not-allowed")["detail"] == f"{ttype.value} token is not allowed"


def test_rating_is_deterministic_until_set(api: Api, sid: str) -> None:
    token = service(api, sid, RATING)
    first = send(api, call(RATING), token)
    check_answer(RATING, first)
    assert send(api, call(RATING), token).json() == first.json()
    api.run(api.gw.backends.of(General).set_rating(sid, 12355, 4.55))
    r = send(api, call(RATING), token)
    check_answer(RATING, r)
    assert r.json() == {"feedbackCount": 12355, "valuation": 4.55}


def _jam(api: Api, sid: str) -> dict[str, Any]:
    r = send(api, call(JAM), service(api, sid, JAM))
    if r.content == b"{}":
        assert r.status_code == 200
        return {}
    check_answer(JAM, r)
    return dict(r.json())


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_every_jam_state(api: Api) -> None:
    sid = api.seller()
    general = api.gw.backends.of(General)
    assert _jam(api, sid) == {}  # never connected: the documented empty answer
    start = api.now
    api.run(general.jam_connect(sid, "advanced", "jam", 30, api.now))
    got = _jam(api, sid)
    assert (got["state"], got["level"], got["activationSource"]) == ("active", "advanced", "jam")
    assert (_ts(got["since"]), _ts(got["till"])) == pytest.approx((start, start + 30 * DAY))
    api.advance(31 * DAY)  # the paid period ended
    got = _jam(api, sid)
    assert got["state"] == "inactive"
    assert (_ts(got["since"]), _ts(got["till"])) == pytest.approx((start, start + 30 * DAY))
    again = api.now
    api.run(general.jam_connect(sid, "premium", "constructor", 10, api.now))
    got = _jam(api, sid)  # connected again: since is the first activation, till the current period's
    assert (got["state"], got["level"], got["activationSource"]) == ("active", "premium", "constructor")
    assert (_ts(got["since"]), _ts(got["till"])) == pytest.approx((start, again + 10 * DAY))
    api.advance(DAY)
    cancelled = api.now
    api.run(general.jam_cancel(sid, api.now))
    got = _jam(api, sid)  # cancelled: inactive, till the end of the last period (cut at the cancel)
    assert got["state"] == "inactive"
    assert (_ts(got["since"]), _ts(got["till"])) == pytest.approx((start, cancelled))


def test_the_jam_gate(api: Api) -> None:
    sid = api.seller()
    general = api.gw.backends.of(General)
    token = api.token(sid, TokenType.PERSONAL, scope_for(production(GATED)))
    assert GATED.request is not None  # a type Jam opens (the stock ones need none: test_jam_gate.py)
    gated = call(GATED, GATED.request.content["application/json"].examples["SalesFunnelProductReq"])
    r = send(api, gated, token)
    assert check_error(r, 403, "subscription-jam")["detail"] == SEED_JAM
    api.run(general.jam_connect(sid, "standard", "jam", 1, api.now))
    api.run(api.gw.apply_events())
    check_answer(GATED, send(api, gated, token))
    check_answer(GATED, send(api, gated, token))  # from the admitted-request cache
    api.advance(DAY + 1)  # past till on the test clock: no event, the cached admission expires
    assert check_error(api.send(gated, token), 403, "subscription-jam")["detail"] == SEED_JAM
