"""Our OpenAPI documents: one per section of the catalog, and all of them merged, built from the table.

    docs = Documents(table)                  # nothing built yet
    docs.sections                            # (slug, title) of the 14 sections, in the catalog's order
    docs.json("orders-fbs")                  # the section's document as JSON bytes, built once
    docs.json(None)                          # every operation in one document
    build_document(table, "products")        # the same as a dict

Facts only: the catalog's paths, parameters, schemas and examples, and the table's token rules and limits.
WB's prose is not in the project, so descriptions are ours and short (limits in numbers, token types,
how the operation is answered). OpenAPI 3.0.3, because the Swagger UI we serve (swagger-ui-bundle 4.15)
shows 3.0 only: the catalog's JSON Schema 2020-12 is written as 3.0 schemas (`type: [X, "null"]` as
`nullable`, `#/$defs/X` as `#/components/schemas/X`), which loses nothing the catalog uses.

Beside the catalog's declared responses, each operation documents what the gateway itself answers, as the
WB error body (`application/problem+json`): 400 for a request that breaks the document (422 where WB
declares 422 and not 400), 401, 403, 413 where there is a body, 429 with its headers. Schemas and
parameters say what the request checks do beyond the catalog (methods/checks.py, docs/requests.md):
integers bounded by their format (int64 without one), an empty value of an optional non-string query
parameter is no value (`allowEmptyValue`), a required multipart body has at least one declared part. So the document is a
contract the server keeps (tests/hardening/test_spec.py holds it to it).

In the merged document schema names are prefixed by their section (`orders-fbs.Error`): the same names
recur across sections with other content.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from wbseller import __version__
from wbseller.catalog import Catalog, Media, Parameter
from wbseller.catalog import load as load_catalog
from wbseller.categories import ALL_BY_NAME, ALL_HOSTS, Host
from wbseller.methods.table import ALL, LimitGroup, Method, Table
from wbseller.tokens import TokenType

OPENAPI = "3.0.3"
ERROR = "wbseller.Error"  # our schema's name: no section of the catalog has a name with this prefix
SECURITY = "HeaderApiKey"  # WB's documents' own name for the Authorization header scheme
DEFS_PREFIX = "#/$defs/"
SCHEMAS_PREFIX = "#/components/schemas/"
PROBLEM = "application/problem+json"

# Our names of the catalog's sections (the document's slug otherwise).
SECTION_TITLES = {
    "general": "General",
    "products": "Products",
    "orders-fbs": "Orders FBS",
    "orders-dbw": "Orders DBW",
    "orders-dbs": "Orders DBS",
    "in-store-pickup": "In-store pickup",
    "orders-fbw": "Orders FBW (supplies)",
    "promotion": "Promotion",
    "communications": "Communications",
    "tariffs": "Tariffs",
    "analytics": "Analytics",
    "reports": "Reports",
    "finances": "Finances",
    "wbd": "WB Digital",
}
ADDED = "added"  # methods a deployment's config adds (no catalog operation): in the merged document only

# The WB error body (FACTS.md): every refusal of the gateway, whatever the status.
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["title", "detail", "code", "requestId", "origin", "status", "statusText", "timestamp"],
    "properties": {
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "requestId": {"type": "string"},
        "origin": {"type": "string"},
        "status": {"type": "integer"},
        "statusText": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": False,
}
_INT = {"schema": {"type": "integer", "minimum": 0}}
_HEADERS = {
    "X-Request-Id": {"description": "The error body's requestId.", "schema": {"type": "string"}},
    "X-Ratelimit-Remaining": {"description": "Requests left in the bucket at once.", **_INT},
    "X-Ratelimit-Retry": {"description": "Seconds until the next request may pass.", **_INT},
    "X-Ratelimit-Limit": {"description": "The bucket's burst.", **_INT},
    "X-Ratelimit-Reset": {"description": "Seconds until the bucket is full again.", **_INT},
}
_ERROR_HEADERS = ("X-Request-Id",)
_LIMIT_HEADERS = ("X-Request-Id", "X-Ratelimit-Retry", "X-Ratelimit-Limit", "X-Ratelimit-Reset")
# What the gateway answers before (or instead of) any handler, and when.
_WHY = {
    400: "The request breaks the document (detail names the field).",
    401: "No token, a bad one, or a token without this host's category; a read-only token on a write.",
    403: "The token's type may not call this operation, or the seller may not.",
    413: "The body is over the operation's size.",
    422: "The request breaks the document (detail names the field).",
    429: "The bucket is empty: retry after X-Ratelimit-Retry seconds.",
}

# Integers fit the integer WB's Go services parse them into (methods/checks.py, schemas/validate.py).
_INT64 = (-(2**63), 2**63 - 1)
_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": _INT64,
    "uint": (0, 2**64 - 1),
    "uint64": (0, 2**64 - 1),
}

_TYPE_ORDER = (TokenType.PERSONAL, TokenType.SERVICE, TokenType.BASE, TokenType.TEST)


class DocumentError(ValueError):
    """The table cannot be written as a document (two operations of one verb and path)."""


# --- schemas: JSON Schema 2020-12 fragments of the catalog as OpenAPI 3.0 schema objects ---------------


def schema30(schema: Any, prefix: str = "") -> Any:
    """A catalog fragment as an OpenAPI 3.0 schema; `#/$defs/X` -> `#/components/schemas/<prefix>X`."""
    if isinstance(schema, list):
        return [schema30(s, prefix) for s in schema]
    if not isinstance(schema, dict):
        return schema  # true/false schemas (additionalProperties) as they are
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: schema30(s, prefix) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = schema30(value, prefix)
        elif key == "$ref" and isinstance(value, str) and value.startswith(DEFS_PREFIX):
            out[key] = SCHEMAS_PREFIX + prefix + value[len(DEFS_PREFIX) :]
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    kind = out.get("type")
    if isinstance(kind, list):
        others = [t for t in kind if t != "null"]
        if len(others) < len(kind):
            out["nullable"] = True
        if len(others) == 1:
            out["type"] = others[0]
        else:  # no fragment of the catalog has two non-null types; 3.0 says it with anyOf
            del out["type"]
            if others:
                out["anyOf"] = [{"type": t} for t in others]
    if "$ref" in out and len(out) > 1:  # 3.0 ignores a $ref's siblings: keep them beside it
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    if out.get("type") == "array" and "items" not in out:
        out["items"] = {}  # 3.0 requires items
    if out.get("type") == "integer":
        out = _bounded(out)
    return out


def _resolve(schema: Any, defs: Mapping[str, Any]) -> Any:
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = defs.get(schema["$ref"].removeprefix(DEFS_PREFIX))
    return schema


def _kind(schema: Any, defs: Mapping[str, Any]) -> str | None:
    kind = _resolve(schema, defs)
    kind = kind.get("type") if isinstance(kind, dict) else None
    if isinstance(kind, list):
        others = [t for t in kind if t != "null"]
        kind = others[0] if len(others) == 1 else None
    return kind if isinstance(kind, str) else None


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    """An integer's schema with the bounds its format (or int64) sets, where it sets none tighter: the
    request checks refuse values outside them, in parameters and bodies alike (schemas/validate.py)."""
    low, high = _INT_RANGES.get(str(schema.get("format")), _INT64)
    out = dict(schema)
    if "minimum" not in out or out["minimum"] < low:
        out["minimum"] = low
    if "maximum" not in out or out["maximum"] > high:
        out["maximum"] = high
    return out


# --- pieces of an operation ----------------------------------------------------------------------------


def _examples(out: dict[str, Any], example: Any, has_example: bool, examples: Mapping[str, Any]) -> None:
    # 3.0: `example` and `examples` exclude each other; the named ones win, the single one joins them.
    if examples:
        out["examples"] = {name: {"value": value} for name, value in examples.items()}
        if has_example:
            out["examples"].setdefault("example", {"value": example})
    elif has_example:
        out["example"] = example


def _parameter(p: Parameter, defs: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    schema = p.schema if p.schema is not None else {}
    out: dict[str, Any] = {"name": p.name, "in": p.location, "required": p.required or p.location == "path"}
    if p.deprecated:
        out["deprecated"] = True
    if p.location == "query" and not p.required and _kind(schema, defs) not in ("string", None):
        out["allowEmptyValue"] = True  # `limit=` is no value: absent, or its default (docs/requests.md)
    out["schema"] = schema30(schema, prefix)
    _examples(out, p.example, p.has_example, p.examples)
    return out


def _media(m: Media, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if m.schema is not None:
        out["schema"] = schema30(m.schema, prefix)
    _examples(out, m.example, m.has_example, m.examples)
    return out


def _form(schema: Any, required: bool, defs: Mapping[str, Any]) -> Any:
    """A multipart schema as the checks read it: a required body has a declared part; an array of parts
    that is required has one at least (an empty list cannot be sent as parts)."""
    resolved = _resolve(schema, defs)
    if not isinstance(resolved, dict) or not isinstance(resolved.get("properties"), dict):
        return schema
    out = dict(resolved)
    props = dict(out["properties"])
    for name in out.get("required", []):
        if name in props and _kind(props[name], defs) == "array":
            props[name] = {**_resolve(props[name], defs), "minItems": 1}
    out["properties"] = props
    if required and not out.get("required") and props:
        out["minProperties"] = 1
    return out


def _error_content() -> dict[str, Any]:
    return {PROBLEM: {"schema": {"$ref": SCHEMAS_PREFIX + ERROR}}}


def _header_refs(names: tuple[str, ...]) -> dict[str, Any]:
    return {n: {"$ref": f"#/components/headers/{n}"} for n in names}


def _gateway_statuses(m: Method, declared: Mapping[str, Any]) -> list[int]:
    op = m.operation
    checked = op is not None and (op.parameters or op.request is not None)
    statuses = [401, 403, 429]
    if checked:
        statuses.append(422 if "422" in declared and "400" not in declared else 400)
    if op is None or op.request is not None:
        statuses.append(413)
    return sorted(statuses)


def _responses(m: Method, prefix: str) -> dict[str, Any]:
    op = m.operation
    declared: Mapping[str, Mapping[str, Media]] = op.responses if op is not None else {"200": {}}
    out: dict[str, Any] = {}
    for status, content in sorted(declared.items()):
        resp: dict[str, Any] = {"description": _phrase(status)}
        if content:
            resp["content"] = {ct: _media(media, prefix) for ct, media in content.items()}
        elif op is None:
            resp["content"] = {"application/json": {"schema": {}}}  # a config's method: any JSON
        if status.startswith("2"):
            resp["headers"] = _header_refs(("X-Ratelimit-Remaining",))
        out[status] = resp
    for code in _gateway_statuses(m, declared):
        status = str(code)
        if status not in out:
            out[status] = {"$ref": f"#/components/responses/{status}"}
            continue
        resp = out[status]  # WB declares it (often as application/json): the gateway's body is beside
        resp.setdefault("content", {}).setdefault("application/problem+json", _error_content()[PROBLEM])
        names = _LIMIT_HEADERS if code == 429 else _ERROR_HEADERS
        resp["headers"] = {**resp.get("headers", {}), **_header_refs(names)}
    return dict(sorted(out.items()))


def _phrase(status: str) -> str:
    try:
        return HTTPStatus(int(status)).phrase
    except ValueError:
        return status


def _rates(group: LimitGroup, types: frozenset[TokenType]) -> list[str]:
    """`personal, service: 300 per 60 s, burst 20` rows, types with equal numbers together."""
    rows: dict[tuple[float, int, int], list[str]] = {}
    for tt in _TYPE_ORDER:
        rate = group.rate_for(tt)
        if rate is None or tt not in types:
            continue
        name = "test (sandbox)" if tt is TokenType.TEST else tt.value
        rows.setdefault((rate.period, rate.limit, rate.burst), []).append(name)
    return [
        f"{', '.join(names)}: {limit} per {period:g} s, burst {burst}"
        for (period, limit, burst), names in rows.items()
    ]


def _limit(m: Method, members: int) -> dict[str, Any]:
    g = m.limit
    out: dict[str, Any] = {
        "bucket": g.id,
        "rates": {
            tt.value: {"period": r.period, "limit": r.limit, "burst": r.burst}
            for tt in _TYPE_ORDER
            if (r := g.rate_for(tt)) is not None and tt in m.token_types
        },
    }
    if members > 1:
        out["shared_by"] = members
    costs = {str(s): c for s, c in g.costs.items()} | {f"{k}xx": c for k, c in g.class_costs.items()}
    if costs:
        out["costs"] = costs
    if g.per_host:
        out["per_host"] = True
    if g.block is not None:
        out["block"] = {"strikes": g.block.strikes, "window": g.block.window, "seconds": g.block.seconds}
    if g.test_id is not None:
        out["test_bucket"] = g.test_id
    return out


def _description(m: Method, answer: str, source: str | None, members: int) -> str:
    lines = []
    if answer == "handler":
        lines.append(f"Answered by code: `{m.handler_path}`.")
    else:
        lines.append(f"Answered by generation from the catalog ({source}).")
    types = [t.value for t in _TYPE_ORDER if t in m.token_types]
    lines.append(f"Token types: {', '.join(types)}.")
    if m.category == ALL:
        lines.append("Category: any (every host).")
    else:
        cat = ALL_BY_NAME[m.category]
        bit = f"bit {cat.bit}" if cat.bit is not None else "no bit"
        lines.append(f"Category: {cat.name} ({bit}).")
    if not m.read_only:
        lines.append("A write: read-only tokens are refused.")
    shared = f", shared by {members} operations" if members > 1 else ""
    lines.append(
        f"Limit per seller (bucket `{m.limit.id}`{shared}): "
        + "; ".join(_rates(m.limit, m.token_types))
        + "."
    )
    for status, cost in sorted(m.limit.costs.items()):
        lines.append(f"A {status} answer counts as {cost} requests.")
    for klass, cost in sorted(m.limit.class_costs.items()):
        lines.append(f"A {klass}xx answer counts as {cost} requests.")
    if m.limit.per_host:
        lines.append("One bucket per host.")
    if m.limit.block is not None:
        b = m.limit.block
        lines.append(f"{b.strikes} refusals within {b.window:g} s block it for {b.seconds:g} s.")
    if m.operation is not None and m.operation.request is not None:
        lines.append(f"Body: at most {m.max_body} bytes.")
    return "\n\n".join(lines)


def _servers(hosts: list[Host], local: bool) -> list[dict[str, str]]:
    return [{"url": f"/{h.prefix}" if local else f"https://{h.name}", "description": h.name} for h in hosts]


def _source(m: Method, catalog: Catalog) -> str | None:
    from wbseller.methods.generated import Generated, answered_by  # the generator is the server's

    if isinstance(m.handler, Generated):
        return m.handler.source
    if m.operation is not None:
        return answered_by(m.operation, catalog.defs_of(m.operation))
    return None


def _operation(
    m: Method, catalog: Catalog, prefix: str, tag: str, local: bool, members: int
) -> dict[str, Any]:
    op = m.operation
    answer = "generated" if m.generated else "handler"
    source = _source(m, catalog) if m.generated else None
    out: dict[str, Any] = {
        "tags": [tag],
        "operationId": m.id,
        "summary": m.summary or m.id,
        "description": _description(m, answer, source, members),
    }
    if op is not None and op.deprecated:
        out["deprecated"] = True
    out["servers"] = _servers(m.hosts(), local)
    if op is not None:
        defs = catalog.defs_of(op)
        out["parameters"] = [_parameter(p, defs, prefix) for p in op.parameters]
        if op.request is not None:
            content = {}
            for ct, sent in op.request.content.items():
                if ct == "multipart/form-data" and sent.schema is not None:
                    form = _form(sent.schema, op.request.required, defs)
                    sent = Media(form, sent.example, sent.has_example, sent.examples)  # noqa: PLW2901
                content[ct] = _media(sent, prefix)
            out["requestBody"] = {"required": op.request.required, "content": content}
    out["responses"] = _responses(m, prefix)
    out["security"] = [{SECURITY: []}]
    category = ALL_BY_NAME.get(m.category)
    if m.category == ALL:
        out["x-category"] = "all"
    elif category is not None and category.spec_name:
        out["x-category"] = category.spec_name  # WB's value; WB Digital has none
    out["x-wbseller-category"] = m.category
    out["x-readonly-method"] = m.read_only
    out["x-token-types"] = [t.value for t in _TYPE_ORDER if t in m.token_types]
    out["x-wbseller-answer"] = answer
    if source is not None:
        out["x-wbseller-source"] = source
    else:
        out["x-wbseller-handler"] = m.handler_path
    out["x-wbseller-limit"] = _limit(m, members)
    if (sub := m.subscription) is not None:  # the table's form: a name, or the names (any one opens it)
        out["x-subscription"] = sub.names[0] if len(sub.names) == 1 else list(sub.names)
        if sub.field is not None:
            out["x-subscription-when"] = {"field": sub.field, "in": sorted(sub.values, key=str)}
    return out


# --- documents -----------------------------------------------------------------------------------------


def sections(table: Table) -> list[tuple[str, str]]:
    """(slug, title) of every section with an operation in the table, in the catalog's order."""
    seen: dict[str, str] = {}
    for m in table.methods:
        if m.operation is not None and m.operation.section not in seen:
            slug = m.operation.section
            seen[slug] = SECTION_TITLES.get(slug, slug)
    return list(seen.items())


