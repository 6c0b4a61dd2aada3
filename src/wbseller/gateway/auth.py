"""Token checks with a cache, and the seller state the checks need.

A token seen before costs one dict lookup and an expiry compare. A new one is verified (signature,
claims) and looked up in storage (exists, not revoked, its user not deleted), then cached until it
expires or an event (revocation, user deletion) drops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from wbseller.accounts import Accounts
from wbseller.errors import Forbidden, TooManyRequests, WBError
from wbseller.methods.table import LimitGroup
from wbseller.ratelimit import Decision, Limiter, ceil_seconds
from wbseller.storage import SellerState, Storage
from wbseller.tokens import Claims, TokenError, TokenType

AUTH_FAILURES = "auth-failures"  # the limit group, in methods/general.toml
REFUSED_CACHE_SIZE = 10_000
# A shared check's result: the claims, a refusal to raise afresh (class, detail, code, headers), or None
# (the check was cancelled: check again).
Outcome = Claims | tuple[type[WBError], str, str, list[tuple[bytes, bytes]]] | None
ACTIVE_CACHE_SIZE = 100_000


def missing() -> TokenError:
    """A fresh instance each time: one raised again and again keeps every request's traceback."""
    return TokenError("token is missing", "token-missing")


# Refusals that a token can never outgrow: the same header is refused the same way without checking
# it again. Not `token-not-yet-valid` (time cures it); `token-kid-unknown` is forgotten on a new key.
_FOREVER = frozenset(
    {
        "token-malformed",
        "token-alg-invalid",
        "token-kid-unknown",
        "token-signature-invalid",
        "token-claim-missing",
        "token-claim-invalid",
        "token-scope-unknown",
        "token-expired",
        "token-unknown",
        "token-revoked",
        "user-deleted",
    }
)


