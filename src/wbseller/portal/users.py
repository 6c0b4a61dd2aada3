"""The account pages of a seller's people and of Jam: users and invitations with their accesses (the owner's),
accepting an invitation (`/invite/<uuid>`, no sign-in), and the Jam subscription; and `OPENS`, the one
table of what each access code opens in the account pages (docs/portal.md, "Users and accesses").

Everything goes through the General backend (backends/general.py): the pages list the same people as
`GET /api/v1/users` by the same method. The portal (app.py) mounts `routes` and asks `opened_for` which
sections a signed-in user has; this module imports nothing of app.py (`PortalLike` is what it uses).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from starlette.routing import Route

from wbseller.backends.general import (
    ACCESS_CODES,
    JAM_LEVELS,
    General,
    GeneralError,
    Invite,
    Person,
    resolve_access,
)
from wbseller.portal.i18n import Msg, m

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from wbseller.gateway.parts import Services
    from wbseller.portal.forms import Form
    from wbseller.portal.session import Session, Sessions
    from wbseller.storage import User

log = logging.getLogger("wbseller.portal")

OWNER = None  # a row of OPENS that the seller's owner alone opens

# What opens each section of the account pages, and each category a token may be made for: one of the
# alternatives, every code of it granted (`()`: every user of the seller). The owner opens everything.
# Categories: the `Access` codes of 01-general.yaml closest to each WB API category (docs/portal.md).
OPENS: dict[str, tuple[frozenset[str], ...] | None] = {
    "section.users": OWNER,
    "section.jam": (frozenset({"changeJam"}),),
    "section.support": (frozenset(),),
    "section.integrations": None,  # opened by any category below (made below, from them)
    "category.content": (frozenset({"brands"}),),
    "category.analytics": (frozenset({"oldAnalyticsReports"}),),
    "category.prices": (frozenset({"discountPrice"}),),
    "category.marketplace": (frozenset({"marketplace"}),),
    "category.statistics": (frozenset({"finance"}),),
    "category.promotion": (frozenset({"discountPrice"}),),
    "category.feedbacks": (frozenset({"feedbacksQuestions"}), frozenset({"feedbacks", "questions"})),
    "category.chat": (frozenset({"sellersChat"}),),
    "category.supplies": (frozenset({"supply"}),),
    "category.returns": (frozenset({"marketplace"}),),
    "category.documents": (frozenset({"suppliersDocuments"}),),
    "category.finance": (frozenset({"finance"}),),
}
OPENS["section.integrations"] = tuple(
    alt for key, alts in OPENS.items() if key.startswith("category.") and alts for alt in alts
)
SECTIONS = ("integrations", "users", "jam", "support")  # the menu's order
JAM_PERIODS = (30, 90, 180, 365)  # days the Jam page offers (the CLI takes any)
JAM_SOURCE = "jam"  # connected on the Jam page itself (the CLI may say "constructor")
MAX_NAME = 100
MAX_LOGIN = 254
MAX_POSITION = 150
MIN_PASSWORD = 8  # as `wbseller user password`
MAX_PASSWORD = 1024
PEOPLE_PAGE = 500


@dataclass(frozen=True, slots=True)
class Opened:
    """What one signed-in user of a seller opens in the account pages."""

    owner: bool
    granted: frozenset[str]

    def opens(self, key: str) -> bool:
        alts = OPENS[key]
        if self.owner:
            return True
        return alts is not None and any(alt <= self.granted for alt in alts)

    def section(self, name: str) -> bool:
        return self.opens(f"section.{name}")

    def category(self, name: str) -> bool:
        return self.opens(f"category.{name}")


async def opened_for(general: General, user: User) -> Opened:
    if user.role == "owner":
        return Opened(True, frozenset(ACCESS_CODES))
    access = await general.accesses(user.id)
    return Opened(False, frozenset(c for c, disabled in access.items() if not disabled))


class PortalLike(Protocol):
    """What these pages use of the portal (app.Portal)."""

    gw: Services
    sessions: Sessions

    async def viewer(self, request: Request) -> tuple[Session, User | None]: ...
    async def seller_user(self, request: Request, section: str = ...) -> tuple[Session, User, str]: ...
    async def form(self, request: Request, session: Session) -> Form: ...
    def page(
        self,
        request: Request,
        session: Session,
        user: User | None,
        template: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> Response: ...
    def redirect(self, request: Request, session: Session, to: str) -> Response: ...
    def url(self, request: Request, name: str, **params: Any) -> str: ...
    def home_of(self, request: Request, user: User) -> str: ...
    def refused(self, status: int, title: Msg, message: Msg) -> Exception: ...


# --- forms ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class InviteForm:
    phone: str = ""
    position: str = ""
    access: dict[str, bool] = field(default_factory=lambda: resolve_access(None))  # code -> disabled
    errors: dict[str, Msg] = field(default_factory=dict)


@dataclass(slots=True)
class AcceptForm:
    name: str = ""
    login: str = ""
    errors: dict[str, Msg] = field(default_factory=dict)


def checked_access(form: Form) -> dict[str, bool]:
    """The form's 20 boxes as code -> disabled: every code given, so the document's rule "all of them:
    exactly as given" applies (the boxes start at the backend's defaults)."""
    on = set(form.getlist("access"))
    return {c: c not in on for c in ACCESS_CODES}


