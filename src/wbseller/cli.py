"""The `wbseller` command: run the server, and manage sellers, users, services, tokens and news.

Tokens are printed alone on stdout (so `TOKEN=$(wbseller token create ...)` works) and read from
stdin or WB_API_TOKEN, never from an argument (arguments end up in shell history and `ps`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from wbseller.accounts import AccountError, Accounts, describe_scope, hash_password
from wbseller.categories import BY_NAME, CATEGORIES, READ_ONLY_MASK, mask_of
from wbseller.client.cli import register as register_client_commands
from wbseller.clock import SystemClock
from wbseller.config import Settings, default_data_dir
from wbseller.errors import WBError
from wbseller.storage import NewsItem, NotFoundError, Storage, sqlite_url
from wbseller.storage.store import prepare_data_dir
from wbseller.tokens import TokenError, TokenType, decode_unverified, strip_scheme

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
seller_app = typer.Typer(no_args_is_help=True, help="Sellers (accounts).")
user_app = typer.Typer(no_args_is_help=True, help="A seller's users.")
service_app = typer.Typer(no_args_is_help=True, help="The business-solutions catalog.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens: create, list, revoke, decode.")
news_app = typer.Typer(no_args_is_help=True, help="Seller-portal news.")
key_app = typer.Typer(no_args_is_help=True, help="Signing keys.")
for sub, name in (
    (seller_app, "seller"),
    (user_app, "user"),
    (service_app, "service"),
    (token_app, "token"),
    (news_app, "news"),
    (key_app, "key"),
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


def _storage(data_dir: Path | None) -> Storage:
    settings = Settings.from_env(data_dir=data_dir)
    if settings.database_url:
        return Storage(settings.database_url)
    prepare_data_dir(settings.data_dir)
    return Storage(sqlite_url(settings.data_dir))


def _run(data_dir: Path | None, work: Callable[[Accounts], Awaitable[T]]) -> T:
    """Open storage (migrated), run `work`, close; account errors become a message and exit code 1."""

    async def main() -> T:
        storage = _storage(data_dir)
        try:
            await storage.migrate()
            accounts = Accounts(storage, SystemClock())
            return await work(accounts)
        finally:
            await storage.close()

    try:
        return asyncio.run(main())
    except (AccountError, NotFoundError, ValueError, WBError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _ts(value: float | None) -> str:
    if value is None:
        return "—"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- serve -------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML file: [server] settings, methods, limits.")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes (more than 1 wants Redis for shared limits).")
    ] = 1,
    test_clock: Annotated[
        bool, typer.Option(help="Allow POST /_wbseller/clock to move time (tests).")
    ] = False,
    access_log: Annotated[bool, typer.Option(help="Log every request (method, path, status).")] = True,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run every WB API host in this process (SQLite and in-process limits unless told otherwise)."""
    import uvicorn

    from wbseller.gateway import Gateway
    from wbseller.gateway.protocol import WBHttpToolsProtocol

    settings = Settings.from_env(data_dir=data_dir, config_file=config, test_clock=test_clock or None)
    gateway = Gateway(settings)  # loads the method table now: a bad config file fails before listening

    async def prepare() -> tuple[list[Any], Any]:
        # Migrate and make the first key once, before any worker starts.
        await gateway.storage.migrate()
        await gateway.accounts.load_keys()
        await gateway.accounts.ensure_demo()
        sellers = await gateway.storage.list_sellers()
        owner = await gateway.storage.owner_of(sellers[0].sid) if sellers else None
        await gateway.storage.close()
        return sellers, owner

    try:
        sellers, owner = asyncio.run(prepare())
    except WBError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from None
    base = f"http://{host}:{port}"
    storage = "PostgreSQL" if settings.database_url else f"SQLite in {settings.data_dir}"
    limiter = "Redis" if settings.redis_url else "in-process"
    err.print(
        f"[bold]wbseller[/bold] listening on {base} (storage: {storage}; limits: {limiter}; workers: {workers})"
    )
    if workers > 1 and not settings.redis_url:
        err.print("[yellow]warning:[/yellow] without Redis each worker keeps its own buckets")
    err.print(f"  any host by path prefix: {base}/content-api/ping, {base}/common-api/api/v1/seller-info")
    err.print(f"  or by name: http://content-api.localhost:{port}/ping ;  docs: {base}/docs")
    if sellers:
        sid = sellers[0].sid
        dd = f" --data-dir {data_dir}" if data_dir else ""
        err.print("  get a token for the first seller:")
        err.print(
            f"    TOKEN=$(wbseller token create{dd} --seller {sid} --type personal --categories all "
            "--accept-liability)"
        )
        err.print(f'    curl -H "Authorization: $TOKEN" {base}/ping')
        err.print(f"  the seller's account pages: {base}/seller/ (or http://seller.localhost:{port}/)")
        if owner is not None and owner.login is None:
            err.print("  sign in there after giving the owner a login and password (read from stdin):")
            err.print(f"    echo 'a long passphrase' | wbseller user password{dd} {owner.id} --login owner")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": WBHttpToolsProtocol,
        "lifespan": "on",
        "access_log": access_log,
        "log_level": log_level,
        "server_header": False,
    }
    if workers > 1:
        # Each worker builds its own Gateway from these, and shares its metrics through this directory.
        share = Path(tempfile.mkdtemp(prefix="wbseller-metrics-"))  # 0700
        os.environ.update(dataclasses.replace(settings, metrics_dir=share).to_env())
        try:
            uvicorn.run("wbseller.gateway.app:create_app", factory=True, workers=workers, **options)
        finally:
            shutil.rmtree(share, ignore_errors=True)
    else:
        uvicorn.run(gateway, **options)


