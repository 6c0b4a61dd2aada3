"""Validator errors as WB-style path and short message."""

from __future__ import annotations

from typing import Any

import pytest

from wbseller.schemas.convert import convert_components, to_json_schema
from wbseller.schemas.validate import SchemaViolation, Validator

COMPONENTS = {
    "Good": {
        "type": "object",
        "required": ["nmID"],
        "properties": {
            "nmID": {"type": "integer"},
            "price": {"type": "integer", "minimum": 0},
            "currency": {"type": "string", "enum": ["RUB", "KZT"]},
            "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
        },
        "additionalProperties": False,
    },
    "Parent": {
        "type": "object",
        "properties": {"child": {"$ref": "#/components/schemas/Good"}},
        "nullable": True,
    },
}
DEFS = convert_components(COMPONENTS)
BODY = Validator(
    to_json_schema(
        {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/Good"}},
                "when": {"type": "string", "format": "date-time"},
                "parent": {"$ref": "#/components/schemas/Parent", "nullable": True},
            },
        }
    ),
    DEFS,
)


def violation(validator: Validator, instance: Any) -> str:
    with pytest.raises(SchemaViolation) as caught:
        validator.validate(instance)
    assert not validator.is_valid(instance)
    return str(caught.value)


def goods(n: int, **changes: Any) -> list[dict[str, Any]]:
    return [{"nmID": 10000000 + i, "price": 1000, **(changes if i == 3 else {})} for i in range(n)]


def test_valid_body_passes() -> None:
    BODY.validate({"data": goods(5), "when": "2025-06-01T10:00:00+03:00", "parent": None})
    assert BODY.is_valid({"data": [], "parent": {"child": {"nmID": 1}}})


def test_nested_array_index() -> None:
    assert violation(BODY, {"data": goods(5, price=-1)}) == "data[3].price: must be >= 0"
    with pytest.raises(SchemaViolation) as caught:
        BODY.validate({"data": goods(5, price=-1)})
    assert (caught.value.path, caught.value.message) == ("data[3].price", "must be >= 0")


def test_messages() -> None:
    assert violation(BODY, {"data": goods(4, price="1")}) == "data[3].price: must be integer"
    assert violation(BODY, {}) == "data: is required"
    assert violation(BODY, {"data": [{"price": 1}]}) == "data[0].nmID: is required"
    assert violation(BODY, {"data": goods(4, currency="USD")}) == "data[3].currency: must be one of: RUB, KZT"
    assert violation(BODY, {"data": goods(1001)}) == "data: must not have more than 1000 items"
    assert (
        violation(BODY, {"data": goods(4, tags=["a", "b", "c"])})
        == "data[3].tags: must not have more than 2 items"
    )
    assert violation(BODY, {"data": goods(4, colour="red")}) == "data[3].colour: is not allowed"
    assert violation(BODY, {"data": [], "when": "yesterday"}) == "when: must be a valid date-time"
    assert violation(BODY, []) == "body: must be object"


def test_nullable_wrapper_reports_the_real_branch() -> None:
    # anyOf [Parent, null] and Parent's own null: the message comes from the object branch
    assert (
        violation(BODY, {"data": [], "parent": {"child": {"nmID": "x"}}})
        == "parent.child.nmID: must be integer"
    )


def test_root_name_and_formats_switch() -> None:
    limit = Validator({"type": "integer", "minimum": 1, "maximum": 1000}, {}, root="query.limit")
    assert violation(limit, 0) == "query.limit: must be >= 1"
    assert violation(limit, 1001) == "query.limit: must be <= 1000"
    date = {"type": "string", "format": "date-time"}
    assert not Validator(date, {}).is_valid("2019-06-20")
    assert Validator(date, {}, formats=False).is_valid("2019-06-20")


def test_compiled_lazily_and_shared() -> None:
    first = Validator({"type": "string", "maxLength": 3}, {})
    second = Validator({"maxLength": 3, "type": "string"}, {})
    assert first._compiled is None
    assert first.compiled is second.compiled
    assert violation(first, "abcd") == "body: must not be longer than 3 characters"
