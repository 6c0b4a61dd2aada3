"""The client's commands: `ping`, `news`, `seller-info`, added to a Typer app by `register(app)`.

The token comes from WB_API_TOKEN only (an argument would end up in shell history and `ps`).
`--base-url` (or WB_API_BASE_URL) sends every category to one wbseller server. Output is a table for
people (tab-separated columns in a pipe, never cut) and, with `--json`, JSON for scripts; long
loops show progress on stderr (in a pipe, one line per pause). Exit codes: 0 ok, 1 the API refused or
failed, 2 a usage or token problem (nothing was sent).
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from types import TracebackType
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from wbseller.client._core import TOKEN_ENV, Wait
from wbseller.client._sync import Client
from wbseller.client.exceptions import NotAllowed, RateLimited, TokenError, WBAPIError, WBClientError
from wbseller.client.models import NewsItem, Ping

BASE_URL_ENV = "WB_API_BASE_URL"
T = TypeVar("T")

BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar=BASE_URL_ENV,
        help="Send every category to this wbseller server (default: the real WB hosts).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="JSON output, for scripts.")]


def _err() -> Console:
    return Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int) -> typer.Exit:
    _err().print(f"[red]error:[/red] {escape(message)}", highlight=False)  # a value is never markup
    return typer.Exit(code)


def _describe(exc: WBClientError) -> str:
    if isinstance(exc, WBAPIError):
        extra = ", ".join(
            f"{k} {v}" for k, v in (("code", exc.code), ("request id", exc.request_id)) if v is not None
        )
        text = f"{exc}" + (f" ({extra})" if extra else "")
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            text += f"; try again in {math.ceil(exc.retry_after)} s"
        return text
    return str(exc)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, header: bool = True) -> None:
    """A table on stdout: drawn on a terminal; in a pipe, tab-separated columns (a header line first),
    never cut, so that `cut -f1` gives whole ids."""
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    if sys.stdout.isatty():
        table = Table(*columns, show_header=header)
        for row in cells:
            table.add_row(*(Text(c) for c in row))  # a value is never markup
        Console().print(table)
        return
    lines = ([list(columns)] if header else []) + cells
    for row in lines:
        print("\t".join(" ".join(c.split()) for c in row))


_REASONS = {"throttle": "pacing to the limit", "rate-limited": "the server answered 429", "retry": "retrying"}


class _Progress:
    """Progress on stderr: a spinner on a terminal; in a pipe, one line for each pause (and nothing else)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.live: Progress | None = None
        if sys.stderr.isatty():
            self.live = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                console=Console(stderr=True),
                transient=True,
            )
            self.task = self.live.add_task(what, total=None)

    def __enter__(self) -> _Progress:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.live is not None:
            self.live.__exit__(et, exc, tb)

    def show(self, text: str) -> None:
        if self.live is not None:
            self.live.update(self.task, description=text)

    def wait(self, wait: Wait, doing: str) -> None:
        line = (
            f"{doing}: waiting {wait.seconds:.1f} s ({_REASONS.get(wait.reason, wait.reason)}, {wait.limit})"
        )
        if self.live is not None:
            self.live.update(self.task, description=line)
        else:
            _err().print(line, markup=False, highlight=False)


