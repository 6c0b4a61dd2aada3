"""Storage: sellers, users, services, tokens' metadata, signing keys, news, events.

One class over SQLAlchemy's async engine; the URL picks the database (SQLite by default). Every
write is one transaction, so a crash leaves either the whole record or none of it.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import fcntl
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from wbseller.config import normalize_database_url
from wbseller.errors import ServiceUnavailable
from wbseller.storage import schema as t


@dataclass(frozen=True, slots=True)
class Seller:
    sid: str
    oid: int
    name: str
    tin: str
    trade_mark: str
    created: float


@dataclass(frozen=True, slots=True)
class User:
    id: int
    sid: str | None  # None: an operator (WB staff who publish news), not a seller's user
    name: str
    role: str  # owner | user | operator
    created: float
    deleted: float | None
    login: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    id: int
    name: str
    scope: int
    created: float


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    sid: str
    uid: int
    kid: str
    type: str
    name: str
    comment: str
    scope: int
    service_id: int | None
    created: float
    expires: float
    revoked: float | None


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """What the request path needs of a token's record."""

    revoked: bool
    user_deleted: bool


@dataclass(frozen=True, slots=True)
class NewsItem:
    id: int
    header: str
    content: str
    date: float
    types: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SellerState:
    """What the request path needs of a seller: blocked methods and subscriptions (name -> when it ends,
    epoch seconds on the server's clock; None: never)."""

    seller: Seller
    blocked: frozenset[str]
    subscriptions: Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str  # token-revoked | user-deleted | seller-changed | key-added
    ref: str


NOTIFY_CHANNEL = "wbseller_events"  # the channel migration 0002 notifies on


class NotFoundError(LookupError):
    pass


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'wbseller.db'}"


class DataDirError(OSError):
    """The data directory cannot be made or used; the message names it and says why."""


def sqlite_path(data_dir: Path) -> Path:
    return data_dir / "wbseller.db"


def sqlite_exists(data_dir: Path) -> bool:
    """Whether a SQLite database was made in `data_dir` (an empty file left by a failed start is none)."""
    try:
        return sqlite_path(data_dir).stat().st_size > 0
    except OSError:
        return False


def prepare_data_dir(data_dir: Path) -> None:
    """The data directory and database file, readable by their owner only (they hold the signing keys).
    DataDirError, naming the directory, when it cannot be made or written."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        db = sqlite_path(data_dir)
        if not db.exists():
            db.touch(mode=0o600)
        db.chmod(0o600)
    except OSError as exc:
        why = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(data_dir) else ""
        raise DataDirError(f"cannot use the data directory {data_dir}: {why}{where}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK) or not os.access(db, os.R_OK | os.W_OK):
        raise DataDirError(f"cannot use the data directory {data_dir}: it is not writable")


def describe_url(url: str) -> str:
    """Where a database URL points, for people: never the password."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        return f"the SQLite database {u.database}"
    port = f":{u.port}" if u.port else ""
    user = f" as {u.username}" if u.username else ""
    return f"the PostgreSQL database {u.database!r} on {u.host or 'localhost'}{port}{user}"


def missing_database(exc: BaseException | None) -> str | None:
    """The name of the PostgreSQL database that does not exist, if that is why `exc` happened."""
    seen = 0
    while exc is not None and seen < 10:
        if type(exc).__name__ == "InvalidCatalogNameError":
            text = str(exc)
            start, end = text.find('"'), text.rfind('"')
            return text[start + 1 : end] if 0 <= start < end else text
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def explain(url: str, exc: BaseException) -> str:
    """One sentence on why storage at `url` failed (for the CLI and start-up; never sent over HTTP)."""
    where = describe_url(url)
    name = missing_database(exc)
    if name is not None:
        from sqlalchemy.engine import make_url

        u = make_url(url)
        opts = " ".join(
            f"{flag} {value}"
            for flag, value in (("-h", u.host), ("-p", u.port), ("-U", u.username))
            if value is not None
        )
        return (
            f"{where} does not exist; create it with `createdb {opts} {name}`".replace("  ", " ")
            + " (or start `wbseller serve` once, which creates it)"
        )
    cause = exc.__cause__ or exc.__context__ or exc
    while isinstance(cause, DBAPIError) and cause.orig is not None:
        cause = cause.orig
    why = " ".join(str(cause).split()) or type(cause).__name__
    return f"storage is unavailable: {where} did not answer ({why})"


