"""The `wbseller` command: run the server, and manage sellers, users, services, tokens and news.

Tokens are printed alone on stdout (so `TOKEN=$(wbseller token create ...)` works) and read from
stdin or WB_API_TOKEN, never from an argument (arguments end up in shell history and `ps`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import errno
import json
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from wbseller.accounts import AccountError, Accounts, describe_scope, hash_password
from wbseller.backends import build as build_backends
from wbseller.backends import migrate as migrate_backends
from wbseller.backends.general import ACCESS_CODES, JAM, JAM_LEVELS, JAM_SOURCES, General
from wbseller.catalog.cli import catalog_app
from wbseller.categories import BY_NAME, CATEGORIES, READ_ONLY_MASK, mask_of
from wbseller.client.cli import print_table
from wbseller.client.cli import register as register_client_commands
from wbseller.clock import SystemClock
from wbseller.config import Settings, SettingsError, default_data_dir
from wbseller.errors import ServiceUnavailable, WBError
from wbseller.storage import NewsItem, NotFoundError, Storage, sqlite_url
from wbseller.storage.store import (
    DataDirError,
    create_postgres_database,
    describe_url,
    explain,
    missing_database,
    prepare_data_dir,
    sqlite_exists,
)
from wbseller.testing.cli import control_app
from wbseller.tokens import TokenError, TokenType, decode_unverified, strip_scheme
from wbseller.usage import App

# App: click's own usage errors (unknown option, missing option, bad value, ...) as one sentence.
app = App(no_args_is_help=True, add_completion=False, help=__doc__)
seller_app = typer.Typer(no_args_is_help=True, help="Sellers (accounts).")
user_app = typer.Typer(no_args_is_help=True, help="A seller's users.")
service_app = typer.Typer(no_args_is_help=True, help="The business-solutions catalog.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens: create, list, revoke, decode.")
news_app = typer.Typer(help="Seller-portal news.")  # `news` alone says it needs --from or --from-id
key_app = typer.Typer(no_args_is_help=True, help="Signing keys.")
for sub, name in (
    (seller_app, "seller"),
    (user_app, "user"),
    (service_app, "service"),
    (token_app, "token"),
    (news_app, "news"),
    (key_app, "key"),
    (catalog_app, "catalog"),
):
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data directory (default: $WBSELLER_DATA_DIR or ~/.local/share/wbseller)."
    ),
]


ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config", help="TOML file: [server] settings, methods, limits (default: $WBSELLER_CONFIG)."
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    """One sentence on stderr; the caller raises what this returns."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _settings(
    data_dir: Path | None = None, config: Path | None = None, test_clock: bool | None = None
) -> Settings:
    try:
        return Settings.from_env(data_dir=data_dir, config_file=config, test_clock=test_clock)
    except SettingsError as exc:
        raise _fail(str(exc), 2) from None


def _no_database(settings: Settings) -> str:
    return (
        f"no wbseller database in {settings.data_dir.absolute()}: give the server's data directory "
        "with --data-dir or WBSELLER_DATA_DIR (or WBSELLER_DATABASE_URL for PostgreSQL)"
    )


def _open(settings: Settings, write: bool) -> Storage:
    """Storage as the settings say. A read-only command (`write=False`) never makes a database."""
    if settings.database_url:
        return Storage(settings.database_url)
    if not write:
        if not sqlite_exists(settings.data_dir):
            raise _fail(_no_database(settings))
        return Storage(sqlite_url(settings.data_dir))
    try:
        prepare_data_dir(settings.data_dir)
    except DataDirError as exc:
        raise _fail(str(exc)) from None
    return Storage(sqlite_url(settings.data_dir))


_NOT_FOUND = re.compile(r"^(no|no active) (seller|user|service|token|news) ")


async def _not_found(storage: Storage, message: str) -> str:
    """A "no such thing" message, with where we looked (and the sellers there, when they are few)."""
    if not _NOT_FOUND.match(message):
        return message
    message += f" in {describe_url(storage.url)}"
    if message.startswith("no seller "):
        sellers = await storage.list_sellers()
        if not sellers:
            message += ", which has no sellers"
        elif len(sellers) <= 5:
            message += "; its sellers: " + ", ".join(f"{s.sid} ({s.name})" for s in sellers)
        else:
            message += f"; `wbseller seller list` shows its {len(sellers)} sellers"
    return message


