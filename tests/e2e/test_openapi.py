"""Our OpenAPI documents over HTTP: one per section of the catalog at /openapi/<section>.json, all of them
merged at /openapi.json, and Swagger UI at /docs with a selector of the sections, all served locally.

Each document must be valid OpenAPI 3.0 (what the vendored Swagger UI shows), hold exactly its section's
operations with WB's values of `x-category`, `x-readonly-method` and `x-token-types` where WB's document
has them, say how each operation is answered (`x-wbseller-answer`), and point its servers at this server's
path prefixes, so that "Try it out" reaches it. What the server does with the documents is
tests/hardening/test_spec.py's (schemathesis holds the server to them).
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import yaml
from openapi_spec_validator import OpenAPIV30SpecValidator
from openapi_spec_validator import validate as validate_spec

from tests.conftest import REPO, SPECS, Server, assert_wb_error
from wbseller.catalog import load as load_catalog
from wbseller.categories import ALL_HOST_BY_PREFIX
from wbseller.methods.table import load_table

VERBS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
TOKEN_TYPES = {"base", "test", "personal", "service"}
CATALOG = load_catalog()
TABLE = load_table(handlers=False)
HANDLERS = {m.id: m.handler_path for m in TABLE.methods if not m.generated}
SECTIONS = list(dict.fromkeys(op.section for op in CATALOG.operations))
DOCS = REPO / "docs" / "catalog.md"


def _official() -> dict[tuple[str, str], dict[str, Any]]:
    """(VERB, path) -> WB's operation object, over the 14 documents."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for f in sorted(SPECS.glob("[0-9][0-9]-*.yaml")):
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        for path, item in doc["paths"].items():
            for verb in VERBS:
                if verb in item:
                    out[(verb.upper(), path)] = item[verb]
    return out


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (verb.upper(), path): op
        for path, item in doc["paths"].items()
        for verb, op in item.items()
        if verb in VERBS
    }


@pytest.fixture(scope="module")
def documents(server: Server) -> dict[str, dict[str, Any]]:
    """Every section's document, fetched once."""
    out = {}
    for section in SECTIONS:
        r = httpx.get(f"{server.base_url}/openapi/{section}.json", timeout=30)
        assert r.status_code == 200, (section, r.text[:300])
        assert r.headers["content-type"].startswith("application/json")
        out[section] = r.json()
    return out


def test_every_section_document_is_valid_openapi_3_0(documents: dict[str, dict[str, Any]]) -> None:
    assert len(documents) == 14
    for section, doc in documents.items():
        assert doc["openapi"] == "3.0.3", section
        validate_spec(doc, cls=OpenAPIV30SpecValidator)


def test_the_sections_hold_the_catalog_with_wb_values(documents: dict[str, dict[str, Any]]) -> None:
    official = _official()
    seen: set[tuple[str, str]] = set()
    for section, doc in documents.items():
        ops = operations(doc)
        expected = {(o.http, o.path) for o in CATALOG.operations if o.section == section}
        assert set(ops) == expected, section
        seen |= set(ops)
        for key, op in ops.items():
            where = f"{section}: {key}"
            assert op["operationId"] == CATALOG.by_key(*key).id, where
            theirs = official[key]
            # WB's own values, where WB's document has them (WB Digital has no x-category).
            assert op.get("x-category") == theirs.get("x-category"), where
            if "x-readonly-method" in theirs:
                assert op["x-readonly-method"] == theirs["x-readonly-method"], where
            else:
                assert op["x-readonly-method"] is False, where  # docs/catalog.md: missing means a write
            types = op["x-token-types"]
            assert types and set(types) <= TOKEN_TYPES and len(set(types)) == len(types), where
            if "x-token-types" in theirs:
                assert set(types) == set(theirs["x-token-types"]), where
            # No prose of WB's (which is Russian): ours is short, numbers and names.
            assert op["summary"] in (op["operationId"], TABLE.by_id(op["operationId"]).summary), where
            assert not re.search("[А-Яа-яЁё]", op["summary"] + op["description"]), where
    assert len(seen) == len(CATALOG.operations) == 302


def test_each_operation_says_how_it_is_answered(documents: dict[str, dict[str, Any]]) -> None:
    answers: Counter[str] = Counter()
    for doc in documents.values():
        for (_verb, _path), op in operations(doc).items():
            answer = op["x-wbseller-answer"]
            answers[answer] += 1
            if op["operationId"] in HANDLERS:
                assert answer == "handler", op["operationId"]
                assert op["x-wbseller-handler"] == HANDLERS[op["operationId"]]
                assert "Answered by code" in op["description"]
            else:
                assert answer == "generated", op["operationId"]
                assert op["x-wbseller-source"] in ("example", "generated", "binary", "empty") or re.fullmatch(
                    r"examples\[[^\]]+\]", op["x-wbseller-source"]
                ), op
                assert "Answered by generation" in op["description"]
    assert answers == {"handler": len(HANDLERS), "generated": 302 - len(HANDLERS)}, answers
    assert set(HANDLERS) == {o.id for o in CATALOG.operations if o.section == "general"}  # docs/general.md