# --- sellers and users -------------------------------------------------------------------------


@seller_app.command("create")
def seller_create(
    name: Annotated[str, typer.Option(help="Seller's name, e.g. 'ИП Иванов И. И.'.")],
    tin: Annotated[str, typer.Option(help="TIN (ИНН).")] = "",
    trade_mark: Annotated[str, typer.Option(help="Trade mark.")] = "",
    owner: Annotated[str, typer.Option(help="Name of the owner user made with the seller.")] = "Owner",
    data_dir: DataDir = None,
) -> None:
    """Create a seller and its owner user; prints the seller id (sid)."""

    async def work(a: Accounts) -> str:
        seller, _ = await a.storage.create_seller(name, tin, trade_mark, a.clock.now(), owner)
        return seller.sid

    print(_run(data_dir, work))


@seller_app.command("list")
def seller_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False, data_dir: DataDir = None
) -> None:
    """List sellers."""
    sellers = _run(data_dir, lambda a: a.storage.list_sellers())
    if as_json:
        rows = [
            {"sid": s.sid, "oid": s.oid, "name": s.name, "tin": s.tin, "tradeMark": s.trade_mark}
            for s in sellers
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("sid", "oid", "name", "tin", "trade mark")
    for s in sellers:
        table.add_row(s.sid, str(s.oid), s.name, s.tin, s.trade_mark)
    out.print(table)


@seller_app.command("subscribe")
def seller_subscribe(
    seller: Annotated[str, typer.Option(help="Seller id.")],
    name: Annotated[str, typer.Option(help="Subscription, e.g. jam.")] = "jam",
    off: Annotated[bool, typer.Option(help="Remove it instead.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Give a seller a subscription (methods marked with it answer 403 without)."""
    _run(data_dir, lambda a: a.storage.set_subscription(seller, name, not off, a.clock.now()))


@seller_app.command("block")
def seller_block(
    seller: Annotated[str, typer.Option(help="Seller id.")],
    method: Annotated[str, typer.Option(help="Method id from the method table, e.g. news.")],
    off: Annotated[bool, typer.Option(help="Unblock instead.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Block a method for a seller (it answers 403)."""
    _run(data_dir, lambda a: a.storage.set_block(seller, method, not off, a.clock.now()))


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
        err.print("[red]error:[/red] role must be user, owner or operator")
        raise typer.Exit(2)
    if role != "operator" and not seller:
        err.print("[red]error:[/red] --seller is required (but for --role operator)")
        raise typer.Exit(2)
    user = _run(data_dir, lambda a: a.storage.create_user(seller, name, role, a.clock.now(), login))
    print(user.id)


@user_app.command("password")
def user_password(
    uid: int,
    login: Annotated[str | None, typer.Option(help="Also set the login.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Set a user's password for the account pages, read from stdin (never an argument)."""
    password = "" if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        err.print("[red]error:[/red] give a password of 8 or more characters on stdin")
        raise typer.Exit(2)
    _run(data_dir, lambda a: a.storage.set_password(uid, hash_password(password), login))


@user_app.command("delete")
def user_delete(uid: int, data_dir: DataDir = None) -> None:
    """Delete a user: tokens the user created answer 403 from then on."""
    _run(data_dir, lambda a: a.storage.delete_user(uid, a.clock.now()))


# --- services ----------------------------------------------------------------------------------


def _categories(value: str) -> int:
    names = [c.strip() for c in value.split(",") if c.strip()]
    try:
        return mask_of(names)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


CATEGORY_HELP = "Comma-separated: " + ",".join(c.name for c in CATEGORIES if c.bit is not None) + " or all."


@service_app.command("create")
def service_create(
    name: Annotated[str, typer.Option(help="Service name.")],
    categories: Annotated[str, typer.Option(help=CATEGORY_HELP)],
    read_only: Annotated[bool, typer.Option(help="The service only reads.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Add a service to the business-solutions catalog; prints its id."""
    scope = _categories(categories) | (READ_ONLY_MASK if read_only else 0)
    service = _run(data_dir, lambda a: a.storage.create_service(name, scope, a.clock.now()))
    print(service.id)


@service_app.command("list")
def service_list(data_dir: DataDir = None) -> None:
    """List the catalog's services."""
    table = Table("id", "name", "categories (access)")
    for s in _run(data_dir, lambda a: a.storage.list_services()):
        table.add_row(str(s.id), s.name, describe_scope(s.scope))
    out.print(table)


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
            err.print("[red]error:[/red] a service token takes its categories and access from the service")
            raise typer.Exit(2)
        scope = 0
    else:
        if not categories:
            err.print("[red]error:[/red] --categories is required (e.g. content,marketplace or all)")
            raise typer.Exit(2)
        scope = _categories(categories)

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


@token_app.command("list")
def token_list(
    seller: Annotated[str, typer.Option(help="Seller id.")],
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List a seller's tokens: metadata only, never the tokens."""
    records = _run(data_dir, lambda a: a.storage.list_tokens(seller, include_revoked=all_))
    if as_json:
        print(json.dumps([_token_json(r) for r in records], ensure_ascii=False, indent=2))
        return
    table = Table("id", "type", "name", "categories (access)", "created", "expires", "revoked", "comment")
    for r in records:
        table.add_row(
            r.id,
            r.type,
            r.name,
            describe_scope(r.scope),
            _ts(r.created),
            _ts(r.expires),
            _ts(r.revoked),
            r.comment,
        )
    out.print(table)


def _token_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "type": r.type,
        "name": r.name,
        "categories": [c for c in BY_NAME if BY_NAME[c].bit is not None and r.scope & BY_NAME[c].mask],
        "readOnly": bool(r.scope & READ_ONLY_MASK),
        "comment": r.comment,
        "userId": r.uid,
        "serviceId": r.service_id,
        "created": _ts(r.created),
        "expires": _ts(r.expires),
        "revoked": r.revoked is not None,
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
    """Decode a token from stdin or WB_API_TOKEN: type, categories, access, seller, expiry, valid or why not."""
    if stray:  # caught here so that the usage error does not print the token back
        err.print("[red]error:[/red] give the token on stdin or in WB_API_TOKEN, never as an argument")
        raise typer.Exit(2)
    raw = os.environ.get("WB_API_TOKEN") or ("" if sys.stdin.isatty() else sys.stdin.read())
    token = strip_scheme(raw)
    if not token:
        err.print("[red]error:[/red] give the token on stdin or in WB_API_TOKEN")
        raise typer.Exit(2)
    now = SystemClock().now()
    try:
        decoded = decode_unverified(token, now)
    except TokenError as exc:
        err.print(f"[red]not a WB token:[/red] {exc.why}")
        raise typer.Exit(1) from None
    c = decoded.claims

    async def verify(a: Accounts) -> str | None:
        await a.load_keys(create=False)
        try:
            claims = a.keys.verify(token, now)
        except TokenError as exc:
            return exc.why
        status = await a.storage.token_status(claims.id)
        if status is None:
            return "not issued by this server"
        if status.revoked:
            return "token is revoked"
        if status.user_deleted:
            return "the user who created it has been deleted"
        return None

    why = _run(data_dir, verify)
    info = {
        "type": c.type.value,
        "categories": c.categories,
        "access": "read only" if c.read_only else "read and write",
        "seller": c.sid,
        "tokenId": c.id,
        "expires": c.expires.isoformat(),
        "daysLeft": round(decoded.days_left, 1),
        "unknownBits": decoded.unknown_bits,
        "valid": why is None,
        "reason": why,
    }
    if as_json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        for k, v in info.items():
            shown = (", ".join(c.categories) or "—") if k == "categories" else v
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
def key_list(data_dir: DataDir = None) -> None:
    """List signing key ids (never the keys)."""
    for kid, _pem, created in _run(data_dir, lambda a: a.storage.signing_keys()):
        print(f"{kid}\t{_ts(created)}")


# --- news --------------------------------------------------------------------------------------


def _parse_date(value: str | None) -> float:
    if not value:
        return SystemClock().now()
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"[red]error:[/red] bad date {value!r}; use ISO 8601, e.g. 2025-02-05T14:10:35+03:00")
        raise typer.Exit(2) from None
    if dt.tzinfo is None:
        from wbseller.methods.general import MSK

        dt = dt.replace(tzinfo=MSK)
    return dt.timestamp()


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
    when = _parse_date(date)
    ids = _run(
        data_dir, lambda a: a.storage.add_news([(header, content, when, list(type or []))], a.clock.now())
    )
    print(ids[0])


@news_app.command("import")
def news_import(file: Path, data_dir: DataDir = None) -> None:
    """Import news from a JSON file: a list of the API's `data` items (or {"data": [...]}), all or none."""
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] cannot read {file}: {exc}")
        raise typer.Exit(2) from None
    items_raw = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(items_raw, list):
        err.print('[red]error:[/red] expected a list of news items or {"data": [...]}')
        raise typer.Exit(2)
    items: list[NewsItem] = []
    for i, it in enumerate(items_raw):
        try:
            types = [(int(t["id"]), str(t["name"])) for t in it.get("types", [])]
            items.append(
                NewsItem(int(it["id"]), str(it["header"]), str(it["content"]), _parse_date(it["date"]), types)
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            err.print(f"[red]error:[/red] item {i}: {exc!r}")
            raise typer.Exit(2) from None
    ids = _run(data_dir, lambda a: a.storage.add_news(items, a.clock.now()))
    print(f"imported {len(ids)} news")


register_client_commands(app)


def main() -> None:
    app()


__all__ = ["app", "default_data_dir", "main"]
