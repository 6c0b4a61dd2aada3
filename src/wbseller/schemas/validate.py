"""Request and response validation against converted fragments, with jsonschema-rs.

Why jsonschema-rs: on the real 1,000-item price upload body (02-products `POST /api/v2/upload/task`, 2 CPUs
shared), a compiled jsonschema-rs 0.60.3 validator checks a valid body in 0.12-0.17 ms and stops at an
invalid one (`data[3].price` a string) in 0.008 ms; `jsonschema` 4.26 (Draft202012Validator) takes 46-56 ms
for the valid body, with or without its FormatChecker: 300-400x slower. Compiling costs 0.7-1.4 ms with the
section's 50 definitions, 0.2 ms with only the referenced ones, so a `Validator` compiles on first use, from
the referenced definitions only, and equal schemas share one compiled validator.

Formats: 2020-12 treats `format` as an annotation; here date-time, date and uuid (and the other standard
formats jsonschema-rs knows) are asserted by default, since the documents' own examples pass with them:
measured, 1,512 of 1,520 media-level examples pass with or without formats (the 8 others fail on `oneOf`
alone; 3 of those pass once the discriminator mapping is kept, see `convert`), and so do all 2,145
`example`s inside schemas (94 of them date, date-time or uuid) and all 29 parameter examples
(tests/schemas/test_documents.py keeps this true). Non-standard names (uint64, int64, binary, "UUID", ...)
are ignored. `Validator(..., formats=False)` turns the assertion off, for inputs the documents' prose
allows to be looser than their format (e.g. `dateFrom` query strings that may be plain dates).

jsonschema-rs 0.60.3 is the newest release schemathesis 4.32 (a dev dependency) accepts.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import jsonschema_rs

from wbseller.schemas.convert import referenced_defs, root

_Kind = jsonschema_rs.ValidationErrorKind


class SchemaViolation(ValueError):
    """The first problem found, as WB-style path and short message: `data[3].price: must be >= 0`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# Integers are what WB's Go services decode them into: the range of the format (int32, uint32, int64,
# uint/uint64), int64 without one, as methods/checks.py has it for parameters. jsonschema-rs treats these
# formats as annotations, so the bounds are written into the compiled document: 2**63 in a body is refused.
INT64 = (-(2**63), 2**63 - 1)
INT_RANGES: dict[str, tuple[int, int]] = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": INT64,
    "uint": (0, 2**64 - 1),
    "uint64": (0, 2**64 - 1),
}
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)


