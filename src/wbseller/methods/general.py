"""The General section's methods: /ping, news, seller information; users and invitations, the seller's
rating and the Jam subscription, on the section's backend (backends/general.py, docs/general.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from wbseller.backends.general import General, GeneralError
from wbseller.categories import WB_DOMAIN
from wbseller.errors import BadRequest
from wbseller.gateway.hosts import PORTAL_PREFIX
from wbseller.methods.context import Context, Reply, TimeOnly, json_reply

MSK = timezone(timedelta(hours=3), "MSK")
NEWS_PAGE = 100
UINT64_MAX = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1


class _PingReply:
    """The ping reply changes once a second: build it once a second, not once a request."""

    second = -1
    reply = Reply(200, b"")

    @classmethod
    def at(cls, now: float) -> Reply:
        """200 {"TS": <Moscow time>, "Status": "OK"}: the gateway has already checked host and token."""
        second = int(now)
        if second != cls.second:
            ts = datetime.fromtimestamp(second, MSK).isoformat(timespec="seconds")
            cls.reply, cls.second = Reply(200, b'{"TS":"%s","Status":"OK"}' % ts.encode()), second
        return cls.reply


ping = TimeOnly(_PingReply.at)


def msk_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, MSK).isoformat(timespec="seconds")


async def news(ctx: Context) -> Reply:
    raw_from, raw_id = ctx.param("from"), ctx.param("fromID")
    if not raw_from and not raw_id:
        raise BadRequest("query.from, query.fromID: one of them is required", "parameter-missing")
    from_date: float | None = None
    from_id: int | None = None
    if raw_from:
        try:
            day = date.fromisoformat(raw_from)
        except ValueError:
            raise BadRequest("query.from: must be a date, e.g. 2025-02-06", "parameter-invalid") from None
        from_date = datetime(day.year, day.month, day.day, tzinfo=MSK).timestamp()
    if raw_id:
        if not (raw_id.isascii() and raw_id.isdigit()) or int(raw_id) > UINT64_MAX:
            raise BadRequest("query.fromID: must be an unsigned integer", "parameter-invalid")
        from_id = min(int(raw_id), INT64_MAX)  # no id is larger; databases stop at int64
    items = await ctx.storage.news(from_date, from_id, NEWS_PAGE)
    return json_reply(
        {
            "data": [
                {
                    "id": n.id,
                    "header": n.header,
                    "content": n.content,
                    "date": msk_iso(n.date),
                    "types": [{"id": tid, "name": name} for tid, name in n.types],
                }
                for n in items
            ]
        }
    )


async def seller_info(ctx: Context) -> Reply:
    s = ctx.seller.seller
    return json_reply({"name": s.name, "sid": s.sid, "tin": s.tin, "tradeMark": s.trade_mark})


# ------------------------------------------------------------------ users, rating, Jam (backends/general.py)


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _general(ctx: Context) -> General:
    return ctx.backends.of(General)


def _pairs(access: list[dict[str, Any]] | None) -> list[tuple[str, bool]] | None:
    return None if access is None else [(a["code"], bool(a["disabled"])) for a in access]


def invite_url(ctx: Context, invite_uuid: str) -> str:
    """`<public base>/invite/<uuid>` (docs/general.md): the account pages by the name the request used:
    `seller.<domain>` for a `<host>.<domain>` Host header, `<address>/seller` for a bare address."""
    raw = next((v for k, v in ctx.headers if k == b"host"), b"").decode("latin-1")
    name, _, port = raw.partition(":")
    _, dot, domain = name.partition(".")
    if dot and domain in (WB_DOMAIN, "localhost"):
        scheme = "https" if domain == WB_DOMAIN else "http"
        base = f"{scheme}://{PORTAL_PREFIX}.{domain}{':' + port if port else ''}"
    else:
        base = f"http://{raw or '127.0.0.1'}/{PORTAL_PREFIX}"
    return f"{base}/invite/{invite_uuid}"


def _refuse(exc: GeneralError) -> BadRequest:
    return BadRequest(str(exc), "bad-request")


async def create_invite(ctx: Context) -> Reply:
    body = ctx.checked.json if ctx.checked is not None else {}
    invite = body["invite"]
    try:
        inv = await _general(ctx).create_invite(
            ctx.claims.sid,
            invite["phoneNumber"],
            invite.get("position", ""),
            _pairs(body.get("access")),
            ctx.now,
        )
    except GeneralError as exc:
        raise _refuse(exc) from None
    return json_reply(
        {
            "inviteID": inv.uuid,
            "expiredAt": rfc3339(inv.expires),
            "isSuccess": True,
            "inviteUrl": invite_url(ctx, inv.uuid),
        }
    )


async def list_users(ctx: Context) -> Reply:
    q = ctx.checked.query if ctx.checked is not None else {}
    total, people = await _general(ctx).people(
        ctx.claims.sid,
        bool(q.get("isInviteOnly", False)),
        int(q.get("limit", 100)),
        int(q.get("offset", 0)),
        ctx.now,
    )
    users = []
    for p in people:
        inv = p.invite
        users.append(
            {
                "id": p.id,
                "role": "user" if p.id else "",
                "position": p.position,
                "phone": p.phone,
                "email": "",
                "isOwner": p.is_owner,
                "firstName": p.name,
                "secondName": "",
                "patronymic": "",
                "goodsReturn": p.is_owner,  # decision: only the owner approves returns
                "isInvitee": inv is not None,
                "inviteeInfo": None
                if inv is None
                else {
                    "phoneNumber": inv.phone,
                    "position": inv.position,
                    "inviteUuid": inv.uuid,
                    "expiredAt": rfc3339(inv.expires),
                    "isActive": inv.open_at(ctx.now),
                },
                "access": [{"code": c, "disabled": d} for c, d in p.access.items()],
            }
        )
    return json_reply({"total": total, "countInResponse": len(users), "users": users})


async def set_access(ctx: Context) -> Reply:
    body = ctx.checked.json if ctx.checked is not None else {}
    changes: dict[int, list[tuple[str, bool]]] = {}
    for i, item in enumerate(body["usersAccesses"]):
        if "userId" not in item:
            raise BadRequest(f"body.usersAccesses[{i}].userId: required", "body-invalid")
        changes.setdefault(int(item["userId"]), []).extend(_pairs(item.get("access")) or [])
    try:
        await _general(ctx).set_accesses(ctx.claims.sid, changes)
    except GeneralError as exc:
        raise _refuse(exc) from None
    return Reply(200, b"")


async def delete_user(ctx: Context) -> Reply:
    q = ctx.checked.query if ctx.checked is not None else {}
    try:
        await _general(ctx).delete_user(ctx.claims.sid, int(q["deletedUserID"]), ctx.now)
    except GeneralError as exc:
        raise _refuse(exc) from None
    return Reply(200, b"")


async def rating(ctx: Context) -> Reply:
    count, valuation = await _general(ctx).rating(ctx.claims.sid)
    return json_reply({"feedbackCount": count, "valuation": valuation})


async def subscriptions(ctx: Context) -> Reply:
    """Never connected: `{}` (the document's "empty 200"; its schema's required fields cannot hold it)."""
    state = await _general(ctx).jam_state(ctx.claims.sid, ctx.now)
    if state is None:
        return Reply(200, b"{}")
    return json_reply(
        {
            "state": "active" if state.active else "inactive",
            "activationSource": state.source,
            "level": state.level,
            "since": rfc3339(state.since),
            "till": rfc3339(state.till),
        }
    )


__all__ = [
    "create_invite", "delete_user", "list_users", "news", "ping", "rating", "seller_info", "set_access",
    "subscriptions",
]  # fmt: skip
