"""`wbseller control ...`: the control API of a running server (`wbseller serve --control`), over HTTP.

    wbseller control reset
    wbseller control clock [--advance S | --freeze | --unfreeze]
    wbseller control fault add "GET /api/v3/orders/new" --status 429 --times 3
    wbseller control fault list | clear | remove ID
    wbseller control journal [--limit N] [--clear] [--errors]
    wbseller control seller NAME  |  wbseller control token [--seller SID] [--type T] [--categories C]

The server is `--url` (default $WBSELLER_URL, else http://127.0.0.1:8000); the control token, if the
server is not on loopback, comes from $WBSELLER_CONTROL_TOKEN (never from a flag: it would show in `ps`).
Answers are JSON on stdout; a refusal is one sentence on stderr and exit 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from wbseller.testing import ControlClient, ControlError

control_app = typer.Typer(no_args_is_help=True, help="The control API of a running test server (--control).")
fault_app = typer.Typer(no_args_is_help=True, help="Fault rules: add, list, remove, clear.")
control_app.add_typer(fault_app, name="fault")

T = TypeVar("T")
Url = Annotated[
    str | None, typer.Option("--url", help="The server (default: $WBSELLER_URL or http://127.0.0.1:8000).")
]


def _client(url: str | None) -> ControlClient:
    base = url or os.environ.get("WBSELLER_URL") or "http://127.0.0.1:8000"
    return ControlClient(base, os.environ.get("WBSELLER_CONTROL_TOKEN") or None)


def _do(url: str | None, work: Callable[[ControlClient], T]) -> T:
    client = _client(url)
    try:
        return work(client)
    except ControlError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        client.close()


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


@control_app.command()
def reset(url: Url = None) -> None:
    """Everything back to a fresh start (the demo seller alone)."""
    _print(_do(url, lambda c: c.reset()))


@control_app.command()
def clock(
    advance: Annotated[float | None, typer.Option(help="Move the clock this many seconds forward.")] = None,
    freeze: Annotated[bool, typer.Option("--freeze", help="Stop the clock.")] = False,
    unfreeze: Annotated[bool, typer.Option("--unfreeze", help="Let it run again.")] = False,
    url: Url = None,
) -> None:
    """Show the server's clock, or move, freeze or unfreeze it."""
    if sum((advance is not None, freeze, unfreeze)) > 1:
        typer.echo("error: give one of --advance, --freeze, --unfreeze", err=True)
        raise typer.Exit(2)

    def work(c: ControlClient) -> Any:
        if advance is not None:
            c.clock.advance(advance)
        elif freeze:
            c.clock.freeze()
        elif unfreeze:
            c.clock.unfreeze()
        return c.call("GET", "/_wbseller/clock")

    _print(_do(url, work))


@fault_app.command("add")
def fault_add(
    match: Annotated[str, typer.Argument(help='An operation id, "VERB /path", a host, or "*".')] = "*",
    status: Annotated[int | None, typer.Option(help="Answer this status with WB's error body.")] = None,
    delay: Annotated[float | None, typer.Option(help="Wait this many seconds first.")] = None,
    drop: Annotated[bool, typer.Option("--drop", help="Drop the connection without an answer.")] = False,
    times: Annotated[int | None, typer.Option(help="For the next N calls.")] = None,
    share: Annotated[float | None, typer.Option(help="For this share of calls (0 to 1, seeded).")] = None,
    seconds: Annotated[
        float | None, typer.Option("--for", help="For this many seconds (server clock).")
    ] = None,
    seller: Annotated[str | None, typer.Option(help="Only this seller's calls.")] = None,
    seed: Annotated[int | None, typer.Option(help="The seed of --share's draws.")] = None,
    url: Url = None,
) -> None:
    """Add a fault rule; prints it with its id."""
    _print(
        _do(
            url,
            lambda c: c.faults.add(
                match,
                status=status,
                delay=delay,
                drop=drop,
                times=times,
                share=share,
                seconds=seconds,
                seller=seller,
                seed=seed,
            ),
        )
    )


@fault_app.command("list")
def fault_list(url: Url = None) -> None:
    """The standing rules."""
    _print(_do(url, lambda c: c.faults.list()))


@fault_app.command("remove")
def fault_remove(rule: Annotated[int, typer.Argument(help="The rule's id.")], url: Url = None) -> None:
    """Remove one rule."""
    _do(url, lambda c: c.faults.remove(rule))


@fault_app.command("clear")
def fault_clear(url: Url = None) -> None:
    """Remove every rule."""
    _do(url, lambda c: c.faults.clear())


@control_app.command()
def journal(
    limit: Annotated[int | None, typer.Option(help="The newest N only.", min=0)] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Empty it.")] = False,
    errors: Annotated[bool, typer.Option("--errors", help="The error responses instead.")] = False,
    request_id: Annotated[str | None, typer.Option(help="The error answered with this request id.")] = None,
    url: Url = None,
) -> None:
    """The requests the server received (or its errors), as JSON."""

    def work(c: ControlClient) -> Any:
        if clear:
            c.clear_requests()
            return []
        if errors or request_id:
            return c.errors(request_id)
        return c.requests(limit)

    _print(_do(url, work))


@control_app.command()
def seller(
    name: Annotated[str, typer.Argument(help="The seller's name.")],
    tin: Annotated[str, typer.Option(help="ИНН.")] = "",
    trade_mark: Annotated[str, typer.Option(help="Trade mark.")] = "",
    url: Url = None,
) -> None:
    """Create a seller; prints it (its sid)."""
    s = _do(url, lambda c: c.seller(name, tin, trade_mark))
    _print({"sid": s.sid, "name": s.name, "oid": s.oid})


@control_app.command()
def token(
    seller: Annotated[str | None, typer.Option(help="Seller id (default: the first, the demo).")] = None,
    type: Annotated[str, typer.Option("--type", help="base, test, personal or service.")] = "personal",
    categories: Annotated[str, typer.Option(help="Comma-separated categories, or all.")] = "all",
    read_only: Annotated[bool, typer.Option(help="Read-only access.")] = False,
    url: Url = None,
) -> None:
    """Create a token and print it alone on stdout."""
    typer.echo(_do(url, lambda c: c.token(type, categories, sid=seller, read_only=read_only)))


@control_app.command()
def seed(
    counts: Annotated[list[str], typer.Argument(help="KIND=N pairs (cards=20 orders=5 ...).")],
    seller: Annotated[str | None, typer.Option(help="Seller id (default: the first).")] = None,
    url: Url = None,
) -> None:
    """Fill a seller's sections through their seeders."""
    parsed: dict[str, int] = {}
    for pair in counts:
        kind, sep, n = pair.partition("=")
        if not sep or not n.isdigit():
            typer.echo(f"error: {pair!r} is not KIND=N (e.g. cards=20)", err=True)
            raise typer.Exit(2)
        parsed[kind] = int(n)
    _print(_do(url, lambda c: c.seed(seller, **parsed)))


__all__ = ["control_app"]
