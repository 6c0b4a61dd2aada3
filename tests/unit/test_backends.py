"""The backends' conventions (wbseller/backends/base.py), refused at start when broken, and the registry a
handler reaches them by. Their tables and migrations on real databases: tests/scale/test_backends.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from wbseller import backends
from wbseller.backends import Backend, Backends
from wbseller.methods.context import Context
from wbseller.storage import Storage, sqlite_url
from wbseller.storage.schema import metadata as core_metadata


class Cards(Backend):
    name = "products"


class Orders(Backend):
    name = "orders-fbs"


def test_the_registry_finds_a_backend_by_section_and_by_class(tmp_path: Path) -> None:
    storage = Storage(sqlite_url(tmp_path))
    try:
        made = backends.build(storage, (Cards, Orders))
        assert [b.name for b in made] == ["products", "orders-fbs"]
        assert made["orders-fbs"] is made.of(Orders)
        assert isinstance(made.of(Cards), Cards)
        assert made.of(Cards).engine is storage.engine  # one engine, one pool, for the whole server
        assert "products" in made and "prices" not in made
        with pytest.raises(
            KeyError, match=r"no backend for the section 'prices'.*installed: orders-fbs, products"
        ):
            made["prices"]
        with pytest.raises(ValueError, match="two backends for the section 'products'"):
            Backends([Cards(storage), Cards(storage)])
    finally:
        asyncio.run(storage.close())


def test_installed_backends_pass_the_checks() -> None:
    for kind in backends.INSTALLED:
        backends.base.check(kind)


def _with_table(
    name: str, table: str, metadata: MetaData | None = None, versions: Path | None = None
) -> type:
    md = metadata if metadata is not None else MetaData()
    if metadata is None:
        Table(table, md, Column("sid", String(36)), Column("n", Integer))
    return type("B", (Backend,), {"name": name, "metadata": md, "versions": versions})


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (type("B", (Backend,), {"name": "Products"}), "section slug"),
        (type("B", (Backend,), {"name": "orders_fbs"}), "section slug"),
        (type("B", (Backend,), {}), "section slug"),
        (_with_table("prices", "goods", versions=Path("v")), "table 'goods' must be named prices_"),
        (_with_table("orders-fbs", "orders_supplies", versions=Path("v")), "must be named orders_fbs_"),
        (_with_table("prices", "prices_goods"), "has tables but no migrations"),
        (_with_table("prices", "", metadata=core_metadata, versions=Path("v")), "MetaData of their own"),
    ],
)
def test_a_backend_breaking_the_conventions_is_refused(
    kind: type[Backend], message: str, tmp_path: Path
) -> None:
    storage = Storage(sqlite_url(tmp_path))
    try:
        with pytest.raises(ValueError, match=message):
            backends.build(storage, (kind,))
    finally:
        asyncio.run(storage.close())


def test_a_context_made_without_backends_has_an_empty_registry(tmp_path: Path) -> None:
    """Tests and tools that make a Context by hand need no registry; a handler asking for one gets a
    KeyError that names the section."""
    from wbseller.categories import ALL_HOST_BY_PREFIX
    from wbseller.clock import SystemClock
    from wbseller.storage import Seller, SellerState
    from wbseller.tokens import Claims, TokenType

    storage = Storage(sqlite_url(tmp_path))
    seller = SellerState(Seller("sid", 1, "Shop", "7700000000", "Shop", 0.0), frozenset(), {})
    claims = Claims("tid", "sid", 0, 2_000_000_000, TokenType.PERSONAL, "kid")
    host = ALL_HOST_BY_PREFIX["content-api"]
    ctx = Context("GET", "/", b"", [], b"", host, claims, seller, storage, SystemClock(), 0.0)
    assert isinstance(ctx.backends, Backends) and len(ctx.backends) == 0
    with pytest.raises(KeyError, match="products"):
        ctx.backends["products"]
    asyncio.run(storage.close())
