"""The control API (`--control`, the test kit's): under /_wbseller/ on a bare address, for any language.

    POST   /_wbseller/reset                 everything back to a fresh start (the demo seller)
    GET    /_wbseller/sellers               the sellers
    POST   /_wbseller/sellers               {"name", "tin"?, "trade_mark"?} -> the seller
    POST   /_wbseller/tokens                {"sid"?, "type"?, "categories"?, "read_only"?, "service"?}
                                            -> {"token", "id", ...}: the token is in the answer alone
    GET    /_wbseller/clock                 {"now", "offset", "frozen"}
    POST   /_wbseller/clock                 {"advance": S} (also without --control, under --test-clock)
    POST   /_wbseller/clock/freeze | /unfreeze
    GET    /_wbseller/faults                the standing rules
    POST   /_wbseller/faults                a rule (gateway/faults.py) -> the rule, with its id
    DELETE /_wbseller/faults[/{id}]         clear all, or one
    GET    /_wbseller/journal               {"requests": [...]} oldest first (?limit=N: the newest N)
    DELETE /_wbseller/journal               clear it
    GET    /_wbseller/journal/errors        the error responses, newest first (?request_id=: that one)
    POST   /_wbseller/seed                  {"sid"?, ...counts} -> what each section's seeder made
    GET|POST /_wbseller/sellers/{sid}/rating  {"feedbackCount", "valuation"} (both null: the generated one)
    GET|POST|DELETE /_wbseller/sellers/{sid}/jam  {"level"?, "days"?, "source"?}: connect; DELETE: cancel

Who may call it: a loopback peer that names no forwarded client and sends no `Origin` (a browser page
on another site may post to 127.0.0.1), or anyone with the control token (`--control-token`) in
`X-Control-Token`, compared in constant time. No CORS header is ever sent. Not for production: whoever
reaches it resets the data and makes every call fail. Refusals are WB error bodies (extras' handler).

With control on, every request is journaled (`Control.around`: the gateway hands it the request once,
before its own path) and fault rules may stand; without it, neither exists and the request path pays
one attribute test.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wbseller.accounts import AccountError, Accounts
from wbseller.backends import Backends
from wbseller.backends.general import JAM_LEVELS, JAM_SOURCES, General, GeneralError, JamState
from wbseller.categories import CATEGORIES, mask_of
from wbseller.clock import Clock, OffsetClock
from wbseller.config import Settings
from wbseller.gateway.faults import FaultError, Faults, Rule
from wbseller.gateway.journal import BODY_KEPT, Journal, RequestEntry
from wbseller.methods.table import Table
from wbseller.ratelimit import Limiter
from wbseller.storage import Storage
from wbseller.storage.store import NotFoundError
from wbseller.tokens import TokenType

if TYPE_CHECKING:
    from wbseller.gateway.asgi import Message, Receive, Scope, Send

MAX_ADVANCE = 10 * 366 * 86400  # ten years: past any token's life, short of overflowing a date
TOKEN_HEADER = "x-control-token"  # noqa: S105 - a header name, not a secret
# A test token works only on sandbox hosts: "all" means the categories that have one (as the CLI's).
SANDBOX_MASK = sum(c.mask for c in CATEGORIES if c.bit is not None and c.sandbox)
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORWARDED = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


class Controlled(Protocol):
    """What the control API's routes read (the pages' Services have it all)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def storage(self) -> Storage: ...
    @property
    def limiter(self) -> Limiter: ...
    @property
    def accounts(self) -> Accounts: ...
    @property
    def backends(self) -> Backends: ...
    @property
    def table(self) -> Table: ...
    @property
    def journal(self) -> Journal: ...
    @property
    def control(self) -> Control | None: ...


