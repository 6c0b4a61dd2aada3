"""The seller's account pages, as a Starlette app the gateway hands `seller.localhost` and `/seller/...` to.

Pages: sign-in and sign-out; API integrations (the seller's tokens: list, create, delete); the token
decoder (in the browser: the token never leaves it); news for operators. Server-rendered with Jinja2; a
little plain JS (static/) turns the create and delete forms into dialogs and copies the new token.

Security, in short: sessions in signed cookies (session.py), a CSRF token in every form, wrong passwords
limited per login and per client address on the gateway's limiter, a Content-Security-Policy that allows
only this site's own scripts and styles and no network requests from scripts at all (`connect-src
'none'`), and `Cache-Control: no-store` on every page (the one that shows a new token above all).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from wbseller.accounts import AccountError, hash_password, verify_password
from wbseller.backends.general import General
from wbseller.categories import READ_ONLY_BIT, READ_ONLY_MASK, mask_of, names_of
from wbseller.errors import WBError
from wbseller.methods.general import MSK
from wbseller.portal import i18n
from wbseller.portal.forms import (
    MANUAL_TYPES,
    MAX_MESSAGE,
    MAX_REQUEST_ID,
    MAX_SUBJECT,
    SANDBOX_CATEGORIES,
    TOKEN_CATEGORIES,
    Form,
    NewsForm,
    SupportForm,
    TokenForm,
    msk_input,
    parse_news_form,
    parse_reply,
    parse_support_form,
    parse_token_form,
)
from wbseller.portal.i18n import Msg, Translator, m
from wbseller.portal.session import COOKIE, Session, Sessions, load_secret, password_fingerprint
from wbseller.portal.users import SECTIONS, Opened, People, opened_for
from wbseller.ratelimit import Rate
from wbseller.storage import NotFoundError, Service, TokenRecord, User
from wbseller.storage.support import CATEGORIES as SUPPORT_CATEGORIES
from wbseller.storage.support import STATES as SUPPORT_STATES
from wbseller.storage.support import ClosedError, Side, SupportRequest, SupportStore
from wbseller.tokens import TokenType

if TYPE_CHECKING:
    from wbseller.accounts import IssuedToken
    from wbseller.gateway.asgi import ASGIApp, Message, Receive, Scope, Send
    from wbseller.gateway.journal import ErrorEntry
    from wbseller.gateway.parts import Services

log = logging.getLogger("wbseller.portal")

HERE = Path(__file__).parent
PRODUCT = "WB Seller"

# Wrong passwords: 5 per login per 15 minutes (then one more every 3 minutes), and 20 per client address
# (one address trying many logins). Only failures are charged; the check comes before the password is.
SIGNIN_PER_LOGIN = Rate(period=900, limit=5, burst=5)
SIGNIN_PER_ADDRESS = Rate(period=900, limit=20, burst=20)
MAX_FORM_BYTES = 64 * 1024
MAX_LOGIN = 254
MAX_PASSWORD = 1024
NEWS_PAGE = 20
SIGNIN_PAGE: dict[str, Any] = {"title": m("signin.title"), "nav": "signin"}
LANG_MAX_AGE = 365 * 86400

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
)


class SignInRequired(Exception):
    def __init__(self, session: Session, next_path: str) -> None:
        super().__init__("sign in first")
        self.session = session
        self.next_path = next_path


class Refused(Exception):
    """A request the portal answers with an error page that says why."""

    def __init__(
        self, status: int, title: Msg, message: Msg, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message.key)
        self.status = status
        self.title = title
        self.message = message
        self.headers = dict(headers or {})


CSRF_REFUSED = (403, m("error.csrf_title"), m("error.csrf_text"))


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A token as the list shows it: never the token itself, only what is stored about it."""

    id: str
    name: str
    comment: str
    type: str
    type_label: str
    service: str
    categories: list[str]
    access: str
    created: float
    expires: float
    expired: bool
    creator: str


def fmt_msk(ts: float, t: Translator) -> str:
    return datetime.fromtimestamp(ts, MSK).strftime("%Y-%m-%d %H:%M ") + t("date.msk")


@pass_context
def _msk_filter(context: Context, ts: float) -> str:
    t = context["t"]
    assert isinstance(t, Translator)
    return fmt_msk(ts, t)


def fmt_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, MSK).isoformat(timespec="seconds")


def scope_titles(scope: int, t: Translator) -> list[str]:
    return [t(f"category.{n}") for n in names_of(scope)]