def _run(
    data_dir: Path | None,
    work: Callable[[Accounts], Awaitable[T]],
    *,
    write: bool = True,
    settings: Settings | None = None,
) -> T:
    """Open storage (migrated), run `work`, close; every refusal becomes one sentence and exit code 1."""
    settings = settings or _settings(data_dir)
    storage = _open(settings, write)

    async def main() -> T:
        try:
            await storage.migrate()
            await migrate_backends(storage, build_backends(storage))  # the sections' tables, as `serve` does
            try:
                return await work(Accounts(storage, SystemClock()))
            except (AccountError, NotFoundError) as exc:
                raise AccountError(await _not_found(storage, str(exc))) from None
        finally:
            await storage.close()

    try:
        return asyncio.run(main())
    except ServiceUnavailable as exc:
        raise _fail(explain(storage.url, exc)) from None
    except (AccountError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except WBError as exc:
        raise _fail(exc.detail) from None
    except OSError as exc:  # the lock file beside a SQLite database, say
        raise _fail(f"cannot use {describe_url(storage.url)}: {exc.strerror or exc}") from None


def _ts(value: float | None) -> str:
    """A time as RFC 3339 in UTC (`2026-12-02T06:08:01Z`), in tables and JSON alike; "" for none."""
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


# --- serve -------------------------------------------------------------------------------------


def _check_port(host: str, port: int) -> None:
    """Before anything is printed or made: the address can be listened on (uvicorn binds the same way)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise _fail(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _fail(
                    f"port {port} is in use on {host}; stop what listens there or pick --port"
                ) from None
            raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _redis_shown(url: str) -> str:
    """A Redis URL without its password."""
    return re.sub(r"^([a-z+]+://)([^:@/]*):[^@/]*@", lambda m: m[1] + (f"{m[2]}@" if m[2] else ""), url)


def _check_redis(settings: Settings) -> str | None:
    """Connect to Redis once before serving. A URL that is not one: refuse. Redis away or refusing
    (a db number it does not have): a warning when limits fail open, a refusal when they fail closed.
    Returns the warning, if any."""
    import redis.asyncio as aioredis

    url = settings.redis_url
    assert url is not None
    shown = _redis_shown(url)
    client: Any
    try:
        if settings.redis_cluster:
            client = aioredis.RedisCluster.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        else:
            client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    except (ValueError, TypeError) as exc:
        raise _fail(f"the Redis URL {shown!r} is not usable: {exc}", 2) from None

    async def ping() -> None:
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(ping())
        return None
    except aioredis.ResponseError as exc:
        problem = f"Redis at {shown} refuses: {exc}"
    except Exception as exc:  # connection refused, timeout, cluster errors: all say "away"
        problem = f"Redis at {shown} does not answer ({' '.join(str(exc).split()) or type(exc).__name__})"
    if not settings.limiter_fail_open:
        raise _fail(f"{problem}; not starting, since limits fail closed (WBSELLER_LIMITER_FAIL_OPEN=0)")
    return (
        f"{problem}; limits fail open: each process keeps its own buckets until Redis answers "
        "(WBSELLER_LIMITER_FAIL_OPEN=0 to refuse to start instead)"
    )


def _this_command() -> str:
    """How to run this same `wbseller` from any directory: `wbseller` when that is the one on the
    PATH, else its absolute path (a virtualenv that is not active: `make run`)."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "wbseller":  # python -m wbseller
        return f"{shlex.quote(sys.executable)} -m wbseller"
    here = os.path.abspath(argv0)
    on_path = shutil.which("wbseller")
    if on_path is not None and os.path.abspath(on_path) == here:
        return "wbseller"
    return shlex.quote(here)


def _same_storage(settings: Settings) -> tuple[list[str], str]:
    """What a shell needs to reach the storage this server uses: lines to run first, and options."""
    if not settings.database_url:
        return [], f" --data-dir {shlex.quote(str(settings.data_dir.absolute()))}"
    if os.environ.get("WBSELLER_DATABASE_URL"):
        from sqlalchemy.engine import make_url

        u = make_url(os.environ["WBSELLER_DATABASE_URL"])  # as the user spelled it
        shown = u.set(password=None).render_as_string(hide_password=False)
        note = "   # and PGPASSWORD: the password is not printed" if u.password else ""
        return [f"export WBSELLER_DATABASE_URL={shlex.quote(shown)}{note}"], ""
    assert settings.config_file is not None  # database_url came from the config file's [server]
    return [f"export WBSELLER_CONFIG={shlex.quote(str(settings.config_file.absolute()))}"], ""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    data_dir: DataDir = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML file: [server] settings, methods, limits.")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes (more than 1 wants Redis for shared limits).", min=1)
    ] = 1,
    test_clock: Annotated[
        bool, typer.Option(help="Allow POST /_wbseller/clock to move time (tests; docs/testclock.md).")
    ] = False,
    access_log: Annotated[bool, typer.Option(help="Log every request (method, path, status).")] = True,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
    control: Annotated[
        bool,
        typer.Option(help="The test kit's control API under /_wbseller/ (tests only; docs/testing.md)."),
    ] = False,
    control_token: Annotated[
        str | None,
        typer.Option(help="Lets non-loopback clients use the control API (better: WBSELLER_CONTROL_TOKEN)."),
    ] = None,
) -> None:
    """Run every WB API host in this process (SQLite and in-process limits unless told otherwise)."""
    _check_port(host, port)  # before saying or making anything
    settings = dataclasses.replace(_settings(data_dir, config, test_clock or None), access_log=access_log)
    if control or control_token:
        settings = dataclasses.replace(
            settings, control=True, control_token=control_token or settings.control_token
        )
    if settings.control and workers > 1:
        raise _fail(
            "--control needs --workers 1: the control API's clock, faults and journal live in one process", 2
        )
    redis_warning = _check_redis(settings) if settings.redis_url else None
    if not settings.database_url:
        try:
            prepare_data_dir(settings.data_dir)
        except DataDirError as exc:
            raise _fail(str(exc)) from None

    import uvicorn

    from wbseller.gateway.protocol import WBHttpToolsProtocol
    from wbseller.methods.table import TableError
    from wbseller.server import create_app

    try:
        gateway = create_app(settings)  # loads the method table now: a bad config file fails before listening
    except (TableError, ValueError, DataDirError) as exc:
        raise _fail(str(exc)) from None
    created: list[str] = []

    async def prepare() -> tuple[list[Any], Any]:
        # Migrate and make the first key once, before any worker starts.
        try:
            try:
                await gateway.storage.migrate()
            except ServiceUnavailable as exc:
                if missing_database(exc) is None:
                    raise
                # A fresh PostgreSQL without our database: the server may make it.
                created.append(await create_postgres_database(gateway.storage.url))
                await gateway.storage.migrate()
            await gateway.accounts.load_keys()
            await gateway.accounts.ensure_demo()
            sellers = await gateway.storage.list_sellers()
            owner = await gateway.storage.owner_of(sellers[0].sid) if sellers else None
        finally:
            await gateway.storage.close()
        return sellers, owner

    try:
        sellers, owner = asyncio.run(prepare())
    except ServiceUnavailable as exc:
        raise _fail(explain(gateway.storage.url, exc)) from None
    except WBError as exc:
        raise _fail(exc.detail) from None
    except OSError as exc:
        raise _fail(f"cannot use {describe_url(gateway.storage.url)}: {exc.strerror or exc}") from None
    except Exception as exc:  # e.g. asyncpg refusing CREATE DATABASE: one sentence
        raise _fail(f"{describe_url(gateway.storage.url)}: {' '.join(str(exc).split())}") from None
    base = f"http://{host}:{port}"
    storage = (
        describe_url(gateway.storage.url).replace("the ", "", 1)
        if settings.database_url
        else f"SQLite in {settings.data_dir.absolute()}"
    )
    limiter = f"Redis at {_redis_shown(settings.redis_url)}" if settings.redis_url else "in-process"
    for name in created:
        err.print(f"created the PostgreSQL database {escape(name)!r}", highlight=False)
    err.print(
        f"[bold]wbseller[/bold] listening on {base} "
        f"(storage: {escape(storage)}; limits: {escape(limiter)}; workers: {workers})",
        highlight=False,
    )
    if redis_warning is not None:
        err.print(f"[yellow]warning:[/yellow] {escape(redis_warning)}", highlight=False)
    if settings.control:
        who = "loopback clients, or with the control token" if settings.control_token else "loopback clients"
        err.print(f"  control API (tests only) at {base}/_wbseller/ for {who}", highlight=False)
    if workers > 1 and not settings.redis_url:
        err.print("[yellow]warning:[/yellow] without Redis each worker keeps its own buckets")
    err.print(f"  any host by path prefix: {base}/content-api/ping, {base}/common-api/api/v1/seller-info")
    err.print(f"  or by name: http://content-api.localhost:{port}/ping ;  docs: {base}/docs")
    if sellers:
        sid = sellers[0].sid
        exe = _this_command()
        first, dd = _same_storage(settings)
        err.print("  get a token for the first seller (in another shell, as printed):", highlight=False)
        for line in first:
            err.print(f"    {escape(line)}", highlight=False)
        err.print(
            escape(
                f"    TOKEN=$({exe} token create{dd} --seller {sid} --type personal --categories all "
                "--accept-liability)"
            ),
            highlight=False,
        )
        err.print(f'    curl -H "Authorization: $TOKEN" {base}/ping', highlight=False)
        err.print(f"  the seller's account pages: {base}/seller/ (or http://seller.localhost:{port}/)")
        if owner is not None and owner.login is None:
            err.print("  sign in there after giving the owner a login and password (read from stdin):")
            err.print(
                escape(f"    echo 'a long passphrase' | {exe} user password{dd} {owner.id} --login owner"),
                highlight=False,
            )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": WBHttpToolsProtocol,
        "lifespan": "on",
        "access_log": False,  # the gateway writes its own, off the request path (gateway/accesslog.py)
        "proxy_headers": False,  # client addresses behind proxies: `trusted_proxies` (gateway/clients.py)
        "log_level": log_level,
        "server_header": False,
    }
    if workers > 1:
        # Each worker builds its own Gateway from these, and shares its metrics through this directory.
        share = Path(tempfile.mkdtemp(prefix="wbseller-metrics-"))  # 0700
        os.environ.update(dataclasses.replace(settings, metrics_dir=share).to_env())
        try:
            uvicorn.run("wbseller.server:create_app", factory=True, workers=workers, **options)
        finally:
            shutil.rmtree(share, ignore_errors=True)
    else:
        uvicorn.run(gateway, **options)