def bounded(schema: Any) -> Any:
    """`schema` with every integer's range made explicit (a copy; `schema` is left as it is)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: bounded(s) for name, s in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [bounded(s) for s in value]
        elif key in _SCHEMA_ONE:
            out[key] = bounded(value)
        else:
            out[key] = value
    kind = out.get("type")
    if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
        low, high = INT_RANGES.get(str(out.get("format")), INT64)
        minimum, maximum = out.get("minimum"), out.get("maximum")
        if not isinstance(minimum, int | float) or minimum < low:
            out["minimum"] = low
        if not isinstance(maximum, int | float) or maximum > high:
            out["maximum"] = high
    return out


# One compiled validator per distinct (schema, formats): the same 401/429 bodies recur in every operation.
# Unbounded on purpose: the documents hold a fixed, finite set of schemas.
_COMPILED: dict[tuple[str, bool], jsonschema_rs.Validator] = {}


def _compile(document: dict[str, Any], formats: bool) -> jsonschema_rs.Validator:
    key = (json.dumps(document, sort_keys=True, separators=(",", ":")), formats)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = jsonschema_rs.validator_for(document, validate_formats=formats)
        _COMPILED[key] = compiled
    return compiled


class Validator:
    """Validates instances of one fragment; compiled on first use.

    `root` names the instance in paths: "" for a body (nested paths read `data[3].price`, the body itself
    `body`), `query.limit` for a parameter.
    """

    def __init__(self, fragment: Any, defs: dict[str, Any], *, root: str = "", formats: bool = True) -> None:
        self.fragment = fragment
        self.defs = defs
        self.root = root
        self.formats = formats
        self._compiled: jsonschema_rs.Validator | None = None

    @property
    def compiled(self) -> jsonschema_rs.Validator:
        if self._compiled is None:
            document = bounded(root(self.fragment, referenced_defs(self.fragment, self.defs)))
            self._compiled = _compile(document, self.formats)
        return self._compiled

    def is_valid(self, instance: Any) -> bool:
        return self.compiled.is_valid(instance)

    def validate(self, instance: Any) -> None:
        try:
            self.compiled.validate(instance)
        except jsonschema_rs.ValidationError as error:
            path, message = describe(error)
            raise SchemaViolation(join_path(self.root, path) or "body", message) from None


def join_path(base: str, segments: list[str | int]) -> str:
    """`data`, 3, `price` -> `data[3].price` (after `base`, if any)."""
    out = base
    for segment in segments:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else segment
    return out


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    if isinstance(value, str | int | float | Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _only_null_branch(errors: list[jsonschema_rs.ValidationError]) -> bool:
    # the `{type: null}` half of a nullable wrapper: its error says nothing useful
    return len(errors) == 1 and isinstance(errors[0].kind, _Kind.Type) and errors[0].kind.types == ["null"]


def describe(error: jsonschema_rs.ValidationError) -> tuple[list[str | int], str]:
    """The instance path and a short message for one jsonschema-rs error (from its kind, not its text)."""
    path: list[str | int] = list(error.instance_path)
    kind = error.kind
    match kind:
        case _Kind.Type(types=types):
            shown = [t for t in types if t != "null"] + (["null"] if "null" in types else [])
            return path, "must be " + " or ".join(shown)
        case _Kind.Required(property=name):
            return [*path, name], "is required"
        case _Kind.AdditionalProperties(unexpected=unexpected):
            return [*path, unexpected[0]], "is not allowed"
        case _Kind.Enum(options=options):
            return path, "must be one of: " + ", ".join(_text(o) for o in options)
        case _Kind.Constant(expected_value=value):
            return path, f"must be {_text(value)}"
        case _Kind.Minimum(limit=limit):
            return path, f"must be >= {_text(limit)}"
        case _Kind.Maximum(limit=limit):
            return path, f"must be <= {_text(limit)}"
        case _Kind.ExclusiveMinimum(limit=limit):
            return path, f"must be > {_text(limit)}"
        case _Kind.ExclusiveMaximum(limit=limit):
            return path, f"must be < {_text(limit)}"
        case _Kind.MultipleOf(multiple_of=step):
            return path, f"must be a multiple of {_text(step)}"
        case _Kind.MinLength(limit=limit):
            return path, f"must not be shorter than {limit} characters"
        case _Kind.MaxLength(limit=limit):
            return path, f"must not be longer than {limit} characters"
        case _Kind.MinItems(limit=limit):
            return path, f"must not have fewer than {limit} items"
        case _Kind.MaxItems(limit=limit):
            return path, f"must not have more than {limit} items"
        case _Kind.MinProperties(limit=limit):
            return path, f"must not have fewer than {limit} properties"
        case _Kind.MaxProperties(limit=limit):
            return path, f"must not have more than {limit} properties"
        case _Kind.UniqueItems():
            return path, "must not contain duplicate items"
        case _Kind.Pattern(pattern=pattern):
            return path, f"must match {pattern}"
        case _Kind.Format(format=name):
            return path, f"must be a valid {name}"
        case _Kind.FalseSchema():
            return path, "is not allowed"
        case _Kind.AnyOf(context=branches) | _Kind.OneOfNotValid(context=branches):
            # report the closest branch's first problem, which reads better than "matches no branch"
            useful = [b for b in branches if b and not _only_null_branch(b)]
            if useful:
                return describe(min(useful, key=len)[0])
            return path, "does not match any allowed schema"
        case _Kind.OneOfMultipleValid():
            return path, "matches more than one allowed schema"
        case _:
            return path, "is invalid"
