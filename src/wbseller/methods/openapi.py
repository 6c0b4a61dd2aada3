"""Our own OpenAPI document, built from the method table (with WB's `x-` extensions and limit tables)."""

from __future__ import annotations

from typing import Any

from wbseller import __version__
from wbseller.categories import ALL_BY_NAME, ALL_HOSTS
from wbseller.methods.table import ALL, Method, Table
from wbseller.tokens import TokenType

_ERROR = {
    "type": "object",
    "required": ["title", "detail", "requestId", "origin", "status"],
    "properties": {
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "A short stable name of the cause"},
        "requestId": {"type": "string"},
        "origin": {"type": "string"},
        "status": {"type": "number"},
        "statusText": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}

_STATUS_TEXT = {
    "400": "Bad request",
    "401": "Unauthorized",
    "403": "Access denied",
    "404": "Not found",
    "405": "Method not allowed",
    "413": "Request body too large",
    "429": "Too many requests",
    "500": "Internal error",
    "503": "Service unavailable",
}

# What the table cannot say: parameters and the 200 schema of each General method.
_OPERATIONS: dict[str, dict[str, Any]] = {
    "ping": {
        "description": "Checks that the request arrives, the token is valid and its category matches the host.",
        "schema": {
            "type": "object",
            "properties": {"TS": {"type": "string"}, "Status": {"type": "string", "enum": ["OK"]}},
        },
        "example": {"TS": "2024-08-16T11:19:05+03:00", "Status": "OK"},
    },
    "news": {
        "description": "Seller portal news, at most 100 per request, ascending by id. One of from or fromID is "
        "required.",
        "parameters": [
            {
                "in": "query",
                "name": "from",
                "required": False,
                "schema": {"type": "string", "format": "date", "example": "2025-02-06"},
                "description": "Date from which to get news",
            },
            {
                "in": "query",
                "name": "fromID",
                "required": False,
                "schema": {"type": "integer", "format": "uint64", "minimum": 0},
                "description": "The news id to start from, inclusive",
            },
        ],
        "errors": ["400"],
        "schema": {
            "type": "object",
            "properties": {
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "header": {"type": "string"},
                            "content": {"type": "string"},
                            "date": {"type": "string", "format": "date-time"},
                            "types": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                                },
                            },
                        },
                    },
                }
            },
        },
    },
    "seller-info": {
        "description": "The seller's name, account id, TIN and trade mark.",
        "schema": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "sid": {"type": "string", "format": "uuid"},
                "tin": {"type": "string"},
                "tradeMark": {"type": "string"},
            },
        },
    },
}

_TYPE_TITLE = {
    TokenType.PERSONAL: "Personal",
    TokenType.SERVICE: "Service",
    TokenType.BASE: "Base",
    TokenType.TEST: "Test",
}


def _limits_markdown(m: Method) -> str:
    rows = ["| Token type | Period | Limit | Interval | Burst |", "| --- | --- | --- | --- | --- |"]
    for tt, title in _TYPE_TITLE.items():
        rate = m.limit.rates.get(tt)
        if rate is None or tt not in m.token_types:
            continue
        rows.append(f"| {title} | {rate.period:g} s | {rate.limit} | {rate.interval:g} s | {rate.burst} |")
    text = "Request limit per seller account:\n\n" + "\n".join(rows)
    if m.limit.per_host:
        text += "\n\nThe limit applies to each host separately."
    if m.limit.block is not None:
        b = m.limit.block
        text += (
            f"\n\nAfter {b.strikes} refusals within {b.window:g} s the method is blocked for {b.seconds:g} s "
            "(automated polling)."
        )
    for status, cost in sorted(m.limit.costs.items()):
        text += f"\n\nA response with status {status} counts as {cost} requests."
    return text


def build_document(table: Table, local: bool = False) -> dict[str, Any]:
    """The document; `local` points its servers at this server's path prefixes (for Swagger UI)."""
    paths: dict[str, Any] = {}
    for m in table.methods:
        if m.generated:  # documented by WB's own documents (served beside this one)
            continue
        extra = _OPERATIONS.get(m.id, {})
        responses: dict[str, Any] = {
            "200": {
                "description": "Success",
                "content": {"application/json": {"schema": extra.get("schema", {"type": "object"})}},
            }
        }
        if "example" in extra:
            responses["200"]["content"]["application/json"]["example"] = extra["example"]
        for code in [*extra.get("errors", []), "401", "403", "429"]:
            responses[code] = {"$ref": f"#/components/responses/{code}"}
        hosts = [h for h in ALL_HOSTS if h in m.hosts()]
        op: dict[str, Any] = {
            "operationId": m.id,
            "summary": m.summary or m.id,
            "description": extra.get("description", "") + "\n\n" + _limits_markdown(m),
            "x-readonly-method": m.read_only,
            "x-category": "all" if m.category == ALL else ALL_BY_NAME[m.category].spec_name,
            "x-token-types": sorted(t.value for t in m.token_types),
            "security": [{"HeaderApiKey": []}],
            "parameters": extra.get("parameters", []),
            "responses": responses,
        }
        if m.subscription:
            op["x-subscription"] = m.subscription
        servers = [{"url": f"/{h.prefix}" if local else f"https://{h.name}"} for h in hosts]
        paths.setdefault(m.path, {"servers": servers})[m.http.lower()] = op
    return {
        "openapi": "3.0.1",
        "info": {
            "title": "wbseller: WB API, General section",
            "version": __version__,
            "description": "The General section of the WB seller API as served by wbseller.",
        },
        "security": [{"HeaderApiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"HeaderApiKey": {"type": "apiKey", "name": "Authorization", "in": "header"}},
            "schemas": {"error": _ERROR},
            "responses": {
                code: {
                    "description": text,
                    "content": {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/error"}}
                    },
                }
                for code, text in _STATUS_TEXT.items()
            },
        },
    }