def test_limits_and_token_rules_are_in_numbers(documents: dict[str, dict[str, Any]]) -> None:
    for doc in documents.values():
        for key, op in operations(doc).items():
            m = TABLE.by_id(op["operationId"])
            limit = op["x-wbseller-limit"]
            assert limit["bucket"] == m.limit.id, key
            line = next(x for x in op["description"].split("\n\n") if x.startswith("Limit per seller"))
            rows: dict[str, tuple[int, float, int]] = {}
            for row in line.split("): ", 1)[1].rstrip(".").split("; "):
                names, numbers = row.rsplit(": ", 1)
                found = re.fullmatch(r"(\d+) per ([\d.]+) s, burst (\d+)", numbers)
                assert found, (key, row)
                for name in names.split(", "):
                    rows[name.removesuffix(" (sandbox)")] = (
                        int(found[1]),
                        float(found[2]),
                        int(found[3]),
                    )
            assert set(rows) == set(limit["rates"]) == {t.value for t in m.token_types}, key
            for tt, rate in limit["rates"].items():
                mine = m.limit.rates[next(t for t in m.token_types if t.value == tt)]
                assert (rate["period"], rate["limit"], rate["burst"]) == (mine.period, mine.limit, mine.burst)
                assert rows[tt] == (mine.limit, mine.period, mine.burst), key
            if m.limit.class_costs:
                assert limit["costs"] == {"4xx": 10}, key
                assert "A 4xx answer counts as 10 requests." in op["description"]
    ping = operations(documents["general"])[("GET", "/ping")]
    assert ping["x-wbseller-limit"]["per_host"] is True
    assert ping["x-wbseller-limit"]["block"] == {"strikes": 5, "window": 60.0, "seconds": 600.0}


def test_servers_are_this_servers_path_prefixes(documents: dict[str, dict[str, Any]]) -> None:
    for doc in documents.values():
        assert doc["servers"] and doc["servers"][0]["url"].lstrip("/") in ALL_HOST_BY_PREFIX
        for key, op in operations(doc).items():
            m = TABLE.by_id(op["operationId"])
            urls = [s["url"] for s in op["servers"]]
            assert urls == [f"/{h.prefix}" for h in m.hosts()], key
            assert all(s["description"] == f"{s['url'][1:]}.wildberries.ru" for s in op["servers"])
    ping = operations(documents["general"])[("GET", "/ping")]
    assert len(ping["servers"]) == len([h for h in ALL_HOST_BY_PREFIX.values() if h.ping])
    stickers = operations(documents["orders-fbs"])[("POST", "/api/v3/orders/stickers")]
    assert [s["url"] for s in stickers["servers"]] == ["/marketplace-api", "/marketplace-api-sandbox"]


def test_the_gateways_refusals_are_documented(documents: dict[str, dict[str, Any]]) -> None:
    """401, 403 and 429 everywhere, 400 (or 422) where there is something to check, 413 where there is a
    body: the WB error body as application/problem+json, beside what WB declares."""
    for doc in documents.values():
        assert doc["components"]["securitySchemes"]["HeaderApiKey"] == {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": doc["components"]["securitySchemes"]["HeaderApiKey"]["description"],
        }
        error = doc["components"]["schemas"]["wbseller.Error"]
        assert error["additionalProperties"] is False and len(error["required"]) == 8
        for key, op in operations(doc).items():
            catalog_op = CATALOG.by_key(*key)
            responses = op["responses"]
            wanted = {"401", "403", "429"}
            if catalog_op.parameters or catalog_op.request is not None:
                declared = catalog_op.responses
                wanted.add("422" if "422" in declared and "400" not in declared else "400")
            if catalog_op.request is not None:
                wanted.add("413")
            for status in wanted:
                resp = responses[status]
                if "$ref" in resp:  # WB declares no such status: ours
                    assert status not in catalog_op.responses, key
                    assert resp["$ref"] == f"#/components/responses/{status}", key
                    continue
                problem = resp["content"]["application/problem+json"]["schema"]
                if "application/problem+json" not in catalog_op.responses[status]:  # beside WB's
                    assert problem == {"$ref": "#/components/schemas/wbseller.Error"}, (key, status)
            assert set(catalog_op.responses) <= set(responses), key
            assert op["security"] == [{"HeaderApiKey": []}]


