"""OpenAPI 3.0 schema objects -> JSON Schema draft 2020-12 fragments.

Only keywords JSON Schema knows are kept (an allowlist), so OAS-only ones (`nullable`, `x-*`, `discriminator`,
`xml`, `externalDocs`, `deprecated`, `example`) and prose (`description`, `title`) never reach the fragments, and
stray Swagger 2 leftovers (`in`, a boolean `required`) cannot make a fragment invalid.

`format` is kept verbatim. Standard names (date-time, date, uuid, email, uri, ...) may be asserted by the
validator (see `validate`); non-standard ones (uint64, int64, int32, float, double, binary, byte, "ISO 4217",
upper-case "UUID", ...) are annotations only: 2020-12 validators ignore formats they do not know.

`discriminator` goes, but its `mapping` is kept as meaning: each mapped `oneOf`/`anyOf` branch also requires its
discriminating property to hold one of its mapped values (without it, the 7 report types of 11-analytics
`POST /api/v2/nm-report/downloads`, which share their shapes, match several branches and no document example
passes `oneOf`).

`$ref` siblings are dropped, as OAS 3.0 says, with one exception: `nullable: true` next to a `$ref` still
widens it (as `anyOf: [{$ref}, {type: null}]`), because that is what such an author means.
"""

from __future__ import annotations

from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFS_PREFIX = "#/$defs/"

# Keywords with the same meaning in OAS 3.0 and 2020-12, copied as they are.
_PLAIN = frozenset(
    {
        "type",
        "format",
        "enum",
        "const",
        "default",
        "minimum",
        "maximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        # annotations in 2020-12: they never reject anything, so they are harmless to keep
        "readOnly",
        "writeOnly",
    }
)
_SUBSCHEMA = ("items", "not", "additionalProperties")
_SUBSCHEMA_LISTS = ("allOf", "oneOf", "anyOf")
_NULL = {"type": "null"}


def _nullable(node: dict[str, Any]) -> bool:
    # x-nullable is the go-swagger spelling found in 14-wbd (and once in 08)
    return node.get("nullable") is True or node.get("x-nullable") is True


def _widen(out: dict[str, Any]) -> dict[str, Any]:
    """Let `out` also accept null."""
    if not out:
        return out  # {} already accepts null
    if "const" in out:
        return {"anyOf": [out, dict(_NULL)]}
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list):
        if "null" not in kind:
            out["type"] = [*kind, "null"]
    elif "enum" in out and set(out) <= {"enum", "default", "readOnly", "writeOnly"}:
        pass  # an enum alone: adding null to it (below) is enough
    else:
        return {"anyOf": [out, dict(_NULL)]}
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def to_json_schema(node: Any, ref_prefix: str = "#/components/schemas/") -> Any:
    """Convert one OAS 3.0 schema node (and everything below it) to a 2020-12 fragment."""
    if not isinstance(node, dict):
        return node  # a boolean schema (or garbage) passes through
    out: dict[str, Any] = {}
    ref = node.get("$ref")
    if isinstance(ref, str):
        out["$ref"] = DEFS_PREFIX + ref[len(ref_prefix) :] if ref.startswith(ref_prefix) else ref
        return _widen(out) if _nullable(node) else out
    for key, value in node.items():
        if key in _PLAIN:
            out[key] = value
        elif key in _SUBSCHEMA:
            out[key] = value if isinstance(value, bool) else to_json_schema(value, ref_prefix)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [to_json_schema(item, ref_prefix) for item in value]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub, ref_prefix) for name, sub in value.items()}
        elif key == "required" and isinstance(value, list):
            out[key] = value  # a boolean `required` (Swagger 2 leftover) is dropped
    discriminator = node.get("discriminator")
    if isinstance(discriminator, dict):
        _discriminate(out, discriminator, ref_prefix)
    # OAS 3.0 (draft 4) boolean exclusive bounds -> 2020-12 numeric ones
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = node.get(exclusive)
        if flag is True and bound in out:
            out[exclusive] = out.pop(bound)
        elif isinstance(flag, int | float) and not isinstance(flag, bool):
            out[exclusive] = flag  # already the 2020-12 form
    return _widen(out) if _nullable(node) else out


def _discriminate(out: dict[str, Any], discriminator: dict[str, Any], ref_prefix: str) -> None:
    """Pin each mapped branch of `out`'s oneOf/anyOf to its discriminator values."""
    name, mapping = discriminator.get("propertyName"), discriminator.get("mapping")
    if not isinstance(name, str) or not isinstance(mapping, dict):
        return
    values: dict[str, list[Any]] = {}
    for value, written in mapping.items():
        target = str(written)
        ref = DEFS_PREFIX + (target[len(ref_prefix) :] if target.startswith(ref_prefix) else target)
        values.setdefault(ref, []).append(value)
    for key in ("oneOf", "anyOf"):
        branches = out.get(key)
        if isinstance(branches, list):
            out[key] = [
                {"allOf": [b, {"properties": {name: {"enum": values[b["$ref"]]}}, "required": [name]}]}
                if isinstance(b, dict) and b.get("$ref") in values
                else b
                for b in branches
            ]


def convert_components(components_schemas: dict[str, Any]) -> dict[str, Any]:
    """`components/schemas` of one document -> its `$defs` map."""
    return {name: to_json_schema(schema) for name, schema in components_schemas.items()}


def root(fragment: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """A validatable document: the fragment at the top, its section's definitions beside it."""
    if fragment is True:
        fragment = {}
    elif fragment is False:
        fragment = {"not": {}}
    return {"$schema": DIALECT, "$defs": defs, **fragment}


def referenced_defs(fragment: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """Only the definitions `fragment` reaches (transitively): a smaller root compiles faster."""
    seen: dict[str, Any] = {}
    stack = [fragment]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(DEFS_PREFIX):
                name = ref[len(DEFS_PREFIX) :]
                if name not in seen and name in defs:
                    seen[name] = defs[name]
                    stack.append(defs[name])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return seen