def _section_of(m: Method) -> str:
    return m.operation.section if m.operation is not None else ADDED


def _components(schemas: dict[str, Any]) -> dict[str, Any]:
    responses = {
        str(code): {
            "description": why,
            "headers": _header_refs(_LIMIT_HEADERS if code == 429 else _ERROR_HEADERS),
            "content": _error_content(),
        }
        for code, why in sorted(_WHY.items())
    }
    return {
        "securitySchemes": {
            SECURITY: {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "A token of the account pages or `wbseller token create` (`Bearer <token>` too).",
            }
        },
        "schemas": {**schemas, ERROR: _ERROR_SCHEMA},
        "responses": responses,
        "headers": _HEADERS,
    }


def build_document(
    table: Table, section: str | None = None, *, catalog: Catalog | None = None, local: bool = True
) -> dict[str, Any]:
    """The document of one section of the catalog, or (None) of every method of the table.

    `local` points the servers at this server's path prefixes (`/marketplace-api`: from a browser on the
    server's own address); else at WB's hosts."""
    catalog = load_catalog() if catalog is None else catalog
    titles = dict(sections(table))
    if section is not None and section not in titles:
        raise KeyError(section)
    methods = [m for m in table.methods if section is None or _section_of(m) == section]
    members: dict[str, int] = {}
    for m in table.methods:
        members[m.limit.id] = members.get(m.limit.id, 0) + 1
    merged = section is None
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, str] = {}
    hosts: list[Host] = []
    for m in methods:
        slug = _section_of(m)
        prefix = f"{slug}." if merged else ""
        if merged:
            tag = titles.get(slug, slug)
            tags.setdefault(
                tag, f"Section `{slug}`: /openapi/{slug}.json" if slug != ADDED else "Added by config."
            )
        else:
            home = m.home()
            tag = home.prefix
            tags.setdefault(tag, home.name)
        for h in m.hosts():
            if h not in hosts:
                hosts.append(h)
        item = paths.setdefault(m.path, {})
        verb = m.http.lower()
        if verb in item:
            raise DocumentError(
                f"{m.http} {m.path} is documented twice ({item[verb]['operationId']}, {m.id})"
            )
        item[verb] = _operation(m, catalog, prefix, tag, local, members[m.limit.id])
    schemas: dict[str, Any] = {}
    for slug in list(titles) if section is None else [section]:
        prefix = f"{slug}." if merged else ""
        for name, schema in catalog.defs.get(slug, {}).items():
            schemas[prefix + name] = schema30(schema, prefix)
    counts = {"handler": 0, "generated": 0}
    for m in methods:
        counts["generated" if m.generated else "handler"] += 1
    title = "every section" if merged else titles[section or ""]
    production = [h for h in ALL_HOSTS if h in hosts and not h.sandbox]
    return {
        "openapi": OPENAPI,
        "info": {
            "title": f"wbseller: the WB seller API, {title}",
            "version": __version__,
            "description": (
                f"{len(methods)} operations as this wbseller serves them: {counts['handler']} answered by code, "
                f"{counts['generated']} by generation from the catalog (`x-wbseller-answer`). Each operation "
                "names its hosts in `servers`; limits and token rules are in its description and "
                "`x-wbseller-limit`."
            ),
        },
        "servers": [{"url": "/" if local else "https://common-api.wildberries.ru"}]
        if merged
        else _servers(production[:1] or hosts[:1], local),
        "security": [{SECURITY: []}],
        "tags": [{"name": n, "description": d} for n, d in tags.items()],
        "paths": dict(sorted(paths.items())),
        "components": _components(schemas),
    }