class Served(Controlled, Protocol):
    """What `Control` acts on besides: the gateway itself."""

    def forget(self) -> None:
        """Every cache of decisions, tokens and sellers emptied."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class Seeder(Protocol):
    """A backend that can fill a seller's section (the catalog and orders issues' backends): `seed(sid,
    counts)` makes what `counts` asks for of the kinds it knows and returns what it made."""

    async def seed(self, sid: str, counts: dict[str, int]) -> dict[str, int]: ...


class Control:
    """The control API's state in one process: the fault rules, and the journal's recording."""

    def __init__(self, gw: Served, on_faults: Callable[[tuple[Rule, ...]], None]) -> None:
        self.gw = gw
        self.faults = Faults(gw.table, gw.clock, on_faults)
        gw.journal.recording = True

    async def around(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request through the gateway, and journal it (unless a page beside the API took it)."""
        scope["wb_journal"] = True
        scope["wb_send"] = send  # the server's own: a fault that drops the connection needs its socket
        gw = self.gw
        at = gw.clock.now()
        kept: list[bytes] = []
        size = 0
        status = 0
        request_id: str | None = None

        async def recv() -> Message:
            nonlocal size
            msg = await receive()
            chunk = msg.get("body", b"")
            if chunk:
                if size < BODY_KEPT:
                    kept.append(chunk[: BODY_KEPT - size])
                size += len(chunk)
            return msg

        async def snd(msg: Message) -> None:
            nonlocal status, request_id
            if msg["type"] == "http.response.start":
                status = msg["status"]
                for k, v in msg.get("headers", ()):
                    if k == b"x-request-id":
                        request_id = v.decode("latin-1")
            await send(msg)

        try:
            await gw(scope, recv, snd)
        finally:
            if not scope.get("wb_page"):
                verb: str = scope["method"]
                op, sid, token_id = scope.get("wb_op"), None, None
                claims = scope.get("wb_claims")
                if claims is not None:
                    sid, token_id = claims.sid, claims.id
                passed = _admitted(gw, scope)
                if passed is not None:
                    op, sid, token_id = passed
                body = b"".join(kept).decode("utf-8", "replace") if verb in _WRITES and size else None
                gw.journal.add_request(
                    RequestEntry(
                        at,
                        verb,
                        scope["path"],
                        scope.get("query_string", b"").decode("latin-1"),
                        scope.get("wb_host"),
                        op,
                        status,
                        sid,
                        token_id,
                        request_id,
                        body,
                        size,
                    )
                )

    async def reset(self) -> dict[str, Any]:
        """A fresh start: every row (signing keys kept: tokens made before are unknown, not forged),
        the buckets, the caches, the journal, the faults; then the demo seller, as a first start makes."""
        gw = self.gw
        started = time.perf_counter()
        await gw.storage.reset_all(*(b.metadata for b in gw.backends))
        await gw.limiter.reset()
        self.faults.clear()
        gw.journal.clear()
        if isinstance(gw.clock, OffsetClock):
            gw.clock.unfreeze()  # time never goes back; a frozen clock runs again, as at a start
        gw.forget()
        demo = await gw.accounts.ensure_demo() if gw.settings.demo else None
        gw.forget()  # what a request decided while the demo was being made
        return {
            "demo": _seller_json(demo) if demo is not None else None,
            "seconds": round(time.perf_counter() - started, 4),
        }


def _admitted(gw: Served, scope: Scope) -> tuple[str, str, str] | None:
    """The operation, seller and token id of a request admitted from the gateway's cache (its checks did
    not run, so nothing was noted in the scope)."""
    passes = getattr(gw, "_passes", None)
    if not passes:
        return None
    host = auth = None
    for k, v in scope["headers"]:
        if k == b"host":
            host = v
        elif k == b"authorization":
            auth = v
    found = passes.get((auth, host, scope["path"], scope["method"]))
    if found is None:
        return None
    return found.method.id, found.claims.sid, found.claims.id


def _seller_json(s: Any) -> dict[str, Any]:
    return {"sid": s.sid, "oid": s.oid, "name": s.name, "tin": s.tin, "trade_mark": s.trade_mark}


def _loopback(value: str | None) -> bool:
    if value is None:
        return False
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def allowed(settings: Settings, scope: Scope) -> bool:
    """A loopback peer that forwards no one's request and is no browser page, or the control token."""
    sent: bytes | None = None
    plain = True
    for k, v in scope.get("headers", ()):
        if k == TOKEN_HEADER.encode():
            sent = v
        elif k in _FORWARDED or k == b"origin":
            plain = False
    expected = settings.control_token
    if sent is not None and expected:
        return hmac.compare_digest(sent, expected.encode())
    client = scope.get("client")
    return plain and _loopback(client[0] if client else None)


