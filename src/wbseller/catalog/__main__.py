"""`python -m wbseller.catalog build --from DIR [--out DIR]`."""

from wbseller.catalog.cli import catalog_app

catalog_app(prog_name="python -m wbseller.catalog")
