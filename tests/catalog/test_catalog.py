"""The catalog against WB's 14 documents (SPECS-REPORT.md §0-4) and against the General table."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SPECS
from wbseller.catalog import ALL, Catalog, load, read
from wbseller.catalog import build as b
from wbseller.catalog.diff import diff
from wbseller.catalog.limits import LimitParseError, parse, seconds
from wbseller.categories import ALL_HOST_BY_PREFIX, ALL_HOSTS, HOSTS

pytestmark = pytest.mark.skipif(
    not SPECS.is_dir(), reason="WB's documents are not checked out beside the repo"
)

CYRILLIC = re.compile("[а-яА-ЯёЁ]")

# The operations whose limit numbers come (partly) from overlay.toml, not from their document; each entry
# there says why. Reviewed: a change here is a change of what we claim WB's limits are (tests/api uses it too).
OVERLAY_LIMITS = {
    "ping",  # 3 per 30 s, no burst written: burst 3; the block after 5 refusals
    "post-api-v3-passes",  # a sentence, no burst: one request, then wait
    "get-api-v1-calendar-promotions-nomenclatures",  # its group's base row
    *(  # the click-collect statuses: the documents give no table
        f"post-api-marketplace-v3-click-collect-orders-status-{s}"
        for s in ("confirm", "prepare", "receive", "reject", "info", "cancel")
    ),
    # WB Digital (14-wbd): "N a second", no burst
    "load-keys",
    "delete-keys-by-ids",
    "get-redeemed-keys",
    "offer-keys-count-get",
    "offer-keys-get",
    "offer-create",
    "offers-upload-thumbnail",
    "offer-get",
    "offer-update",
    "offers-author-get",
    "offer-update-price",
    "offer-update-status",
    "get-catalog",
    "content-upload-illustration",
    "content-upload-init",
    "content-upload-chunk",
    "content-id-get",
    "content-update",
    "content-author-get",
    "content-download-get",
    "content-delete",
    "content-gallery",
}

GROUPS = {
    "fbs-orders": 25,
    "content": 21,
    "feedbacks": 19,
    "dbw-orders": 16,
    "prices": 12,
    "dbs-orders": 8,
    "fbs-marking-set": 6,
    "warehouses": 5,
    "dbs-marking-set": 5,
    "pickup-marking-set": 4,
    "promo-calendar": 4,
    "stocks": 3,
    "dbw-marking-set": 3,
    "dbs-marking-get": 3,
    "pickup-orders": 3,
    "pickup-marking-get": 3,
    "fbs-marking-get": 2,
}


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load()


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    return b.build(SPECS)


def _spec_ops() -> list[tuple[str, str, str, dict[str, Any]]]:
    out: list[tuple[str, str, str, dict[str, Any]]] = []
    for path in b.documents(SPECS):
        doc = b.read_document(path)
        for p, item in doc["paths"].items():
            out.extend((path.name, v.upper(), p, item[v]) for v in b.VERBS if v in item)
    return out


def test_302_operations_unique(cat: Catalog) -> None:
    assert len(cat.operations) == 302
    assert len({o.id for o in cat.operations}) == 302
    assert len({(o.http, o.path) for o in cat.operations}) == 302
    counts = Counter(o.section for o in cat.operations)
    assert list(counts.values()) == [9, 50, 35, 17, 21, 17, 7, 39, 25, 5, 18, 25, 12, 22]


def test_no_path_on_two_hosts(cat: Catalog) -> None:
    hosts: dict[str, set[str]] = {}
    for o in cat.operations:
        hosts.setdefault(o.path, set()).add(o.host)
    assert all(len(h) == 1 for h in hosts.values())
    assert {o.host for o in cat.operations} <= set(ALL_HOST_BY_PREFIX)
    assert len({o.host for o in cat.operations}) == 17


def test_literal_template_overlaps(cat: Catalog) -> None:
    pairs = {(cat.by_id(lit).key, cat.by_id(tpl).key) for lit, tpl in cat.overlaps()}
    assert pairs == {
        ("POST /api/v1/offers/thumb", "POST /api/v1/offers/{offer_id}"),
        ("GET /api/v1/offers/author", "GET /api/v1/offers/{offer_id}"),
    }
    assert {cat.by_id(lit).section for lit, _ in cat.overlaps()} == {"wbd"}


def test_every_operation_has_a_rate_for_every_token_type(cat: Catalog) -> None:
    for o in cat.operations:
        assert o.token_types, o.id
        assert set(o.limit.rates) == set(o.token_types), o.id
        for r in o.limit.rates.values():
            assert r.period > 0 and r.limit >= 1 and r.burst >= 1, o.id


def test_overlay_limits_listed_exactly(cat: Catalog) -> None:
    assert {o.id for o in cat.operations if o.limit.overlay} == OVERLAY_LIMITS


def test_named_groups(cat: Catalog) -> None:
    groups = cat.groups()
    assert {g: len(ops) for g, ops in groups.items()} == GROUPS
    assert sum(GROUPS.values()) == 142
    for gid, ops in groups.items():
        assert len({o.host for o in ops}) == 1, gid
        assert len({json.dumps(sorted(o.limit.costs.items())) for o in ops}) == 1, gid


def test_content_exceptions_are_own_buckets(cat: Catalog) -> None:
    content_api = [o for o in cat.operations if o.host == "content-api"]
    assert len(content_api) == 30
    own = {o.key for o in content_api if o.limit.group is None}
    assert own == {
        "POST /content/v2/cards/upload",
        "POST /content/v2/cards/upload/add",
        "POST /content/v2/cards/update",
        "POST /content/v2/cards/error/list",
        "POST /content/v2/cards/delete/trash",
        "POST /content/v2/cards/recover",
        "POST /api/content/v1/recommendations/list",
        "POST /api/content/v1/recommendations/set",
        "GET /api/content/v1/brands",
    }


def test_marketplace_cost_rule(cat: Catalog) -> None:
    costly = [o for o in cat.operations if o.limit.costs]
    assert len(costly) == 100
    assert {o.host for o in costly} == {"marketplace-api"}
    assert all(dict(o.limit.costs) == {"4xx": 10} for o in costly)
    op = costly[0]
    assert (op.limit.cost(409), op.limit.cost(200), op.limit.cost(500)) == (10, 1, 1)


def test_base_token_rows(cat: Catalog) -> None:
    stricter = [
        o
        for o in cat.operations
        if "base" in o.limit.rates and o.limit.rates["base"] != o.limit.rates["personal"]
    ]
    # 139 four-row tables, and the calendar's nomenclatures (overlay: its group's base row)
    assert len(stricter) == 140
    for o in stricter:
        base, personal = o.limit.rates["base"], o.limit.rates["personal"]
        assert base.interval > personal.interval, o.id
    news = cat.by_id("news").limit
    assert (news.rates["base"].period, news.rates["base"].limit, news.rates["base"].burst) == (3600, 1, 1)
    # the b2b wholesale upload has only personal and service rows, as its token types
    b2b = cat.by_id("post-v1-upload-task-b2b-wholesale")
    assert b2b.token_types == {"personal", "service"} == set(b2b.limit.rates)


def test_categories_and_token_types(cat: Catalog) -> None:
    by_cat = Counter(o.category for o in cat.operations)
    assert by_cat["users"] == 4 and by_cat["digital"] == 22 and by_cat[ALL] == 1 and by_cat["common"] == 8
    assert by_cat["analytics"] == 40 and by_cat["marketplace"] == 100 and by_cat["promotion"] == 33
    assert all(o.token_types == {"personal"} for o in cat.operations if o.category == "users")
    assert cat.by_id("ping").token_types == {"base", "personal", "service", "test"}
    assert sum(1 for o in cat.operations if o.token_types <= {"personal", "service"}) == 17
    for o in cat.operations:
        sandboxed = f"{o.host}-sandbox" in ALL_HOST_BY_PREFIX
        if o.category != ALL and len(o.token_types) >= 3:
            assert ("test" in o.token_types) == sandboxed, o.id


def test_read_only_default_is_write(cat: Catalog) -> None:
    missing = {f"{v} {p}" for _, v, p, op in _spec_ops() if "x-readonly-method" not in op}
    assert len(missing) == 23
    assert all(not cat.by_key(*k.split(" ", 1)).read_only for k in missing)
    assert sum(o.read_only for o in cat.operations) == 185


def test_sandbox_rates(cat: Catalog) -> None:
    market = cat.for_host("marketplace-api-sandbox")
    assert len(market) == 99  # the DBS stickers take personal and service tokens only
    assert all(o.limit.bucket(o.id, "test", "x") == "sandbox-marketplace:test" for o in market)
    advert = [o for o in cat.for_host("advert-api-sandbox") if o.category != ALL]
    assert advert and all(o.limit.rates["test"] == o.limit.rates["personal"] for o in advert)
    ping = cat.by_id("ping")
    assert ping.limit.bucket("ping", "test", "content-api-sandbox") == "ping:test:content-api-sandbox"
    assert {h.prefix for h in ALL_HOSTS if ping in cat.for_host(h.prefix)} == {
        *(h.prefix for h in HOSTS),
        "user-management-api",
    }


# Answered by code (methods/general.toml): the whole General section.
CODED = frozenset(
    {
        "ping", "news", "seller-info", "get-common-v1-rating", "get-common-v1-subscriptions", "post-api-v1-invite",
        "get-api-v1-users", "put-api-v1-users-access", "delete-api-v1-user",
    }
)  # fmt: skip


def test_the_table_is_the_catalog(cat: Catalog) -> None:
    """The server's table is the catalog's operations, facts unchanged; code answers the General nine."""
    from wbseller.methods.table import load_table

    table = load_table(handlers=False)
    assert [m.id for m in table.methods] == [o.id for o in cat.operations]
    for m in table.methods:
        op = cat.by_id(m.id)
        assert m.operation is op
        assert (op.http, op.path, op.category, op.read_only) == (m.http, m.path, m.category, m.read_only)
        assert op.token_types == {t.value for t in m.token_types}, m.id
        assert m.limit.id == (op.limit.group or op.id)
        assert {t.value: (r.period, r.limit, r.burst) for t, r in m.limit.rates.items()} == {
            t: (r.period, r.limit, r.burst) for t, r in op.limit.rates.items()
        }, m.id
        assert m.limit.cost(404) == op.limit.cost(404) and m.limit.cost(200) == 1
        assert m.generated == (m.id not in CODED), m.id
    # The General section's numbers (FACTS.md), as the table had them before the catalog.
    ping, news, info = table.by_id("ping"), table.by_id("news"), table.by_id("seller-info")
    assert ping.limit.per_host and ping.limit.block is not None
    assert (ping.limit.block.strikes, ping.limit.block.window, ping.limit.block.seconds) == (5, 60, 600)
    assert {(r.period, r.limit, r.burst) for r in ping.limit.rates.values()} == {(30, 3, 3)}
    for m, base_period in ((news, 3600), (info, 86400)):
        rates = {t.value: (r.period, r.limit, r.burst) for t, r in m.limit.rates.items()}
        assert rates == {"personal": (60, 1, 10), "service": (60, 1, 10), "base": (base_period, 1, 1)}
        assert m.hosts()[0].prefix == "common-api"


def test_max_body(cat: Catalog) -> None:
    assert cat.by_key("POST", "/content/v2/cards/upload").max_body == 10 << 20
    assert cat.by_key("POST", "/api/v1/seller/message").request.max_part == {"file[]": 5 << 20}  # type: ignore[union-attr]
    assert sum(1 for o in cat.operations if o.max_body) == 10


def test_examples_kept(cat: Catalog) -> None:
    ping = cat.by_id("ping").responses["200"]["application/json"]
    assert ping.has_example or ping.examples
    with_examples = sum(
        1
        for o in cat.operations
        for r in o.responses.values()
        for m in r.values()
        if m.has_example or m.examples
    )
    assert with_examples > 500


def _prose(node: Any, path: tuple[str, ...], found: list[str]) -> None:
    """Cyrillic or description keys outside example values, enums, consts and defaults."""
    if isinstance(node, dict):
        names = bool(path) and path[-1] in (
            "properties",
            "$defs",
            "defs",
            "examples",
            "responses",
            "content",
            "rates",
        )
        for k, v in node.items():
            if not names and k in ("description", "summary", "title"):
                found.append("/".join((*path, k)))
            if not names and k in ("example", "examples", "enum", "const", "default"):
                continue
            if CYRILLIC.search(k):
                found.append("/".join((*path, k)))
            _prose(v, (*path, k), found)
    elif isinstance(node, list):
        for v in node:
            _prose(v, path, found)
    elif isinstance(node, str) and CYRILLIC.search(node):
        found.append("/".join(path) + ": " + node[:40])


def test_no_prose_in_data() -> None:
    found: list[str] = []
    for path in sorted(b.DATA_DIR.glob("*.json")):
        _prose(json.loads(path.read_text(encoding="utf-8")), (path.name,), found)
    assert found == []


def test_rebuild_is_byte_for_byte(built: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    b.write(built, tmp_path)
    ours = sorted(p.name for p in b.DATA_DIR.glob("*.json"))
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ours
    for name in ours:
        assert (tmp_path / name).read_bytes() == (b.DATA_DIR / name).read_bytes(), name
    assert read(tmp_path).operations == load().operations


def test_diff_reports_added_removed_changed(tmp_path: Path) -> None:
    src = tmp_path / "specs"
    shutil.copytree(SPECS, src)
    doc = src / "01-general.yaml"
    spec = yaml.safe_load(doc.read_text(encoding="utf-8"))
    spec["paths"]["/api/v2/new-thing"] = spec["paths"].pop("/api/common/v1/subscriptions")
    rating = spec["paths"]["/api/common/v1/rating"]["get"]
    rating["description"] = rating["description"].replace(
        "| 1 мин | 1 запрос | 1 мин | 1 запрос |", "| 1 мин | 2 запроса | 30 сек | 2 запроса |"
    )
    spec["paths"]["/api/common/v1/rating"]["get"]["x-readonly-method"] = False
    doc.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    d = diff(b.read_built(b.DATA_DIR), b.build(src))
    assert d.added == ["GET /api/v2/new-thing"]
    assert d.removed == ["GET /api/common/v1/subscriptions"]
    assert d.changed == {"GET /api/common/v1/rating": ["read_only"]}
    old, new = d.limits["GET /api/common/v1/rating"]
    assert old["rates"]["service"]["limit"] == 1 and new["rates"]["service"]["limit"] == 2
    assert not d.defs_added and not d.defs_removed
    text = d.summary()
    assert "+ GET /api/v2/new-thing" in text and "- GET /api/common/v1/subscriptions" in text
    assert diff(b.read_built(b.DATA_DIR), b.read_built(b.DATA_DIR)).summary() == "catalog unchanged"


def test_stale_overlay_entry_fails() -> None:
    overlay = b.Overlay.read()
    overlay.doc["limit"].append(
        {"ops": ["GET /api/v1/seller-info"], "burst": "limit", "reason": "stale on purpose"}
    )
    with pytest.raises(b.BuildError, match="no longer change anything"):
        b.build(SPECS, overlay)
    overlay = b.Overlay.read()
    overlay.doc["limit"].append({"ops": ["GET /nowhere"], "burst": "limit", "reason": "gone"})
    with pytest.raises(b.BuildError, match="no operation"):
        b.build(SPECS, overlay)
    overlay = b.Overlay.read()
    del overlay.doc["conflict"][0]
    with pytest.raises(b.BuildError, match="dbw-orders"):
        b.build(SPECS, overlay)


def test_limit_parser() -> None:
    assert [seconds(s) for s in ("200 мс", "1 сек", "10 минут", "24 ч", "секунду", "30 секунд")] == [
        0.2,
        1,
        600,
        86400,
        1,
        30,
    ]
    parsed = parse(
        '<div class="description_limit">Максимум 3 запроса за 30 секунд. отдельно для каждого варианта метода</div>'
    )
    assert (
        parsed.sentence and parsed.per_host and parsed.rows["*"].limit == 3 and parsed.rows["*"].burst is None
    )
    with pytest.raises(LimitParseError, match="unknown limit group"):
        parse(
            '<div class="description_limit">для методов <strong>Новое</strong>:\n| Период | Лимит | Интервал | Всплеск |\n| --- | --- | --- | --- |\n| 1 мин | 1 запрос | 1 мин | 1 запрос |</div>'
        )


def test_loader_is_light_and_fast() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import wbseller.catalog as c; c.load(); "
        "print(time.perf_counter() - t); "
        "print(sorted(m for m in ('uvicorn', 'starlette', 'sqlalchemy', 'redis', 'asyncpg', 'argon2', 'jinja2', "
        "'yaml', 'jwt', 'wbseller.ratelimit', 'wbseller.gateway') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[1] == "[]"
    assert float(out[0]) < 1.0  # ~0.1 s on the 2-core development machine; generous for a loaded one


def test_build_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from wbseller.catalog.cli import catalog_app

    runner = CliRunner()
    first = runner.invoke(catalog_app, ["build", "--from", str(SPECS), "--out", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "302 added" in first.output
    again = runner.invoke(catalog_app, ["build", "--from", str(SPECS), "--out", str(tmp_path)])
    assert again.exit_code == 0 and "catalog unchanged" in again.output
    bad = runner.invoke(catalog_app, ["build", "--from", str(tmp_path), "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "no NN-*.yaml" in bad.output


def test_catalog_list_shows_operations_and_refuses_an_unknown_filter() -> None:
    import json

    from typer.testing import CliRunner

    from wbseller.catalog import load
    from wbseller.catalog.cli import catalog_app

    runner = CliRunner()
    listed = runner.invoke(catalog_app, ["list", "--section", "general"])
    assert listed.exit_code == 0, listed.output
    general = [o for o in load().operations if o.section == "general"]
    assert listed.output.splitlines()[-1] == f"{len(general)} operations"
    assert "ping\tGET /ping\tcommon-api\tping\t" in listed.output
    rows = json.loads(runner.invoke(catalog_app, ["list", "--json", "--host", "marketplace-api"]).output)
    assert rows and all(r["host"] == "marketplace-api" for r in rows)
    assert {r["id"] for r in rows} == {o.id for o in load().operations if o.host == "marketplace-api"}
    bad = runner.invoke(catalog_app, ["list", "--host", "nope"])
    assert bad.exit_code == 1 and "--host 'nope' is not in the catalog" in bad.output
    assert "Traceback" not in bad.output
