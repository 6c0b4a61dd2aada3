"""The General section's state: invitations, users' accesses, the Jam subscription's history, the rating.

Users themselves are the core `users` table (tokens reference them; `Storage.delete_user` and its
`user-deleted` event refuse a deleted user's tokens on every instance). This backend keeps what WB's
General operations and the account pages say of them. docs/general.md describes every method and rule.
Times are epoch seconds on the caller's clock (`now`), as in Storage.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    select,
)
from sqlalchemy import delete as sa_delete
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncConnection

from wbseller.accounts import hash_password
from wbseller.backends.base import Backend
from wbseller.storage.store import NotFoundError, User, write_subscription

# The 20 section codes of `Access` in 01-general.yaml, in the document's order (its enum).
ACCESS_CODES: tuple[str, ...] = (
    "balance", "brands", "changeJam", "discountPrice", "finance", "showcase", "suppliersDocuments", "supply",
    "feedbacksQuestions", "questions", "pinFeedbacks", "pointsForReviews", "feedbacks", "wbPoint",
    "oldAnalyticsReports", "marketplace", "brandsFlow", "copyrightComplaints", "pretrialClaims", "sellersChat",
)  # fmt: skip
DEFAULT_DENIED = frozenset({"showcase", "changeJam"})  # POST /api/v1/invite: not given unless asked for

# The countries POST /api/v1/invite names, by calling code: the number's whole length in digits (E.164,
# without "+"). Decision (docs/general.md): a number is its digits, an optional leading "+".
PHONE_COUNTRIES: dict[str, tuple[str, frozenset[int]]] = {
    "994": ("Azerbaijan", frozenset({12})),
    "374": ("Armenia", frozenset({11})),
    "1246": ("Barbados", frozenset({11})),
    "375": ("Belarus", frozenset({12})),
    "55": ("Brazil", frozenset({12, 13})),
    "852": ("Hong Kong", frozenset({11})),
    "995": ("Georgia", frozenset({12})),
    "39": ("Italy", frozenset({11, 12, 13})),
    "7": ("Russia or Kazakhstan", frozenset({11})),
    "86": ("China", frozenset({13})),
    "996": ("Kyrgyzstan", frozenset({12})),
    "853": ("Macau", frozenset({11})),
    "971": ("UAE", frozenset({11, 12})),
    "381": ("Serbia", frozenset({11, 12})),
    "992": ("Tajikistan", frozenset({12})),
    "90": ("Turkey", frozenset({12})),
    "998": ("Uzbekistan", frozenset({12})),
    "420": ("Czechia", frozenset({12})),
    "46": ("Sweden", frozenset({10, 11, 12})),
}
INVITE_DAYS = 7  # decision: an invitation can be accepted for a week
JAM_LEVELS = ("standard", "advanced", "premium")
JAM_SOURCES = ("jam", "constructor")
JAM = "jam"  # the subscription's name in the catalog's `subscription` rows and seller_subscriptions
DAY = 86_400.0
NOT_IN_SUPPLIER = "bad request cause: user is not in current supplier"  # the document's own 400 example

metadata = MetaData()
invites = Table(
    "general_invites",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("sid", String(36), nullable=False, index=True),
    Column("phone", String(32), nullable=False),
    Column("position", Text, nullable=False, server_default=""),
    Column("access", Text, nullable=False),  # JSON {code: disabled}, resolved when invited
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("accepted", Float, nullable=True),
    Column("uid", Integer, nullable=True),  # the user it became (core users.id; no foreign key)
)
members = Table(  # what WB says of a seller's user beyond the core row
    "general_members",
    metadata,
    Column("uid", Integer, primary_key=True),
    Column("sid", String(36), nullable=False, index=True),
    Column("phone", String(32), nullable=False, server_default=""),
    Column("position", Text, nullable=False, server_default=""),
    Column("invite", String(36), nullable=True),
)
accesses = Table(  # a user's accesses; a code without a row has its default (owner: all granted)
    "general_accesses",
    metadata,
    Column("uid", Integer, primary_key=True),
    Column("code", String(32), primary_key=True),
    Column("sid", String(36), nullable=False, index=True),
    Column("disabled", Boolean, nullable=False),
)
jam_periods = Table(  # every paid period, kept: `since` of the answer is the first one's
    "general_jam_periods",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sid", String(36), nullable=False, index=True),
    Column("level", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("since", Float, nullable=False),
    Column("till", Float, nullable=False),  # cut to the moment of a cancel or a change of level
)
ratings = Table(
    "general_ratings",
    metadata,
    Column("sid", String(36), primary_key=True),
    Column("feedback_count", Integer, nullable=False),
    Column("valuation", Float, nullable=False),
)


class GeneralError(ValueError):
    """A request this section refuses: the message says what to fix (a 400 detail, a CLI sentence)."""


@dataclass(frozen=True, slots=True)
class Invite:
    uuid: str
    sid: str
    phone: str
    position: str
    access: dict[str, bool]  # code -> disabled, all 20
    created: float
    expires: float
    accepted: float | None
    uid: int | None

    def open_at(self, now: float) -> bool:
        """It can still be accepted."""
        return self.accepted is None and now < self.expires


@dataclass(frozen=True, slots=True)
class Person:
    """One row of GET /api/v1/users (and of the account pages' list): a user, or an open invitation (id 0)."""

    id: int
    name: str
    login: str | None
    phone: str
    position: str
    is_owner: bool
    invite: Invite | None
    access: dict[str, bool] = field(default_factory=dict)  # code -> disabled


@dataclass(frozen=True, slots=True)
class JamState:
    """GET /api/common/v1/subscriptions: None of it when the seller never connected Jam."""

    active: bool
    level: str
    source: str
    since: float  # the first activation
    till: float  # the end of the current (active) or last (inactive) paid period


def resolve_access(
    given: Iterable[tuple[str, bool]] | None, base: Mapping[str, bool] | None = None
) -> dict[str, bool]:
    """code -> disabled. The document's rules: nothing given, the defaults (all but showcase and changeJam);
    some given, those over the defaults (`base`, for a change of accesses: the user's current ones); all
    given, exactly those; a code given twice is granted only if every mention grants it."""
    out = dict(base) if base is not None else {c: c in DEFAULT_DENIED for c in ACCESS_CODES}
    seen: dict[str, bool] = {}
    for code, disabled in given or ():
        if code not in ACCESS_CODES:
            raise GeneralError(f"access code {code!r} is unknown; codes: {', '.join(ACCESS_CODES)}")
        seen[code] = seen.get(code, False) or disabled
    out.update(seen)
    return out


def check_phone(phone: str) -> str:
    """The number as digits; GeneralError unless it is one of the documented countries'."""
    digits = phone.strip().removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        raise GeneralError(
            f"invite.phoneNumber {phone!r}: digits only, with the country code, e.g. 79991234567"
        )
    for code in sorted(PHONE_COUNTRIES, key=len, reverse=True):
        if digits.startswith(code):
            country, lengths = PHONE_COUNTRIES[code]
            if len(digits) not in lengths:
                want = " or ".join(str(n) for n in sorted(lengths))
                raise GeneralError(f"invite.phoneNumber: a number of {country} (+{code}) has {want} digits")
            return digits
    raise GeneralError(
        "invite.phoneNumber: numbers of these countries only: "
        + ", ".join(sorted({c for c, _ in PHONE_COUNTRIES.values()}))
    )


def generated_rating(sid: str) -> tuple[int, float]:
    """A seller's rating until feedbacks exist: the same for the same seller, plausible."""
    h = hashlib.blake2b(sid.encode(), digest_size=8, person=b"wb-rating").digest()
    n = int.from_bytes(h, "big")
    return n % 20_000, round(3.5 + (n >> 20) % 151 / 100, 2)


def _invite(row: object) -> Invite:
    r = row._mapping  # type: ignore[attr-defined]
    return Invite(
        r["uuid"], r["sid"], r["phone"], r["position"], json.loads(r["access"]), r["created"], r["expires"],
        r["accepted"], r["uid"],
    )  # fmt: skip


class General(Backend):
    name = "general"
    metadata = metadata
    versions = Path(__file__).parent / "versions" / "general"

    # --- invitations ------------------------------------------------------------------------------

    async def create_invite(
        self,
        sid: str,
        phone: str,
        position: str = "",
        access: Iterable[tuple[str, bool]] | None = None,
        now: float = 0.0,
    ) -> Invite:
        """A new invitation of `sid`, its accesses resolved by the document's rules (`resolve_access`)."""
        digits = check_phone(phone)
        if len(position) > 150:
            raise GeneralError("invite.position: at most 150 characters")
        await self.storage.get_seller(sid)
        resolved = resolve_access(list(access) if access is not None else None)
        inv = Invite(
            str(uuid.uuid4()), sid, digits, position, resolved, now, now + INVITE_DAYS * DAY, None, None
        )
        async with self.begin() as conn:
            await conn.execute(
                insert(invites).values(
                    uuid=inv.uuid, sid=sid, phone=digits, position=position, access=json.dumps(resolved),
                    created=now, expires=inv.expires,
                )
            )  # fmt: skip
        return inv

    async def invite(self, invite_uuid: str) -> Invite | None:
        """The invitation, whatever its state (the account pages' /invite/<uuid>)."""
        async with self.begin() as conn:
            row = (await conn.execute(select(invites).where(invites.c.uuid == invite_uuid))).first()
        return None if row is None else _invite(row)

    async def revoke_invite(self, sid: str, invite_uuid: str) -> None:
        """The seller takes back an invitation not accepted yet: its link then finds no invitation."""
        async with self.begin() as conn:
            gone = await conn.execute(
                sa_delete(invites).where(
                    and_(invites.c.uuid == invite_uuid, invites.c.sid == sid, invites.c.accepted.is_(None))
                )
            )
        if gone.rowcount == 0:
            raise GeneralError("no open invitation of this seller has that id")

    async def accept_invite(self, invite_uuid: str, login: str, password: str, name: str, now: float) -> User:
        """The invited person becomes a user of the seller (core role "user") with this login and password,
        and the invitation's accesses. Refuses an unknown, used or expired invitation, or a taken login."""
        if not login.strip() or not password:
            raise GeneralError("a login and a password are required")
        inv = await self.invite(invite_uuid)
        if inv is None:
            raise GeneralError("no such invitation; ask the seller for a new one")
        if inv.accepted is not None:
            raise GeneralError("this invitation has been accepted already; sign in instead")
        if now >= inv.expires:
            raise GeneralError("this invitation has expired; ask the seller for a new one")
        async with self.begin() as conn:  # claim it first: two people cannot both accept one invitation
            claimed = await conn.execute(
                sa_update(invites)
                .where(and_(invites.c.uuid == invite_uuid, invites.c.accepted.is_(None)))
                .values(accepted=now)
            )
            if claimed.rowcount == 0:
                raise GeneralError("this invitation has been accepted already; sign in instead")
        try:
            user = await self.storage.create_user(inv.sid, name.strip() or login, "user", now, login=login)
            await self.storage.set_password(user.id, hash_password(password))
        except ValueError as exc:  # the login is taken: the invitation stays open
            async with self.begin() as conn:
                await conn.execute(
                    sa_update(invites).where(invites.c.uuid == invite_uuid).values(accepted=None)
                )
            raise GeneralError(f"{exc}; choose another login") from None
        async with self.begin() as conn:
            await conn.execute(sa_update(invites).where(invites.c.uuid == invite_uuid).values(uid=user.id))
            await conn.execute(
                insert(members).values(
                    uid=user.id, sid=inv.sid, phone=inv.phone, position=inv.position, invite=inv.uuid
                )
            )
            await self._write_access(conn, inv.sid, user.id, inv.access)
        return user

    # --- people and accesses ----------------------------------------------------------------------

    async def people(
        self, sid: str, invite_only: bool = False, limit: int = 100, offset: int = 0, now: float = 0.0
    ) -> tuple[int, list[Person]]:
        """(total, one page): the seller's active users (by id, the owner first), or with `invite_only` the
        invitations not accepted yet, newest first (expired ones too, marked by `Invite.open_at`)."""
        if invite_only:
            async with self.begin() as conn:
                where = and_(invites.c.sid == sid, invites.c.accepted.is_(None))
                total = int(
                    (await conn.execute(select(func.count()).select_from(invites).where(where))).scalar_one()
                )
                rows = (
                    await conn.execute(
                        select(invites)
                        .where(where)
                        .order_by(invites.c.created.desc(), invites.c.uuid)
                        .limit(limit)
                        .offset(offset)
                    )
                ).all()
            found = [_invite(r) for r in rows]
            return total, [Person(0, "", None, i.phone, i.position, False, i, i.access) for i in found]
        users = [u for u in await self.storage.list_users(sid) if u.deleted is None]
        users.sort(key=lambda u: (u.role != "owner", u.id))
        page = users[offset : offset + limit]
        uids = [u.id for u in page]
        async with self.begin() as conn:
            extra = {
                r.uid: r for r in (await conn.execute(select(members).where(members.c.uid.in_(uids)))).all()
            }
            got = (await conn.execute(select(accesses).where(accesses.c.uid.in_(uids)))).all()
            inv_ids = [r.invite for r in extra.values() if r.invite]
            invs = {
                r.uuid: _invite(r)
                for r in (await conn.execute(select(invites).where(invites.c.uuid.in_(inv_ids)))).all()
            }
        by_uid: dict[int, dict[str, bool]] = {}
        for r in got:
            by_uid.setdefault(r.uid, {})[r.code] = bool(r.disabled)
        out = []
        for u in page:
            m = extra.get(u.id)
            out.append(
                Person(
                    u.id, u.name, u.login, m.phone if m else "", m.position if m else "", u.role == "owner",
                    invs.get(m.invite) if m and m.invite else None, self._merged(u, by_uid.get(u.id, {})),
                )
            )  # fmt: skip
        return len(users), out

    @staticmethod
    def _merged(user: User, stored: Mapping[str, bool]) -> dict[str, bool]:
        if user.role == "owner":
            return dict.fromkeys(ACCESS_CODES, False)  # the owner has every section
        return {c: stored.get(c, c in DEFAULT_DENIED) for c in ACCESS_CODES}

    async def _member(self, sid: str, uid: int) -> User:
        try:
            user = await self.storage.get_user(uid)
        except NotFoundError:
            raise GeneralError(NOT_IN_SUPPLIER) from None
        if user.sid != sid or user.deleted is not None:
            raise GeneralError(NOT_IN_SUPPLIER)
        return user

    async def accesses(self, uid: int) -> dict[str, bool]:
        """code -> disabled for all 20 sections (the owner: none disabled). The account pages show a user
        only the sections granted (docs/general.md)."""
        user = await self.storage.get_user(uid)
        async with self.begin() as conn:
            rows = (await conn.execute(select(accesses).where(accesses.c.uid == uid))).all()
        return self._merged(user, {r.code: bool(r.disabled) for r in rows})

    async def set_accesses(self, sid: str, changes: Mapping[int, Iterable[tuple[str, bool]]]) -> None:
        """PUT /api/v1/users/access: only the codes given change, for every user at once or none (each must
        be an active user of `sid`; the owner's accesses are all and stay so)."""
        resolved: dict[int, dict[str, bool]] = {}
        for uid, given in changes.items():
            user = await self._member(sid, uid)
            if user.role == "owner":
                raise GeneralError(
                    f"user {uid} is the owner of the seller, who has every access; leave them out"
                )
            resolved[uid] = resolve_access(list(given), await self.accesses(uid))
        async with self.begin() as conn:
            for uid, access in resolved.items():
                await self._write_access(conn, sid, uid, access)

    @staticmethod
    async def _write_access(conn: AsyncConnection, sid: str, uid: int, access: Mapping[str, bool]) -> None:
        await conn.execute(sa_delete(accesses).where(accesses.c.uid == uid))
        rows = [{"uid": uid, "code": k, "sid": sid, "disabled": v} for k, v in access.items()]
        if rows:
            await conn.execute(insert(accesses), rows)

    async def delete_user(self, sid: str, uid: int, now: float) -> None:
        """DELETE /api/v1/user: the user leaves the seller; every token they created is refused from now on,
        on every instance (Storage.delete_user's `user-deleted` event). Not the owner. A user of `sid`
        deleted already: nothing to do (DELETE is idempotent)."""
        try:
            user = await self.storage.get_user(uid)
        except NotFoundError:
            raise GeneralError(NOT_IN_SUPPLIER) from None
        if user.sid != sid:
            raise GeneralError(NOT_IN_SUPPLIER)
        if user.deleted is not None:
            return
        if user.role == "owner":
            raise GeneralError(f"user {uid} is the owner of the seller and cannot be deleted")
        await self.storage.delete_user(uid, now)
        async with self.begin() as conn:
            await conn.execute(sa_delete(accesses).where(accesses.c.uid == uid))

    # --- Jam --------------------------------------------------------------------------------------

    async def jam_state(self, sid: str, now: float) -> JamState | None:
        async with self.begin() as conn:
            rows = (
                await conn.execute(
                    select(jam_periods).where(jam_periods.c.sid == sid).order_by(jam_periods.c.id)
                )
            ).all()
        if not rows:
            return None
        last = rows[-1]
        return JamState(now < last.till, last.level, last.source, rows[0].since, last.till)

    async def jam_connect(self, sid: str, level: str, source: str, days: float, now: float) -> JamState:
        """A paid period of `days` from now. Connected already: the current period ends now and the new
        one (another level, or a renewal) starts; `since` stays the first activation's."""
        if level not in JAM_LEVELS:
            raise GeneralError(f"Jam level {level!r} is unknown; levels: {', '.join(JAM_LEVELS)}")
        if source not in JAM_SOURCES:
            raise GeneralError(
                f"Jam activation source {source!r} is unknown; sources: {', '.join(JAM_SOURCES)}"
            )
        if not days > 0:
            raise GeneralError("a Jam period needs a positive number of days")
        await self.storage.get_seller(sid)
        till = now + days * DAY
        async with self.begin() as conn:
            await self._cut(conn, sid, now)
            await conn.execute(
                insert(jam_periods).values(sid=sid, level=level, source=source, since=now, till=till)
            )
            await write_subscription(conn, sid, JAM, True, till, now)
        state = await self.jam_state(sid, now)
        assert state is not None
        return state

    async def jam_cancel(self, sid: str, now: float) -> JamState:
        """The active period ends now: Jam methods answer 403 from this moment, on every instance."""
        state = await self.jam_state(sid, now)
        if state is None or not state.active:
            raise GeneralError(f"seller {sid} has no active Jam subscription to cancel")
        async with self.begin() as conn:
            await self._cut(conn, sid, now)
            await write_subscription(conn, sid, JAM, False, None, now)
        state = await self.jam_state(sid, now)
        assert state is not None
        return state

    @staticmethod
    async def _cut(conn: AsyncConnection, sid: str, now: float) -> None:
        """Whatever period runs past `now` ends at `now` (inside the caller's transaction)."""
        await conn.execute(
            sa_update(jam_periods)
            .where(and_(jam_periods.c.sid == sid, jam_periods.c.till > now))
            .values(till=now)
        )

    # --- rating -----------------------------------------------------------------------------------

    async def rating(self, sid: str) -> tuple[int, float]:
        """(feedbackCount, valuation): the one set for the seller, else `generated_rating`."""
        async with self.begin() as conn:
            row = (await conn.execute(select(ratings).where(ratings.c.sid == sid))).first()
        return generated_rating(sid) if row is None else (row.feedback_count, row.valuation)

    async def set_rating(self, sid: str, feedback_count: int | None, valuation: float | None) -> None:
        """Set (the test kit, the CLI) or, both None, forget the seller's rating."""
        if feedback_count is not None and feedback_count < 0:
            raise GeneralError("feedbackCount must be 0 or more")
        if valuation is not None and not 0 <= valuation <= 5:
            raise GeneralError("valuation must be between 0 and 5")
        await self.storage.get_seller(sid)
        count, value = await self.rating(sid)
        async with self.begin() as conn:
            await conn.execute(sa_delete(ratings).where(ratings.c.sid == sid))
            if feedback_count is not None or valuation is not None:
                await conn.execute(
                    insert(ratings).values(
                        sid=sid,
                        feedback_count=count if feedback_count is None else feedback_count,
                        valuation=value if valuation is None else valuation,
                    )
                )

    async def reset(self, sid: str) -> None:
        """Tables keyed by `sid` (base.Backend) and the core Jam row this section writes."""
        await super().reset(sid)
        async with self.begin() as conn:
            await write_subscription(conn, sid, JAM, False, None, 0.0)
