"""Deterministic, plausible instances of converted fragments, and small valid files for binary bodies.

Every choice comes from a hash of (seed, JSON path, purpose), never from global random state, so the same
seed gives the same instance on every run and process, and a change in one branch of a schema does not
reshuffle the rest. Generated values are checked with the validator: a `oneOf`/`anyOf` branch is kept only
if the whole node accepts it (a `oneOf` instance must match exactly one branch; where branches overlap, the
instance is pinned to one by nulls in properties only its rivals declare, see `_Gen.pin`), and `generate`
retries a few derived seeds before giving up on a schema it cannot satisfy.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import importlib
import io
import json
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

from wbseller.schemas.convert import DEFS_PREFIX
from wbseller.schemas.validate import Validator

# the stdlib's regex parser (typeshed has no stub for re._parser; sre_parse warns on import)
_sre: Any = importlib.import_module("re._parser")

_ATTEMPTS = 5
_PIN_TRIES = 500  # null insertions tried when pinning an instance to one `oneOf` branch
_MAX_DEPTH = 40
_EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_SPAN = 2 * 365 * 86400  # 2025-01-01 .. 2026-12-31
_MSK = dt.timezone(dt.timedelta(hours=3))

# Validators by identity of (node, defs); the objects are kept alive with them, so ids are not reused.
_VALIDATORS: dict[tuple[int, int], tuple[Any, Any, Validator]] = {}


def _validator(node: Any, defs: dict[str, Any]) -> Validator:
    key = (id(node), id(defs))
    hit = _VALIDATORS.get(key)
    if hit is not None and hit[0] is node and hit[1] is defs:
        return hit[2]
    if len(_VALIDATORS) > 4096:
        _VALIDATORS.clear()
    validator = Validator(node, defs)
    _VALIDATORS[key] = (node, defs, validator)
    return validator


def generate(fragment: Any, defs: dict[str, Any], *, seed: str) -> Any:
    """An instance of `fragment` (with its section's `defs`), the same for the same seed."""
    validator = _validator(fragment, defs)
    value: Any = None
    for attempt in range(_ATTEMPTS):
        value = _Gen(defs, seed if attempt == 0 else f"{seed}~{attempt}").value(fragment, "", "", ())
        if validator.is_valid(value):
            break
    return value


def example_or_generate(fragment: Any, defs: dict[str, Any], example: Any, seed: str) -> Any:
    """The documented example if it is valid, else a generated instance (None means no example)."""
    if example is not None and _validator(fragment, defs).is_valid(example):
        return example
    return generate(fragment, defs, seed=seed)


class _Gen:
    def __init__(self, defs: dict[str, Any], seed: str) -> None:
        self.defs = defs
        self.seed = seed
        # ids of nodes made here (merged branches), alive while generating: not worth a cached validator
        self.synthetic: set[int] = set()

    def pick(self, path: str, purpose: str, n: int) -> int:
        """A number in [0, n) for this seed, place and purpose."""
        digest = hashlib.blake2b(f"{self.seed}\0{path}\0{purpose}".encode(), digest_size=8).digest()
        return int.from_bytes(digest) % max(n, 1)

    # --- schema plumbing --------------------------------------------------------------------------

    def resolve(self, node: Any, stack: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            name = ref.removeprefix(DEFS_PREFIX)
            node, stack = self.defs.get(name, {}), (*stack, name)
        return node, stack

    def flatten(self, node: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        """`node` with its allOf members merged in (resolved first)."""
        out = {k: v for k, v in node.items() if k != "allOf"}
        for written in node.get("allOf", []):
            member, _ = self.resolve(written, stack)
            if isinstance(member, dict):
                _merge(out, self.flatten(member, stack))
        return out

    # --- values -----------------------------------------------------------------------------------

    def value(self, node: Any, path: str, name: str, stack: tuple[str, ...]) -> Any:
        original = node
        node, stack = self.resolve(node, stack)
        if not isinstance(node, dict):
            return None if node is False else f"{name or 'value'}"
        # a definition reached again through itself: keep to what is required from here on
        shallow = len(stack) != len(set(stack))
        if len(stack) > _MAX_DEPTH:
            return None
        if "allOf" in node:
            node = self.flatten(node, stack)
            self.synthetic.add(id(node))
        if "const" in node:
            return node["const"]
        if "enum" in node:
            options = [o for o in node["enum"] if o is not None] or node["enum"]
            return options[self.pick(path, "enum", len(options))]
        for keyword in ("oneOf", "anyOf"):
            if isinstance(node.get(keyword), list):
                return self.alternative(original, node, keyword, path, name, stack, shallow)
        kind = _kind(node, shallow)
        if kind == "null":
            return None
        if kind == "object":
            return self.object(node, path, name, stack, shallow)
        if kind == "array":
            return self.array(node, path, name, stack, shallow)
        if kind == "boolean":
            return self.pick(path, "bool", 2) == 1
        if kind == "integer":
            return self.integer(node, path, name)
        if kind == "number":
            return self.number(node, path, name)
        return self.string(node, path, name)

    def alternative(
        self,
        original: Any,
        node: dict[str, Any],
        keyword: str,
        path: str,
        name: str,
        stack: tuple[str, ...],
        shallow: bool,
    ) -> Any:
        branches: list[Any] = node[keyword]
        rest = {k: v for k, v in node.items() if k != keyword}
        start = self.pick(path, keyword, len(branches))
        order = branches[start:] + branches[:start]
        # non-null branches first (a recursive one last of all, when shallow)
        order.sort(key=lambda b: _is_null(b) != shallow)
        # the node as the validator sees it: a $ref when it was one, else the (unflattened) node
        synthetic = id(original) in self.synthetic
        check = Validator(original, self.defs) if synthetic else _validator(original, self.defs)
        first: Any = None
        for i, written in enumerate(order):
            branch, inner = self.resolve(written, stack)
            candidate = dict(rest)
            if isinstance(branch, dict):
                _merge(candidate, self.flatten(branch, inner))
            self.synthetic.add(id(candidate))
            value = self.value(candidate, path, name, inner)
            if check.is_valid(value):
                return value
            first = value if i == 0 else first
        # no branch is accepted alone: a `oneOf` whose branches overlap (WB's five commission shapes in
        # 10-tariffs, where `anyOf` is meant). Pin the preferred branch's instance to it, else return it as is.
        if keyword == "oneOf" and order:
            pinned = self.pin(first, order[0], order[1:], check)
            if pinned is not None:
                return pinned
        return first

    def checker(self, node: Any) -> Validator:
        return Validator(node, self.defs) if id(node) in self.synthetic else _validator(node, self.defs)

    def pin(self, value: Any, chosen: Any, others: list[Any], check: Validator) -> Any:
        """`value` (an instance of branch `chosen` that `others` accept too) with properties set to null that
        `chosen` leaves open and a rival declares otherwise, until only `chosen` accepts it; None if no such
        properties are found. Null reads as "not applicable": {"kgvpChina": null} in a Russian commission row.
        The same property goes into every object at one place (each item of a list), so rows keep one shape.
        """
        value = copy.deepcopy(value)  # a const or enum value may be the schema's own object
        accepts = self.checker(chosen).is_valid
        names = _declared_names(others, self.defs)
        places = _objects_by_place(value)
        tries = 0
        for rival in (self.checker(b) for b in others):
            excluded = not rival.is_valid(value)
            for objects in places.values():
                for name in names:
                    if excluded or tries >= _PIN_TRIES:
                        break
                    if any(name in o for o in objects):
                        continue
                    tries += 1
                    for o in objects:
                        o[name] = None
                    excluded = accepts(value) and not rival.is_valid(value)
                    if not excluded:
                        for o in objects:
                            del o[name]
            if not excluded:
                return None
        return value if check.is_valid(value) else None

    def object(
        self, node: dict[str, Any], path: str, name: str, stack: tuple[str, ...], shallow: bool
    ) -> dict[str, Any]:
        properties: dict[str, Any] = node.get("properties") or {}
        required = [r for r in node.get("required") or [] if isinstance(r, str)]
        extra = node.get("additionalProperties")
        out: dict[str, Any] = {}
        for key, sub in properties.items():
            # optional properties are present, but for a deterministic fifth of those of larger objects
            # (a small object, such as a list response's {next, orders}, keeps them all)
            keep = len(properties) <= 3 or self.pick(f"{path}.{key}", "optional", 10) < 8
            if key in required or (not shallow and keep):
                out[key] = self.value(sub, _child(path, key), key, stack)
        for key in required:
            if key not in out:
                sub = extra if isinstance(extra, dict) else {"type": "string"}
                out[key] = self.value(sub, _child(path, key), key, stack)
        if isinstance(extra, dict) and (not properties or node.get("minProperties")):
            # a map: a couple of entries (more if minProperties asks)
            count = max(1 + self.pick(path, "entries", 2), node.get("minProperties", 0) - len(out))
            if shallow:
                count = max(node.get("minProperties", 0) - len(out), 0)
            for i in range(count):
                key = f"{name or 'key'}{i + 1}"
                out[key] = self.value(extra, _child(path, key), key, stack)
        return out

    def array(
        self, node: dict[str, Any], path: str, name: str, stack: tuple[str, ...], shallow: bool
    ) -> list[Any]:
        low = node.get("minItems", 0)
        high = node.get("maxItems", max(low, 3))
        if shallow:
            count = low
        else:
            first, last = max(low, 1), min(high, max(low, 3))
            count = min(first + self.pick(path, "items", last - first + 1), high)
        items = node.get("items", {})
        out: list[Any] = []
        seen: set[str] = set()
        for i in range(count):
            for retry in range(6):
                item = self.value(items, f"{path}[{i}]" + ("" if retry == 0 else f"~{retry}"), name, stack)
                mark = json.dumps(item, sort_keys=True)
                if not node.get("uniqueItems") or mark not in seen:
                    break
            seen.add(mark)
            out.append(item)
        if node.get("uniqueItems"):  # too few distinct values (a short enum): drop the repeats
            unique = {json.dumps(x, sort_keys=True): x for x in out}
            out = list(unique.values()) if len(unique) >= low else out
        return out

    def integer(self, node: dict[str, Any], path: str, name: str) -> int:
        low, high = _bounds(node, integer=True)
        fmt = str(node.get("format", ""))
        if fmt.startswith("uint"):
            low = max(low, 0) if low is not None else 0
        if fmt in ("int32", "uint32"):
            high = min(high, 2**31 - 1) if high is not None else 2**31 - 1
        plausible_low, plausible_high, step = _plausible_int(name)
        multiple = node.get("multipleOf")
        if isinstance(multiple, int) and multiple > 0:
            step = multiple
        return _choose_int(low, high, plausible_low, plausible_high, step, self.pick(path, "int", 1 << 30))

    def number(self, node: dict[str, Any], path: str, name: str) -> float | int:
        multiple = node.get("multipleOf")
        low, high = _bounds(node, integer=False)
        lowered = name.lower()
        span = (100.0, 10000.0) if "price" in lowered or "sum" in lowered else (0.0, 1000.0)
        if "percent" in lowered or "rate" in lowered or lowered.endswith("pct"):
            span = (0.0, 100.0)
        if isinstance(multiple, int | float) and multiple > 0:
            first = math.ceil((low if low is not None else span[0]) / multiple)
            last = math.floor((high if high is not None else first * multiple + 100 * multiple) / multiple)
            k = first + self.pick(path, "num", max(last - first + 1, 1))
            return k * multiple
        a, b = span
        if low is not None:
            a = max(a, low)
        if high is not None:
            b = min(b, high)
        if a > b:  # the plausible span misses the bounds: use the bounds
            a = low if low is not None else high - 100.0
            b = high if high is not None else a + 100.0
        value = round(a + (b - a) * self.pick(path, "num", 10001) / 10000, 2)
        minimum, maximum = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
        if (low is not None and value < low) or (high is not None and value > high):
            value = (a + b) / 2
        if isinstance(minimum, int | float) and value <= minimum:
            value = minimum + (b - minimum) / 2 if b > minimum else minimum + 0.01
        if isinstance(maximum, int | float) and value >= maximum:
            value = maximum - 0.01
        return value

    def string(self, node: dict[str, Any], path: str, name: str) -> str:
        n = self.pick(path, "str", 1 << 30)
        fmt = str(node.get("format", "")).lower()
        text = self.formatted(fmt, name, n) or _named_string(name, n)
        minimum, maximum = node.get("minLength", 0), node.get("maxLength")
        if len(text) < minimum:
            text += "x" * (minimum - len(text))
        if isinstance(maximum, int) and len(text) > maximum:
            text = text[:maximum]
        pattern = node.get("pattern")
        if isinstance(pattern, str) and not _matches(pattern, text):
            made = _from_pattern(pattern, n)
            if made is not None:
                text = made
        return text

    def formatted(self, fmt: str, name: str, n: int) -> str | None:
        if fmt == "date-time" or (not fmt and name.endswith("At")):
            moment = _EPOCH + dt.timedelta(seconds=n % _SPAN)
            return moment.isoformat().replace("+00:00", "Z") if n % 2 else moment.astimezone(_MSK).isoformat()
        if fmt == "date" or (not fmt and "date" in name.lower()):
            return (_EPOCH + dt.timedelta(days=n % 730)).date().isoformat()
        if fmt == "time":
            return f"{n % 24:02d}:{n // 24 % 60:02d}:00Z"
        if fmt == "uuid":
            raw = bytearray(hashlib.blake2b(str(n).encode(), digest_size=16).digest())
            raw[6], raw[8] = (raw[6] & 0x0F) | 0x40, (raw[8] & 0x3F) | 0x80
            hexed = raw.hex()
            return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"
        if fmt == "email" or (not fmt and "email" in name.lower()):
            return f"seller{n % 10000}@example.com"
        if fmt in ("uri", "url") or (not fmt and ("url" in name.lower() or "link" in name.lower())):
            return f"https://example.com/{name or 'file'}/{n % 100000}"
        if fmt == "byte":  # base64 content: stickers and documents are pictures or PDFs
            return base64.b64encode(binary_stub("image/png")).decode()
        if fmt == "binary":
            return f"{name or 'file'}.bin"
        return None


def _declared_names(nodes: list[Any], defs: dict[str, Any]) -> list[str]:
    """Every property name declared anywhere in `nodes` (through $refs), in the order first met."""
    names: dict[str, None] = {}
    seen: set[str] = set()
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.removeprefix(DEFS_PREFIX)
                if name not in seen:
                    seen.add(name)
                    stack.append(defs.get(name, {}))
                continue
            for key, sub in reversed(node.items()):
                if key == "properties" and isinstance(sub, dict):
                    names.update(dict.fromkeys(sub))
                    stack.extend(reversed(sub.values()))
                elif key not in ("enum", "const", "default", "required"):
                    stack.append(sub)
    return list(names)


def _objects_by_place(value: Any) -> dict[str, list[dict[str, Any]]]:
    """The objects inside `value` by place, list indexes left out (`report[]` holds every row of `report`),
    deepest first: a row's null field reads better than a stray one at the top."""
    out: dict[str, list[dict[str, Any]]] = {}
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        place, node = stack.pop(0)
        if isinstance(node, dict):
            out.setdefault(place, []).append(node)
            stack.extend((f"{place}.{k}", v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{place}[]", v) for v in node)
    return dict(sorted(out.items(), key=lambda item: -item[0].count(".") - item[0].count("[]")))


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_null(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "null"


def _kind(node: dict[str, Any], shallow: bool) -> str:
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if shallow and "null" in kind:
            return "null"
        return str(kinds[0]) if kinds else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in node or "required" in node or "additionalProperties" in node:
        return "object"
    if "items" in node or "minItems" in node or "maxItems" in node:
        return "array"
    return "string"


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    """allOf semantics, roughly: union of properties and required, tightest bounds, first of the rest."""
    for key, value in other.items():
        if key not in into:
            into[key] = value
        elif key == "properties":
            merged = dict(into[key])
            for prop, sub in value.items():
                merged[prop] = {"allOf": [merged[prop], sub]} if prop in merged else sub
            into[key] = merged
        elif key == "required":
            into[key] = [*into[key], *(r for r in value if r not in into[key])]
        elif key in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"):
            into[key] = max(into[key], value)
        elif key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"):
            into[key] = min(into[key], value)
        elif key == "enum":
            both = [v for v in into[key] if v in value]
            into[key] = both or into[key]
        elif key == "type":
            mine = into[key] if isinstance(into[key], list) else [into[key]]
            theirs = value if isinstance(value, list) else [value]
            both = [t for t in mine if t in theirs]
            # no common type: unsatisfiable as written (09's `data: object` overridden by `data: array`);
            # the later member is what such an author means, so generate that
            into[key] = (both[0] if len(both) == 1 else both) if both else value


def _bounds(node: dict[str, Any], *, integer: bool) -> tuple[Any, Any]:
    low, high = node.get("minimum"), node.get("maximum")
    ex_low, ex_high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    if integer:
        low = math.ceil(low) if isinstance(low, int | float) else None
        high = math.floor(high) if isinstance(high, int | float) else None
        if isinstance(ex_low, int | float):
            low = max(low, math.floor(ex_low) + 1) if low is not None else math.floor(ex_low) + 1
        if isinstance(ex_high, int | float):
            high = min(high, math.ceil(ex_high) - 1) if high is not None else math.ceil(ex_high) - 1
        return low, high
    low = low if isinstance(low, int | float) else ex_low if isinstance(ex_low, int | float) else None
    high = high if isinstance(high, int | float) else ex_high if isinstance(ex_high, int | float) else None
    return low, high


def _plausible_int(name: str) -> tuple[int, int, int]:
    """(low, high, step) that look right for a property of this name."""
    lowered = name.lower()
    if "price" in lowered:
        return 10_000, 500_000, 100  # kopecks
    if lowered in ("nmid", "nm_id", "nmids", "nm_ids", "nmidlist") or lowered.startswith("nmid"):
        return 10_000_000, 999_999_999, 1
    if "discount" in lowered:
        return 5, 70, 1
    if "year" in lowered:
        return 2025, 2026, 1
    if lowered in ("limit", "take", "page", "size", "pagesize"):
        return 1, 100, 1
    if lowered in ("offset", "skip", "next", "cursor"):
        return 0, 1000, 1
    if lowered == "id" or lowered.endswith(("id", "ids", "_id", "uid")):
        return 100_000, 99_999_999, 1
    if any(word in lowered for word in ("count", "quantity", "qty", "amount", "stock", "total")):
        return 1, 500, 1
    return 1, 1000, 1


def _choose_int(low: int | None, high: int | None, p_low: int, p_high: int, step: int, r: int) -> int:
    a = p_low if low is None else max(low, p_low)
    b = p_high if high is None else min(high, p_high)
    if a > b:  # the plausible range misses the bounds: use the bounds
        a = low if low is not None else (high if high is not None else 0) - 100
        b = high if high is not None else a + 100
    first, last = math.ceil(a / step), math.floor(b / step)
    if first > last:  # no multiple of a plausible step fits: any integer in range
        first, last, step = a, b, 1
    return (first + r % (last - first + 1)) * step


def _named_string(name: str, n: int) -> str:
    lowered = name.lower()
    if "vendorcode" in lowered or "article" in lowered:
        return f"art-{n % 100000:05d}"
    if "barcode" in lowered or "sku" in lowered:
        return f"20{n % 10**11:011d}"
    if "supplyid" in lowered:
        return f"WB-GI-{n % 10**8:08d}"
    if "phone" in lowered:
        return f"+7999{n % 10**7:07d}"
    if "currency" in lowered:
        return "RUB"
    if lowered == "id" or lowered.endswith(("id", "uid", "_id")):
        return hashlib.blake2b(str(n).encode(), digest_size=8).hexdigest()
    return f"{name or 'value'}-{n % 1000}"


def _matches(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return True  # a pattern Python cannot read: nothing to aim at


def _from_pattern(pattern: str, n: int) -> str | None:
    """A string matching a simple regular expression (literals, classes, repeats, groups, alternatives)."""
    try:
        parsed = _sre.parse(pattern)
    except re.error:
        return None
    text = _emit(list(parsed), n)
    return text if text is not None and _matches(pattern, text) else None


def _emit(items: list[Any], n: int) -> str | None:
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            char = _class_char(arg, n)
            if char is None:
                return None
            out.append(char)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            count = low if high == low else min(low + 1 + n % 3, high)
            for i in range(count):
                part = _emit(list(sub), n // 7 + i)
                if part is None:
                    return None
                out.append(part)
        elif name == "SUBPATTERN":
            part = _emit(list(arg[-1]), n)
            if part is None:
                return None
            out.append(part)
        elif name == "BRANCH":
            options = arg[1]
            part = _emit(list(options[n % len(options)]), n)
            if part is None:
                return None
            out.append(part)
        elif name != "AT":
            return None
    return "".join(out)


def _class_char(members: list[Any], n: int) -> str | None:
    choices: list[str] = []
    for op, arg in members:
        name = str(op)
        if name == "NEGATE":
            return None
        if name == "LITERAL":
            choices.append(chr(arg))
        elif name == "RANGE":
            choices.append(chr(arg[0] + n % (arg[1] - arg[0] + 1)))
        elif name == "CATEGORY":
            choices.append({"CATEGORY_DIGIT": str(n % 10), "CATEGORY_SPACE": " "}.get(str(arg), "a"))
    return choices[n % len(choices)] if choices else None


# --- binary bodies ------------------------------------------------------------------------------------


def binary_stub(content_type: str) -> bytes:
    """A tiny but valid file of this media type (octet-stream bytes for types it does not know)."""
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    maker = _STUBS.get(kind)
    return maker() if maker else b"wbseller\x00\x01\x02\x03"


def _pdf() -> bytes:
    """One page saying "wbseller", with a correct cross-reference table."""
    content = b"BT /F1 12 Tf 20 40 Td (wbseller) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 164 113] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png() -> bytes:
    """A 1x1 white greyscale picture."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff")  # filter byte, one pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def _jpeg() -> bytes:
    """An 8x8 grey baseline JPEG: one all-zero block, one-code Huffman tables."""
    segments = [
        b"\xff\xdb\x00\x43\x00" + b"\x01" * 64,  # quantisation table 0, all ones
        b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00",  # 8x8, one component
        b"\xff\xc4\x00\x14\x00\x01" + b"\x00" * 15 + b"\x00",  # DC table: code "0" = category 0
        b"\xff\xc4\x00\x14\x10\x01" + b"\x00" * 15 + b"\x00",  # AC table: code "0" = end of block
        b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00",  # scan
        b"\x3f",  # bits 0 (DC 0), 0 (EOB), padded with ones
    ]
    return b"\xff\xd8" + b"".join(segments) + b"\xff\xd9"


def _gif() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def _csv() -> bytes:
    return b"nmID,vendorCode,quantity\n12345678,art-00001,3\n"


def _zip() -> bytes:
    """A ZIP holding one CSV, as WB's report downloads do."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("report.csv", date_time=(2025, 1, 1, 0, 0, 0)), _csv())
    return buffer.getvalue()


def _svg() -> bytes:
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="58" height="40" viewBox="0 0 58 40">'
        b'<rect width="58" height="40" fill="#fff"/><text x="4" y="22" font-size="8">wbseller</text></svg>'
    )


_STUBS: dict[str, Callable[[], bytes]] = {
    "application/pdf": _pdf,
    "application/zip": _zip,
    "application/x-zip-compressed": _zip,
    "image/png": _png,
    "image/jpeg": _jpeg,
    "image/jpg": _jpeg,
    "image/gif": _gif,
    "image/svg+xml": _svg,
    "text/csv": _csv,
    "text/plain": lambda: b"wbseller\n",
    "application/json": lambda: b"{}",
}