class Documents:
    """The served documents, each built on its first request and kept as JSON bytes."""

    def __init__(self, table: Table, catalog: Catalog | None = None) -> None:
        self.table = table
        self.catalog = catalog
        self.sections = sections(table)
        self._json: dict[str | None, bytes] = {}
        self._building: dict[str | None, asyncio.Future[bytes]] = {}

    def json(self, section: str | None) -> bytes:
        """The section's document (None: all merged); KeyError for an unknown section."""
        data = self._json.get(section)
        if data is None:
            doc = build_document(self.table, section, catalog=self.catalog)
            data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
            self._json[section] = data
        return data

    async def json_async(self, section: str | None) -> bytes:
        """`json`, built off the event loop (the merged document takes ~0.13 s of CPU), once: requests
        that come while it is built wait for that build."""
        data = self._json.get(section)
        if data is not None:
            return data
        if section is not None and section not in dict(self.sections):
            raise KeyError(section)
        building = self._building.get(section)
        if building is None:
            building = asyncio.ensure_future(asyncio.to_thread(self.json, section))
            self._building[section] = building
            building.add_done_callback(lambda _: self._building.pop(section, None))
        # shielded: a client that gives up does not cancel the build the others wait for
        return await asyncio.shield(building)

    def urls(self) -> list[dict[str, str]]:
        """Swagger UI's `urls`: every section's document, then the merged one."""
        out = [
            {"url": f"/openapi/{slug}.json", "name": f"{i:02d} {title}"}
            for i, (slug, title) in enumerate(self.sections, 1)
        ]
        out.append({"url": "/openapi.json", "name": "All sections"})
        return out


__all__ = [
    "ADDED",
    "ERROR",
    "OPENAPI",
    "SECTION_TITLES",
    "DocumentError",
    "Documents",
    "build_document",
    "schema30",
    "sections",
]
