"""Fixtures for the account pages: users who can sign in, an httpx session through the forms, and a
headless Chromium (Debian's, driven by Playwright) for the end-to-end tests.

Without Chromium or Playwright the browser tests are skipped, except on CI (CI=true), where they fail.
Screenshots go to a temporary folder, or to docs/screenshots/ with WBSELLER_SCREENSHOTS=1.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from argon2 import PasswordHasher

from tests.conftest import REPO, Server, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = os.environ.get("WBSELLER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "secret123"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class PortalServer(Server):
    """The session's server, with CLI and storage helpers run in a worker thread.

    Sync Playwright keeps its event loop running in this thread (in a greenlet), and asyncio.run(),
    which the CLI and run_storage use, refuses to start inside a running loop.
    """

    def __init__(self, inner: Server) -> None:
        self.__dict__.update(inner.__dict__)

    def cli(self, *args: str, input: str | None = None, ok: bool = True) -> str:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(Server.cli, self, *args, input=input, ok=ok).result()

    def run_storage(self, work: Callable[[Any], Any]) -> Any:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(Server.run_storage, self, work).result()


@pytest.fixture(scope="session")
def server(server: Server) -> Server:
    return PortalServer(server)


@contextlib.contextmanager
def own_server(factory: pytest.TempPathFactory, name: str) -> Iterator[Server]:
    """A server of one module's own, for tests that read pages listing every seller's data (an
    operator's lists): on the session's server those hold other tests' words too, in an order-dependent
    way."""
    with serving(factory, name) as srv:
        yield PortalServer(srv)


@dataclass(frozen=True)
class Account:
    sid: str | None  # None for an operator
    uid: int
    login: str
    password: str = PASSWORD


# argon2 at the library's defaults takes ~0.4 s a check on a CI machine; most tests sign in with a hash
# of cheap parameters instead (the same code path: argon2 reads them from the hash).
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_user(
    server: Server, sid: str | None, name: str, role: str = "user", *, cli_password: bool = False
) -> Account:
    login = f"{role}-{uuid.uuid4().hex[:10]}"
    args = ["user", "create", "--name", name, "--login", login]
    args += ["--role", "operator"] if role == "operator" else ["--seller", str(sid), "--role", role]
    uid = int(server.cli(*args))
    if cli_password:
        server.cli("user", "password", str(uid), input=f"{PASSWORD}\n")
    else:
        cheap = _CHEAP.hash(PASSWORD)
        server.run_storage(lambda storage: storage.set_password(uid, cheap))
    return Account(sid, uid, login)


@pytest.fixture
def seller_user(server: Server) -> Account:
    return make_user(server, server.seller(), "Anna Petrova")


@pytest.fixture
def operator(server: Server) -> Account:
    return make_user(server, None, "Oleg Operator", role="operator")


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF field in the page"
    return m.group(1)


class Portal:
    """The account pages through httpx, as a browser without JS would use them."""

    def __init__(self, server: Server, prefix: str = "/seller", lang: str | None = "en") -> None:
        self.server = server
        self.prefix = prefix
        # The tests written before Russian became the default read the English pages (the cookie the
        # switch link sets); lang=None is a first visit.
        cookies = {"wbseller_lang": lang} if lang else None
        self.http = httpx.Client(
            base_url=server.base_url + prefix, timeout=10, follow_redirects=False, cookies=cookies
        )
        self.csrf = ""

    def get(self, path: str, **kw: Any) -> httpx.Response:
        r = self.http.get(path, **kw)
        if r.status_code == 200 and 'name="csrf"' in r.text:
            self.csrf = csrf_of(r.text)
        return r

    def post(self, path: str, data: dict[str, Any], csrf: bool = True, **kw: Any) -> httpx.Response:
        if csrf:
            data = {"csrf": self.csrf, **data}
        r = self.http.post(path, data=data, **kw)
        if r.status_code in (200, 400) and 'name="csrf"' in r.text:
            self.csrf = csrf_of(r.text)
        return r

    def sign_in(self, account: Account, password: str | None = None) -> httpx.Response:
        self.get("/signin")
        r = self.post("/signin", {"login": account.login, "password": password or account.password})
        if r.status_code == 303:
            self.get("/decode")  # signing in made a new CSRF token: pick it up
        return r

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def portal(server: Server) -> Iterator[Portal]:
    p = Portal(server)
    yield p
    p.close()


@pytest.fixture
def new_portal(server: Server) -> Iterator[Callable[..., Portal]]:
    made: list[Portal] = []

    def make(srv: Server | None = None, prefix: str = "/seller", lang: str | None = "en") -> Portal:
        p = Portal(srv or server, prefix, lang)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


# --- the browser ---------------------------------------------------------------------------------


def _browser_missing() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed"
    return None


# Module scope: Playwright's loop must not outlive the browser tests (asyncio.run elsewhere would fail).
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need a browser on CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    # An English browser: the first visit picks English from Accept-Language.
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 860},
        permissions=["clipboard-read", "clipboard-write"],
        locale="en-US",
    )
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Save a screenshot; into docs/screenshots/ when WBSELLER_SCREENSHOTS=1."""
    folder = REPO / "docs" / "screenshots" if os.environ.get("WBSELLER_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def shot(pg: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        pg.screenshot(path=str(path))
        return path

    return shot


def sign_in_browser(pg: Page, base: str, account: Account) -> None:
    pg.goto(f"{base}/signin")
    pg.get_by_label("Login").fill(account.login)
    pg.get_by_label("Password").fill(account.password)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(re.compile(r".*/(integrations|news)$"))