# --- sellers and users -------------------------------------------------------------------------

TIN = re.compile(r"\d{10}|\d{12}")


@seller_app.command("create")
def seller_create(
    name: Annotated[str, typer.Option(help="Seller's name, e.g. 'ИП Иванов И. И.'.")],
    tin: Annotated[str, typer.Option(help="TIN (ИНН): 10 digits (a company) or 12 (a person).")] = "",
    trade_mark: Annotated[str, typer.Option(help="Trade mark.")] = "",
    owner: Annotated[str, typer.Option(help="Name of the owner user made with the seller.")] = "Owner",
    data_dir: DataDir = None,
) -> None:
    """Create a seller and its owner user; prints the seller id (sid). `user list --seller SID`
    shows the owner's user id."""
    name, tin, trade_mark, owner = name.strip(), tin.strip(), trade_mark.strip(), owner.strip()
    if not name:
        raise _fail("give the seller a name (--name)", 2)
    if tin and not TIN.fullmatch(tin):
        raise _fail(f"a TIN is 10 digits (a company) or 12 (a person), not {tin!r}", 2)
    if not owner:
        raise _fail("give the owner a name (--owner), or leave the default", 2)

    async def work(a: Accounts) -> str:
        seller, _ = await a.storage.create_seller(name, tin, trade_mark, a.clock.now(), owner)
        return seller.sid

    print(_run(data_dir, work))