async def create_postgres_database(url: str) -> str:
    """Create the database a PostgreSQL URL names (connected to the `postgres` database); returns
    its name. Another process creating it at the same moment is fine."""
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    name = u.database or "postgres"
    dsn = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        with contextlib.suppress(asyncpg.exceptions.DuplicateDatabaseError):
            await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()
    return name


class Storage:
    def __init__(self, url: str) -> None:
        url = normalize_database_url(url)  # postgresql:// and postgres:// mean asyncpg
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 5}
        elif self.is_postgres:
            # Fail fast when PostgreSQL is away (the request gets 503), and drop dead connections after.
            kwargs["connect_args"] = {"timeout": 3, "command_timeout": 10}
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._shm: tuple[int, tuple[int, int]] | None = None  # change_stamp's descriptor, and its file

    @classmethod
    def in_dir(cls, data_dir: Path) -> Storage:
        prepare_data_dir(data_dir)
        return cls(sqlite_url(data_dir))

    async def close(self) -> None:
        await self.engine.dispose()
        if self._shm is not None:  # SQLite's connections are closed: no lock of theirs to lose now
            os.close(self._shm[0])
            self._shm = None

    async def migrate(self) -> None:
        """Bring the core tables to the chain's head, one process at a time. A new database gets them from
        the metadata and is stamped (no alembic at all: its import alone was 0.2 s of every start); one
        already at the head is left as it is; any other is upgraded revision by revision."""
        async with self.setup_lock(), self._begin() as conn:
            await conn.run_sync(self._migrate)
        if self.is_sqlite:
            db = self.engine.url.database
            if db and os.path.exists(db):
                os.chmod(db, 0o600)

    @staticmethod
    def _migrate(conn: Any) -> None:
        heads = script_heads(CORE_VERSIONS)
        have = stamped(conn, CORE_VERSION_TABLE)
        if have == heads:
            return
        if have is None and not set(t.metadata.tables) & set(inspect(conn).get_table_names()):
            t.metadata.create_all(conn)
            for name in BEYOND_TABLES.get(conn.dialect.name, ()):
                run_revision(conn, f"wbseller.storage.migrations.versions.{name}")
            stamp(conn, CORE_VERSION_TABLE, heads)
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(CORE_VERSIONS.parent))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    @contextlib.asynccontextmanager
    async def setup_lock(self) -> AsyncIterator[None]:
        """Held by one process at a time: processes starting together migrate and seed once.
        A file lock beside a SQLite database; an advisory lock on PostgreSQL."""
        if self.is_sqlite:
            fd = await asyncio.to_thread(_lock_file, self.engine.url.database)
            try:
                yield
            finally:
                if fd is not None:
                    os.close(fd)  # closing releases the lock
        elif self.is_postgres:
            try:
                conn = await self.engine.connect()
                await conn.exec_driver_sql("SELECT pg_advisory_lock(7346120)")
            except (DBAPIError, OSError) as exc:
                raise ServiceUnavailable("storage is unavailable", "storage-unavailable") from exc
            try:
                yield
            finally:
                with contextlib.suppress(DBAPIError, OSError):
                    await conn.exec_driver_sql("SELECT pg_advisory_unlock(7346120)")
                with contextlib.suppress(DBAPIError, OSError):
                    await conn.close()
        else:
            yield

    def _begin(self) -> _Tx:
        return _Tx(self.engine)

    # --- sellers and users -------------------------------------------------------------------

    async def create_seller(
        self, name: str, tin: str = "", trade_mark: str = "", now: float = 0.0, owner_name: str = "Owner"
    ) -> tuple[Seller, User]:
        sid = str(uuid.uuid4())
        # The seller number is random, not MAX+1: concurrent creations never race for the same one.
        for attempt in range(10):
            oid = secrets.randbelow(90_000_000) + 10_000_000
            try:
                async with self._begin() as conn:
                    await conn.execute(
                        insert(t.sellers).values(
                            sid=sid, oid=oid, name=name, tin=tin, trade_mark=trade_mark, created=now
                        )
                    )
                    res = await conn.execute(
                        insert(t.users)
                        .values(sid=sid, name=owner_name, role="owner", created=now)
                        .returning(t.users.c.id)
                    )
                    uid = res.scalar_one()
                break
            except IntegrityError:  # that number is taken
                if attempt == 9:
                    raise
        return Seller(sid, oid, name, tin, trade_mark, now), User(uid, sid, owner_name, "owner", now, None)

    async def get_seller(self, sid: str) -> Seller:
        async with self._begin() as conn:
            row = (await conn.execute(select(t.sellers).where(t.sellers.c.sid == sid))).first()
        if row is None:
            raise NotFoundError(f"no seller {sid}")
        return _seller(row)

    async def list_sellers(self) -> list[Seller]:
        async with self._begin() as conn:
            rows = (
                await conn.execute(select(t.sellers).order_by(t.sellers.c.created, t.sellers.c.sid))
            ).all()
        return [_seller(r) for r in rows]

    async def seller_state(self, sid: str) -> SellerState | None:
        async with self._begin() as conn:
            row = (await conn.execute(select(t.sellers).where(t.sellers.c.sid == sid))).first()
            if row is None:
                return None
            blocked = (
                await conn.execute(select(t.seller_blocks.c.method).where(t.seller_blocks.c.sid == sid))
            ).scalars()
            subs = (
                await conn.execute(
                    select(t.seller_subscriptions.c.name, t.seller_subscriptions.c.till).where(
                        t.seller_subscriptions.c.sid == sid
                    )
                )
            ).all()
            return SellerState(_seller(row), frozenset(blocked), {n: till for n, till in subs})

    async def set_subscription(
        self, sid: str, name: str, on: bool, now: float, till: float | None = None
    ) -> None:
        """Give (`on`, ending at `till`, None: never) or take a seller's subscription."""
        await self.get_seller(sid)
        async with self._begin() as conn:
            await write_subscription(conn, sid, name, on, till, now)

    async def set_block(self, sid: str, method: str, on: bool, now: float) -> None:
        await self.get_seller(sid)
        async with self._begin() as conn:
            tbl = t.seller_blocks
            await conn.execute(tbl.delete().where(and_(tbl.c.sid == sid, tbl.c.method == method)))
            if on:
                await conn.execute(insert(tbl).values(sid=sid, method=method))
            await _event(conn, "seller-changed", sid, now)

    async def create_user(
        self, sid: str | None, name: str, role: str = "user", now: float = 0.0, login: str | None = None
    ) -> User:
        if role == "operator":
            sid = None
        elif sid is None:
            raise ValueError("a seller's user needs a seller")
        else:
            await self.get_seller(sid)
        try:
            async with self._begin() as conn:
                res = await conn.execute(
                    insert(t.users)
                    .values(sid=sid, name=name, role=role, created=now, login=login)
                    .returning(t.users.c.id)
                )
                uid = res.scalar_one()
        except IntegrityError:
            raise ValueError(f"login {login!r} is taken") from None
        return User(uid, sid, name, role, now, None, login)

    async def set_password(self, uid: int, password_hash: str, login: str | None = None) -> None:
        values: dict[str, Any] = {"password_hash": password_hash}
        if login is not None:
            values["login"] = login
        try:
            async with self._begin() as conn:
                res = await conn.execute(update(t.users).where(t.users.c.id == uid).values(**values))
                if res.rowcount == 0:
                    raise NotFoundError(f"no user {uid}")
        except IntegrityError:
            raise ValueError(f"login {login!r} is taken") from None

    async def user_by_login(self, login: str) -> tuple[User, str | None] | None:
        """The user with this login and its password hash (None if it has none)."""
        async with self._begin() as conn:
            row = (await conn.execute(select(t.users).where(t.users.c.login == login))).first()
        if row is None:
            return None
        return _user(row), row.password_hash

    async def list_users(self, sid: str | None) -> list[User]:
        """A seller's users, or (sid None) the operators."""
        where = t.users.c.sid.is_(None) if sid is None else t.users.c.sid == sid
        async with self._begin() as conn:
            rows = (await conn.execute(select(t.users).where(where).order_by(t.users.c.id))).all()
        return [_user(r) for r in rows]

    async def get_user(self, uid: int) -> User:
        async with self._begin() as conn:
            row = (await conn.execute(select(t.users).where(t.users.c.id == uid))).first()
        if row is None:
            raise NotFoundError(f"no user {uid}")
        return _user(row)

    async def owner_of(self, sid: str) -> User:
        async with self._begin() as conn:
            row = (
                await conn.execute(
                    select(t.users)
                    .where(and_(t.users.c.sid == sid, t.users.c.role == "owner", t.users.c.deleted.is_(None)))
                    .order_by(t.users.c.id)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"seller {sid} has no owner")
        return _user(row)

    async def delete_user(self, uid: int, now: float) -> None:
        async with self._begin() as conn:
            res = await conn.execute(
                update(t.users)
                .where(and_(t.users.c.id == uid, t.users.c.deleted.is_(None)))
                .values(deleted=now)
            )
            if res.rowcount == 0:
                raise NotFoundError(f"no user {uid}")
            await _event(conn, "user-deleted", str(uid), now)

    # --- services ----------------------------------------------------------------------------

    async def create_service(self, name: str, scope: int, now: float) -> Service:
        async with self._begin() as conn:
            res = await conn.execute(
                insert(t.services).values(name=name, scope=scope, created=now).returning(t.services.c.id)
            )
            sid = res.scalar_one()
        return Service(sid, name, scope, now)

    async def get_service(self, service_id: int) -> Service:
        async with self._begin() as conn:
            row = (await conn.execute(select(t.services).where(t.services.c.id == service_id))).first()
        if row is None:
            raise NotFoundError(f"no service {service_id}")
        return Service(row.id, row.name, row.scope, row.created)

    async def list_services(self) -> list[Service]:
        async with self._begin() as conn:
            rows = (await conn.execute(select(t.services).order_by(t.services.c.id))).all()
        return [Service(r.id, r.name, r.scope, r.created) for r in rows]

    # --- tokens ------------------------------------------------------------------------------

    async def insert_token(self, rec: TokenRecord) -> None:
        async with self._begin() as conn:
            await conn.execute(
                insert(t.tokens).values(
                    id=rec.id,
                    sid=rec.sid,
                    uid=rec.uid,
                    kid=rec.kid,
                    type=rec.type,
                    name=rec.name,
                    comment=rec.comment,
                    scope=rec.scope,
                    service_id=rec.service_id,
                    created=rec.created,
                    expires=rec.expires,
                    revoked=None,
                )
            )

    async def get_token(self, token_id: str) -> TokenRecord:
        async with self._begin() as conn:
            row = (await conn.execute(select(t.tokens).where(t.tokens.c.id == token_id))).first()
        if row is None:
            raise NotFoundError(f"no token {token_id}")
        return _token(row)

    async def token_status(self, token_id: str) -> TokenStatus | None:
        """Revoked? User deleted? None when there is no such token."""
        q = (
            select(t.tokens.c.revoked, t.users.c.deleted)
            .select_from(t.tokens.join(t.users, t.tokens.c.uid == t.users.c.id))
            .where(t.tokens.c.id == token_id)
        )
        async with self._begin() as conn:
            row = (await conn.execute(q)).first()
        if row is None:
            return None
        return TokenStatus(revoked=row.revoked is not None, user_deleted=row.deleted is not None)

    async def list_tokens(self, sid: str, include_revoked: bool = False) -> list[TokenRecord]:
        q = select(t.tokens).where(t.tokens.c.sid == sid)
        if not include_revoked:
            q = q.where(t.tokens.c.revoked.is_(None))
        async with self._begin() as conn:
            rows = (await conn.execute(q.order_by(t.tokens.c.created, t.tokens.c.id))).all()
        return [_token(r) for r in rows]

    async def revoke_token(self, token_id: str, now: float) -> None:
        async with self._begin() as conn:
            res = await conn.execute(
                update(t.tokens)
                .where(and_(t.tokens.c.id == token_id, t.tokens.c.revoked.is_(None)))
                .values(revoked=now)
            )
            if res.rowcount == 0:
                raise NotFoundError(f"no active token {token_id}")
            await _event(conn, "token-revoked", token_id, now)

    # --- signing keys ------------------------------------------------------------------------

    async def signing_keys(self) -> list[tuple[str, bytes, float]]:
        """(kid, private PEM, created), oldest first."""
        async with self._begin() as conn:
            rows = (await conn.execute(select(t.signing_keys).order_by(t.signing_keys.c.created))).all()
        return [(r.kid, bytes(r.private_pem), r.created) for r in rows]

    async def add_signing_key(self, kid: str, private_pem: bytes, now: float) -> None:
        async with self._begin() as conn:
            await conn.execute(insert(t.signing_keys).values(kid=kid, private_pem=private_pem, created=now))
            await _event(conn, "key-added", kid, now)

    # --- news --------------------------------------------------------------------------------

    async def add_news(
        self, items: Sequence[NewsItem | tuple[str, str, float, list[str]]], now: float
    ) -> list[int]:
        """Add news in one transaction. A NewsItem keeps its id; a tuple (header, content, date, type
        names) gets the next id. Tag names are created on first use."""
        ids: list[int] = []
        async with self._begin() as conn:
            for item in items:
                if isinstance(item, NewsItem):
                    values: dict[str, Any] = {
                        "id": item.id,
                        "header": item.header,
                        "content": item.content,
                        "date": item.date,
                        "created": now,
                    }
                    tags = [await _tag(conn, name, tag_id) for tag_id, name in item.types]
                else:
                    header, content, date, names = item
                    values = {"header": header, "content": content, "date": date, "created": now}
                    tags = [await _tag(conn, name, None) for name in names]
                try:
                    nid = (
                        await conn.execute(insert(t.news).values(**values).returning(t.news.c.id))
                    ).scalar_one()
                except IntegrityError:
                    raise ValueError(f"news {values.get('id')} exists already") from None
                for pos, tag_id in enumerate(tags):
                    await conn.execute(
                        insert(t.news_tag_links).values(news_id=nid, tag_id=tag_id, position=pos)
                    )
                ids.append(nid)
            if self.is_postgres:  # explicit ids do not move a serial's sequence: move it past them
                for table in ("news", "news_tags"):
                    await conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed names
                        f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
                    )
        return ids

    async def news(self, from_date: float | None, from_id: int | None, limit: int = 100) -> list[NewsItem]:
        q = select(t.news)
        if from_date is not None:
            q = q.where(t.news.c.date >= from_date)
        if from_id is not None:
            q = q.where(t.news.c.id >= from_id)
        async with self._begin() as conn:
            rows = (await conn.execute(q.order_by(t.news.c.id).limit(limit))).all()
            ids = [r.id for r in rows]
            tags: dict[int, list[tuple[int, str]]] = {i: [] for i in ids}
            if ids:
                links = await conn.execute(
                    select(t.news_tag_links.c.news_id, t.news_tags.c.id, t.news_tags.c.name)
                    .select_from(
                        t.news_tag_links.join(t.news_tags, t.news_tag_links.c.tag_id == t.news_tags.c.id)
                    )
                    .where(t.news_tag_links.c.news_id.in_(ids))
                    .order_by(t.news_tag_links.c.news_id, t.news_tag_links.c.position)
                )
                for news_id, tag_id, name in links:
                    tags[news_id].append((tag_id, name))
        return [NewsItem(r.id, r.header, r.content, r.date, tags[r.id]) for r in rows]

    async def get_news(self, news_id: int) -> NewsItem:
        items = await self.news(None, news_id, 1)
        if not items or items[0].id != news_id:
            raise NotFoundError(f"no news {news_id}")
        return items[0]

    async def latest_news(self, limit: int = 50, offset: int = 0) -> list[NewsItem]:
        """Newest first (for the operators' list)."""
        async with self._begin() as conn:
            ids = (
                await conn.execute(
                    select(t.news.c.id).order_by(t.news.c.id.desc()).limit(limit).offset(offset)
                )
            ).scalars()
            wanted = list(ids)
        if not wanted:
            return []
        items = await self.news(None, min(wanted), len(wanted) + 1000)
        by_id = {n.id: n for n in items}
        return [by_id[i] for i in wanted if i in by_id]

    async def update_news(
        self, news_id: int, header: str, content: str, date: float, types: list[str], now: float
    ) -> None:
        async with self._begin() as conn:
            res = await conn.execute(
                update(t.news)
                .where(t.news.c.id == news_id)
                .values(header=header, content=content, date=date, updated=now)
            )
            if res.rowcount == 0:
                raise NotFoundError(f"no news {news_id}")
            await conn.execute(t.news_tag_links.delete().where(t.news_tag_links.c.news_id == news_id))
            for pos, name in enumerate(types):
                tag_id = await _tag(conn, name, None)
                await conn.execute(
                    insert(t.news_tag_links).values(news_id=news_id, tag_id=tag_id, position=pos)
                )

    async def news_types(self) -> list[tuple[int, str]]:
        async with self._begin() as conn:
            rows = (await conn.execute(select(t.news_tags).order_by(t.news_tags.c.name))).all()
        return [(r.id, r.name) for r in rows]

    async def count_news(self) -> int:
        async with self._begin() as conn:
            return int((await conn.execute(select(func.count()).select_from(t.news))).scalar_one())

    # --- events ------------------------------------------------------------------------------

    async def listen(self, on_event: Callable[[], None]) -> None:
        """PostgreSQL only: call `on_event` on every NOTIFY of a new event; reconnects until cancelled."""
        import asyncpg

        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(dsn, timeout=3)
                await conn.add_listener(NOTIFY_CHANNEL, lambda *_: on_event())
                on_event()  # catch up with what happened while not listening
                while not conn.is_closed():
                    await asyncio.sleep(1)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(1)
            finally:
                if conn is not None and not conn.is_closed():
                    await conn.close()

    async def ping(self) -> None:
        """Raises ServiceUnavailable when the database does not answer (readiness)."""
        async with self._begin() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def last_event(self) -> int:
        async with self._begin() as conn:
            return int((await conn.execute(select(func.coalesce(func.max(t.events.c.seq), 0)))).scalar_one())

    def change_stamp(self) -> bytes | None:
        """SQLite only: the WAL-index header, whose change counter moves with every commit by any process
        (sqlite.org/walformat.html). Reading it costs a file read, not a query; None when it cannot be
        read (PostgreSQL, a database not yet in WAL mode): then ask `events_after`.

        The `-shm` file is read through one descriptor kept open, never opened and closed each time:
        closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's too.
        Without its lock on the WAL-index, the next process to open the database took itself for the
        first, truncated the file and rebuilt it, under this process's mapping of it: SIGBUS (the
        session server of the test suite died so, twice in CI, after a CLI command)."""
        database = self.engine.url.database
        if not self.is_sqlite or not database or database == ":memory:":
            return None
        path = database + "-shm"
        try:
            st = os.stat(path)
            if self._shm is None or self._shm[1] != (st.st_dev, st.st_ino):
                # A new file (the last connection of every process deleted the old one, so no lock of
                # this process is on the old one: its descriptor may go).
                fd = os.open(path, os.O_RDONLY)
                if self._shm is not None:
                    os.close(self._shm[0])
                self._shm = (fd, (st.st_dev, st.st_ino))
            return os.pread(self._shm[0], 48, 0)
        except OSError:
            return None

    async def events_after(self, seq: int) -> list[Event]:
        async with self._begin() as conn:
            rows = (
                await conn.execute(select(t.events).where(t.events.c.seq > seq).order_by(t.events.c.seq))
            ).all()
        return [Event(r.seq, r.kind, r.ref) for r in rows]

    # --- reset (the test kit's control API) --------------------------------------------------

    RESET_KEEPS = frozenset(
        {"signing_keys", "events"}
    )  # tokens stay verifiable; the change log stays ordered

    async def reset_all(self, *others: MetaData) -> None:
        """Every row of every table, the core's and those of `others` (the backends' MetaData), in one
        transaction, children before parents: tables added later are covered without a change here.
        Signing keys stay (so do events: a process reading them keeps its place), so a token made
        before is refused as unknown, not as badly signed."""
        async with self._begin() as conn:
            for md in (t.metadata, *others):
                for table in reversed(md.sorted_tables):
                    if table.name not in self.RESET_KEEPS:
                        await conn.execute(table.delete())


