"""`wbseller catalog build|diff --from DIR` and `catalog list` (typer), also `python -m wbseller.catalog ...`.

A mistake is one sentence on stderr, as everywhere in `wbseller`: exit 1 when the documents or the
target cannot give a catalog, 2 for a usage error (`App`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from wbseller.usage import App, one_line, say

catalog_app = App(
    help="WB's operations (paths, limits, schemas), built from its OpenAPI documents.",
    no_args_is_help=True,
    add_completion=False,
)

From = Annotated[Path, typer.Option("--from", help="directory of WB's NN-*.yaml documents")]


@catalog_app.callback()
def _main() -> None:
    """WB's operations (paths, limits, schemas), built from its OpenAPI documents
    (src/wbseller/catalog/data)."""


def _fail(message: str) -> typer.Exit:
    say(message)
    return typer.Exit(1)


def _built(src: Path) -> dict[str, dict[str, Any]]:
    """The catalog built from `src`; a document that cannot be read or used is one sentence."""
    import yaml

    from wbseller.catalog import build as b

    try:
        return b.build(src)
    except b.BuildError as exc:
        raise _fail(one_line(str(exc))) from None
    except OSError as exc:
        raise _fail(f"cannot read {exc.filename or src}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise _fail(f"a document in {src} is not YAML: {one_line(str(exc))}") from None


def _read(target: Path) -> dict[str, dict[str, Any]]:
    from wbseller.catalog import build as b

    try:
        return b.read_built(target)
    except OSError as exc:
        raise _fail(f"cannot read the catalog in {target}: {exc.strerror or exc}") from None
    except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
        raise _fail(f"the catalog in {target} is not JSON: {one_line(str(exc))}") from None


def _count(built: dict[str, dict[str, Any]]) -> int:
    return sum(len(d["operations"]) for d in built.values())


@catalog_app.command("build")
def build_command(
    src: From,
    out: Annotated[
        Path | None, typer.Option("--out", help="where to write (default: the package's data)")
    ] = None,
) -> None:
    """Build the catalog from WB's documents; print what changed against the catalog there before."""
    from wbseller.catalog import build as b
    from wbseller.catalog.diff import diff

    target = out if out is not None else b.DATA_DIR
    built = _built(src)
    before = _read(target)
    try:
        b.write(built, target)
    except OSError as exc:
        raise _fail(f"cannot write the catalog to {exc.filename or target}: {exc.strerror or exc}") from None
    typer.echo(diff(before, built).summary())
    typer.echo(f"{_count(built)} operations in {len(built)} files: {target}")


@catalog_app.command("diff")
def diff_command(
    src: From,
    against: Annotated[
        Path | None,
        typer.Option("--against", help="the built catalog to compare with (default: the package's data)"),
    ] = None,
) -> None:
    """Print what `build --from DIR` would change (operations, limits, schemas); write nothing."""
    from wbseller.catalog import build as b
    from wbseller.catalog.diff import diff

    target = against if against is not None else b.DATA_DIR
    built = _built(src)
    typer.echo(diff(_read(target), built).summary())
    typer.echo(f"{_count(built)} operations in {len(built)} files of {src}, against {target}")


def _rates(op: Any) -> str:
    """`personal 300/60s burst 20, ...`: the operation's limit per token type, as the catalog has it."""
    return ", ".join(
        f"{t} {r.limit}/{r.period:g}s burst {r.burst}" for t, r in sorted(op.limit.rates.items())
    )


def _rate_json(rate: Any) -> dict[str, Any]:
    return {"period": rate.period, "limit": rate.limit, "burst": rate.burst}


@catalog_app.command("list")
def list_command(
    section: Annotated[
        str | None, typer.Option("--section", help="only this document's operations, e.g. products")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="only this host's, e.g. marketplace-api")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array")] = False,
) -> None:
    """List the catalog's operations: id, verb and path, host, bucket and limit."""
    import json

    from wbseller.catalog import load

    ops = load().operations
    for name, value, known in (
        ("--section", section, {o.section for o in ops}),
        ("--host", host, {o.host for o in ops}),
    ):
        if value is not None and value not in known:
            raise _fail(f"{name} {value!r} is not in the catalog; known: {', '.join(sorted(known))}")
    chosen = [
        o for o in ops if (section is None or o.section == section) and (host is None or o.host == host)
    ]
    if as_json:
        rows = [
            {
                "id": o.id,
                "section": o.section,
                "method": o.http,
                "path": o.path,
                "host": o.host,
                "category": o.category,
                "readOnly": o.read_only,
                "tokenTypes": sorted(o.token_types),
                "bucket": o.limit.group or o.id,
                "rates": {t: _rate_json(r) for t, r in sorted(o.limit.rates.items())},
            }
            for o in chosen
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for o in chosen:
        typer.echo(f"{o.id}\t{o.http} {o.path}\t{o.host}\t{o.limit.group or o.id}\t{_rates(o)}")
    typer.echo(f"{len(chosen)} operations")