def access_label(scope: int, t: Translator) -> str:
    return t("access.ro") if scope & READ_ONLY_MASK else t("access.rw")


class Portal:
    def __init__(self, gw: Services) -> None:
        self.gw = gw
        self.storage = gw.storage
        self.sessions = Sessions(load_secret(gw.settings.data_dir), gw.clock)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["msk"] = _msk_filter
        self.translators = {lang: Translator(lang) for lang in i18n.LANGS}
        self.env.filters["iso"] = fmt_iso
        self.static_dir = HERE / "static"
        # Cache-busting: an asset's URL changes when its content does.
        self.static_versions = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in self.static_dir.iterdir()
        }
        # Verifying a password takes ~64 MiB and tens of ms (argon2): a few at a time, off the event loop.
        self._verify_slots = asyncio.Semaphore(2)
        # Unknown logins are checked against this, so they take as long as known ones (made on first use:
        # hashing costs as much as checking, and servers start often in tests and benchmarks).
        self._dummy_hash = ""
        self.support = SupportStore(gw.storage.engine)
        self.people = People(self)  # users, invitations, Jam (users.py)

    # --- the app -----------------------------------------------------------------------------

    def app(self) -> ASGIApp:
        routes = [
            Route("/", self.home, name="home"),
            Route("/signin", self.signin, methods=["GET", "POST"], name="signin"),
            Route("/signout", self.signout, methods=["POST"], name="signout"),
            Route("/lang/{lang}", self.language, name="language"),
            Route("/integrations", self.integrations, name="integrations"),
            Route("/integrations/new", self.token_new, methods=["GET", "POST"], name="token_new"),
            Route(
                "/integrations/{token_id}/delete",
                self.token_delete,
                methods=["GET", "POST"],
                name="token_delete",
            ),
            Route("/decode", self.decode, name="decode"),
            Route("/news", self.news_list, name="news"),
            Route("/news/new", self.news_new, methods=["GET", "POST"], name="news_new"),
            Route("/news/{news_id:int}/edit", self.news_edit, methods=["GET", "POST"], name="news_edit"),
            Route("/support", self.support_list, name="support"),
            Route("/support/new", self.support_new, methods=["GET", "POST"], name="support_new"),
            Route("/support/{rid:int}", self.support_view, name="support_view"),
            Route("/support/{rid:int}/reply", self.support_reply, methods=["POST"], name="support_reply"),
            Route("/support/{rid:int}/close", self.support_close, methods=["POST"], name="support_close"),
            *self.people.routes(),
            Mount("/static", StaticFiles(directory=str(self.static_dir)), name="static"),
        ]
        handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
            SignInRequired: self._on_signin_required,
            Refused: self._on_refused,
            HTTPException: self._on_http_error,
            WBError: self._on_wb_error,
            Exception: self._on_crash,
        }
        return _with_headers(Starlette(routes=routes, exception_handlers=handlers))

    # --- sessions and users ------------------------------------------------------------------

    async def viewer(self, request: Request) -> tuple[Session, User | None]:
        """The session of this request and its signed-in user, if that user may still be signed in."""
        session = self.sessions.load(request.cookies.get(COOKIE))
        if session.uid is None:
            return session, None
        user = await self._session_user(session)
        if user is None:
            # Deleted, or the password changed since: this session is over.
            self.sessions.end(session)
            return self.sessions.new().with_flash(m("flash.session_ended").dump()), None
        # The count of unread support answers in the menu of every page.
        if user.role == "operator":
            request.state.unread = await self.support.unread("support")
        elif user.sid is not None:
            request.state.unread = await self.support.unread("seller", sid=user.sid)
            # Which sections this user opens (users.OPENS): the menu and every page's check.
            request.state.opened = await opened_for(self.gw.backends.of(General), user)
        return session, user

    async def _session_user(self, session: Session) -> User | None:
        assert session.uid is not None
        try:
            user = await self.storage.get_user(session.uid)
        except NotFoundError:
            return None
        if user.deleted is not None or user.login is None:
            return None
        found = await self.storage.user_by_login(user.login)
        if found is None or found[0].id != user.id or found[1] is None:
            return None
        if not secrets.compare_digest(password_fingerprint(found[1]), session.fp):
            return None
        return user

    async def signed_in(self, request: Request) -> tuple[Session, User]:
        session, user = await self.viewer(request)
        if user is None:
            raise SignInRequired(session, _here(request))
        return session, user

    async def seller_user(self, request: Request, section: str = "integrations") -> tuple[Session, User, str]:
        session, user = await self.signed_in(request)
        if user.sid is None or user.role == "operator":
            raise Refused(403, m("error.sellers_only_title"), m("error.sellers_only_text"))
        opened: Opened | None = getattr(request.state, "opened", None)
        if opened is None or not opened.section(section):
            raise Refused(
                403, m("sections.denied_title"), m("sections.denied_text", section=m(f"sections.{section}"))
            )
        return session, user, user.sid

    def _opened(self, request: Request) -> Opened:
        opened: Opened | None = getattr(request.state, "opened", None)
        assert opened is not None, "seller_user sets it"
        return opened

    def refused(self, status: int, title: Msg, message: Msg) -> Exception:
        return Refused(status, title, message)

    async def operator(self, request: Request) -> tuple[Session, User]:
        session, user = await self.signed_in(request)
        if user.role != "operator":
            raise Refused(403, m("error.operators_only_title"), m("error.operators_only_text"))
        return session, user

    async def form(self, request: Request, session: Session) -> Form:
        """The submitted form, refused (403) unless it carries this session's CSRF token."""
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise Refused(411, m("error.length_title"), m("error.length_text"))
        if int(length) > MAX_FORM_BYTES:
            raise Refused(413, m("error.large_title"), m("error.large_text"))
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
            raise Refused(*CSRF_REFUSED)  # defence in depth: SameSite=Lax already keeps our cookie away
        async with request.form(max_files=0, max_fields=200) as data:
            form = Form(data.multi_items())
        if not session.csrf_ok(form.get("csrf")):
            raise Refused(*CSRF_REFUSED)
        return form

    # --- rendering ---------------------------------------------------------------------------

    def url(self, request: Request, name: str, **params: Any) -> str:
        # The path alone (with the `/seller` root path when there is one): no scheme or host to get wrong.
        return request.url_for(name, **params).path

    def static(self, request: Request, name: str) -> str:
        return f"{self.url(request, 'static', path=name)}?v={self.static_versions.get(name, '0')}"

    def page(
        self,
        request: Request,
        session: Session,
        user: User | None,
        template: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> Response:
        flash, session = session.take_flash()
        t = self.t(request)
        context = {
            "title": "",
            "nav": "",
            "unread": getattr(request.state, "unread", 0),
            "opened": getattr(request.state, "opened", None),
            **context,
        }
        title = context.pop("title")
        html = self.env.get_template(template).render(
            request=request,
            url=lambda name, **p: self.url(request, name, **p),
            static=lambda name: self.static(request, name),
            t=t,
            lang=t.lang,
            other_lang=next(x for x in i18n.LANGS if x != t.lang),
            here=_here(request),
            script_messages=t.table("script"),
            title=t(title) if title else "",
            user=user,
            role_label=t(f"role.{user.role}") if user else "",
            csrf=session.csrf,
            flash=(Msg.load(flash) or m("flash.done")) if flash else "",
            product=PRODUCT,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
        # Every page is someone's own (and one shows a new token): never kept by a cache or the back button.
        response.headers["cache-control"] = "no-store"
        self.keep(request, response, session)
        return response

    def t(self, request: Request) -> Translator:
        """The translator of this request's language: its cookie, else Accept-Language, else Russian."""
        lang = i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
        return self.translators[lang]

    def redirect(self, request: Request, session: Session, to: str) -> Response:
        response = RedirectResponse(to, status_code=303)
        response.headers["cache-control"] = "no-store"
        self.keep(request, response, session)
        return response

    def keep(self, request: Request, response: Response, session: Session) -> None:
        if session.changed:
            response.set_cookie(
                COOKIE,
                self.sessions.dump(session),
                httponly=True,
                samesite="lax",
                path="/",
                secure=request.url.scheme == "https",
            )

    def home_of(self, request: Request, user: User) -> str:
        if user.role == "operator":
            return self.url(request, "news")
        opened: Opened | None = getattr(request.state, "opened", None)
        first = next((s for s in SECTIONS if opened is None or opened.section(s)), "support")
        return self.url(request, first)

    # --- sign-in -----------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        session, user = await self.viewer(request)
        if user is None:
            return self.redirect(request, session, self.url(request, "signin"))
        return self.redirect(request, session, self.home_of(request, user))

    async def signin(self, request: Request) -> Response:
        session, user = await self.viewer(request)
        if request.method == "GET":
            if user is not None:
                return self.redirect(request, session, self.home_of(request, user))
            next_path = self._safe_next(request, request.query_params.get("next", ""))
            return self.page(
                request, session, None, "signin.html", login="", next=next_path, error="", **SIGNIN_PAGE
            )
        form = await self.form(request, session)
        login = form.get("login").strip()[:MAX_LOGIN]
        password = form.get("password")[:MAX_PASSWORD]
        next_path = self._safe_next(request, form.get("next"))
        address = request.client.host if request.client else "-"
        buckets = (
            (f"portal:signin-login:{login.lower()}", SIGNIN_PER_LOGIN),
            (f"portal:signin-address:{address}", SIGNIN_PER_ADDRESS),
        )
        wait = await self._signin_wait(buckets)
        if wait > 0:
            minutes = max(1, math.ceil(wait / 60))
            raise Refused(
                429,
                m("signin.paused_title"),
                m("signin.paused_text", n=minutes),
                headers={"retry-after": str(math.ceil(wait))},
            )
        found = await self.storage.user_by_login(login) if login else None
        candidate, password_hash = found if found is not None else (None, None)
        ok = await self._check_password(password_hash or await self._dummy(), password)
        if not ok or candidate is None or password_hash is None or candidate.deleted is not None:
            for key, rate in buckets:
                await self.gw.limiter.acquire(key, rate, 1)
            log.info("portal sign-in refused for a login from %s", address)
            return self.page(
                request,
                session,
                None,
                "signin.html",
                status=400,
                login=login,
                next=next_path,
                error=m("signin.wrong"),
                **SIGNIN_PAGE,
            )
        session = self.sessions.signed_in(candidate.id, password_hash)
        if candidate.sid is not None and candidate.role != "operator":  # home: their first section
            request.state.opened = await opened_for(self.gw.backends.of(General), candidate)
        return self.redirect(request, session, next_path or self.home_of(request, candidate))

    async def _signin_wait(self, buckets: tuple[tuple[str, Rate], ...]) -> float:
        """Seconds until another sign-in may be tried (0: now). A cost-0 acquire reads a bucket."""
        wait = 0.0
        for key, rate in buckets:
            d = await self.gw.limiter.acquire(key, rate, 0)
            if d.remaining < 1:
                wait = max(wait, d.reset_after - (rate.burst - 1) * rate.interval, 1.0)
        return wait

    async def _dummy(self) -> str:
        if not self._dummy_hash:
            self._dummy_hash = await run_in_threadpool(hash_password, secrets.token_urlsafe(16))
        return self._dummy_hash

    async def _check_password(self, password_hash: str, password: str) -> bool:
        async with self._verify_slots:
            return await run_in_threadpool(verify_password, password_hash, password)

    def _safe_next(self, request: Request, value: str) -> str:
        """Only a path of this site (no scheme, no host, no `//`): never an open redirect."""
        root = request.scope.get("root_path", "")
        if not value.startswith(root + "/") or value.startswith("//") or "\\" in value:
            return ""
        parts = urlsplit(value)
        if parts.scheme or parts.netloc:
            return ""
        return value

    async def language(self, request: Request) -> Response:
        """The switch link of every page: remember the language, then back to the page it was on."""
        lang = str(request.path_params["lang"])
        if lang not in i18n.LANGS:
            raise HTTPException(404)
        to = self._safe_next(request, request.query_params.get("next", "")) or self.url(request, "home")
        response = RedirectResponse(to, status_code=303)
        response.headers["cache-control"] = "no-store"
        response.set_cookie(
            i18n.COOKIE,
            lang,
            max_age=LANG_MAX_AGE,
            samesite="lax",
            path="/",
            secure=request.url.scheme == "https",
        )
        return response

    async def signout(self, request: Request) -> Response:
        session, _user = await self.viewer(request)
        await self.form(request, session)
        self.sessions.end(session)
        fresh = self.sessions.new().with_flash(m("flash.signed_out").dump())
        return self.redirect(request, fresh, self.url(request, "signin"))

    # --- API integrations --------------------------------------------------------------------

    async def integrations(self, request: Request) -> Response:
        session, user, sid = await self.seller_user(request)
        return await self._integrations_page(request, session, user, sid)

    async def _integrations_page(
        self,
        request: Request,
        session: Session,
        user: User,
        sid: str,
        *,
        form: TokenForm | None = None,
        open_create: bool = False,
        created: IssuedToken | None = None,
        status: int = 200,
    ) -> Response:
        seller = await self.storage.get_seller(sid)
        records = await self.storage.list_tokens(sid)
        services = await self.storage.list_services()
        users = {u.id: u.name for u in await self.storage.list_users(sid)}
        t = self.t(request)
        rows = [self._row(r, services, users, t) for r in reversed(records)]
        return self.page(
            request,
            session,
            user,
            "integrations.html",
            status=status,
            title=m("tokens.title"),
            nav="integrations",
            seller=seller,
            rows=rows,
            services=[(s, scope_titles(s.scope, t), access_label(s.scope, t)) for s in services],
            form=form or TokenForm(),
            open_create=open_create,
            created=created,
            # Only the categories this user's accesses cover (users.OPENS).
            categories=[c for c in TOKEN_CATEGORIES if self._opened(request).category(c.name)],
            sandbox_titles=", ".join(t(f"category.{c.name}") for c in SANDBOX_CATEGORIES),
            manual_types=MANUAL_TYPES,
        )

    def _row(self, r: TokenRecord, services: list[Service], users: dict[int, str], t: Translator) -> TokenRow:
        service = next((s.name for s in services if s.id == r.service_id), "") if r.service_id else ""
        return TokenRow(
            id=r.id,
            name=r.name,
            comment=r.comment,
            type=r.type,
            type_label=t(f"token_type.{r.type}"),
            service=service,
            categories=scope_titles(r.scope, t),
            access=access_label(r.scope, t),
            created=r.created,
            expires=r.expires,
            expired=r.expires <= self.gw.clock.now(),
            creator=users.get(r.uid) or t("tokens.user_no", id=r.uid),
        )

    async def token_new(self, request: Request) -> Response:
        session, user, sid = await self.seller_user(request)
        if request.method == "GET":
            tab = "service" if request.query_params.get("tab") == "service" else "manual"
            return await self._integrations_page(
                request, session, user, sid, form=TokenForm(tab=tab), open_create=True
            )
        f = parse_token_form(await self.form(request, session))
        opened = self._opened(request)
        if f.tab == "service" and f.service_id is not None and "service" not in f.errors:
            try:
                service = await self.storage.get_service(f.service_id)
            except NotFoundError:
                f.errors["service"] = m("form.service_gone")
            else:
                if not all(opened.category(c) for c in names_of(service.scope)):
                    f.errors["service"] = m("sections.service_denied")
        if f.tab == "manual" and "categories" not in f.errors:
            denied = [c for c in f.categories if not opened.category(c)]
            if denied:
                f.errors["categories"] = m(
                    "sections.categories_denied", categories=[m(f"category.{c}") for c in denied]
                )
        issued: IssuedToken | None = None
        if not f.errors:
            try:
                issued = await self._issue(f, sid, user)
            except AccountError as exc:  # a race our checks could not see (the service deleted meanwhile)
                log.info("portal: token refused for seller %s: %s", sid, exc)
                f.errors["form"] = m("form.issue_failed")
        if issued is None:
            return await self._integrations_page(
                request, session, user, sid, form=f, open_create=True, status=400
            )
        log.info(
            "portal: %s token %s created for seller %s by user %s", f.type, issued.record.id, sid, user.id
        )
        # The response to the POST itself shows the token: it is never in a URL, and never kept (no-store).
        return await self._integrations_page(request, session, user, sid, created=issued)

    async def _issue(self, f: TokenForm, sid: str, user: User) -> IssuedToken:
        accounts = self.gw.accounts
        if f.tab == "service":
            return await accounts.issue_token(
                sid,
                TokenType.SERVICE,
                service_id=f.service_id,
                name=f.name,
                comment=f.comment,
                uid=user.id,
            )
        return await accounts.issue_token(
            sid,
            TokenType(f.type),
            scope=mask_of(f.categories),
            read_only=f.read_only,
            name=f.name,
            comment=f.comment,
            uid=user.id,
            accept_liability=f.liability,
        )

    async def _own_token(self, token_id: str, sid: str) -> TokenRecord:
        try:
            record = await self.storage.get_token(token_id)
        except NotFoundError:
            record = None
        if record is None or record.sid != sid or record.revoked is not None:
            raise Refused(404, m("error.no_token_title"), m("error.no_token_text"))
        return record

    async def token_delete(self, request: Request) -> Response:
        session, user, sid = await self.seller_user(request)
        token_id = str(request.path_params["token_id"])
        if request.method == "GET":  # the confirmation, for browsers without JS (JS asks in a dialog)
            record = await self._own_token(token_id, sid)
            return self.page(
                request,
                session,
                user,
                "token_delete.html",
                title=m("delete.title"),
                nav="integrations",
                token=self._row(record, await self.storage.list_services(), {}, self.t(request)),
            )
        await self.form(request, session)
        record = await self._own_token(token_id, sid)
        with contextlib.suppress(NotFoundError):  # deleted meanwhile (another tab, the CLI): same result
            await self.gw.accounts.revoke_token(record.id)
        # At once in this process; other processes learn it from the events table within their poll.
        self.gw.tokens.drop_token(record.id)
        log.info("portal: token %s of seller %s deleted by user %s", record.id, sid, user.id)
        session = session.with_flash(m("flash.token_deleted", name=record.name).dump())
        return self.redirect(request, session, self.url(request, "integrations"))

    # --- token decoder -----------------------------------------------------------------------

    async def decode(self, request: Request) -> Response:
        session, user = await self.viewer(request)
        t = self.t(request)
        data = {
            "categories": [
                {"bit": c.bit, "name": c.name, "title": t(f"category.{c.name}"), "sandbox": c.sandbox}
                for c in TOKEN_CATEGORIES
            ],
            "readOnlyBit": READ_ONLY_BIT,
            "types": {str(k.acc): t(f"token_type.{k.value}") for k in TokenType},
            "messages": t.table("decode.js"),
            "serverNow": self.gw.clock.now(),  # "expired" by the server's clock, which tests move
            "ownSid": user.sid if user is not None else None,
        }
        return self.page(
            request, session, user, "decode.html", title=m("decode.title"), nav="decode", decoder=data
        )

    # --- news (operators) --------------------------------------------------------------------

    async def news_list(self, request: Request) -> Response:
        session, user = await self.operator(request)
        raw_page = request.query_params.get("page", "1")
        page_no = int(raw_page) if raw_page.isdigit() and 0 < int(raw_page) < 100_000 else 1
        items = await self.storage.latest_news(NEWS_PAGE + 1, (page_no - 1) * NEWS_PAGE)
        return self.page(
            request,
            session,
            user,
            "news_list.html",
            title=m("news.title"),
            nav="news",
            items=items[:NEWS_PAGE],
            page_no=page_no,
            has_more=len(items) > NEWS_PAGE,
        )

    async def news_new(self, request: Request) -> Response:
        session, user = await self.operator(request)
        if request.method == "GET":
            form = NewsForm(date=msk_input(self.gw.clock.now()))
            return await self._news_form(request, session, user, form, None)
        f = parse_news_form(await self.form(request, session))
        if f.errors:
            return await self._news_form(request, session, user, f, None, status=400)
        ids = await self.storage.add_news(
            [(f.header, f.content, f.timestamp, f.type_names)], self.gw.clock.now()
        )
        log.info("portal: news %s published by operator %s", ids[0], user.id)
        session = session.with_flash(m("flash.news_published", id=ids[0]).dump())
        return self.redirect(request, session, self.url(request, "news"))

    async def news_edit(self, request: Request) -> Response:
        session, user = await self.operator(request)
        news_id = int(request.path_params["news_id"])
        try:
            item = await self.storage.get_news(news_id)
        except NotFoundError:
            raise Refused(404, m("error.no_news_title"), m("error.no_news_text", id=news_id)) from None
        if request.method == "GET":
            form = NewsForm.of(item.header, item.content, item.date, [name for _id, name in item.types])
            return await self._news_form(request, session, user, form, news_id)
        f = parse_news_form(await self.form(request, session))
        if f.errors:
            return await self._news_form(request, session, user, f, news_id, status=400)
        await self.storage.update_news(
            news_id, f.header, f.content, f.timestamp, f.type_names, self.gw.clock.now()
        )
        log.info("portal: news %s edited by operator %s", news_id, user.id)
        session = session.with_flash(m("flash.news_saved", id=news_id).dump())
        return self.redirect(request, session, self.url(request, "news"))

    async def _news_form(
        self,
        request: Request,
        session: Session,
        user: User,
        form: NewsForm,
        news_id: int | None,
        status: int = 200,
    ) -> Response:
        return self.page(
            request,
            session,
            user,
            "news_form.html",
            status=status,
            title=m("news.edit_title", id=news_id) if news_id else m("news.publish_title"),
            nav="news",
            form=form,
            news_id=news_id,
            known_types=[name for _id, name in await self.storage.news_types()],
        )

    # --- support ---------------------------------------------------------------------------

    async def _support_side(self, request: Request) -> tuple[Session, User, Side]:
        session, user = await self.signed_in(request)
        if user.role == "operator":
            return session, user, "support"
        if user.sid is None:
            raise Refused(403, m("error.sellers_only_title"), m("error.sellers_only_text"))
        return session, user, "seller"

    async def _own_request(self, rid: int, user: User, side: Side) -> SupportRequest:
        """The request, if this user may see it: an operator any, a seller's user only their seller's
        (another seller's is as absent as one that does not exist)."""
        try:
            found = await self.support.get(rid, side)
        except NotFoundError:
            found = None
        if found is None or (side == "seller" and found.sid != user.sid):
            raise Refused(404, m("error.no_request_title"), m("error.no_request_text"))
        return found

    async def support_list(self, request: Request) -> Response:
        session, user, side = await self._support_side(request)
        category = request.query_params.get("category", "")
        state = request.query_params.get("state", "")
        category = category if category in SUPPORT_CATEGORIES else ""
        state = state if state in SUPPORT_STATES else ""
        items = await self.support.requests(
            side,
            sid=user.sid if side == "seller" else None,
            category=category or None,
            state=state or None,
        )
        sellers: dict[str, str] = {}
        if side == "support":
            for sid in {i.sid for i in items}:
                with contextlib.suppress(NotFoundError):
                    sellers[sid] = (await self.storage.get_seller(sid)).name
        return self.page(
            request,
            session,
            user,
            "support_list.html",
            title=m("support.title"),
            nav="support",
            side=side,
            items=items,
            sellers=sellers,
            category=category,
            state=state,
            categories=SUPPORT_CATEGORIES,
            states=SUPPORT_STATES,
        )

    async def support_new(self, request: Request) -> Response:
        session, user, side = await self._support_side(request)
        if side != "seller":
            raise Refused(403, m("error.sellers_only_title"), m("error.sellers_only_text"))
        assert user.sid is not None
        if request.method == "GET":
            form = SupportForm(
                category=request.query_params.get("category", ""),
                request_id=request.query_params.get("requestId", "")[:MAX_REQUEST_ID],
            )
            return self._support_form(request, session, user, form)
        f = parse_support_form(await self.form(request, session), SUPPORT_CATEGORIES)
        if f.errors:
            return self._support_form(request, session, user, f, status=400)
        rid = await self.support.create(
            user.sid, user.id, f.category, f.subject, f.text, f.request_id or None, self.gw.clock.now()
        )
        log.info("portal: support request %s opened for seller %s by user %s", rid, user.sid, user.id)
        session = session.with_flash(m("flash.request_created", id=rid).dump())
        return self.redirect(request, session, self.url(request, "support_view", rid=rid))

    def _support_form(
        self, request: Request, session: Session, user: User, form: SupportForm, status: int = 200
    ) -> Response:
        return self.page(
            request,
            session,
            user,
            "support_new.html",
            status=status,
            title=m("support.new_title"),
            nav="support",
            form=form,
            categories=SUPPORT_CATEGORIES,
            max_subject=MAX_SUBJECT,
            max_message=MAX_MESSAGE,
            max_request_id=MAX_REQUEST_ID,
        )

    async def support_view(
        self, request: Request, *, error: Msg | None = None, text: str = "", status: int = 200
    ) -> Response:
        session, user, side = await self._support_side(request)
        found = await self._own_request(int(request.path_params["rid"]), user, side)
        messages = await self.support.messages(found.id)
        # What the unread marks showed is kept for this page; from now on this side has read it all.
        seen_before = found.unread
        await self.support.seen(found.id, side)
        if found.unread:
            request.state.unread = max(0, getattr(request.state, "unread", 0) - 1)
        seller = None
        recorded: ErrorEntry | None = None
        if side == "support":
            with contextlib.suppress(NotFoundError):
                seller = await self.storage.get_seller(found.sid)
            if found.request_id:
                recorded = self._recorded(found.request_id)
        # The newest messages of the other side that were unread until now get the mark.
        others = [x for x in messages if x.by_support != (side == "support")]
        unread_ids = {x.id for x in others[-seen_before:]} if seen_before else set()
        return self.page(
            request,
            session,
            user,
            "support_view.html",
            status=status,
            title=m("support.view_title", id=found.id),
            nav="support",
            side=side,
            item=found,
            seller=seller,
            messages=messages,
            unread_ids=unread_ids,
            recorded=recorded,
            error=error,
            text=text,
            max_message=MAX_MESSAGE,
        )

    def _recorded(self, request_id: str) -> ErrorEntry | None:
        """What this server process recorded of an API request's error, if it still has it (the journal
        is bounded and per process: a request another worker answered is not there)."""
        return self.gw.journal.error(request_id)

    async def support_reply(self, request: Request) -> Response:
        session, user, side = await self._support_side(request)
        form = await self.form(request, session)
        found = await self._own_request(int(request.path_params["rid"]), user, side)
        text, error = parse_reply(form)
        if error is None and found.state == "closed":
            error = m("support.closed_no_reply")
        if error is None:
            try:
                await self.support.write(found.id, user.id, side, text, self.gw.clock.now())
            except ClosedError:
                error = m("support.closed_no_reply")
        if error is not None:
            return await self.support_view(request, error=error, text=text, status=400)
        log.info("portal: support request %s answered by %s user %s", found.id, side, user.id)
        session = session.with_flash(m("flash.reply_sent").dump())
        return self.redirect(request, session, self.url(request, "support_view", rid=found.id))

    async def support_close(self, request: Request) -> Response:
        session, user, side = await self._support_side(request)
        await self.form(request, session)
        found = await self._own_request(int(request.path_params["rid"]), user, side)
        if found.state != "closed":
            await self.support.close(found.id, self.gw.clock.now())
            log.info("portal: support request %s closed by %s user %s", found.id, side, user.id)
        session = session.with_flash(m("flash.request_closed", id=found.id).dump())
        return self.redirect(request, session, self.url(request, "support_view", rid=found.id))

    # --- errors ------------------------------------------------------------------------------

    async def _error_page(
        self,
        request: Request,
        status: int,
        title: Msg,
        message: Msg,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        try:
            session, user = await self.viewer(request)
        except Exception:  # storage away: the page still explains, without the signed-in user
            session, user = self.sessions.new(), None
        return self.page(
            request, session, user, "error.html", status=status, headers=headers, title=title, message=message
        )

    async def _on_signin_required(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        to = self.url(request, "signin")
        if exc.next_path:
            to += "?next=" + quote(exc.next_path, safe="/")
        return self.redirect(request, exc.session, to)

    async def _on_refused(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return await self._error_page(request, exc.status, exc.title, exc.message, exc.headers)

    async def _on_http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        known = status if status in (400, 404, 405) else 0
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        return await self._error_page(
            request, status, m(f"error.http_{known}_title"), m(f"error.http_{known}_text"), headers
        )

    async def _on_wb_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WBError)
        # The detail is the API's English words for a developer; the page says it in the reader's language.
        log.warning("portal: %s on %s: %s", exc.status, request.url.path, exc.detail)
        key = "unavailable" if exc.status == 503 else "http_0"
        session = self.sessions.new()
        return self.page(
            request,
            session,
            None,
            "error.html",
            status=exc.status,
            title=m(f"error.{key}_title"),
            message=m(f"error.{key}_text"),
        )

    async def _on_crash(self, request: Request, exc: Exception) -> Response:
        log.error("portal: internal error on %s %s", request.method, request.url.path, exc_info=exc)
        try:
            return self.page(
                request,
                self.sessions.new(),
                None,
                "error.html",
                status=500,
                title=m("error.crash_title"),
                message=m("error.crash_text"),
            )
        except Exception:  # the page itself failed: plain words, never a traceback
            log.exception("portal: the error page failed too")
            return HTMLResponse(
                "<!doctype html><title>Error</title><h1>Something went wrong</h1>", status_code=500
            )


def _here(request: Request) -> str:
    path = request.url.path
    return path + ("?" + request.url.query if request.url.query else "")


def _with_headers(app: ASGIApp) -> ASGIApp:
    """Security headers on every response; a crash already answered with the 500 page stops here."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        except Exception:
            # Starlette re-raises after its error handler has answered (and we logged it there).
            if not started:
                raise

    return wrapped


def build_portal(gw: Services) -> ASGIApp:
    return Portal(gw).app()