class TokenCache:
    """Verified tokens by the raw Authorization header that carried them (no decoding on a hit), and
    the headers refused for good (a cheap refusal for a token sent again)."""

    def __init__(
        self,
        accounts: Accounts,
        guard: AuthGuard,
        max_size: int = 100_000,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.on_change = on_change  # told of every drop: whatever was decided from a dropped token is stale
        self.accounts = accounts
        self.guard = guard
        self.storage: Storage = accounts.storage
        self.max_size = max_size
        self._entries: dict[bytes, Claims] = {}
        self._refused: dict[bytes, tuple[type[WBError], str, str]] = {}
        # Stored tokens found active, by id: forged copies of one real token cost no query each.
        self._active: set[str] = set()
        self._flights: dict[bytes, asyncio.Future[Outcome]] = {}  # headers being checked now
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

    async def verify(self, header: bytes, token: str, now: float, addr: str) -> Claims:
        """Check `token` (from `header`, sent from `addr`) in full; cache it when it is good.

        The cheap checks come first (shape, key, claims, times: microseconds), then the stored token
        its `id` claims (exists, not revoked, user not deleted), and only then the signature, whose
        cost is what the guard bounds: per client address and claimed token id, so a forger spends
        only the budget of the one token he copied, never another client's."""
        refused = self._refused.get(header)
        if refused is not None:
            cls, arg, code = refused  # a fresh instance: see missing()
            raise cls(arg, code)
        flight = self._flights.get(header)
        if flight is not None:
            # The same header is being checked for another request (a client's pool of connections at
            # its first call): share that check, its CPU and its one charge of the guard.
            outcome = await asyncio.shield(flight)
            if isinstance(outcome, Claims):
                return outcome
            if outcome is not None:
                cls, arg, code, headers = outcome  # a fresh instance: see missing()
                raise cls(arg, code) if issubclass(cls, TokenError) else cls(arg, code, headers=headers)
            # the check was cancelled: check it here
        flight = asyncio.get_running_loop().create_future()
        self._flights[header] = flight
        try:
            claims = await self._verify(header, token, now, addr)
        except WBError as exc:
            arg = exc.why if isinstance(exc, TokenError) else exc.detail
            flight.set_result((type(exc), arg, exc.code, list(exc.headers)))
            raise
        except BaseException:
            flight.set_result(None)
            raise
        else:
            flight.set_result(claims)
            return claims
        finally:
            del self._flights[header]

    async def _verify(self, header: bytes, token: str, now: float, addr: str) -> Claims:
        self.misses += 1
        self._entries.pop(header, None)
        try:
            claims = await self._check(header, token, now, addr)
        except (TokenError, Forbidden) as exc:
            if exc.code in _FOREVER:
                if len(self._refused) >= REFUSED_CACHE_SIZE:
                    self._refused.clear()
                arg = exc.why if isinstance(exc, TokenError) else exc.detail
                self._refused[header] = (type(exc), arg, exc.code)
            raise
        if len(self._entries) >= self.max_size:
            # Oldest first: dicts keep insertion order.
            for old in list(self._entries)[: max(1, self.max_size // 10)]:
                del self._entries[old]
        self._entries[header] = claims
        return claims

    async def _check(self, header: bytes, token: str, now: float, addr: str) -> Claims:
        keys = self.accounts.keys
        try:
            claimed = keys.precheck(token, now)
        except TokenError as exc:
            # Another process may have added a key (rotation): reload, at most once a second.
            if exc.code != "token-kid-unknown" or now - self._key_reload_at < 1.0:
                raise
            self._key_reload_at = now
            keys = await self.accounts.load_keys(create=False)  # the new ring: the old one is replaced
            claimed = keys.precheck(token, now)
        if claimed.id not in self._active:
            status = await self.storage.token_status(claimed.id)
            if status is None:
                raise TokenError("token is unknown", "token-unknown")
            if status.revoked:
                raise TokenError("token is revoked", "token-revoked")
            if status.user_deleted:
                raise Forbidden(
                    "token problem; the user who created the token has been deleted", "user-deleted"
                )
            if len(self._active) >= ACTIVE_CACHE_SIZE:
                self._active.clear()
            self._active.add(claimed.id)
        await self.guard.charge(addr, claimed.id)
        return keys.verify(token, now)

    def drop_token(self, token_id: str) -> None:
        self.on_change()
        self._active.discard(token_id)
        for key in [k for k, c in self._entries.items() if c.id == token_id]:
            del self._entries[key]

    def drop_user(self, uid: int) -> None:
        self.on_change()
        self._active.clear()  # which ids were this user's is not kept here; a user deleted is rare
        for key in [k for k, c in self._entries.items() if c.uid == uid]:
            del self._entries[key]

    def forget_refusals(self) -> None:
        """A new key (or a moved clock) may make a refused header good."""
        self.on_change()
        self._refused.clear()

    def clear(self) -> None:
        self.on_change()
        self._entries.clear()
        self._refused.clear()
        self._active.clear()


class AuthGuard:
    """Signature checks per client address and claimed token id, as buckets of the limiter (shared by
    every process on Redis, like the API's limits).

    Only a token that passed every cheap check and names a stored, active token reaches a signature
    check, so the budget is spent only by copies of a real token; another client from the same address
    (a NAT, a load balancer) has a token id of its own and is never slowed by it.
    """

    def __init__(self, group: LimitGroup, limiter: Limiter) -> None:
        rate = group.rates.get(TokenType.BASE)
        if rate is None:
            raise ValueError(f"limit group {group.id} needs rates.all")
        self.group_id = group.id
        self.rate = rate
        self.limiter = limiter
        self.refused = 0

    async def charge(self, addr: str, token_id: str) -> None:
        # The first part of a limiter key is its Redis hash tag: one slot per address.
        key = f"auth@{addr.replace(':', '_')}:{self.group_id}:{token_id}"
        answer = await self.limiter.admit(key, self.rate, None)
        if answer.__class__ is int or answer.allowed:  # type: ignore[union-attr]
            return
        assert isinstance(answer, Decision)
        self.refused += 1
        raise TooManyRequests(
            f"limited by {self.group_id}: too many failed signature checks of this token from this address",
            "auth-failures",
            headers=limit_headers(answer),
        )


def limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-retry", str(ceil_seconds(decision.retry_after)).encode()),
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-reset", str(ceil_seconds(decision.reset_after)).encode()),
    ]


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

    def clear(self) -> None:
        """Every seller forgotten (the control API's reset)."""
        self.on_change()
        self._entries.clear()
