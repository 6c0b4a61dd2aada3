"""Support requests: a seller's dialogue with Wildberries operators, on the storage's engine.

A request has a category (`CATEGORIES`, API among them), a subject, the messages of both sides and a
state the messages move: a new request is `new`; an operator's answer makes it `seller` (waiting for the
seller); the seller's reply makes it `support` (waiting for support); either side may close it (`closed`,
final: a new question is a new request). Each side's unread messages are the other side's messages after
the last one it has read (`seller_seen`, `support_seen`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, case, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.selectable import ScalarSelect

from wbseller.storage import schema as t
from wbseller.storage.store import NotFoundError, _Tx

# The categories of a request, as a seller portal has them; the names are the pages' catalog keys.
CATEGORIES = (
    "api",
    "products",
    "prices",
    "orders",
    "supplies",
    "returns",
    "finance",
    "promotion",
    "feedbacks",
    "documents",
    "account",
    "other",
)
STATES = ("new", "seller", "support", "closed")
Side = Literal["seller", "support"]


class ClosedError(ValueError):
    """A message for a closed request."""


@dataclass(frozen=True, slots=True)
class SupportRequest:
    id: int
    sid: str
    uid: int
    category: str
    subject: str
    request_id: str | None
    state: str
    created: float
    updated: float
    unread: int  # the other side's messages the asking side has not read


@dataclass(frozen=True, slots=True)
class SupportMessage:
    id: int
    uid: int
    by_support: bool
    text: str
    at: float
    author: str


class SupportStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _begin(self) -> _Tx:
        return _Tx(self.engine)

    async def create(
        self,
        sid: str,
        uid: int,
        category: str,
        subject: str,
        text: str,
        request_id: str | None,
        now: float,
    ) -> int:
        async with self._begin() as conn:
            rid = (
                await conn.execute(
                    insert(t.support_requests)
                    .values(
                        sid=sid,
                        uid=uid,
                        category=category,
                        subject=subject,
                        request_id=request_id,
                        state="new",
                        created=now,
                        updated=now,
                    )
                    .returning(t.support_requests.c.id)
                )
            ).scalar_one()
            mid = await self._add(conn, rid, uid, False, text, now)
            await conn.execute(
                update(t.support_requests).where(t.support_requests.c.id == rid).values(seller_seen=mid)
            )
        return int(rid)

    async def _add(
        self, conn: AsyncConnection, rid: int, uid: int, by_support: bool, text: str, now: float
    ) -> int:
        mid = (
            await conn.execute(
                insert(t.support_messages)
                .values(request=rid, uid=uid, by_support=int(by_support), text=text, at=now)
                .returning(t.support_messages.c.id)
            )
        ).scalar_one()
        return int(mid)

    def _unread(self, side: Side) -> ScalarSelect[int]:
        r, msg = t.support_requests, t.support_messages
        seen = r.c.seller_seen if side == "seller" else r.c.support_seen
        other = 1 if side == "seller" else 0
        return (
            select(func.count())
            .where(and_(msg.c.request == r.c.id, msg.c.by_support == other, msg.c.id > seen))
            .correlate(r)
            .scalar_subquery()
        )

    async def requests(
        self,
        side: Side,
        *,
        sid: str | None = None,
        category: str | None = None,
        state: str | None = None,
        limit: int = 200,
    ) -> list[SupportRequest]:
        """Newest activity first; a seller's (`sid`) or, for operators, everyone's, filtered."""
        r = t.support_requests
        unread = self._unread(side).label("unread")
        q = select(r, unread)
        if sid is not None:
            q = q.where(r.c.sid == sid)
        if category is not None:
            q = q.where(r.c.category == category)
        if state is not None:
            q = q.where(r.c.state == state)
        q = q.order_by(r.c.updated.desc(), r.c.id.desc()).limit(limit)
        async with self._begin() as conn:
            rows = (await conn.execute(q)).all()
        return [_request(row) for row in rows]

    async def get(self, rid: int, side: Side) -> SupportRequest:
        r = t.support_requests
        q = select(r, self._unread(side).label("unread")).where(r.c.id == rid)
        async with self._begin() as conn:
            row = (await conn.execute(q)).first()
        if row is None:
            raise NotFoundError(f"no support request {rid}")
        return _request(row)

    async def messages(self, rid: int) -> list[SupportMessage]:
        m, u = t.support_messages, t.users
        q = select(m, u.c.name).join(u, u.c.id == m.c.uid).where(m.c.request == rid).order_by(m.c.id)
        async with self._begin() as conn:
            rows = (await conn.execute(q)).all()
        return [SupportMessage(x.id, x.uid, bool(x.by_support), x.text, x.at, x.name) for x in rows]

    async def write(self, rid: int, uid: int, side: Side, text: str, now: float) -> str:
        """A message of one side; the state it moves the request to. A closed request takes none."""
        r = t.support_requests
        async with self._begin() as conn:
            state = (await conn.execute(select(r.c.state).where(r.c.id == rid))).scalar_one_or_none()
            if state is None:
                raise NotFoundError(f"no support request {rid}")
            if state == "closed":
                raise ClosedError(f"support request {rid} is closed")
            mid = await self._add(conn, rid, uid, side == "support", text, now)
            new_state = "seller" if side == "support" else "support"
            seen = {"support_seen": mid} if side == "support" else {"seller_seen": mid}
            # Guarded by the state read above: a request closed meanwhile stays closed.
            done = await conn.execute(
                update(r)
                .where(and_(r.c.id == rid, r.c.state != "closed"))
                .values(state=new_state, updated=now, **seen)
            )
            if done.rowcount != 1:
                raise ClosedError(f"support request {rid} is closed")
        return new_state

    async def close(self, rid: int, now: float) -> None:
        r = t.support_requests
        async with self._begin() as conn:
            done = await conn.execute(update(r).where(r.c.id == rid).values(state="closed", updated=now))
        if done.rowcount != 1:
            raise NotFoundError(f"no support request {rid}")

    async def seen(self, rid: int, side: Side) -> None:
        """Everything of the request read by `side` (its page was shown)."""
        r, m = t.support_requests, t.support_messages
        last = select(func.coalesce(func.max(m.c.id), 0)).where(m.c.request == rid).scalar_subquery()
        column = "seller_seen" if side == "seller" else "support_seen"
        async with self._begin() as conn:
            await conn.execute(update(r).where(r.c.id == rid).values({column: last}))

    async def unread(self, side: Side, sid: str | None = None) -> int:
        """Requests with unread messages for `side`: a seller's, or (operators) everyone's open ones."""
        r = t.support_requests
        has = case((self._unread(side) > 0, 1), else_=0)
        q = select(func.coalesce(func.sum(has), 0))
        if sid is not None:
            q = q.where(r.c.sid == sid)
        async with self._begin() as conn:
            return int((await conn.execute(q.select_from(r))).scalar_one())


def _request(row: Row[Any]) -> SupportRequest:
    m = row._mapping
    return SupportRequest(
        id=m["id"],
        sid=m["sid"],
        uid=m["uid"],
        category=m["category"],
        subject=m["subject"],
        request_id=m["request_id"],
        state=m["state"],
        created=m["created"],
        updated=m["updated"],
        unread=int(m["unread"] or 0),
    )
