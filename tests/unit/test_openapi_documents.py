"""methods/openapi.py in-process: the 2020-12 -> OpenAPI 3.0 schema conversion, the documents of a table
with a config's own method, and the served bytes built once however many ask at the same time."""

from __future__ import annotations

import asyncio
import tomllib
from typing import Any

import pytest

from wbseller.catalog import load as load_catalog
from wbseller.methods.openapi import ADDED, Documents, build_document, schema30, sections
from wbseller.methods.table import build, load_table, merge

INT64 = {"minimum": -(2**63), "maximum": 2**63 - 1}


def test_nullable_types_refs_and_consts_become_3_0() -> None:
    assert schema30({"type": ["string", "null"], "maxLength": 3}) == {
        "type": "string",
        "maxLength": 3,
        "nullable": True,
    }
    assert schema30({"$ref": "#/$defs/Order"}, "orders-fbs.") == {
        "$ref": "#/components/schemas/orders-fbs.Order"
    }
    # 3.0 ignores a $ref's siblings: they go beside it
    assert schema30({"$ref": "#/$defs/A", "maxItems": 2}) == {
        "allOf": [{"$ref": "#/components/schemas/A"}],
        "maxItems": 2,
    }
    assert schema30({"const": "OK"}) == {"enum": ["OK"]}
    assert schema30({"type": "array"}) == {"type": "array", "items": {}}
    assert schema30({"type": ["string", "integer"]}) == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    nested = schema30(
        {
            "type": "object",
            "properties": {"type": {"type": ["integer", "null"], "format": "int32"}},  # a property named type
            "additionalProperties": False,
        }
    )
    assert nested == {
        "type": "object",
        "properties": {
            "type": {
                "type": "integer",
                "format": "int32",
                "nullable": True,
                "minimum": -(2**31),
                "maximum": 2**31 - 1,
            }
        },
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    ("schema", "bounds"),
    [
        ({"type": "integer"}, INT64),
        ({"type": "integer", "format": "uint32"}, {"minimum": 0, "maximum": 2**32 - 1}),
        ({"type": "integer", "format": "uint64", "minimum": 1}, {"minimum": 1, "maximum": 2**64 - 1}),
        ({"type": "integer", "maximum": 2**70}, INT64),  # looser than int64: int64 it is
    ],
)
def test_integers_carry_the_bounds_the_checks_enforce(schema: dict[str, Any], bounds: dict[str, int]) -> None:
    out = schema30(schema)
    assert {k: out[k] for k in ("minimum", "maximum")} == bounds


def test_a_config_method_is_in_the_merged_document_only() -> None:
    """A deployment's own method (no catalog operation): documented where it is served, as any JSON."""
    extra = tomllib.loads(
        """
[[methods]]
id = "my-echo"
http = "POST"
path = "/api/v1/my-echo"
category = "content"
read_only = false
token_types = ["personal"]
limit = "auth-failures"
handler = "wbseller.methods.general:ping"
"""
    )
    base = load_table(handlers=False)
    table = build(merge(base.raw, extra), handlers=False, catalog=load_catalog())
    assert ADDED not in dict(sections(table))
    merged = build_document(table)
    op = merged["paths"]["/api/v1/my-echo"]["post"]
    assert op["x-wbseller-answer"] == "handler" and op["tags"] == [ADDED]
    # served on every host of its category, as the gateway routes it
    assert [s["url"] for s in op["servers"]] == ["/content-api", "/content-api-sandbox"]
    assert {"200", "401", "403", "413", "429"} <= set(op["responses"])
    assert all("/api/v1/my-echo" not in build_document(table, s)["paths"] for s, _ in sections(table))
    with pytest.raises(KeyError):
        build_document(table, ADDED)


def test_wb_hosts_instead_of_ours() -> None:
    doc = build_document(load_table(handlers=False), "tariffs", local=False)
    urls = {s["url"] for item in doc["paths"].values() for op in item.values() for s in op["servers"]}
    assert urls == {"https://common-api.wildberries.ru"}


def test_a_document_is_built_once_for_all_who_ask_together() -> None:
    docs = Documents(load_table(handlers=False))

    async def ask() -> list[bytes]:
        return await asyncio.gather(*(docs.json_async(None) for _ in range(5)), docs.json_async("general"))

    *merged, general = asyncio.run(ask())
    assert all(m is merged[0] for m in merged)  # one build's bytes, not five equal ones
    assert docs.json(None) is merged[0] and docs.json("general") is general
    with pytest.raises(KeyError):
        asyncio.run(docs.json_async("nope"))