def test_the_merged_document_holds_every_operation(
    server: Server, documents: dict[str, dict[str, Any]]
) -> None:
    """/openapi.json: the 302 operations, schema names prefixed by section (the same names recur with
    other content), tagged by section."""
    r = httpx.get(f"{server.base_url}/openapi.json", timeout=30)
    assert r.status_code == 200
    doc = r.json()
    validate_spec(doc, cls=OpenAPIV30SpecValidator)
    ops = operations(doc)
    assert len(ops) == 302
    for section, sdoc in documents.items():
        for key, op in operations(sdoc).items():
            assert ops[key]["operationId"] == op["operationId"]
            assert ops[key]["x-wbseller-answer"] == op["x-wbseller-answer"]
        for name in sdoc["components"]["schemas"]:
            if name != "wbseller.Error":
                assert f"{section}.{name}" in doc["components"]["schemas"], (section, name)
    # A name of several sections with other content in each (`Order`, `Date`, ...) is kept apart.
    by_name: dict[str, set[str]] = {}
    for sdoc in documents.values():
        for name, schema in sdoc["components"]["schemas"].items():
            if name != "wbseller.Error":
                by_name.setdefault(name, set()).add(repr(schema))
    assert {n for n, contents in by_name.items() if len(contents) > 1} >= {"Order", "Date"}
    assert [t["name"] for t in doc["tags"]][:2] == ["General", "Products"]


def test_an_unknown_section_is_a_wb_404(server: Server) -> None:
    assert_wb_error(httpx.get(f"{server.base_url}/openapi/nope.json", timeout=10), 404)
    assert_wb_error(httpx.get(f"{server.base_url}/openapi/", timeout=10), 404)


def test_the_docs_list_the_operations_answered_by_code() -> None:
    """docs/catalog.md's "Served documents" names every handler and counts the generated per section."""
    text = DOCS.read_text(encoding="utf-8")
    served = text[text.index("## Served documents") :]
    for op_id, handler in HANDLERS.items():
        assert f"`{op_id}`" in served and f"`{handler}`" in served, op_id
    for section in SECTIONS:
        ops = [o for o in CATALOG.operations if o.section == section]
        generated = sum(o.id not in HANDLERS for o in ops)
        assert re.search(
            rf"\| `{section}` \| {len(ops)} \| {len(ops) - generated} \| {generated} \|", served
        ), section


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"] or "")
        if tag == "link" and a.get("href") and "stylesheet" in (a.get("rel") or ""):
            self.urls.append(a["href"] or "")


def test_docs_serve_swagger_ui_with_every_section(server: Server) -> None:
    page_url = f"{server.base_url}/docs"
    r = httpx.get(page_url, timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(r.text)
    scripts = [u for u in parser.urls if u.endswith(".js")]
    styles = [u for u in parser.urls if u.endswith(".css")]
    assert scripts, r.text
    assert styles, r.text
    ours = urlsplit(server.base_url).netloc
    for url in parser.urls:
        full = urljoin(page_url, url)
        assert urlsplit(full).netloc == ours, f"{url} is not served by us"
        asset = httpx.get(full, timeout=10)
        assert asset.status_code == 200, url
        assert asset.content, url
        kind = "javascript" if url.endswith(".js") else "css"
        assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
    assert any("swagger-ui-bundle" in u for u in scripts)
    assert any("standalone-preset" in u for u in scripts)  # the preset draws the selector
    # The selector: every section's document, then the merged one; each answers.
    urls = re.findall(r'"url": "(/openapi[^"]*)"', r.text)
    assert urls == [f"/openapi/{s}.json" for s in SECTIONS] + ["/openapi.json"]
    for url in urls[:-1]:
        assert httpx.head(f"{server.base_url}{url}", timeout=30).status_code == 200, url
    for cdn in ("unpkg", "jsdelivr", "cdnjs", "googleapis"):
        assert cdn not in r.text


def test_the_vendored_swagger_ui_shows_openapi_3_0_only() -> None:
    """Why the documents are 3.0 (methods/openapi.py): the bundle we serve refuses anything but 3.0.n.
    When it is replaced by one that shows 3.1, the documents can carry the catalog's 2020-12 schemas as
    they are."""
    from swagger_ui_bundle import swagger_ui_path

    bundle = (Path(swagger_ui_path) / "swagger-ui-bundle.js").read_text(encoding="utf-8", errors="replace")
    assert "openapi: 3.0.n" in bundle