def control_routes(gw: Controlled) -> list[Route]:
    """The /_wbseller/ routes the settings allow: the clock alone under --test-clock, all under --control."""
    clock = gw.clock
    control = gw.control

    async def advance(request: Request) -> Response:
        if not isinstance(clock, OffsetClock):
            raise HTTPException(404)
        try:
            data: Any = await request.json()
            seconds = float(data["advance"])
        except (ValueError, TypeError, KeyError, RecursionError):
            raise HTTPException(400, 'expected {"advance": seconds}') from None
        if not 0 <= seconds <= MAX_ADVANCE:  # NaN fails this too
            raise HTTPException(400, f"advance must be between 0 and {MAX_ADVANCE:.0f} seconds")
        clock.advance(seconds)
        return _clock_json(clock)

    if control is None:
        if not gw.settings.test_clock:
            return []
        return [Route("/_wbseller/clock", advance, methods=["POST"])]
    settings = gw.settings
    faults = control.faults

    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            if not allowed(settings, request.scope):
                raise HTTPException(403, _REFUSED)
            try:
                return await handler(request)
            except (FaultError, AccountError, GeneralError) as exc:
                raise HTTPException(400, str(exc)) from None
            except NotFoundError as exc:  # an unknown seller: 400 as every other mistake in a call here
                raise HTTPException(400, str(exc.args[0]) if exc.args else "not found") from None

        return run

    async def body(request: Request, empty_ok: bool = True) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            if empty_ok:
                return {}
            raise HTTPException(400, "expected a JSON object in the body")
        try:
            data = await request.json()
        except (ValueError, RecursionError):
            raise HTTPException(400, "the body is not JSON; expected a JSON object") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "expected a JSON object in the body")
        return data

    async def reset(_: Request) -> Response:
        return JSONResponse(await control.reset())

    async def sellers(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"sellers": [_seller_json(s) for s in await gw.storage.list_sellers()]})
        data = await body(request)
        name = data.get("name", "ИП Тестов Т. Т.")
        fields = {k: data.get(k, "") for k in ("tin", "trade_mark")}
        if (
            not isinstance(name, str)
            or not name.strip()
            or not all(isinstance(v, str) for v in fields.values())
        ):
            raise HTTPException(400, "name, tin and trade_mark must be strings (name not empty)")
        unknown = sorted(set(data) - {"name", "tin", "trade_mark"})
        if unknown:
            raise HTTPException(400, f"unknown field {unknown[0]!r}; a seller has name, tin, trade_mark")
        seller, _owner = await gw.storage.create_seller(
            name.strip(), tin=fields["tin"], trade_mark=fields["trade_mark"], now=clock.now()
        )
        return JSONResponse(_seller_json(seller), status_code=201)

    async def tokens(request: Request) -> Response:
        data = await body(request)
        unknown = sorted(set(data) - {"sid", "type", "categories", "read_only", "service", "name"})
        if unknown:
            raise HTTPException(
                400,
                f"unknown field {unknown[0]!r}; a token has sid, type, categories, read_only, service, name",
            )
        sid = data.get("sid") or await _first_seller(gw)
        try:
            ttype = TokenType(data.get("type", "personal"))
        except ValueError:
            raise HTTPException(400, "type must be one of: base, test, personal, service") from None
        cats = data.get("categories", "all")
        if isinstance(cats, str):
            cats = [c.strip() for c in cats.split(",") if c.strip()]
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise HTTPException(400, 'categories must be "all", a comma-separated string or a list of names')
        read_only = data.get("read_only", False)
        service = data.get("service")
        if not isinstance(read_only, bool) or (service is not None and not isinstance(service, int)):
            raise HTTPException(400, "read_only must be true or false, service a catalog service id")
        name = data.get("name", "")
        if not isinstance(name, str):
            raise HTTPException(400, "name must be a string")
        scope = 0
        if ttype is TokenType.SERVICE:
            if service is None:
                services = await gw.storage.list_services()
                if not services:
                    raise HTTPException(400, "a service token needs a service; the catalog has none")
                service = services[0].id
        else:
            try:
                scope = SANDBOX_MASK if ttype is TokenType.TEST and "all" in cats else mask_of(cats)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
        if not isinstance(sid, str):
            raise HTTPException(400, "sid must be a seller id (a string)")
        issued = await gw.accounts.issue_token(
            sid,
            ttype,
            scope=scope,
            read_only=read_only,
            name=name,
            service_id=service,
            accept_liability=True,  # the caller is a test that made the token for itself
        )
        r = issued.record
        return JSONResponse(
            {
                "token": issued.token,
                "id": r.id,
                "sid": r.sid,
                "type": r.type,
                "scope": r.scope,
                "created": r.created,
                "expires": r.expires,
            },
            status_code=201,
        )

    async def clock_get(_: Request) -> Response:
        return _clock_json(clock)

    async def freeze(_: Request) -> Response:
        assert isinstance(clock, OffsetClock)  # --control implies the test clock
        clock.freeze()
        return _clock_json(clock)

    async def unfreeze(_: Request) -> Response:
        assert isinstance(clock, OffsetClock)
        clock.unfreeze()
        return _clock_json(clock)

    async def faults_all(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"rules": [r.as_json() for r in faults.rules]})
        if request.method == "DELETE":
            faults.clear()
            return JSONResponse({"rules": []})
        rule = faults.add(await body(request, empty_ok=False))
        return JSONResponse(rule.as_json(), status_code=201)

    async def fault_one(request: Request) -> Response:
        try:
            rule_id = int(request.path_params["rule"])
        except ValueError:
            raise HTTPException(404) from None
        if not faults.remove(rule_id):
            raise HTTPException(404)
        return JSONResponse({"rules": [r.as_json() for r in faults.rules]})

    async def journal(request: Request) -> Response:
        if request.method == "DELETE":
            gw.journal.clear()
            return JSONResponse({"requests": []})
        entries = [e.as_json() for e in gw.journal.requests()]
        limit = _limit(request)
        if limit is not None:
            entries = entries[-limit:] if limit else []
        return JSONResponse({"requests": entries})

    async def errors(request: Request) -> Response:
        rid = request.query_params.get("request_id")
        if rid is not None:
            found = gw.journal.error(rid)
            return JSONResponse({"errors": [found.as_json()] if found is not None else []})
        return JSONResponse({"errors": [e.as_json() for e in gw.journal.errors(_limit(request) or 100)]})

    async def seed(request: Request) -> Response:
        data = await body(request)
        sid = data.pop("sid", None) or await _first_seller(gw)
        counts: dict[str, int] = {}
        for kind, n in data.items():
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10_000:
                raise HTTPException(400, f"{kind} must be a count from 0 to 10000")
            counts[kind] = n
        seeders = [b for b in gw.backends if callable(getattr(b, "seed", None))]
        made: dict[str, dict[str, int]] = {}
        for b in seeders:
            made[b.name] = await b.seed(sid, counts)  # type: ignore[attr-defined]
        done = {kind for m in made.values() for kind in m}
        left = sorted(set(counts) - done)
        if left:
            names = ", ".join(b.name for b in seeders) or "none yet"
            raise HTTPException(400, f"nothing seeds {left[0]!r} (sections with a seeder: {names})")
        return JSONResponse({"sid": sid, "made": made})

    def general() -> General:
        try:
            return gw.backends.of(General)
        except KeyError:
            raise HTTPException(404, "the General section is not installed in this server") from None

    async def rating(request: Request) -> Response:
        sid = request.path_params["sid"]
        g = general()
        if request.method == "POST":
            data = await body(request, empty_ok=False)
            unknown = sorted(set(data) - {"feedbackCount", "valuation"})
            if unknown:
                raise HTTPException(
                    400, f"unknown field {unknown[0]!r}; a rating has feedbackCount, valuation"
                )
            count, valuation = data.get("feedbackCount"), data.get("valuation")
            if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
                raise HTTPException(400, "feedbackCount must be a whole number or null")
            if valuation is not None and (
                not isinstance(valuation, int | float) or isinstance(valuation, bool)
            ):
                raise HTTPException(400, "valuation must be a number from 0 to 5 or null")
            await g.set_rating(sid, count, None if valuation is None else float(valuation))
        else:
            await gw.storage.get_seller(sid)  # an unknown seller is a 404, not a generated rating
        count, valuation = await g.rating(sid)
        return JSONResponse({"sid": sid, "feedbackCount": count, "valuation": valuation})

    async def jam(request: Request) -> Response:
        sid = request.path_params["sid"]
        g = general()
        now = clock.now()
        state: JamState | None
        if request.method == "POST":
            data = await body(request)
            unknown = sorted(set(data) - {"level", "days", "source"})
            if unknown:
                raise HTTPException(400, f"unknown field {unknown[0]!r}; Jam takes level, days, source")
            level, source, days = (
                data.get("level", JAM_LEVELS[0]),
                data.get("source", JAM_SOURCES[0]),
                data.get("days", 30),
            )
            if not isinstance(level, str) or not isinstance(source, str):
                raise HTTPException(400, "level and source must be strings")
            if not isinstance(days, int | float) or isinstance(days, bool):
                raise HTTPException(400, "days must be a number")
            state = await g.jam_connect(sid, level, source, float(days), now)
        elif request.method == "DELETE":
            state = await g.jam_cancel(sid, now)
        else:
            await gw.storage.get_seller(sid)
            state = await g.jam_state(sid, now)
        if request.method != "GET":
            control.gw.forget()  # this process sees the change at once (others by its event)
        return JSONResponse({"sid": sid, "jam": _jam_json(state)})

    routes = [
        ("/_wbseller/reset", reset, ["POST"]),
        ("/_wbseller/sellers", sellers, ["GET", "POST"]),
        ("/_wbseller/tokens", tokens, ["POST"]),
        ("/_wbseller/clock", clock_get, ["GET"]),
        ("/_wbseller/clock", advance, ["POST"]),
        ("/_wbseller/clock/freeze", freeze, ["POST"]),
        ("/_wbseller/clock/unfreeze", unfreeze, ["POST"]),
        ("/_wbseller/faults", faults_all, ["GET", "POST", "DELETE"]),
        ("/_wbseller/faults/{rule}", fault_one, ["DELETE"]),
        ("/_wbseller/journal", journal, ["GET", "DELETE"]),
        ("/_wbseller/journal/errors", errors, ["GET"]),
        ("/_wbseller/seed", seed, ["POST"]),
        ("/_wbseller/sellers/{sid}/rating", rating, ["GET", "POST"]),
        ("/_wbseller/sellers/{sid}/jam", jam, ["GET", "POST", "DELETE"]),
    ]
    return [Route(path, guarded(h), methods=m) for path, h, m in routes]


_REFUSED = (
    "the control API answers loopback clients only (no Forwarded or Origin header), "
    f"or a request with the control token in {TOKEN_HEADER}"
)


def _jam_json(state: JamState | None) -> dict[str, Any] | None:
    if state is None:
        return None  # never connected
    return {
        "active": state.active,
        "level": state.level,
        "source": state.source,
        "since": state.since,
        "till": state.till,
    }


def _clock_json(clock: Clock) -> Response:
    assert isinstance(clock, OffsetClock)
    return JSONResponse({"now": clock.now(), "offset": clock.offset, "frozen": clock.frozen is not None})


def _limit(request: Request) -> int | None:
    raw = request.query_params.get("limit")
    if raw is None:
        return None
    if not raw.isdigit():
        raise HTTPException(400, "limit must be a whole number")
    return int(raw)


async def _first_seller(gw: Controlled) -> str:
    sellers = await gw.storage.list_sellers()
    if not sellers:
        raise HTTPException(400, "no seller yet: create one (POST /_wbseller/sellers) or give sid")
    return sellers[0].sid


__all__ = ["Control", "Controlled", "Seeder", "Served", "allowed", "control_routes"]