# --- migrations: the fast paths of a new database and of one already at its heads -------------------

CORE_VERSIONS = Path(__file__).parent / "migrations" / "versions"
CORE_VERSION_TABLE = "alembic_version"
# The revisions that make what `metadata.create_all` does not, by dialect: run after it on a new
# database (tests/scale/test_fresh_schema.py compares the result with the migrations').
BEYOND_TABLES: dict[str, tuple[str, ...]] = {"postgresql": ("r0002_notify",)}


def script_heads(*directories: Path) -> frozenset[str]:
    """The head revisions of the scripts in these alembic versions directories, read from each file's
    `revision` and `down_revision` without importing alembic (tests/scale/test_fresh_schema.py checks
    them against alembic's own `ScriptDirectory.get_heads()`)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for directory in directories:
        for path in sorted(directory.glob("*.py")):
            found: dict[str, Any] = {}
            for node in ast.parse(path.read_bytes(), str(path)).body:
                target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
                if isinstance(node, ast.AnnAssign) and node.value is not None:
                    target = node.target
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    assert isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
                    found[target.id] = ast.literal_eval(node.value)
            if isinstance(found.get("revision"), str):
                revisions.add(found["revision"])
                down = found.get("down_revision")
                parents.update([down] if isinstance(down, str) else down or ())
    return frozenset(revisions - parents)


def stamped(conn: Any, table: str) -> frozenset[str] | None:
    """The revisions an alembic version table holds; None when there is no such table (a new database)."""
    if not inspect(conn).has_table(table):
        return None
    return frozenset(conn.execute(select(_version_table(table).c.version_num)).scalars())


def stamp(conn: Any, table: str, heads: frozenset[str]) -> None:
    """What `alembic stamp heads` leaves on a new database: its version table, one row per head."""
    version = _version_table(table)
    version.create(conn)
    if heads:
        conn.execute(insert(version), [{"version_num": head} for head in sorted(heads)])


def run_revision(conn: Any, module: str) -> None:
    """One revision's `upgrade()` on `conn`, outside alembic's chain (what create_all cannot make)."""
    import importlib

    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    with Operations.context(MigrationContext.configure(conn)):
        importlib.import_module(module).upgrade()


def _version_table(name: str) -> Table:
    """Alembic's version table as alembic makes it (`DefaultImpl.version_table_impl`)."""
    return Table(
        name,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{name}_pkc"),
    )


