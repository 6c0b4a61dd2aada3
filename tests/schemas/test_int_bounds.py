"""Integers in bodies are held to the integer WB's Go services decode them into (`validate.bounded`), as
parameters are (methods/checks.py): the range of the format, int64 without one. jsonschema-rs treats
`int64` and the like as annotations, so without the bounds `2**63` passed a body's check."""

from __future__ import annotations

from typing import Any

import pytest

from wbseller.catalog import load
from wbseller.errors import BadRequest
from wbseller.methods.checks import RequestCheck
from wbseller.schemas.validate import INT_RANGES, SchemaViolation, Validator, bounded

CASES = [
    ("int32", -(2**31), 2**31 - 1),
    ("uint32", 0, 2**32 - 1),
    ("int64", -(2**63), 2**63 - 1),
    ("uint64", 0, 2**64 - 1),
    ("uint", 0, 2**64 - 1),
    (None, -(2**63), 2**63 - 1),  # no format: int64
]


@pytest.mark.parametrize(("fmt", "low", "high"), CASES)
def test_an_integer_is_bounded_by_its_format(fmt: str | None, low: int, high: int) -> None:
    schema: dict[str, Any] = {"type": "integer"} if fmt is None else {"type": "integer", "format": fmt}
    v = Validator({"type": "object", "properties": {"n": schema}}, {})
    assert v.is_valid({"n": low}) and v.is_valid({"n": high})
    with pytest.raises(SchemaViolation, match=rf"^n: must be >= {low}$"):
        v.validate({"n": low - 1})
    with pytest.raises(SchemaViolation, match=rf"^n: must be <= {high}$"):
        v.validate({"n": high + 1})


def test_tighter_bounds_stay_and_other_keywords_too() -> None:
    schema = {
        "type": ["integer", "null"],
        "format": "int64",
        "minimum": 1,
        "maximum": 10,
        "enum": [1, 2, None],
    }
    assert bounded(schema) == schema  # nothing looser to add
    loose = bounded({"type": "integer", "format": "int32", "minimum": -(2**40)})
    assert (loose["minimum"], loose["maximum"]) == INT_RANGES["int32"]
    v = Validator({"type": ["integer", "null"], "format": "uint32"}, {})
    assert v.is_valid(None) and not v.is_valid(-1)


def test_bounds_reach_every_subschema_and_definitions_but_not_data() -> None:
    defs = {"Id": {"type": "integer", "format": "uint32"}}
    schema = {
        "type": "object",
        "properties": {
            "default": {"type": "integer", "format": "int32"},  # a property named like a keyword
            "ids": {"type": "array", "items": {"$ref": "#/$defs/Id"}},
            "pick": {"oneOf": [{"type": "integer", "format": "int32"}, {"type": "string"}]},
        },
        "default": {"default": 2**40},  # data: left as it is
    }
    v = Validator(schema, defs)
    assert v.is_valid({"default": 5, "ids": [0, 2**32 - 1], "pick": "x"})
    for bad in ({"default": 2**31}, {"ids": [2**32]}, {"ids": [-1]}, {"pick": 2**31}):
        assert not v.is_valid(bad), bad
    assert bounded(schema)["default"] == {"default": 2**40}


def test_a_body_with_an_integer_out_of_range_is_refused() -> None:
    """The schemathesis run's finding: `POST /api/v3/dbw/orders/status` took `[2**63]` for an int64 list."""
    cat = load()
    op = cat.by_key("POST", "/api/v3/dbw/orders/status")
    check = RequestCheck(op, cat.defs_of(op))
    headers = [(b"content-type", b"application/json")]
    assert check.check({}, b"", headers, b'{"orders": [9223372036854775807]}').json == {"orders": [2**63 - 1]}
    with pytest.raises(BadRequest, match=r"body: orders\[0\]: must be <= 9223372036854775807"):
        check.check({}, b"", headers, b'{"orders": [9223372036854775808]}')
