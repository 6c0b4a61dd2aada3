"""The request path, as one plain ASGI callable: host -> route -> auth -> limit -> method -> headers.

No framework sits on this path: it runs for every API call, and the benchmark holds it to 0.8 of a
bare ASGI app. Pages around the API (OpenAPI, Swagger UI, metrics, the account pages) are Starlette apps
that the server (wbseller/server.py) plugs in, and the gateway hands a request to when it is not an API
call. What the gateway runs on (storage, limiter, accounts, backends) it is given (`parts.Parts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from wbseller.backends import migrate as migrate_backends
from wbseller.categories import Host
from wbseller.clock import Clock
from wbseller.config import Settings
from wbseller.errors import (
    PROBLEM_JSON,
    BadRequest,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    WBError,
    render,
    render_error,
)
from wbseller.gateway import protocol
from wbseller.gateway.accesslog import AccessLog
from wbseller.gateway.asgi import ASGIApp, Message, Receive, Scope, Send
from wbseller.gateway.auth import AUTH_FAILURES, AuthGuard, SellerCache, TokenCache, limit_headers, missing
from wbseller.gateway.clients import ClientAddress
from wbseller.gateway.faults import Rule, drop_connection, error_for
from wbseller.gateway.hosts import BARE, HostResolver, split_prefix
from wbseller.gateway.journal import Journal
from wbseller.gateway.metrics import Stats, WorkerShare, snapshot
from wbseller.gateway.parts import Parts, open_parts
from wbseller.gateway.protocol import TRUSTED  # our headers: one write, unchecked (protocol.py)
from wbseller.gateway.routing import Router, names_of
from wbseller.methods.context import Context, Reply, TimeOnly
from wbseller.methods.shapes import ErrorShape
from wbseller.methods.table import Method, Subscription, Table, load_table
from wbseller.ratelimit import Decision, Rate
from wbseller.storage import SellerState
from wbseller.tokens import Claims, TokenType, strip_scheme

if TYPE_CHECKING:
    from wbseller.gateway.control import Control

log = logging.getLogger("wbseller")

Response = tuple[int, list[tuple[bytes, bytes]], bytes]
CacheKey = tuple[bytes | None, bytes | None, str, str]  # Authorization, Host, path, verb
REFUSALS_CACHE_SIZE = 10_000
# Admitted requests by (token, host, concrete path, verb): ~1 kB each; a client walking order ids fills it
# with paths seen once, so it stays small (measured: 100k entries held ~120 MB).
PASSES_CACHE_SIZE = 20_000
_REMEMBERED = (NotFound, MethodNotAllowed, Unauthorized, Forbidden)
_NOT_REMEMBERED = frozenset({"token-not-yet-valid"})  # time cures it
# The seed's 403 row, word for word (FACTS: 403); a subscription is active until its `till`. By the names
# a method takes (any one opens it): Jam or the tariff option, its document's 403 example (09-communications).
SUBSCRIPTION_DETAILS = {
    ("jam",): "If you want to use the Jam methods, check your subscription in your personal account",
    ("jam", "pin-feedbacks"): "this feature requires active subscription or active tariff",
}

ORIGIN = "wbseller-gateway"
_CT_PROBLEM = (b"content-type", PROBLEM_JSON)
_NO_ROUTES = Router()
INTERNAL_DETAIL = "internal error; the request id names it in our logs"
_NO_BODY = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_NO_PARAMS: Mapping[str, str] = {}
_TOO_MANY = TooManyRequests.title


class ClientGone(Exception):
    pass


class Gateway:
    """The ASGI application: every category host, the pages plugged beside it, and the lifespan that
    opens storage.

    `Gateway(settings)` alone is the API on the parts the settings name (`open_parts`), without the pages;
    the server (`wbseller.server.create_app`) gives it its parts and plugs the pages in."""

    def __init__(
        self,
        settings: Settings,
        table: Table | None = None,
        clock: Clock | None = None,
        *,
        parts: Parts | None = None,
    ) -> None:
        if parts is None:
            parts = open_parts(settings, clock)
        elif clock is not None and clock is not parts.clock:
            raise ValueError("the clock is the parts' (open_parts(settings, clock))")
        self.settings = settings
        self.clock = parts.clock
        self.storage = parts.storage
        self.accounts = parts.accounts
        self.limiter = parts.limiter
        self.backends = parts.backends
        self._passes: dict[CacheKey, Admitted] = {}
        self._refusals: dict[CacheKey, Refusal] = {}  # requests refused by rules that only events change
        self._sync_admit = self.limiter.sync_admit  # an in-process store answers without an await
        self.stats = Stats()
        self.worker_share = WorkerShare(settings.metrics_dir) if settings.metrics_dir else None
        self.table = table or load_table(settings.config_file)
        self.auth_guard = AuthGuard(self.table.limits[AUTH_FAILURES], self.limiter)
        self.tokens = TokenCache(
            self.accounts, self.auth_guard, settings.token_cache_size, on_change=self._decisions_stale
        )
        self.sellers = SellerCache(self.storage, on_change=self._decisions_stale)
        self.client_address = ClientAddress(settings.trusted_proxies)
        self.access = AccessLog() if settings.access_log else None
        self.hosts = HostResolver()
        # host prefix -> its paths; a bare address goes by path alone, to the path's home host.
        self.routes: dict[str, Router] = {}
        self.bare = Router(self.table.methods)
        self.home: dict[str, Host] = {}  # method id -> the host a bare address sends it to
        self._names: dict[str, tuple[str, ...]] = {}  # method id -> its path's variables
        for m in self.table.methods:
            for h in m.hosts():
                self.routes.setdefault(h.prefix, Router()).add(m)
            self.home[m.id] = m.home()
            self._names[m.id] = names_of(m.path)
        self.extras: ASGIApp | None = None
        self.extra_paths: tuple[str, ...] = ()
        self.portal: ASGIApp | None = None
        self._pages: list[Callable[[], None]] = []  # what `plug` was given, built at start-up
        self._portal_builder: Callable[[], ASGIApp] | None = None  # built on the pages' first request
        self._request_prefix = os.urandom(8).hex()
        self._request_no = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._last_event = 0
        self._events_lock = asyncio.Lock()
        self._events_failing = False
        self.journal = Journal(self._request_prefix)  # error responses, always; every request with control
        self._fault_rules: tuple[Rule, ...] = ()  # the control API's standing fault rules
        self.control: Control | None = None
        if settings.control:
            from wbseller.gateway.control import Control  # Starlette's routes: only when asked for

            self.control = Control(self, self._set_faults)

    def _set_faults(self, rules: tuple[Rule, ...]) -> None:
        self._fault_rules = rules
        self._decisions_stale()  # a cached admission would skip the rules

    def forget(self) -> None:
        """Every cache of decisions, tokens and seller states emptied (the control API's reset)."""
        self.tokens.clear()
        self.sellers.clear()
        self._decisions_stale()

    def plug(
        self,
        extras: Callable[[], tuple[ASGIApp, tuple[str, ...]]] | None = None,
        portal: Callable[[], ASGIApp] | None = None,
    ) -> None:
        """Pages beside the API, by what builds them (in the worker that serves): `extras` (at start-up)
        on a bare address under the paths it returns, `portal` (at its first request) the account pages."""
        if extras is not None:

            def build_extras() -> None:
                self.extras, self.extra_paths = extras()

            self._pages.append(build_extras)
        # The account pages are built on their first request instead (still in the worker that serves):
        # Starlette and Jinja are ~0.2 s of a start that the API's first answer need not wait for.
        self._portal_builder = portal

    def _decisions_stale(self) -> None:
        """A token or a seller changed: what was decided from them, either way, is decided again."""
        self._passes.clear()
        self._refusals.clear()

    # --- lifespan ----------------------------------------------------------------------------

    async def startup(self) -> None:
        await self.storage.migrate()
        await migrate_backends(self.storage, self.backends)
        await self.accounts.load_keys()
        if self.settings.demo:
            await self.accounts.ensure_demo()
        self._last_event = await self.storage.last_event()
        loop = asyncio.get_running_loop()
        poll = self.settings.event_poll
        if self.storage.is_postgres:
            # NOTIFY tells us at once; polling stays as the safety net.
            self._tasks.append(loop.create_task(self.storage.listen(self._on_notify)))
            poll = max(poll, 1.0)
        self._tasks.append(loop.create_task(self._poll_events(poll)))
        if self.worker_share is not None:
            self._tasks.append(loop.create_task(self._share_metrics()))
        if self.access is not None:
            self._tasks.append(loop.create_task(self.access.run()))
        for build in self._pages:
            build()

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.access is not None:
            self.access.flush()
        if self.worker_share is not None:  # the last numbers of this worker stay in the service's counters
            with contextlib.suppress(OSError):
                self.worker_share.write(snapshot(self))
        protocol.TALLY.flush()  # the protocol's refusals summed since its last line: logged, not lost
        await self.limiter.close()
        await self.storage.close()

    async def _share_metrics(self) -> None:
        assert self.worker_share is not None
        while True:
            try:
                self.worker_share.write(snapshot(self))
            except OSError:
                log.warning("cannot write this worker's metrics", exc_info=True)
            await asyncio.sleep(1.0)

    def _on_notify(self) -> None:
        asyncio.get_running_loop().create_task(self._apply_events_logged())

    async def _poll_events(self, interval: float) -> None:
        """Apply changes other processes made (a CLI revoking a token, a user deleted).

        On SQLite a tick first compares the database's change stamp, so an idle server makes no query;
        a full look every few seconds stays as the safety net."""
        stamp, last_full = None, 0.0
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            new = self.storage.change_stamp()  # read before the query: a later commit shows next tick
            if new is None or new != stamp or now - last_full >= 5.0:
                await self._apply_events_logged()
                stamp, last_full = (None if self._events_failing else new), now

    async def _apply_events_logged(self) -> None:
        try:
            await self.apply_events()
        except Exception:  # storage down: try again next tick; cached tokens keep working
            self.stats.backend_errors["storage"] += 1
            if not self._events_failing:
                log.warning("cannot read events from storage; retrying", exc_info=True)
            self._events_failing = True
        else:
            if self._events_failing:
                log.warning("events from storage readable again")
            self._events_failing = False

    async def apply_events(self) -> None:
        async with self._events_lock:
            for ev in await self.storage.events_after(self._last_event):
                self._last_event = ev.seq
                if ev.kind == "token-revoked":
                    self.tokens.drop_token(ev.ref)
                elif ev.kind == "user-deleted":
                    self.tokens.drop_user(int(ev.ref))
                elif ev.kind == "seller-changed":
                    self.sellers.drop(ev.ref)
                elif ev.kind == "key-added":
                    await self.accounts.load_keys(create=False)
                    self.tokens.forget_refusals()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- the request path --------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request: the checks (or the admitted-request cache), the limit, the method, the reply.

        One function on purpose: this is the hottest path of the server, and every call on it costs."""
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(receive, send)
            return
        control = self.control
        if control is not None and "wb_journal" not in scope:  # the control API journals it, then back here
            await control.around(scope, receive, send)
            return
        self._request_no += 1
        number = self._request_no  # the request id is only spelled out when an error needs it
        access = self.access
        started = access.started() if access is not None else 0.0
        counts: dict[int, int] | None = None
        shape: ErrorShape | None = None  # the operation's error bodies, once the operation answers
        admitted: Admitted | None = None
        try:
            host_h = auth_h = length_h = None
            chunked = False
            for k, v in scope["headers"]:
                if k == b"host":
                    if host_h is not None:  # RFC 9112 3.2: a request with two Host fields is a 400
                        raise BadRequest("more than one Host header", "host-repeated")
                    host_h = v
                elif k == b"authorization":
                    if auth_h is not None:  # which one would a proxy in front have checked? neither
                        raise Unauthorized(
                            "token problem; more than one Authorization header", "token-repeated"
                        )
                    auth_h = v
                elif k == b"content-length":
                    length_h = v
                elif k == b"transfer-encoding":
                    chunked = True
            http: str = scope["method"]
            now = self.clock.now()
            # A request like one admitted before (same token, host, path, verb) skips every check but the limit;
            # `_passes` is emptied whenever a token or a seller changes.
            cache_key = (auth_h, host_h, scope["path"], http)
            admitted = self._passes.get(cache_key)
            if admitted is not None and admitted.until > now:
                self.tokens.hits += 1  # the token is known: a cache hit, one level up
            else:
                refusal = self._refusals.get(cache_key)
                if refusal is not None and length_h is None and not chunked:
                    # Refused before for a reason only an event changes: no exception, no checks.
                    status, headers, body = self.refusal_reply(refusal, number)
                    self.journal.add_error(
                        (
                            now,
                            refusal.host,
                            refusal.op,
                            status,
                            refusal.code,
                            refusal.detail,
                            None,
                            None,
                            number,
                        )
                    )
                    counts = refusal.counts
                    counts[status] = counts.get(status, 0) + 1
                    await send(
                        {"type": "http.response.start", "status": status, "headers": headers, TRUSTED: True}
                    )
                    await send({"type": "http.response.body", "body": body})
                    if access is not None:
                        access.add(started, http, host_h, scope["path"], status, headers[2][1])
                    return
                try:
                    admitted = await self._admit(scope, receive, send, host_h, auth_h, length_h, now)
                except WBError as refused:
                    if refused.code not in _NOT_REMEMBERED and isinstance(refused, _REMEMBERED):
                        self._remember(cache_key, refused, scope)
                    raise
                if admitted is None:  # answered by a page beside the API
                    if access is not None:
                        access.add(started, http, host_h, scope["path"], 0, None)
                    return
                if self._fault_rules:  # the control API's faults: decided afresh while a rule stands
                    fault = await self._fault(admitted, scope.get("wb_send", send), now)
                    if fault is None:
                        return  # the connection was dropped
                    if isinstance(fault, WBError):
                        shape = admitted.method.shape
                        raise fault
                else:
                    if len(self._passes) >= PASSES_CACHE_SIZE:
                        self._passes.clear()
                    self._passes[cache_key] = admitted
            method, counts = admitted.method, admitted.counts
            length = _content_length(length_h, method.max_body) if length_h is not None else 0

            # The limit: one bucket per seller, limit group and token type (and host, for /ping).
            rate, key, group = admitted.rate, admitted.key, method.limit
            remaining: int | None = None
            if rate is not None:
                if self._sync_admit is not None:  # no await: the in-process store answers at once
                    answer = self._sync_admit(key, rate, group.block, now)
                else:
                    answer = await self.limiter.admit(key, rate, group.block)
                if isinstance(answer, int):  # admitted: its remaining
                    remaining = answer
                elif answer.allowed:
                    remaining = answer.remaining
                else:  # refused: answered here, without an exception (a flood of 429s is the cheap path)
                    bucket = group.bucket(admitted.claims.type)  # a test token's: the sandbox's
                    self.stats.limited[bucket] += 1
                    status, headers, body = self.limited_reply(bucket, answer, number, now, admitted)
                    counts[429] = counts.get(429, 0) + 1
                    await send(
                        {"type": "http.response.start", "status": 429, "headers": headers, TRUSTED: True}
                    )
                    await send({"type": "http.response.body", "body": body})
                    if access is not None:
                        access.add(started, http, host_h, scope["path"], 429, headers[2][1])
                    return

            shape = method.shape  # from here on a refusal is the operation's: in the shape it declares
            try:
                has_body = chunked or length or http not in _NO_BODY
                if admitted.at is not None and not has_body:
                    reply = admitted.at(now)  # a reply of the time alone (ping): no Context, no await
                else:
                    body = await read_body(receive, method.max_body) if has_body else b""
                    ctx = self._context(scope, admitted, body, now)
                    if method.check is not None:  # after the limit: a refused request is charged too
                        ctx.checked = method.check.check(admitted.params, ctx.query_string, ctx.headers, body)
                    sub = method.subscription  # one that depends on the body: decided on every request
                    if sub is not None and sub.field is not None and sub.needed(ctx.checked):
                        shape = None  # the gateway's refusal, as the gate before the limit: the uniform body
                        _gate(sub, admitted.seller, now)
                    reply = await method.handler(ctx)
            except ClientGone:
                raise
            except Exception as exc:
                # Charged already: a refusal from here on is still a response of a limited method.
                err = exc if isinstance(exc, WBError) else InternalError(INTERNAL_DETAIL)
                if not isinstance(exc, WBError):
                    log.exception("internal error in request %s", self._request_id(number))
                if rate is not None:
                    if group.charged and (cost := group.cost(err.status)) > 1:
                        remaining = await self.limiter.surcharge(key, rate, cost - 1)
                    err.headers = [*err.headers, (b"x-ratelimit-remaining", str(remaining).encode())]
                if err is exc:
                    raise
                raise err from exc
            # A response that costs more (a 4xx is 10 on marketplace-api) is charged before its headers go
            # out; one that costs one (every 2xx) awaits nothing.
            if rate is not None and group.charged and (cost := group.cost(reply.status)) > 1:
                remaining = await self.limiter.surcharge(key, rate, cost - 1)
            # X-Request-Id goes with errors, whose body carries the same id (FACTS: the error model); on a
            # success it would be the costliest header uvicorn writes (measured: ~13% of the request).
            headers = [(b"content-type", reply.content_type), (b"content-length", reply.content_length)]
            if remaining is not None:
                headers.append((b"x-ratelimit-remaining", str(remaining).encode()))
            if reply.headers:
                headers.extend(reply.headers)
            status, body = reply.status, reply.body
        except WBError as err:
            status, headers, body = self.error_reply(err, self._request_id(number), shape)
            self._journal_error(err, number, scope, admitted)
        except ClientGone:
            return
        except Exception:
            request_id = self._request_id(number)
            log.exception("internal error in request %s", request_id)
            internal = InternalError(INTERNAL_DETAIL)
            status, headers, body = self.error_reply(internal, request_id)
            self._journal_error(internal, number, scope, admitted)
        if counts is None:  # refused before the host was known, or while checking the request
            counts = self.stats.for_host(scope.get("wb_host", "-"))
        counts[status] = counts.get(status, 0) + 1
        await send({"type": "http.response.start", "status": status, "headers": headers, TRUSTED: True})
        await send({"type": "http.response.body", "body": body})
        if access is not None:
            access.add(started, http, host_h, scope["path"], status, headers[2][1] if status >= 400 else None)

    def _journal_error(self, err: WBError, number: int, scope: Scope, admitted: Admitted | None) -> None:
        if admitted is not None:
            host: str | None = admitted.host.prefix
            op: str | None = admitted.method.id
            claims: Claims | None = admitted.claims
        else:
            host, op, claims = scope.get("wb_host"), scope.get("wb_op"), scope.get("wb_claims")
        self.journal.add_error(
            (
                self.clock.now(),
                host,
                op,
                err.status,
                err.code,
                err.detail,
                claims.sid if claims is not None else None,
                claims.id if claims is not None else None,
                number,
            )
        )

    async def _fault(self, admitted: Admitted, send: Send, now: float) -> Admitted | WBError | None:
        """The control API's fault for this request: the request goes on (`admitted`, after a delay), an
        error to answer, or None (the connection was dropped)."""
        assert self.control is not None
        method, claims = admitted.method, admitted.claims
        rule = self.control.faults.pick(method, admitted.host.prefix, admitted.path, claims.sid, now)
        if rule is None:
            return admitted
        if rule.delay:
            await asyncio.sleep(rule.delay)  # real time: the client's timeout runs on it
        if rule.drop:
            if not drop_connection(send):
                log.info("fault rule %s: no connection to drop (in-process); nothing is sent", rule.id)
            return None
        if rule.status is None:
            return admitted
        return error_for(rule, method, admitted.rate, method.limit.bucket(claims.type))

    def _request_id(self, number: int) -> str:
        """Unique per process start: a random prefix and the request's number."""
        return "%s%016x" % (self._request_prefix, number)  # noqa: UP031 - the fastest spelling

    def _context(self, scope: Scope, admitted: Admitted, body: bytes, now: float) -> Context:
        return Context(
            scope["method"],
            admitted.path,
            scope["query_string"],
            scope["headers"],
            body,
            admitted.host,
            admitted.claims,
            admitted.seller,
            self.storage,
            self.clock,
            now,
            admitted.params,
            backends=self.backends,
        )

    async def _admit(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        host_h: bytes | None,
        auth_h: bytes | None,
        length_h: bytes | None,
        now: float,
    ) -> Admitted | None:
        """Every check of a request before its limit: host, route, body size, token, token rules, seller.
        None when a page beside the API (or the account pages) answered instead."""
        path: str = scope["path"]
        target = self.hosts.by_header(host_h)
        if target is BARE:
            if path.startswith(self.extra_paths) and self.extras is not None:
                scope["wb_page"] = True  # not an API call: the control API's journal leaves it out
                await _delegate(self.extras, scope, receive, send)
                return None
            split = split_prefix(path)
            if split is not None:
                target, path = split
        if target.portal:
            if self.portal is None and self._portal_builder is not None:
                self.portal, self._portal_builder = self._portal_builder(), None
            if self.portal is None:
                raise NotFound()
            scope["wb_page"] = True
            if path != scope["path"]:  # under the /seller/ prefix: ASGI's root_path (path keeps the prefix)
                scope = {**scope, "root_path": scope.get("root_path", "") + "/seller"}
            await _delegate(self.portal, scope, receive, send)
            return None
        verb: str = scope["method"]
        host = target.host
        if host is None:  # a bare address: the path's home host
            match = self.bare.match(path, verb)
            if match is None:
                raise NotFound()
            host = self.home[next(iter(match.by_verb.values())).id]
        else:
            match = self.routes.get(host.prefix, _NO_ROUTES).match(path, verb)
        scope["wb_host"] = host.prefix
        if match is None:
            raise NotFound()
        by_http = match.by_verb
        method = by_http.get(verb)
        if method is None:
            if verb == "HEAD":  # wherever GET is answered: the same headers, no body (uvicorn drops it)
                method = by_http.get("GET")
            if method is None:
                allow = _allow(by_http)
                if verb == "OPTIONS":
                    await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
                    await send({"type": "http.response.body", "body": b""})
                    return None
                raise MethodNotAllowed(
                    f"method {verb} is not allowed here; use {allow.decode()}", headers=[(b"allow", allow)]
                )
        scope["wb_op"] = method.id  # for the journals of a refusal below
        if length_h is not None:
            _content_length(length_h, method.max_body)

        # Authorization: `<token>` or `Bearer <token>`.
        if not auth_h:
            raise missing()
        claims = self.tokens.cached(auth_h, now)
        if claims is None:
            token = strip_scheme(auth_h.decode("latin-1"))
            if not token:
                raise missing()
            claims = await self._verify(auth_h, token, now, scope)
        scope["wb_claims"] = claims
        ttype = claims.type
        if host.sandbox:
            if ttype is not TokenType.TEST:
                raise Unauthorized("token problem; a sandbox host accepts only test tokens", "token-not-test")
        elif ttype is TokenType.TEST:
            raise Unauthorized(
                "token problem; a test token works only on sandbox hosts", "token-test-on-production"
            )
        mask = host.mask
        if mask and not claims.scope & mask:
            raise Unauthorized(
                f"token problem; token scope not allowed for {host.name}", "token-category-mismatch"
            )
        if not method.read_only and claims.read_only:
            raise Unauthorized(
                "token problem; read-only token is not allowed for this method", "token-read-only"
            )
        if ttype not in method.token_types:
            raise Forbidden(f"{ttype.value} token is not allowed", "token-type-not-allowed")
        seller = await self.sellers.get(claims.sid)
        if seller.blocked and method.id in seller.blocked:
            raise Forbidden("access to this method is blocked for the seller", "method-blocked")
        # The admitted request stands until the token or a subscription it needs ends (one that depends on
        # the body is decided per request, after its checks: __call__).
        until: float = claims.exp
        if (sub := method.subscription) is not None and sub.field is None:
            until = min(until, _gate(sub, seller, now))
        group = method.limit
        rate = group.rates.get(ttype)
        key = f"{claims.sid}:{group.bucket(ttype)}:{ttype.value}"
        if group.per_host:
            key = f"{key}:{host.prefix}"
        at = method.handler.at if isinstance(method.handler, TimeOnly) else None
        params = dict(zip(self._names[method.id], match.values, strict=True)) if match.values else _NO_PARAMS
        return Admitted(
            host, path, params, method, claims, seller, rate, key, at, self.stats.for_host(host.prefix), until
        )

    async def _verify(self, header: bytes, token: str, now: float, scope: Scope) -> Claims:
        """A token not in the cache, checked from the client's address (behind a trusted proxy: the
        address the proxy names)."""
        try:
            return await self.tokens.verify(header, token, now, self.client_address.of(scope))
        except TooManyRequests:
            self.stats.limited[self.auth_guard.group_id] += 1
            raise

    def _remember(self, key: CacheKey, err: WBError, scope: Scope) -> None:
        if len(self._refusals) >= REFUSALS_CACHE_SIZE:
            self._refusals.clear()
        counts = self.stats.for_host(scope.get("wb_host", "-"))
        self._refusals[key] = Refusal(
            err.status,
            err.title,
            err.detail,
            err.code,
            tuple(err.headers),
            counts,
            scope.get("wb_host"),
            scope.get("wb_op"),
        )

    def limited_reply(
        self, group_id: str, answer: Decision, number: int, now: float, admitted: Admitted | None = None
    ) -> Response:
        """A 429: the body from its cached template, the limit's headers from the decision."""
        request_id = self._request_id(number)
        if answer.blocked:
            detail = f"limited by {group_id}; the method is temporarily blocked for automated polling"
            code = "method-blocked-polling"
        else:
            detail, code = f"limited by {group_id}", "rate-limited"
        if admitted is not None:
            c = admitted.claims
            self.journal.add_error(
                (now, admitted.host.prefix, admitted.method.id, 429, code, detail, c.sid, c.id, number)
            )
        body = render(429, _TOO_MANY, detail, code, request_id, ORIGIN, now)
        return (
            429,
            [
                _CT_PROBLEM,
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                *limit_headers(answer),
            ],
            body,
        )

    def refusal_reply(self, r: Refusal, number: int) -> Response:
        request_id = self._request_id(number)
        body = render(r.status, r.title, r.detail, r.code, request_id, ORIGIN, self.clock.now())
        headers = [
            _CT_PROBLEM,
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
        ]
        headers.extend(r.headers)
        return r.status, headers, body

    def error_reply(self, err: WBError, request_id: str, shape: ErrorShape | None = None) -> Response:
        """The WB error body; an operation's own refusal in the shape its document declares (platform
        refusals, 401/402/429, and statuses declared without a body stay uniform: methods/shapes.py)."""
        now = self.clock.now()
        shaped = shape.render(err, request_id, now) if shape is not None else None
        if shaped is None:
            content_type, body = PROBLEM_JSON, render_error(err, request_id, ORIGIN, now)
        else:
            content_type, body = shaped
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            *err.headers,
        ]
        return err.status, headers, body


