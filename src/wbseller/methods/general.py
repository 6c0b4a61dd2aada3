"""The General section's methods: /ping, news, seller information."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from wbseller.errors import BadRequest
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


__all__ = ["news", "ping", "seller_info"]
