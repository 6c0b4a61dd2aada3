"""The OAS 3.0 -> JSON Schema 2020-12 converter, keyword by keyword."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from wbseller.schemas.convert import DIALECT, convert_components, referenced_defs, root, to_json_schema


def test_ref_is_rewritten_and_its_siblings_dropped() -> None:
    node = {"$ref": "#/components/schemas/Good", "type": "array", "description": "x", "example": 1}
    assert to_json_schema(node) == {"$ref": "#/$defs/Good"}
    assert to_json_schema({"$ref": "#/x/Y"}, ref_prefix="#/x/") == {"$ref": "#/$defs/Y"}
    assert to_json_schema({"items": {"$ref": "#/components/schemas/A"}}) == {"items": {"$ref": "#/$defs/A"}}


def test_nullable_widens_type_and_enum() -> None:
    assert to_json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert to_json_schema({"type": "string", "enum": ["a", "b"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", "b", None],
    }
    assert to_json_schema({"type": "integer", "nullable": False}) == {"type": "integer"}
    assert to_json_schema({"enum": [1, 2], "nullable": True}) == {"enum": [1, 2, None]}


def test_x_nullable_is_honoured_like_nullable() -> None:
    assert to_json_schema({"type": "integer", "x-nullable": True}) == {"type": ["integer", "null"]}
    assert to_json_schema({"type": "integer", "x-nullable": False}) == {"type": "integer"}


def test_nullable_without_type_wraps_in_anyof() -> None:
    null = {"type": "null"}
    assert to_json_schema({"$ref": "#/components/schemas/A", "nullable": True}) == {
        "anyOf": [{"$ref": "#/$defs/A"}, null]
    }
    both = {"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": True}
    assert to_json_schema(both) == {"anyOf": [{"allOf": [{"$ref": "#/$defs/A"}]}, null]}
    assert to_json_schema({"nullable": True}) == {}  # accepts anything, null included


def test_exclusive_bounds_become_numbers() -> None:
    assert to_json_schema({"type": "number", "minimum": 0, "exclusiveMinimum": True}) == {
        "type": "number",
        "exclusiveMinimum": 0,
    }
    assert to_json_schema({"type": "number", "maximum": 9, "exclusiveMaximum": True}) == {
        "type": "number",
        "exclusiveMaximum": 9,
    }
    assert to_json_schema({"type": "number", "minimum": 0, "exclusiveMinimum": False}) == {
        "type": "number",
        "minimum": 0,
    }


def test_oas_only_keywords_and_prose_go() -> None:
    node: dict[str, Any] = {
        "type": "object",
        "title": "T",
        "description": "prose",
        "example": {"a": 1},
        "deprecated": True,
        "xml": {"name": "x"},
        "externalDocs": {"url": "https://example.com"},
        "x-omitempty": True,
        "in": "body",
        "required": True,  # Swagger 2 leftover in 14-wbd
        "properties": {"a": {"type": "integer", "format": "uint64", "description": "d", "readOnly": True}},
    }
    assert to_json_schema(node) == {
        "type": "object",
        "properties": {"a": {"type": "integer", "format": "uint64", "readOnly": True}},
    }


def test_discriminator_mapping_pins_branches() -> None:
    node = {
        "oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}],
        "discriminator": {"propertyName": "kind", "mapping": {"a": "#/components/schemas/A", "b": "B"}},
    }
    out = to_json_schema(node)
    assert "discriminator" not in out
    assert out["oneOf"][1] == {
        "allOf": [{"$ref": "#/$defs/B"}, {"properties": {"kind": {"enum": ["b"]}}, "required": ["kind"]}]
    }
    defs = {"A": {"type": "object"}, "B": {"type": "object"}}
    validator = jsonschema_rs.validator_for(root(out, defs))
    assert validator.is_valid({"kind": "a"})
    assert not validator.is_valid({"kind": "c"})


def test_components_root_and_referenced_defs() -> None:
    defs = convert_components(
        {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
            "B": {"type": "integer", "nullable": True},
            "C": {"type": "string"},
        }
    )
    fragment = to_json_schema({"$ref": "#/components/schemas/A"})
    document = root(fragment, defs)
    assert document == {"$schema": DIALECT, "$defs": defs, "$ref": "#/$defs/A"}
    assert set(referenced_defs(fragment, defs)) == {"A", "B"}
    assert jsonschema_rs.meta.is_valid(document)
    validator = jsonschema_rs.validator_for(document)
    assert validator.is_valid({"b": None})
    assert not validator.is_valid({"b": "x"})