async def _delegate(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """A page beside the API answers for itself: Starlette has already sent its 500 when it re-raises."""
    try:
        await app(scope, receive, send)
    except Exception:
        log.exception("internal error in a page beside the API")


class Refusal(NamedTuple):
    """A refusal that stands until a token or a seller changes (404, 405, 401, 403): its WB error."""

    status: int
    title: str
    detail: str
    code: str
    headers: tuple[tuple[bytes, bytes], ...]
    counts: dict[int, int]
    host: str | None  # for the journal of errors
    op: str | None


class Admitted(NamedTuple):
    """What the checks of a request decided; reused for the same token, host, path and verb."""

    host: Host
    path: str
    params: Mapping[str, str]  # the path's variables, as sent
    method: Method
    claims: Claims
    seller: SellerState
    rate: Rate | None
    key: str  # the bucket
    at: Callable[[float], Reply] | None  # the handler, when its reply depends on the time alone
    counts: dict[int, int]  # the host's responses by status (metrics)
    until: float  # when this decision stops standing: the token's expiry, or a subscription's end


def _gate(sub: Subscription, seller: SellerState, now: float) -> float:
    """When the seller's access through `sub` ends (the latest end of its active names; inf: never);
    403 with the seed's detail when none is active."""
    ends = [seller.subscriptions.get(name, 0.0) for name in sub.names]  # absent: ended long ago; None: never
    if None in ends:
        return float("inf")
    last = max(e for e in ends if e is not None)
    if last <= now:
        names = sub.names
        detail = SUBSCRIPTION_DETAILS.get(names) or f"this method needs the {' or '.join(names)} subscription"
        raise Forbidden(detail, f"subscription-{'-or-'.join(names)}")
    return last


def _content_length(value: bytes, limit: int) -> int:
    """The declared body size; 413 when over the method's limit (before a byte of it is read)."""
    try:
        length = int(value)
    except ValueError:
        raise PayloadTooLarge("bad Content-Length", "bad-content-length") from None
    if length > limit:
        raise PayloadTooLarge(f"request body is over the limit of {limit} bytes for this method")
    return length


def _allow(by_http: Mapping[str, Method]) -> bytes:
    verbs = set(by_http) | {"OPTIONS"}
    if "GET" in verbs:
        verbs.add("HEAD")
    return ", ".join(sorted(verbs)).encode()


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` (not after reading it all)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes for this method")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


__all__ = ["ASGIApp", "ClientGone", "Gateway", "Message", "Receive", "Scope", "Send", "read_body"]