# --- the pages -----------------------------------------------------------------------------------


class People:
    def __init__(self, portal: PortalLike) -> None:
        self.p = portal
        self.general = portal.gw.backends.of(General)

    def routes(self) -> list[Route]:
        return [
            Route("/users", self.users, name="users"),
            Route("/users/invite", self.invite_new, methods=["GET", "POST"], name="users_invite"),
            Route(
                "/users/invitations/{uuid}/revoke",
                self.invite_revoke,
                methods=["POST"],
                name="users_invite_revoke",
            ),
            Route("/users/{uid:int}/access", self.user_access, methods=["GET", "POST"], name="users_access"),
            Route("/users/{uid:int}/delete", self.user_delete, methods=["GET", "POST"], name="users_delete"),
            Route("/invite/{uuid}", self.accept, methods=["GET", "POST"], name="invite"),
            Route("/jam", self.jam, name="jam"),
            Route("/jam/connect", self.jam_connect, methods=["POST"], name="jam_connect"),
            Route("/jam/cancel", self.jam_cancel, methods=["POST"], name="jam_cancel"),
        ]

    def now(self) -> float:
        return self.p.gw.clock.now()

    # --- users and invitations (the owner) --------------------------------------------------------

    async def users(self, request: Request) -> Response:
        session, user, sid = await self.p.seller_user(request, "users")
        return await self._users_page(request, session, user, sid)

    async def _users_page(
        self,
        request: Request,
        session: Session,
        user: User,
        sid: str,
        *,
        form: InviteForm | None = None,
        created: Invite | None = None,
        status: int = 200,
    ) -> Response:
        now = self.now()
        total, people = await self.general.people(sid, limit=PEOPLE_PAGE, now=now)
        open_total, invites = await self.general.people(sid, invite_only=True, limit=PEOPLE_PAGE, now=now)
        return self.p.page(
            request,
            session,
            user,
            "users.html",
            status=status,
            title=m("users.title"),
            nav="users",
            seller=await self.p.gw.storage.get_seller(sid),
            people=people,
            total=total,
            invites=[i.invite for i in invites if i.invite is not None],
            invites_total=open_total,
            now=now,
            codes=ACCESS_CODES,
            form=form or InviteForm(),
            created=created,
            created_url=self.invite_link(request, created.uuid) if created else "",
            link=lambda uuid: self.invite_link(request, uuid),
            max_position=MAX_POSITION,
        )

    def invite_link(self, request: Request, uuid: str) -> str:
        """The full link, by the name this page was asked by (docs/general.md, `inviteUrl`)."""
        return str(request.url_for("invite", uuid=uuid))

    async def invite_new(self, request: Request) -> Response:
        session, user, sid = await self.p.seller_user(request, "users")
        if request.method == "GET":
            return await self._users_page(request, session, user, sid)
        data = await self.p.form(request, session)
        f = InviteForm(data.get("phone").strip(), data.get("position").strip(), checked_access(data))
        if not f.phone:
            f.errors["phone"] = m("users.phone_required")
        elif len(f.position) > MAX_POSITION:
            f.errors["position"] = m("users.position_long", n=MAX_POSITION)
        created: Invite | None = None
        if not f.errors:
            try:
                created = await self.general.create_invite(
                    sid, f.phone, f.position, list(f.access.items()), now=self.now()
                )
            except GeneralError:  # the phone is the one thing the backend refuses here
                f.errors["phone"] = m("users.phone_bad")
        if created is None:
            return await self._users_page(request, session, user, sid, form=f, status=400)
        log.info("portal: invitation %s made for seller %s by user %s", created.uuid, sid, user.id)
        # The answer to the POST shows the link (copy it to the person); the list keeps it too.
        return await self._users_page(request, session, user, sid, created=created)

    async def invite_revoke(self, request: Request) -> Response:
        session, user, sid = await self.p.seller_user(request, "users")
        await self.p.form(request, session)
        uuid = str(request.path_params["uuid"])
        try:
            await self.general.revoke_invite(sid, uuid)
        except GeneralError:
            raise self.p.refused(404, m("users.no_invite_title"), m("users.no_invite_text")) from None
        log.info("portal: invitation %s of seller %s revoked by user %s", uuid, sid, user.id)
        session = session.with_flash(m("users.flash_revoked").dump())
        return self.p.redirect(request, session, self.p.url(request, "users"))

    async def _person(self, sid: str, uid: int) -> Person:
        _total, people = await self.general.people(sid, limit=PEOPLE_PAGE, now=self.now())
        found = next((x for x in people if x.id == uid), None)
        if found is None:
            raise self.p.refused(404, m("users.no_user_title"), m("users.no_user_text"))
        return found

    async def user_access(self, request: Request) -> Response:
        session, user, sid = await self.p.seller_user(request, "users")
        person = await self._person(sid, int(request.path_params["uid"]))
        if person.is_owner:
            raise self.p.refused(400, m("users.owner_title"), m("users.owner_access_text"))
        if request.method == "GET":
            return self._access_page(request, session, user, person, person.access)
        access = checked_access(await self.p.form(request, session))
        try:
            await self.general.set_accesses(sid, {person.id: list(access.items())})
        except GeneralError:  # deleted meanwhile (another tab, the API)
            raise self.p.refused(404, m("users.no_user_title"), m("users.no_user_text")) from None
        # The user's next page shows their new sections (read on every request).
        log.info("portal: accesses of user %s (seller %s) changed by user %s", person.id, sid, user.id)
        session = session.with_flash(m("users.flash_access", name=person.name).dump())
        return self.p.redirect(request, session, self.p.url(request, "users"))

    def _access_page(
        self, request: Request, session: Session, user: User, person: Person, access: Mapping[str, bool]
    ) -> Response:
        return self.p.page(
            request,
            session,
            user,
            "users_access.html",
            title=m("users.access_title", name=person.name),
            nav="users",
            person=person,
            access=access,
            codes=ACCESS_CODES,
        )

    async def user_delete(self, request: Request) -> Response:
        session, user, sid = await self.p.seller_user(request, "users")
        person = await self._person(sid, int(request.path_params["uid"]))
        if person.is_owner:  # the page offers no button; a request by hand gets the reason
            raise self.p.refused(400, m("users.owner_title"), m("users.owner_delete_text"))
        if request.method == "GET":
            return self.p.page(
                request,
                session,
                user,
                "users_delete.html",
                title=m("users.delete_title", name=person.name),
                nav="users",
                person=person,
            )
        await self.p.form(request, session)
        try:
            await self.general.delete_user(sid, person.id, self.now())
        except GeneralError:
            raise self.p.refused(404, m("users.no_user_title"), m("users.no_user_text")) from None
        # At once in this process; others learn it from the `user-deleted` event.
        self.p.gw.tokens.drop_user(person.id)
        log.info("portal: user %s of seller %s deleted by user %s", person.id, sid, user.id)
        session = session.with_flash(m("users.flash_deleted", name=person.name).dump())
        return self.p.redirect(request, session, self.p.url(request, "users"))

    # --- accepting an invitation (nobody signed in needed) ------------------------------------------

    async def _open_invite(self, uuid: str) -> Invite:
        inv = await self.general.invite(uuid)
        if inv is None:
            raise self.p.refused(404, m("invite.unknown_title"), m("invite.unknown_text"))
        if inv.accepted is not None:
            raise self.p.refused(410, m("invite.used_title"), m("invite.used_text"))
        if not inv.open_at(self.now()):
            raise self.p.refused(410, m("invite.expired_title"), m("invite.expired_text"))
        return inv

    async def accept(self, request: Request) -> Response:
        session, viewer = await self.p.viewer(request)
        uuid = str(request.path_params["uuid"])
        inv = await self._open_invite(uuid)
        if request.method == "GET":
            return await self._accept_page(request, session, viewer, inv, AcceptForm())
        data = await self.p.form(request, session)
        f = AcceptForm(data.get("name").strip(), data.get("login").strip())
        password, again = data.get("password"), data.get("password2")
        if not f.name:
            f.errors["name"] = m("invite.name_required")
        elif len(f.name) > MAX_NAME:
            f.errors["name"] = m("invite.name_long", n=MAX_NAME)
        if not f.login:
            f.errors["login"] = m("invite.login_required")
        elif len(f.login) > MAX_LOGIN or any(ch.isspace() for ch in f.login):
            f.errors["login"] = m("invite.login_bad", n=MAX_LOGIN)
        if len(password) < MIN_PASSWORD:
            f.errors["password"] = m("invite.password_short", n=MIN_PASSWORD)
        elif len(password) > MAX_PASSWORD:
            f.errors["password"] = m("invite.password_long", n=MAX_PASSWORD)
        elif password != again:
            f.errors["password2"] = m("invite.password_mismatch")
        if not f.errors and await self.p.gw.storage.user_by_login(f.login) is not None:
            f.errors["login"] = m("invite.login_taken")
        if f.errors:
            return await self._accept_page(request, session, viewer, inv, f, status=400)
        try:
            new = await self.general.accept_invite(uuid, f.login, password, f.name, self.now())
        except GeneralError:
            await self._open_invite(uuid)  # used or gone meanwhile: that page; else the login was taken
            f.errors["login"] = m("invite.login_taken")
            return await self._accept_page(request, session, viewer, inv, f, status=400)
        found = await self.p.gw.storage.user_by_login(f.login)
        log.info("portal: invitation %s accepted: user %s of seller %s", uuid, new.id, inv.sid)
        seller = await self.p.gw.storage.get_seller(inv.sid)
        flash = m("invite.flash_welcome", seller=seller.name).dump()
        if found is None or found[1] is None:  # cannot happen but by a race with a delete: sign in then
            return self.p.redirect(request, session.with_flash(flash), self.p.url(request, "signin"))
        signed = self.p.sessions.signed_in(new.id, found[1]).with_flash(flash)
        request.state.opened = await opened_for(self.general, new)
        return self.p.redirect(request, signed, self.p.home_of(request, new))

    async def _accept_page(
        self,
        request: Request,
        session: Session,
        viewer: User | None,
        inv: Invite,
        form: AcceptForm,
        status: int = 200,
    ) -> Response:
        seller = await self.p.gw.storage.get_seller(inv.sid)
        return self.p.page(
            request,
            session,
            viewer,
            "invite.html",
            status=status,
            title=m("invite.title"),
            nav="invite",
            seller=seller,
            invite=inv,
            form=form,
            granted=[c for c in ACCESS_CODES if not inv.access.get(c, True)],
            min_password=MIN_PASSWORD,
            max_name=MAX_NAME,
        )

    # --- Jam (the owner, or a user with changeJam) ----------------------------------------------------

    async def jam(self, request: Request, *, error: Msg | None = None, status: int = 200) -> Response:
        session, user, sid = await self.p.seller_user(request, "jam")
        return self.p.page(
            request,
            session,
            user,
            "jam.html",
            status=status,
            title=m("jam.title"),
            nav="jam",
            state=await self.general.jam_state(sid, self.now()),
            levels=JAM_LEVELS,
            periods=JAM_PERIODS,
            error=error,
        )

    async def jam_connect(self, request: Request) -> Response:
        session, user, sid = await self.p.seller_user(request, "jam")
        data = await self.p.form(request, session)
        level, days = data.get("level"), data.get("days")
        if level not in JAM_LEVELS or not days.isdigit() or int(days) not in JAM_PERIODS:
            return await self.jam(request, error=m("jam.choose"), status=400)
        await self.general.jam_connect(sid, level, JAM_SOURCE, int(days), self.now())
        # The gateway opens the Jam methods when it reads the backend's `seller-changed` event (0.1 s).
        log.info("portal: Jam %s for %s days connected for seller %s by user %s", level, days, sid, user.id)
        session = session.with_flash(m("jam.flash_connected").dump())
        return self.p.redirect(request, session, self.p.url(request, "jam"))

    async def jam_cancel(self, request: Request) -> Response:
        session, user, sid = await self.p.seller_user(request, "jam")
        await self.p.form(request, session)
        try:
            await self.general.jam_cancel(sid, self.now())
        except GeneralError:  # not active (cancelled in another tab, expired)
            return await self.jam(request, error=m("jam.not_active"), status=400)
        log.info("portal: Jam cancelled for seller %s by user %s", sid, user.id)
        session = session.with_flash(m("jam.flash_cancelled").dump())
        return self.p.redirect(request, session, self.p.url(request, "jam"))
