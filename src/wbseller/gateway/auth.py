"""Token checks with a cache, and the seller state the checks need.

A token seen before costs one dict lookup and an expiry compare. A new one is verified (signature,
claims) and looked up in storage (exists, not revoked, its user not deleted), then cached until it
expires or an event (revocation, user deletion) drops it.
"""

from __future__ import annotations

from collections.abc import Callable

from wbseller.accounts import Accounts
from wbseller.errors import Forbidden
from wbseller.methods.table import LimitGroup
from wbseller.ratelimit.gcra import Decision, decide
from wbseller.storage import SellerState, Storage
from wbseller.tokens import Claims, TokenError, TokenType

AUTH_FAILURES = "auth-failures"  # the limit group, in methods/general.toml

MISSING = TokenError("token is missing", "token-missing")


class TokenCache:
    """Verified tokens by the raw Authorization header that carried them (no decoding on a hit)."""

    def __init__(
        self, accounts: Accounts, max_size: int = 100_000, on_change: Callable[[], None] = lambda: None
    ) -> None:
        self.on_change = on_change  # told of every drop: whatever was decided from a dropped token is stale
        self.accounts = accounts
        self.storage: Storage = accounts.storage
        self.max_size = max_size
        self._entries: dict[bytes, Claims] = {}
        self._key_reload_at = 0.0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def cached(self, header: bytes, now: float) -> Claims | None:
        claims = self._entries.get(header)
        if claims is not None and claims.exp > now:
            self.hits += 1
            return claims
        return None

    async def verify(self, header: bytes, token: str, now: float) -> Claims:
        """Check `token` (from `header`) in full; cache it under the header when it is good."""
        self.misses += 1
        self._entries.pop(header, None)
        try:
            claims = self.accounts.keys.verify(token, now)
        except TokenError as exc:
            # Another process may have added a key (rotation): reload, at most once a second.
            if exc.code != "token-kid-unknown" or now - self._key_reload_at < 1.0:
                raise
            self._key_reload_at = now
            await self.accounts.load_keys(create=False)
            claims = self.accounts.keys.verify(token, now)
        status = await self.storage.token_status(claims.id)
        if status is None:
            raise TokenError("token is unknown", "token-unknown")
        if status.revoked:
            raise TokenError("token is revoked", "token-revoked")
        if status.user_deleted:
            raise Forbidden("token problem; the user who created the token has been deleted", "user-deleted")
        if len(self._entries) >= self.max_size:
            # Oldest first: dicts keep insertion order.
            for old in list(self._entries)[: max(1, self.max_size // 10)]:
                del self._entries[old]
        self._entries[header] = claims
        return claims

    def drop_token(self, token_id: str) -> None:
        self.on_change()
        for key in [k for k, c in self._entries.items() if c.id == token_id]:
            del self._entries[key]

    def drop_user(self, uid: int) -> None:
        self.on_change()
        for key in [k for k, c in self._entries.items() if c.uid == uid]:
            del self._entries[key]

    def clear(self) -> None:
        self.on_change()
        self._entries.clear()


class AuthGuard:
    """Failed authentications per client address, as a GCRA bucket of this process.

    Only failures are charged; a request from an address whose bucket could not pay for one more
    failure is refused before its token is even checked. Cached (good) tokens never come here.
    """

    def __init__(self, group: LimitGroup) -> None:
        rate = group.rates.get(TokenType.BASE)
        if rate is None:
            raise ValueError(f"limit group {group.id} needs rates.all")
        self.group_id = group.id
        self.rate = rate
        self._tat: dict[str, float] = {}

    def check(self, addr: str, now: float) -> Decision | None:
        """The refusal if this address may not try now, else None (nothing is charged)."""
        tat = self._tat.get(addr)
        if tat is None:
            return None
        _, decision = decide(tat, now, self.rate, 1)
        return None if decision.allowed else decision

    def failed(self, addr: str, now: float) -> None:
        new_tat, decision = decide(self._tat.get(addr, 0.0), now, self.rate, 1)
        if decision.allowed:
            self._tat[addr] = new_tat
        if len(self._tat) > 100_000:  # forget addresses whose bucket is full again
            self._tat = {a: t for a, t in self._tat.items() if t > now}


class SellerCache:
    """Sellers' blocked methods and subscriptions, dropped when an event says they changed."""

    def __init__(self, storage: Storage, on_change: Callable[[], None] = lambda: None) -> None:
        self.storage = storage
        self._entries: dict[str, SellerState] = {}
        self.on_change = on_change  # told of every drop

    async def get(self, sid: str) -> SellerState:
        state = self._entries.get(sid)
        if state is None:
            state = await self.storage.seller_state(sid)
            if state is None:
                raise Forbidden("token problem; the seller of this token does not exist", "seller-unknown")
            if len(self._entries) >= 100_000:
                self._entries.clear()
            self._entries[sid] = state
        return state

    def drop(self, sid: str) -> None:
        self.on_change()
        self._entries.pop(sid, None)