@seller_app.command("list")
def seller_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False, data_dir: DataDir = None
) -> None:
    """List sellers."""
    sellers = _run(data_dir, lambda a: a.storage.list_sellers(), write=False)
    if as_json:
        _print_json(
            [
                {
                    "sid": s.sid,
                    "oid": s.oid,
                    "name": s.name,
                    "tin": s.tin,
                    "tradeMark": s.trade_mark,
                    "created": _ts(s.created),
                }
                for s in sellers
            ]
        )
        return
    print_table(
        ("sid", "oid", "name", "tin", "trade mark", "created"),
        [(s.sid, s.oid, s.name, s.tin, s.trade_mark, _ts(s.created)) for s in sellers],
    )


KNOWN_SUBSCRIPTIONS = ("jam",)  # WB's "Jam"; a deployment's table may name more


def _method_table(settings: Settings) -> Any:
    from wbseller.methods.table import TableError, load_table

    try:
        return load_table(settings.config_file, handlers=False)
    except TableError as exc:
        raise _fail(str(exc), 2) from None


def _check_name(kind: str, name: str, valid: set[str], option: str) -> None:
    if name not in valid:
        if len(valid) <= 12:
            raise _fail(f"unknown {kind} {name!r} for {option}; valid: {', '.join(sorted(valid))}", 2)
        close = difflib.get_close_matches(name, sorted(valid), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "the ids are listed in docs/catalog.md"
        raise _fail(f"unknown {kind} {name!r} for {option}; {hint}", 2)


@seller_app.command("subscribe")
def seller_subscribe(
    seller: Annotated[str, typer.Option(help="Seller id.")],
    name: Annotated[str, typer.Option(help="Subscription, e.g. jam.")] = "jam",
    off: Annotated[bool, typer.Option(help="Remove it instead (Jam: cancel it now).")] = False,
    level: Annotated[str, typer.Option(help=f"Jam's level: {', '.join(JAM_LEVELS)}.")] = "standard",
    days: Annotated[float, typer.Option(help="Jam: the paid period from now, in days.")] = 30.0,
    source: Annotated[str, typer.Option(help=f"Jam's activation source: {', '.join(JAM_SOURCES)}.")] = "jam",
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Give a seller a subscription (methods marked with it answer 403 without). Jam is connected for
    --days at --level (again: a new period, `since` kept) or cancelled (--off); docs/general.md."""
    settings = _settings(data_dir, config)
    table = _method_table(settings)
    valid = set(KNOWN_SUBSCRIPTIONS) | {
        n for m in table.methods if m.subscription for n in m.subscription.names
    }

    async def work(a: Accounts) -> None:
        state = await a.storage.seller_state(seller)
        if state is None:
            raise AccountError(f"no seller {seller}")
        _check_name("subscription", name, valid | (set(state.subscriptions) if off else set()), "--name")
        if name == JAM:  # its periods and the gate's row together (backends/general.py)
            general, now = General(a.storage), a.clock.now()
            got = (
                await general.jam_cancel(seller, now)
                if off
                else await general.jam_connect(seller, level, source, days, now)
            )
            print(f"jam {'active' if got.active else 'inactive'} ({got.level}) till {_ts(got.till)}")
            return
        await a.storage.set_subscription(seller, name, not off, a.clock.now())

    _run(data_dir, work, settings=settings)


@seller_app.command("block")
def seller_block(
    seller: Annotated[str, typer.Option(help="Seller id.")],
    method: Annotated[str, typer.Option(help="Method id from the method table, e.g. news.")],
    off: Annotated[bool, typer.Option(help="Unblock instead.")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Block a method for a seller (it answers 403)."""
    settings = _settings(data_dir, config)
    valid = {m.id for m in _method_table(settings).methods}

    async def work(a: Accounts) -> None:
        state = await a.storage.seller_state(seller)
        if state is None:
            raise AccountError(f"no seller {seller}")
        _check_name("method", method, valid | (set(state.blocked) if off else set()), "--method")
        await a.storage.set_block(seller, method, not off, a.clock.now())

    _run(data_dir, work, settings=settings)


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Option(help="User's name.")],
    seller: Annotated[str | None, typer.Option(help="Seller id (not for operators).")] = None,
    role: Annotated[str, typer.Option(help="user, owner or operator (publishes news; no seller).")] = "user",
    login: Annotated[
        str | None, typer.Option(help="Login for the account pages (set a password next).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Add a user to a seller (or an operator); prints the user id."""
    if role not in ("user", "owner", "operator"):
        raise _fail(f"unknown role {role!r}; valid: user, owner, operator", 2)
    if role != "operator" and not seller:
        raise _fail("--seller is required (but for --role operator)", 2)
    if not name.strip():
        raise _fail("give the user a name (--name)", 2)
    user = _run(data_dir, lambda a: a.storage.create_user(seller, name.strip(), role, a.clock.now(), login))
    print(user.id)


@user_app.command("list")
def user_list(
    seller: Annotated[str | None, typer.Option(help="Seller id: its users (the owner among them).")] = None,
    operators: Annotated[bool, typer.Option("--operators", help="List the operators instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    invitations: Annotated[bool, typer.Option("--invitations", help="The open invitations instead.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List a seller's users (or the operators): id, role, name, login, deleted or not, the accesses
    denied; with --invitations the seller's invitations not accepted yet."""
    if (seller is None) == (not operators):
        raise _fail("give --seller SID or --operators", 2)

    async def work(a: Accounts) -> tuple[list[Any], dict[int, dict[str, bool]], int]:
        if seller is None:
            return await a.storage.list_users(None), {}, 0
        await a.storage.get_seller(seller)
        general = General(a.storage)
        users = await a.storage.list_users(seller)
        access = {u.id: await general.accesses(u.id) for u in users if u.deleted is None}
        total, _ = await general.people(seller, True, 0, 0, a.clock.now())
        return users, access, total

    if invitations:
        if seller is None:
            raise _fail("--invitations needs --seller SID", 2)
        _invitations(seller, as_json, data_dir)
        return
    users, access, open_invites = _run(data_dir, work, write=False)
    rows = [
        {
            "id": u.id,
            "role": u.role,
            "name": u.name,
            "login": u.login,
            "seller": u.sid,
            "created": _ts(u.created),
            "deleted": _ts(u.deleted) or None,
            **({"denied": sorted(c for c, off in access[u.id].items() if off)} if u.id in access else {}),
        }
        for u in users
    ]
    if as_json:
        _print_json(rows)
        return
    print_table(
        ("id", "role", "name", "login", "created", "deleted", "denied"),
        [
            (
                r["id"],
                r["role"],
                r["name"],
                r["login"] or "",
                r["created"],
                r["deleted"] or "",
                " ".join(r.get("denied", [])),
            )
            for r in rows
        ],
    )
    if open_invites:
        print(f"{open_invites} open invitation(s): wbseller user list --seller {seller} --invitations")


def _invitations(seller: str, as_json: bool, data_dir: Path | None) -> None:
    async def work(a: Accounts) -> list[Any]:
        await a.storage.get_seller(seller)
        _, people = await General(a.storage).people(seller, True, 1_000_000, 0, a.clock.now())
        return [p.invite for p in people if p.invite is not None]

    now = SystemClock().now()
    rows = [
        {
            "invite": i.uuid,
            "phone": i.phone,
            "position": i.position,
            "created": _ts(i.created),
            "expires": _ts(i.expires),
            "open": i.open_at(now),
            "denied": sorted(c for c, off in i.access.items() if off),
        }
        for i in _run(data_dir, work, write=False)
    ]
    if as_json:
        _print_json(rows)
        return
    print_table(
        ("invite", "phone", "position", "expires", "open", "denied"),
        [
            (r["invite"], r["phone"], r["position"], r["expires"], r["open"], " ".join(r["denied"]))
            for r in rows
        ],
    )


def _access_pairs(items: list[str]) -> list[tuple[str, bool]]:
    """`code=true` grants, `code=false` denies (as the account pages' switches); one sentence otherwise."""
    pairs = []
    for item in items:
        code, eq, value = item.partition("=")
        if not eq or value.lower() not in ("true", "false"):
            raise _fail(f"give an access as code=true or code=false, not {item!r}", 2)
        if code not in ACCESS_CODES:
            close = difflib.get_close_matches(code, ACCESS_CODES, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else f"codes: {', '.join(ACCESS_CODES)}"
            raise _fail(f"unknown access code {code!r}; {hint}", 2)
        pairs.append((code, value.lower() == "false"))
    return pairs


@user_app.command("invite")
def user_invite(
    seller: Annotated[str, typer.Option(help="Seller id.")],
    phone: Annotated[str, typer.Option(help="Phone with the country code, e.g. 79991234567.")],
    position: Annotated[str, typer.Option(help="The user's position.")] = "",
    access: Annotated[
        list[str] | None, typer.Option(help="code=true|false; repeat it. None: WB's defaults.")
    ] = None,
    base: Annotated[
        str, typer.Option(help="The account pages' address in the URL printed.")
    ] = "http://127.0.0.1:8000/seller",
    data_dir: DataDir = None,
) -> None:
    """Invite a user to a seller; prints the URL where the invitation is accepted (docs/general.md)."""
    pairs = _access_pairs(access) if access else None

    async def work(a: Accounts) -> Any:
        return await General(a.storage).create_invite(seller, phone, position, pairs, a.clock.now())

    inv = _run(data_dir, work)
    print(f"{base.rstrip('/')}/invite/{inv.uuid}")


@user_app.command("access")
def user_access(
    uid: int,
    access: Annotated[list[str], typer.Argument(help="code=true|false ...: only these change.")],
    data_dir: DataDir = None,
) -> None:
    """Change a user's accesses; the others stay as they are."""
    pairs = _access_pairs(access)

    async def work(a: Accounts) -> None:
        user = await a.storage.get_user(uid)
        if user.sid is None:
            raise AccountError(f"user {uid} is an operator, who has no accesses")
        await General(a.storage).set_accesses(user.sid, {uid: pairs})

    _run(data_dir, work)


@seller_app.command("rating")
def seller_rating(
    seller: Annotated[str, typer.Option(help="Seller id.")],
    count: Annotated[int | None, typer.Option(help="feedbackCount.")] = None,
    valuation: Annotated[float | None, typer.Option(help="valuation, 0 to 5.")] = None,
    reset: Annotated[bool, typer.Option(help="Back to the generated rating.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Show or set the seller's rating (GET /api/common/v1/rating)."""

    async def work(a: Accounts) -> tuple[int, float]:
        general = General(a.storage)
        if reset or count is not None or valuation is not None:
            await general.set_rating(seller, count, valuation)
        await a.storage.get_seller(seller)
        return await general.rating(seller)

    got = _run(data_dir, work, write=reset or count is not None or valuation is not None)
    print(f"feedbackCount {got[0]} valuation {got[1]}")


@user_app.command("password")
def user_password(
    uid: int,
    login: Annotated[str | None, typer.Option(help="Also set the login.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Set a user's password for the account pages, read from stdin (never an argument)."""
    password = "" if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise _fail("give a password of 8 or more characters on stdin", 2)
    _run(data_dir, lambda a: a.storage.set_password(uid, hash_password(password), login))


@user_app.command("delete")
def user_delete(uid: int, data_dir: DataDir = None) -> None:
    """Delete a user: tokens the user created answer 403 from then on."""
    _run(data_dir, lambda a: a.storage.delete_user(uid, a.clock.now()))


# --- services ----------------------------------------------------------------------------------

# A test token works only on sandbox hosts: only the categories that have one can ever use it.
SANDBOX_MASK = sum(c.mask for c in CATEGORIES if c.bit is not None and c.sandbox)


def _categories(value: str, type: TokenType | None = None) -> int:
    names = [c.strip() for c in value.split(",") if c.strip()]
    try:
        mask = mask_of(names)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    if not mask:
        raise _fail("choose at least one category (or all)", 2)
    if type is TokenType.TEST:
        if "all" in names:
            return SANDBOX_MASK  # all that a test token can use
        outside = [c.name for c in CATEGORIES if c.bit is not None and mask & c.mask and not c.sandbox]
        if outside:
            inside = ", ".join(c.name for c in CATEGORIES if c.bit is not None and c.sandbox)
            raise _fail(
                f"a test token works only on sandbox hosts, and {', '.join(outside)} has none; "
                f"choose from {inside} (or all)",
                2,
            )
    return mask


CATEGORY_HELP = (
    "Comma-separated: "
    + ",".join(c.name for c in CATEGORIES if c.bit is not None)
    + " or all (for a test token: those with a sandbox)."
)


@service_app.command("create")
def service_create(
    name: Annotated[str, typer.Option(help="Service name.")],
    categories: Annotated[str, typer.Option(help=CATEGORY_HELP)],
    read_only: Annotated[bool, typer.Option(help="The service only reads.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Add a service to the business-solutions catalog; prints its id."""
    if not name.strip():
        raise _fail("give the service a name (--name)", 2)
    scope = _categories(categories) | (READ_ONLY_MASK if read_only else 0)
    service = _run(data_dir, lambda a: a.storage.create_service(name.strip(), scope, a.clock.now()))
    print(service.id)


def _category_names(scope: int) -> list[str]:
    return [c for c in BY_NAME if BY_NAME[c].bit is not None and scope & BY_NAME[c].mask]


@service_app.command("list")
def service_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False, data_dir: DataDir = None
) -> None:
    """List the catalog's services."""
    services = _run(data_dir, lambda a: a.storage.list_services(), write=False)
    if as_json:
        _print_json(
            [
                {
                    "id": s.id,
                    "name": s.name,
                    "categories": _category_names(s.scope),
                    "readOnly": bool(s.scope & READ_ONLY_MASK),
                    "created": _ts(s.created),
                }
                for s in services
            ]
        )
        return
    print_table(
        ("id", "name", "categories (access)", "created"),
        [(s.id, s.name, describe_scope(s.scope), _ts(s.created)) for s in services],
    )


# --- tokens ------------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    seller: Annotated[str, typer.Option(help="Seller id.")],
    type: Annotated[TokenType, typer.Option("--type", help="Token type.")],
    categories: Annotated[str | None, typer.Option(help=CATEGORY_HELP)] = None,
    read_only: Annotated[bool, typer.Option(help="Read-only access.")] = False,
    name: Annotated[str, typer.Option(help="Token name.")] = "",
    comment: Annotated[str, typer.Option(help="Comment.")] = "",
    service: Annotated[int | None, typer.Option(help="Catalog service id (service tokens).")] = None,
    user: Annotated[int | None, typer.Option(help="Creating user (default: the seller's owner).")] = None,
    accept_liability: Annotated[
        bool, typer.Option(help="I understand that the token should not be shared with third parties.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Create a token and print it alone on stdout. It is shown once and stored never."""
    if type is TokenType.SERVICE:
        if categories or read_only:
            raise _fail("a service token takes its categories and access from the service", 2)
        scope = 0
    else:
        if not categories:
            raise _fail("--categories is required (e.g. content,marketplace or all)", 2)
        scope = _categories(categories, type)

    async def work(a: Accounts) -> str:
        await a.load_keys()
        issued = await a.issue_token(
            seller,
            type,
            scope=scope,
            read_only=read_only,
            name=name,
            comment=comment,
            service_id=service,
            uid=user,
            accept_liability=accept_liability,
        )
        return issued.token

    print(_run(data_dir, work))


def _state(r: Any, deleted: set[int], now: float) -> str:
    """A token's state as the server sees it: revoked, user deleted, expired or active."""
    if r.revoked is not None:
        return "revoked"
    if r.uid in deleted:
        return "user deleted"
    if r.expires <= now:
        return "expired"
    return "active"


@token_app.command("list")
def token_list(
    seller: Annotated[str, typer.Option(help="Seller id.")],
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List a seller's tokens: metadata and state (active, user deleted, expired; revoked with --all),
    never the tokens."""

    async def work(a: Accounts) -> tuple[list[Any], set[int]]:
        await a.storage.get_seller(seller)
        users = await a.storage.list_users(seller)
        tokens = await a.storage.list_tokens(seller, include_revoked=all_)
        return tokens, {u.id for u in users if u.deleted is not None}

    records, deleted = _run(data_dir, work, write=False)
    now = SystemClock().now()
    if as_json:
        _print_json([_token_json(r, _state(r, deleted, now)) for r in records])
        return
    print_table(
        ("id", "type", "state", "name", "categories (access)", "created", "expires", "revoked", "comment"),
        [
            (
                r.id,
                r.type,
                _state(r, deleted, now),
                r.name,
                describe_scope(r.scope),
                _ts(r.created),
                _ts(r.expires),
                _ts(r.revoked),
                r.comment,
            )
            for r in records
        ],
    )


def _token_json(r: Any, state: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "type": r.type,
        "name": r.name,
        "categories": _category_names(r.scope),
        "readOnly": bool(r.scope & READ_ONLY_MASK),
        "comment": r.comment,
        "userId": r.uid,
        "serviceId": r.service_id,
        "created": _ts(r.created),
        "expires": _ts(r.expires),
        "revoked": r.revoked is not None,
        "revokedAt": _ts(r.revoked) or None,
        "state": state,
    }


@token_app.command("revoke")
def token_revoke(token_id: str, data_dir: DataDir = None) -> None:
    """Delete a token by its id: it stops working at once."""
    _run(data_dir, lambda a: a.revoke_token(token_id))


@token_app.command("decode")
def token_decode(
    stray: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Decode a token from stdin or WB_API_TOKEN: type, categories, access, seller, expiry, valid or why
    not (checked against the data directory's keys and tokens; nothing is created)."""
    if stray:  # caught here so that the usage error does not print the token back
        raise _fail("give the token on stdin or in WB_API_TOKEN, never as an argument", 2)
    raw = os.environ.get("WB_API_TOKEN") or ("" if sys.stdin.isatty() else sys.stdin.read())
    token = strip_scheme(raw)
    if not token:
        raise _fail("give the token on stdin or in WB_API_TOKEN", 2)
    now = SystemClock().now()
    try:
        decoded = decode_unverified(token, now)
    except TokenError as exc:
        err.print(f"[red]not a WB token:[/red] {escape(exc.why)}", highlight=False)
        raise typer.Exit(1) from None
    c = decoded.claims
    settings = _settings(data_dir)

    async def verify(a: Accounts) -> str | None:
        where = describe_url(a.storage.url)
        await a.load_keys(create=False)
        try:
            claims = a.keys.verify(token, now)
        except TokenError as exc:
            if exc.code == "token-kid-unknown":
                return f"unknown signing key {c.kid!r}: not one of the keys in {where}"
            return exc.why
        status = await a.storage.token_status(claims.id)
        if status is None:
            return f"not issued by this server (no token {claims.id} in {where})"
        if status.revoked:
            return "token is revoked"
        if status.user_deleted:
            return "the user who created it has been deleted"
        return None

    if settings.database_url or sqlite_exists(settings.data_dir):
        why = _run(data_dir, verify, write=False, settings=settings)
    else:
        why = f"not checked: {_no_database(settings)}"
    info: dict[str, Any] = {
        "type": c.type.value,
        "categories": c.categories,
        "access": "read only" if c.read_only else "read and write",
        "seller": c.sid,
        "tokenId": c.id,
        "serviceId": c.service_id,
        "userId": c.uid,
        "expires": c.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "daysLeft": round(decoded.days_left, 1),
        "unknownBits": decoded.unknown_bits,
        "valid": why is None,
        "reason": why,
    }
    if as_json:
        _print_json(info)
    else:
        for k, v in info.items():
            if v is None:
                continue  # no reason when valid, no service id but for a service token
            shown = (", ".join(str(x) for x in v) or "—") if isinstance(v, list) else v
            print(f"{k}: {shown}")
    if why is not None:
        raise typer.Exit(1)


# --- keys --------------------------------------------------------------------------------------


@key_app.command("rotate")
def key_rotate(data_dir: DataDir = None) -> None:
    """Add a new signing key; new tokens use it, older tokens stay valid until they expire."""

    async def work(a: Accounts) -> str:
        await a.load_keys()
        return await a.add_key()

    print(_run(data_dir, work))


@key_app.command("list")
def key_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False, data_dir: DataDir = None
) -> None:
    """List signing key ids (never the keys), oldest first: `kid<TAB>created`, and `<TAB>signing` on
    the one that signs new tokens (the newest)."""
    keys = _run(data_dir, lambda a: a.storage.signing_keys(), write=False)
    signing = keys[-1][0] if keys else None  # Accounts.load_keys: the newest signs
    if as_json:
        _print_json([{"kid": k, "created": _ts(t), "signing": k == signing} for k, _pem, t in keys])
        return
    for kid, _pem, created in keys:
        print(f"{kid}\t{_ts(created)}" + ("\tsigning" if kid == signing else ""))


# --- news --------------------------------------------------------------------------------------

DATE_EXAMPLE = "ISO 8601, e.g. 2025-02-05T14:10:35+03:00 (Moscow time if no zone)"


def _date(value: str) -> float:
    """ISO 8601 -> epoch seconds (Moscow time if no zone); ValueError otherwise."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        from wbseller.methods.general import MSK

        dt = dt.replace(tzinfo=MSK)
    return dt.timestamp()


def _parse_date(value: str | None) -> float:
    if not value:
        return SystemClock().now()
    try:
        return _date(value)
    except ValueError:
        raise _fail(f"bad date {value!r}; use {DATE_EXAMPLE}", 2) from None


@news_app.command("add")
def news_add(
    header: Annotated[str, typer.Option(help="Header.")],
    content: Annotated[str, typer.Option(help="Text.")],
    date: Annotated[str | None, typer.Option(help="Publication time, ISO 8601 (Moscow if no zone).")] = None,
    type: Annotated[
        list[str] | None, typer.Option("--type", help="A type (tag) name; repeat for more.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Publish a news item; prints its id."""
    if not header.strip():
        raise _fail("a news item needs a header (--header)", 2)
    if not content.strip():
        raise _fail("a news item needs a text (--content)", 2)
    types = [" ".join(t.split()) for t in type or []]
    if any(not t for t in types):
        raise _fail("a news type (--type) needs a name", 2)
    when = _parse_date(date)
    ids = _run(data_dir, lambda a: a.storage.add_news([(header, content, when, types)], a.clock.now()))
    print(ids[0])


class _Bad(ValueError):
    pass


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _field(item: dict[str, Any], name: str, expected: str, where: str) -> Any:
    if name not in item:
        raise _Bad(f'{where} has no "{name}" (expected {expected})')
    return item[name]


def _whole(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _Bad(f'{where}: "{name}" must be a positive whole number, not {_shown(value)}')
    return value


def _text(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f'{where}: "{name}" must be a non-empty string, not {_shown(value)}')
    return value


def _news_item(i: int, it: Any) -> NewsItem:
    where = f"item {i}"
    if not isinstance(it, dict):
        raise _Bad(f"{where} is {_shown(it)}, not an object with id, header, content, date and types")
    if isinstance(it.get("id"), int) and not isinstance(it.get("id"), bool):
        where += f" (id {it['id']})"
    nid = _whole(_field(it, "id", "a positive whole number", where), "id", where)
    header = _text(_field(it, "header", "a non-empty string", where), "header", where)
    content = _text(_field(it, "content", "a non-empty string", where), "content", where)
    raw_date = _field(it, "date", DATE_EXAMPLE, where)
    try:
        if not isinstance(raw_date, str):
            raise ValueError
        when = _date(raw_date)
    except ValueError:
        raise _Bad(f'{where}: "date" must be {DATE_EXAMPLE}, not {_shown(raw_date)}') from None
    raw_types = it.get("types", [])
    if not isinstance(raw_types, list):
        raise _Bad(f'{where}: "types" must be a list of {{"id", "name"}} objects, not {_shown(raw_types)}')
    types: list[tuple[int, str]] = []
    for j, t in enumerate(raw_types):
        at = f"{where}, types[{j}]"
        if not isinstance(t, dict):
            raise _Bad(f'{at} is {_shown(t)}, not an object with "id" and "name"')
        tid = _whole(_field(t, "id", "a positive whole number", at), "id", at)
        types.append((tid, _text(_field(t, "name", "a non-empty string", at), "name", at)))
    return NewsItem(nid, header, content, when, types)


@news_app.command("import")
def news_import(file: Path, data_dir: DataDir = None) -> None:
    """Import news from a JSON file: a list of the API's `data` items (or {"data": [...]}), all or none."""
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror or exc}", 2) from None
    except UnicodeDecodeError:
        raise _fail(f"cannot read {file}: it is not UTF-8 text", 2) from None
    except ValueError as exc:
        raise _fail(f"{file} is not JSON: {exc}", 2) from None
    items_raw = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(items_raw, list):
        raise _fail(f'{file}: expected a list of news items or {{"data": [...]}}', 2)
    items: list[NewsItem] = []
    first: dict[int, int] = {}
    try:
        for i, it in enumerate(items_raw):
            item = _news_item(i, it)
            if item.id in first:
                raise _Bad(f"item {i}: id {item.id} is also item {first[item.id]}'s")
            first[item.id] = i
            items.append(item)
    except _Bad as exc:
        raise _fail(f"{file}: {exc}; nothing was imported", 2) from None
    ids = _run(data_dir, lambda a: a.storage.add_news(items, a.clock.now()))
    print(f"imported {len(ids)} news")


register_client_commands(app)
app.add_typer(control_app, name="control")


def main() -> None:
    if not sys.stdout.isatty() and not os.environ.get("COLUMNS"):
        # In a pipe, rich (and so --help) would wrap and cut at 80 columns: give it room.
        os.environ["COLUMNS"] = "200"
    app()


__all__ = ["app", "default_data_dir", "main"]