class _Tx:
    """`async with storage._begin() as conn`: one transaction; a database that cannot be reached is a 503."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._cm: Any = None

    async def __aenter__(self) -> AsyncConnection:
        self._cm = self.engine.begin()
        try:
            conn: AsyncConnection = await self._cm.__aenter__()
        except (DBAPIError, OSError) as exc:
            raise ServiceUnavailable("storage is unavailable", "storage-unavailable") from exc
        return conn

    async def __aexit__(self, et: Any, exc: Any, tb: Any) -> None:
        try:
            await self._cm.__aexit__(et, exc, tb)
        except (DBAPIError, OSError) as err:
            raise ServiceUnavailable("storage is unavailable", "storage-unavailable") from err
        if isinstance(exc, DBAPIError) and not isinstance(exc, IntegrityError):
            raise ServiceUnavailable("storage is unavailable", "storage-unavailable") from exc


def _lock_file(database: str | None) -> int | None:
    """Block until this process holds the migration lock of a SQLite database file."""
    if not database or database == ":memory:":
        return None
    fd = os.open(database + ".migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


async def write_subscription(
    conn: AsyncConnection, sid: str, name: str, on: bool, till: float | None, now: float
) -> None:
    """The gate's row of a seller's subscription, inside the caller's transaction (a backend that keeps
    the subscription's history writes both at once): on until `till` (None: never), or off. Emits
    `seller-changed`, so every instance drops its cached seller state and admitted requests."""
    tbl = t.seller_subscriptions
    await conn.execute(tbl.delete().where(and_(tbl.c.sid == sid, tbl.c.name == name)))
    if on:
        await conn.execute(insert(tbl).values(sid=sid, name=name, till=till))
    await _event(conn, "seller-changed", sid, now)


async def _event(conn: AsyncConnection, kind: str, ref: str, now: float) -> None:
    await conn.execute(insert(t.events).values(kind=kind, ref=ref, at=now))


async def _tag(conn: AsyncConnection, name: str, tag_id: int | None) -> int:
    row = (await conn.execute(select(t.news_tags.c.id).where(t.news_tags.c.name == name))).first()
    if row is not None:
        return int(row.id)
    values: dict[str, Any] = {"name": name}
    if tag_id is not None:
        values["id"] = tag_id
    return int(
        (await conn.execute(insert(t.news_tags).values(**values).returning(t.news_tags.c.id))).scalar_one()
    )


def _user(row: Any) -> User:
    return User(row.id, row.sid, row.name, row.role, row.created, row.deleted, row.login)


def _seller(row: Any) -> Seller:
    return Seller(row.sid, row.oid, row.name, row.tin, row.trade_mark, row.created)


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        row.id,
        row.sid,
        row.uid,
        row.kid,
        row.type,
        row.name,
        row.comment,
        row.scope,
        row.service_id,
        row.created,
        row.expires,
        row.revoked,
    )