@contextmanager
def _client(base_url: str | None, on_wait: Callable[[Wait], None] | None = None) -> Iterator[Client]:
    """A client from WB_API_TOKEN; client errors become a message on stderr and an exit code."""
    if not os.environ.get(TOKEN_ENV, "").strip():
        raise _fail(
            f"no token: set {TOKEN_ENV} to a WB API token, e.g. export {TOKEN_ENV}=$(wbseller token create ...)",
            2,
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            client = Client(base_url=base_url, on_wait=on_wait)
        except TokenError as exc:
            raise _fail(f"{exc} (the token is read from {TOKEN_ENV})", 2) from None
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
    for w in caught:
        _err().print(f"[yellow]warning:[/yellow] {escape(str(w.message))}", highlight=False)
    try:
        with client:
            yield client
    except NotAllowed as exc:
        raise _fail(f"not sent: {exc}", 2) from None
    except WBClientError as exc:
        raise _fail(_describe(exc), 1) from None


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


# --- ping ----------------------------------------------------------------------------------------


def ping(
    category: Annotated[
        str | None,
        typer.Argument(help="Category to ping, e.g. content (default: common, or a test token's first)."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Ping every category the token has.")] = False,
    base_url: BaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Check that the API answers and takes the token (GET /ping)."""
    if all_ and category is not None:
        raise _fail("give a category or --all, not both", 2)
    results: dict[str, Ping | WBClientError] = {}
    progress = _Progress("ping")
    doing = ["ping"]
    with _client(base_url, on_wait=lambda wait: progress.wait(wait, doing[0])) as client:
        if all_:
            names = client.categories
            with progress:
                for name in names:
                    doing[0] = f"ping {name}"
                    progress.show(doing[0])
                    try:
                        results[name] = client.ping(name)
                    except WBClientError as exc:
                        results[name] = exc
        else:
            names = client.categories
            name = category or ("common" if "common" in names else names[0] if names else "common")
            try:
                results[name] = client.ping(name)
            except ValueError as exc:  # an unknown category name
                raise _fail(str(exc), 2) from None
    failed = [r for r in results.values() if not isinstance(r, Ping)]
    if as_json:
        rows = [
            r.to_json()
            if isinstance(r, Ping)
            else {"category": name, "error": r.to_dict() if isinstance(r, WBAPIError) else str(r)}
            for name, r in results.items()
        ]
        _print_json(rows if all_ else rows[0])
    else:
        print_table(
            ("category", "host", "status", "server time"),
            [
                (name, r.host, r.status, r.ts.isoformat())
                if isinstance(r, Ping)
                else (name, "", "failed", _describe(r))
                for name, r in results.items()
            ],
        )
    if failed:
        raise typer.Exit(1)


# --- news ----------------------------------------------------------------------------------------


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"bad date {value!r}; use YYYY-MM-DD, e.g. 2025-02-06", 2) from None


NEEDS_FROM = "give --from DATE or --from-id N (or both)"


def _news(from_: str | None, from_id: int | None, all_: bool, base_url: str | None, as_json: bool) -> None:
    day = _parse_day(from_)
    if day is None and from_id is None:
        raise _fail(NEEDS_FROM, 2)
    items: list[NewsItem] = []
    with _Progress("news") as progress:

        def waiting(wait: Wait) -> None:
            progress.wait(wait, f"{len(items)} news")

        with _client(base_url, on_wait=waiting) as client:
            if all_:
                for item in client.iter_news(from_=day, from_id=from_id):
                    items.append(item)
                    progress.show(f"{len(items)} news")
            else:
                items = client.news(from_=day, from_id=from_id)
    if as_json:
        _print_json({"data": [n.to_json() for n in items]})
        return
    print_table(
        ("id", "date", "types", "header"),
        [(n.id, n.date.isoformat(), ", ".join(t.name for t in n.types), n.header) for n in items],
    )


FromDate = Annotated[str | None, typer.Option("--from", help="From this date (YYYY-MM-DD, Moscow).")]
FromId = Annotated[int | None, typer.Option("--from-id", min=0, help="From this news id (inclusive).")]
AllNews = Annotated[bool, typer.Option("--all", help="Follow the pages past 100 news (paced).")]


def news(
    from_: FromDate = None,
    from_id: FromId = None,
    all_: AllNews = False,
    base_url: BaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Seller-portal news from the API (at most 100; --all for every page)."""
    _news(from_, from_id, all_, base_url, as_json)


def news_group(
    ctx: typer.Context,
    from_: FromDate = None,
    from_id: FromId = None,
    all_: AllNews = False,
    base_url: BaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Seller-portal news: read them from the API (`news --from DATE | --from-id N`), or manage the server's."""
    if ctx.invoked_subcommand is None:
        if from_ is None and from_id is None:
            commands = ", ".join(f"`news {name}`" for name in sorted(getattr(ctx.command, "commands", {})))
            also = f" ({commands} manage the server's news)" if commands else ""
            raise _fail(f"{NEEDS_FROM} to read news from the API{also}", 2)
        _news(from_, from_id, all_, base_url, as_json)


# --- seller-info ---------------------------------------------------------------------------------


def seller_info(base_url: BaseUrl = None, as_json: AsJson = False) -> None:
    """The seller's name, id, TIN and trade mark."""
    with _client(base_url) as client:
        info = client.seller_info()
    if as_json:
        _print_json(info.to_json())
        return
    print_table(
        ("field", "value"),
        [("name", info.name), ("sid", info.sid), ("tin", info.tin), ("trade mark", info.trade_mark)],
        header=False,
    )


def register(app: typer.Typer) -> None:
    """Add `ping`, `news` and `seller-info` to `app`.

    If `app` already has a `news` group (the server's `news add`/`news import`), reading news through
    the API becomes that group's own action: `news --from DATE` runs it, `news add ...` still works."""
    app.command("ping")(ping)
    app.command("seller-info")(seller_info)
    group = next((g for g in app.registered_groups if g.name == "news"), None)
    if group is None or group.typer_instance is None:
        app.command("news")(news)
    else:
        group.typer_instance.callback(invoke_without_command=True)(news_group)


__all__ = ["print_table", "register"]
