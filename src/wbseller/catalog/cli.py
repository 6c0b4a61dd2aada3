"""`wbseller catalog build --from DIR [--out DIR]` (typer), also `python -m wbseller.catalog build`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

catalog_app = typer.Typer(
    help="The catalog of WB's operations, built from its OpenAPI documents.", no_args_is_help=True
)


@catalog_app.callback()
def _main() -> None:
    """The catalog of WB's operations (src/wbseller/catalog/data)."""


@catalog_app.command("build")
def build_command(
    src: Annotated[Path, typer.Option("--from", help="directory of WB's NN-*.yaml documents")],
    out: Annotated[
        Path | None, typer.Option("--out", help="where to write (default: the package's data)")
    ] = None,
) -> None:
    """Build the catalog from WB's documents; print what changed against the catalog there before."""
    from wbseller.catalog import build as b
    from wbseller.catalog.diff import diff

    target = out if out is not None else b.DATA_DIR
    try:
        built = b.build(src)
    except b.BuildError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    before = b.read_built(target)
    b.write(built, target)
    typer.echo(diff(before, built).summary())
    typer.echo(
        f"{sum(len(d['operations']) for d in built.values())} operations in {len(built)} files: {target}"
    )
