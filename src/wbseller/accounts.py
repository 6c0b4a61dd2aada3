"""What a seller's account does: keys, tokens, demo data. Used by the CLI, the server and the portal.

A token is signed only after its metadata is committed, and the raw token goes back to the caller
alone: it is never stored or logged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from wbseller.categories import CATEGORY_MASK, READ_ONLY_MASK, names_of
from wbseller.clock import Clock
from wbseller.storage import NewsItem, NotFoundError, Seller, Storage, TokenRecord
from wbseller.tokens import (
    LIFETIME,
    KeyRing,
    TokenType,
    generate_private_pem,
    new_token_id,
    next_kid,
    payload_for,
)

if TYPE_CHECKING:
    from argon2 import PasswordHasher


@functools.cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher  # when a password is first hashed or checked, not at every start

    return PasswordHasher()


def hash_password(password: str) -> str:
    """argon2id, with the library's current parameters."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


LIABILITY_TEXT = "I understand that the token should not be shared with third parties"


class AccountError(ValueError):
    """A request the account refuses (bad type, missing liability acknowledgement, unknown user...)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once
    record: TokenRecord


class Accounts:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self.storage = storage
        self.clock = clock
        self.keys = KeyRing()

    async def load_keys(self, create: bool = True) -> KeyRing:
        """Load every signing key; on an empty store, generate the first one."""
        rows = await self.storage.signing_keys()
        if not rows and create:
            await self.add_key()
            rows = await self.storage.signing_keys()
        ring = KeyRing()
        for kid, pem, _created in rows:
            ring.add(kid, pem, signing=True)  # oldest first, so the newest ends up signing
        self.keys = ring
        return ring

    async def add_key(self) -> str:
        """A new signing key (rotation). Older keys stay trusted until their tokens expire."""
        now = self.clock.now()
        for _ in range(5):
            existing = {kid for kid, _, _ in await self.storage.signing_keys()}
            kid = next_kid(existing, datetime.fromtimestamp(now, UTC))
            try:
                await self.storage.add_signing_key(kid, generate_private_pem(), now)
            except IntegrityError:
                continue  # another process took this kid
            await self.load_keys(create=False)
            return kid
        raise RuntimeError("could not allocate a key id")

    async def issue_token(
        self,
        sid: str,
        type: TokenType,
        *,
        scope: int = 0,
        read_only: bool = False,
        name: str = "",
        comment: str = "",
        service_id: int | None = None,
        uid: int | None = None,
        accept_liability: bool = False,
    ) -> IssuedToken:
        seller = await self._seller(sid)
        if uid is None:
            user = await self.storage.owner_of(sid)
        else:
            try:
                user = await self.storage.get_user(uid)
            except NotFoundError:
                raise AccountError(f"no user {uid}") from None
            if user.sid != sid:
                raise AccountError(f"user {uid} is not a user of seller {sid}")
        if user.deleted is not None:
            raise AccountError(f"user {user.id} is deleted")
        if type is TokenType.SERVICE:
            if service_id is None:
                raise AccountError("a service token needs a service from the catalog (--service)")
            try:
                service = await self.storage.get_service(service_id)
            except NotFoundError:
                raise AccountError(f"no service {service_id} in the catalog") from None
            scope = service.scope
            name = name or service.name
        else:
            if service_id is not None:
                raise AccountError("only a service token is made for a service")
            if scope & ~CATEGORY_MASK:
                raise AccountError("unknown category bits")
            if not scope & CATEGORY_MASK:
                raise AccountError("choose at least one category")
            if read_only:
                scope |= READ_ONLY_MASK
        if type is TokenType.PERSONAL and not accept_liability:
            raise AccountError(f"a personal token needs the acknowledgement: {LIABILITY_TEXT!r}")
        if self.keys.signing_kid is None:
            await self.load_keys()
        kid = self.keys.signing_kid
        assert kid is not None
        now = int(self.clock.now())
        record = TokenRecord(
            id=new_token_id(),
            sid=sid,
            uid=user.id,
            kid=kid,
            type=type.value,
            name=name or f"{type.value} token",
            comment=comment,
            scope=scope,
            service_id=service_id,
            created=float(now),
            expires=float(now + LIFETIME),
            revoked=None,
        )
        await self.storage.insert_token(record)
        payload = payload_for(
            token_id=record.id,
            sid=sid,
            scope=scope,
            type=type,
            now=now,
            uid=user.id,
            oid=seller.oid,
            service_id=service_id,
        )
        return IssuedToken(self.keys.sign(payload), record)

    async def revoke_token(self, token_id: str) -> None:
        await self.storage.revoke_token(token_id, self.clock.now())

    async def _seller(self, sid: str) -> Seller:
        try:
            return await self.storage.get_seller(sid)
        except NotFoundError:
            raise AccountError(f"no seller {sid}") from None

    async def ensure_demo(self) -> Seller | None:
        """On an empty store: a demo seller, a catalog service and some news. Returns the new seller."""
        async with self.storage.setup_lock():  # servers starting together seed once
            return await self._seed_demo()

    async def _seed_demo(self) -> Seller | None:
        if await self.storage.list_sellers():
            return None
        now = self.clock.now()
        seller, _owner = await self.storage.create_seller(
            "ИП Демо Д. Д.", tin="7700000000", trade_mark="Demo Store", now=now, owner_name="Demo Owner"
        )
        await self.storage.create_service("Demo ERP connector", CATEGORY_MASK & ~(1 << 13), now)
        if not await self.storage.count_news():
            await self.storage.add_news(DEMO_NEWS, now)
        return seller


def describe_scope(scope: int) -> str:
    cats = names_of(scope)
    access = "read only" if scope & READ_ONLY_MASK else "read and write"
    return f"{', '.join(cats) or '—'} ({access})"


DEMO_NEWS = [
    NewsItem(
        7369,
        "Новые настройки кампаний в ВБ.Медиа",
        "Теперь в кампаниях ВБ.Медиа можно показывать баннеры по поведенческим параметрам.",
        datetime(2025, 2, 5, 11, 10, 35, tzinfo=UTC).timestamp(),
        [(4, "Маркетинг")],
    ),
    NewsItem(
        7373,
        "Изменения в API «Аналитики и данных»",
        "Добавили получение отчётов по текстам поисковых запросов в формате CSV.",
        datetime(2025, 2, 6, 15, 14, 58, tzinfo=UTC).timestamp(),
        [(8, "API"), (41, "Аналитика продавца")],
    ),
]
