"""A service's own errors in the shape its document declares for them.

    shape = ErrorShape(op, catalog.defs_of(op))     # once per operation at start: nothing decided yet
    shaped = shape.render(err, request_id, now)     # (content type, body), or None: the uniform body stays

The platform's refusals (401, 402, 429, and whatever the gateway refuses before the operation) are one WB
body (`errors.render`). An error the operation itself answers (its request checks, a handler's Conflict)
is answered in the shape its document declares for that status (SPECS-REPORT.md §5.3: some 23 shapes by
service family), with our facts where the shape has a place for them, by field meaning:

| field | value |
|---|---|
| `detail`, `message`, `errorText`, `error`, `errors` (string) | the detail text (`errors` as a list of strings: `[text]`) |
| `detail` that must be an object | `{"message": text}` |
| `error` (boolean) | `true` |
| `code` (string) | our code; on marketplace-api its CamelCase name (`MARKETPLACE_CODES`) |
| `requestId`, `request_id` | the request id (the same as `X-Request-Id`) |
| `title`, `origin`, `status`, `statusText`, `timestamp` | as in the uniform body |
| `data`, `additionalErrors` | `null` where allowed, else left out |
| anything else | left out, or generated where required |

Every value is checked against its property's schema and the whole body against the declared one
(`Validator`); a body that does not validate falls back to the documented examples of that status with
our facts where they fit, then the uniform body if it validates, then the examples as they are, then a
generated instance (with our facts, then without). The uniform body is kept where it validates and already carries every field the shaped
body would (the problem-details family): `None` when the declared type is `application/problem+json`,
else the uniform bytes under the declared content type. Nothing declared for the status (or a status
declared without a body): `None`. docs/requests.md ("Error shapes") has the rules and the decisions.

Cost: the constructor stores its arguments. The plan of a status (media, validator) is made on its first
error; the body of an error is a template made once per distinct (title, detail, code, origin) and kept
in a small per-status dict, filled in with the request id (and a per-second timestamp) on each render.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from wbseller.errors import PROBLEM_JSON, render_error
from wbseller.methods.generated import is_json
from wbseller.schemas.convert import DEFS_PREFIX
from wbseller.schemas.generate import generate
from wbseller.schemas.validate import Validator

if TYPE_CHECKING:
    from wbseller.catalog import Media, Operation
    from wbseller.errors import WBError

ORIGIN = "wbseller-gateway"  # the uniform body's origin: gateway/app.py's ORIGIN (a test keeps them equal)
PLATFORM = frozenset({401, 402, 429})  # the platform's refusals: one shape everywhere (FACTS: error model)
MARKETPLACE_HOST = "marketplace-api"  # its `code`s are CamelCase names in every documented example
TEMPLATES_PER_STATUS = 256  # distinct error texts kept per (operation, status); the dict is emptied when full

# Our codes -> marketplace-api's names (the names its documents use for that status; docs/requests.md).
MARKETPLACE_CODES: Final[Mapping[str, str]] = {
    "parameter-missing": "IncorrectParameter",
    "parameter-invalid": "IncorrectParameter",
    "body-missing": "IncorrectRequestBody",
    "body-not-json": "IncorrectRequestBody",
    "body-invalid": "IncorrectRequestBody",
    "content-type-unsupported": "IncorrectRequestBody",
    "multipart-invalid": "IncorrectRequestBody",
    "part-too-large": "IncorrectRequestBody",
    "body-too-large": "IncorrectRequestBody",
    "bad-request": "IncorrectRequest",
    "forbidden": "AccessDenied",
    "not-found": "NotFound",
    "path-not-found": "NotFound",
}
# A code not in the table: the status's name where marketplace-api has one, else the code in CamelCase.
MARKETPLACE_BY_STATUS: Final[Mapping[int, str]] = {
    400: "IncorrectRequest",
    403: "AccessDenied",
    404: "NotFound",
}

# Codes whose cause is a body that cannot be read at all: answered in a declared non-JSON type where the
# status also declares one (content-api's plain/text "Request body can not be decoded", "Invalid 'boundary'").
UNDECODABLE = frozenset({"body-not-json", "multipart-invalid"})

_TEXT_FIELDS = frozenset({"detail", "message", "errorText", "error", "errors"})
_REQUEST_ID_FIELDS = frozenset({"requestId", "request_id"})
_NULL_FIELDS = frozenset({"data", "additionalErrors"})
_CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")

# Holes of a template: unique strings no fact contains (checked when the template is made).
_RID = "\x00\x00request-id\x00"
_TS = "\x00\x00timestamp\x00"
_RID_JSON = json.dumps(_RID)[1:-1]
_TS_JSON = json.dumps(_TS)[1:-1]
_HOLES = re.compile(f"({re.escape(_RID_JSON)}|{re.escape(_TS_JSON)})")
# What a hole is validated as: a gateway request id (32 hex digits) and a timestamp of the same spelling.
_SAMPLE_RID = "0123456789abcdef0123456789abcdef"
_SAMPLE_TS = "2025-01-01T00:00:00Z"

_MISSING: Any = object()  # a property left out


def marketplace_code(code: str, status: int) -> str:
    """marketplace-api's name for one of our codes (a code already CamelCase, a handler's own, passes)."""
    if _CAMEL.match(code):
        return code
    named = MARKETPLACE_CODES.get(code)
    if named is not None:
        return named
    if code.endswith("-not-found"):
        return "NotFound"
    by_status = MARKETPLACE_BY_STATUS.get(status)
    if by_status is not None:
        return by_status
    return "".join(part.capitalize() for part in code.split("-") if part)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_stamp: list[Any] = [None, b""]  # the second last spelled, and its spelling


def _timestamp(now: float) -> bytes:
    second = int(now)
    if _stamp[0] != second:
        _stamp[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        _stamp[0] = second
    stamp: bytes = _stamp[1]
    return stamp


@dataclass(frozen=True, slots=True)
class _Facts:
    """What we know of one error, by meaning."""

    text: str
    title: str
    code: str  # as the shape wants it (CamelCase on marketplace-api)
    origin: str
    status: int


@dataclass(slots=True)
class Template:
    """One error's body: fixed chunks around the request id and the timestamp, or the uniform body."""

    content_type: bytes
    source: str  # "uniform", "shaped", "example[+facts]", "generated[+facts]", "none"
    chunks: tuple[bytes, ...] = ()  # text, hole, text, hole, ..., text
    holes: tuple[str, ...] = ()  # "rid" or "ts", one per gap between chunks
    uniform: bool = False  # the uniform body's bytes (errors.render_error), under `content_type`
    dynamic: bool = False  # dumped on each render (`value` holds the markers)
    value: Any = None  # the instance (with sample holes), for tests and listings

    def render(self, err: WBError, request_id: str, now: float, origin: str) -> bytes:
        if self.uniform:
            return render_error(err, request_id, origin, now)
        if self.dynamic:
            return _dumps(_holes_filled(self.value, request_id, _timestamp(now).decode())).encode()
        if not self.holes:
            return self.chunks[0]
        parts = [self.chunks[0]]
        for hole, chunk in zip(self.holes, self.chunks[1:], strict=True):
            # request ids are the gateway's hex: nothing in them needs a JSON escape
            parts.append(request_id.encode() if hole == "rid" else _timestamp(now))
            parts.append(chunk)
        return b"".join(parts)


_NONE = Template(b"", "none")  # the uniform body under application/problem+json: render() answers None


@dataclass(slots=True)
class _Plan:
    """What one declared status answers: its media (a JSON one, and a text one where both are declared)."""

    status: int
    main_type: str | None
    text_type: str | None
    templates: dict[tuple[str, str, str, str | None, bool], Template] = field(default_factory=dict)


_UNIFORM_PLAN = _Plan(0, None, None)


class ErrorShape:
    """The error shapes of one catalog operation, decided per status on its first error."""

    def __init__(self, op: Operation, defs: Mapping[str, Any], *, origin: str = ORIGIN) -> None:
        self.op = op
        # Validator and generate() key compiled schemas by the identity of defs: keep the catalog's dict
        self.defs: dict[str, Any] = defs if isinstance(defs, dict) else dict(defs)
        self.origin = origin
        self.marketplace = op.host == MARKETPLACE_HOST
        self._plans: dict[int, _Plan] = {}
        self._validators: dict[int, tuple[Any, Validator]] = {}

    def render(self, err: WBError, request_id: str, now: float) -> tuple[bytes, bytes] | None:
        """(content type, body) of `err` in the declared shape; None: the uniform body, as it is."""
        plan = self._plans.get(err.status)
        if plan is None:
            plan = self._plan(err.status)
        if plan is _UNIFORM_PLAN:
            return None
        undecodable = plan.text_type is not None and err.code in UNDECODABLE
        key = (err.title, err.detail, err.code, err.origin, undecodable)
        template = plan.templates.get(key)
        if template is None:
            template = self.template(err, undecodable)
            if len(plan.templates) >= TEMPLATES_PER_STATUS:
                plan.templates.clear()
            plan.templates[key] = template
        if template is _NONE:
            return None
        return template.content_type, template.render(err, request_id, now, err.origin or self.origin)

    def cached(self, status: int) -> int:
        """How many error bodies of `status` are kept as templates (for tests and listings)."""
        plan = self._plans.get(status)
        return 0 if plan is None else len(plan.templates)

    # -- the plan of a status ------------------------------------------------------------------------------

    def _plan(self, status: int) -> _Plan:
        content = None if status in PLATFORM else self.op.responses.get(str(status))
        if not content:
            plan = _UNIFORM_PLAN  # nothing declared (or no body declared): the uniform body stays
        else:
            main_type = next((c for c in content if is_json(c)), None)
            text_type = next((c for c in content if not is_json(c)), None)
            if main_type is None:  # text only: the answer of every error
                main_type, text_type = text_type, None
            plan = _Plan(status, main_type, text_type)
        self._plans[status] = plan
        return plan

    def template(self, err: WBError, undecodable: bool = False) -> Template:
        """The body of `err` for its status (made and validated; not cached here)."""
        plan = self._plans.get(err.status) or self._plan(err.status)
        if plan is _UNIFORM_PLAN:
            return _NONE
        content_type = plan.text_type if undecodable and plan.text_type is not None else plan.main_type
        assert content_type is not None  # a plan that is not the uniform one has a type
        media = self.op.responses[str(err.status)][content_type]
        code = marketplace_code(err.code, err.status) if self.marketplace else err.code
        facts = _Facts(err.detail, err.title, code, err.origin or self.origin, err.status)
        return self._template(err, content_type, media, facts)

    def _template(self, err: WBError, content_type: str, media: Media, facts: _Facts) -> Template:
        ctype = content_type.encode()
        schema = media.schema
        if _as_text(content_type, schema, self.defs):  # a plain-text shape: the detail text itself
            if schema is None or self._valid(schema, facts.text):
                return Template(ctype, "shaped", (facts.text.encode(),), value=facts.text)
            return self._fallback(ctype, schema, media, facts, None, as_text=True)
        uniform = json.loads(render_error(err, _SAMPLE_RID, facts.origin, 0.0))
        shaped = self._fill(schema, facts, True) if schema is not None else _MISSING
        if schema is None or (self._valid(schema, uniform) and _carried(shaped, uniform)):
            if content_type == PROBLEM_JSON.decode():
                return _NONE
            return Template(ctype, "uniform", uniform=True, value=uniform)
        if shaped is not _MISSING and self._valid(schema, shaped):
            return _json_template(ctype, "shaped", self._fill(schema, facts, False), shaped)
        return self._fallback(ctype, schema, media, facts, uniform, as_text=False)

    # -- the fallback chain ---------------------------------------------------------------------------------

    def _fallback(
        self, ctype: bytes, schema: Any, media: Media, facts: _Facts, uniform: Any, *, as_text: bool
    ) -> Template:
        """Our shape did not validate: the documented examples with our facts, the uniform body (if it
        validates), the examples as they are, then a generated instance with our facts and without."""
        examples: list[tuple[str, Any]] = []
        if media.has_example:
            examples.append(("example", media.example))
        examples.extend((f"examples[{name}]", value) for name, value in media.examples.items())
        for name, value in examples:
            found = self._candidate(ctype, schema, name, value, facts, as_text, with_facts=True)
            if found is not None:
                return found
        if uniform is not None and self._valid(schema, uniform):
            return Template(ctype, "uniform", uniform=True, value=uniform)
        for name, value in examples:
            found = self._candidate(ctype, schema, name, value, facts, as_text, with_facts=False)
            if found is not None:
                return found
        generated = generate(schema, self.defs, seed=f"{self.op.id}:{facts.status}")
        variants = [generated]
        if isinstance(generated, dict):  # generate() fills every property: its required ones alone, too
            required = set(_merged(_resolve(schema, self.defs), self.defs).get("required", ()))
            minimal = {k: v for k, v in generated.items() if k in required}
            if minimal != generated:
                variants.append(minimal)
        for with_facts in (True, False):
            for variant in variants:
                found = self._candidate(
                    ctype, schema, "generated", variant, facts, as_text, with_facts=with_facts
                )
                if found is not None:
                    return found
        # Nothing validates (no catalog schema comes here; tests keep it so): the uniform body, the least wrong.
        return Template(ctype, "uniform", uniform=True, value=uniform)

    def _candidate(
        self,
        ctype: bytes,
        schema: Any,
        name: str,
        value: Any,
        facts: _Facts,
        as_text: bool,
        *,
        with_facts: bool,
    ) -> Template | None:
        """`value` (with our facts over it) as the body, if it validates."""
        sample = self._overlay(schema, value, facts, sample=True) if with_facts else value
        if with_facts and sample == value:
            return None  # nothing of ours fits in it: it is tried as it is later
        if not self._valid(schema, sample):
            return None
        source = f"{name}+facts" if with_facts else name
        if as_text:
            text = sample if isinstance(sample, str) else _dumps(sample)
            return Template(ctype, source, (text.encode(),), value=sample)
        holed = self._overlay(schema, value, facts, sample=False) if with_facts else value
        return _json_template(ctype, source, holed, sample)

    def _overlay(self, node: Any, value: Any, facts: _Facts, *, sample: bool) -> Any:
        """A documented (or generated) instance with our facts in the fields it has, by the names of
        `_candidates`: each where it is of the instance's own kind (a text over a null `detail` too) and
        its property's schema takes it; `data` made null where allowed."""
        if isinstance(value, str):
            return facts.text
        resolved = _merged(_resolve(node, self.defs), self.defs) if node is not None else {}
        if isinstance(value, list):
            items = resolved.get("items")
            return [self._overlay(items, v, facts, sample=sample) for v in value]
        if not isinstance(value, dict):
            return value
        properties: dict[str, Any] = resolved.get("properties", {})
        out = dict(value)
        for name, old in value.items():
            for candidate in _candidates(name, facts):
                checked = _sampled(candidate)
                fits = (
                    candidate is None
                    or _kind(checked) == _kind(old)
                    or (name in _TEXT_FIELDS and old is None)
                )
                if fits and (name not in properties or self._valid(properties[name], checked)):
                    out[name] = checked if sample else candidate
                    break
        return out

    # -- filling a schema with our facts --------------------------------------------------------------------

    def _valid(self, node: Any, value: Any) -> bool:
        hit = self._validators.get(id(node))
        if hit is None or hit[0] is not node:
            hit = (node, Validator(node, self.defs))
            self._validators[id(node)] = hit
        return hit[1].is_valid(value)

    def _fill(self, node: Any, facts: _Facts, sample: bool) -> Any:
        """An instance of `node` carrying `facts` (holes as samples, or as the template's markers)."""
        resolved = _resolve(node, self.defs)
        for key in ("oneOf", "anyOf"):
            branches = resolved.get(key)
            if isinstance(branches, list):
                for branch in branches:
                    value = self._fill(branch, facts, True)
                    if value is not _MISSING and self._valid(node, value):
                        return value if sample else self._fill(branch, facts, False)
                return _MISSING
        merged = _merged(resolved, self.defs)
        kind = merged.get("type")
        kinds = set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()
        if "properties" in merged or "object" in kinds:
            return self._object(merged, facts, sample)
        if "array" in kinds:
            item = self._fill(merged.get("items", {}), facts, sample)
            return [] if item is _MISSING else [item]
        if "string" in kinds:
            return facts.text
        return _MISSING

    def _object(self, node: dict[str, Any], facts: _Facts, sample: bool) -> dict[str, Any]:
        required = set(node.get("required", ()))
        out: dict[str, Any] = {}
        properties: dict[str, Any] = node.get("properties", {})
        for name, prop in properties.items():
            value = _MISSING
            for candidate in _candidates(name, facts):
                check = _sampled(candidate)
                if self._valid(prop, check):
                    value = check if sample else candidate
                    break
            if value is _MISSING and name in required:
                value = generate(prop, self.defs, seed=f"{self.op.id}:{facts.status}:{name}")
            if value is not _MISSING:
                out[name] = value
        return out


def _as_text(content_type: str, schema: Any, defs: Mapping[str, Any]) -> bool:
    """A body sent as text: a non-JSON type whose schema is a string or absent (else JSON under that type,
    as supplies-api's `text/plain; charset=utf-8` 400 with an object schema)."""
    if is_json(content_type):
        return False
    return schema is None or _resolve(schema, defs).get("type") == "string"


def _candidates(name: str, facts: _Facts) -> list[Any]:
    """What may go into a property of this name, best first (each is checked against its schema)."""
    if name in _TEXT_FIELDS:
        out: list[Any] = [facts.text]
        if name == "error":
            out.append(True)
        out.append([facts.text])
        if name == "detail":
            out.append({"message": facts.text})
        return out
    if name == "title":
        return [facts.title]
    if name == "code":
        return [facts.code]
    if name in _REQUEST_ID_FIELDS:
        return [_RID]
    if name == "origin":
        return [facts.origin]
    if name == "status":
        return [facts.status, str(facts.status)]
    if name == "statusText":
        return [HTTPStatus(facts.status).phrase]
    if name == "timestamp":
        return [_TS]
    if name in _NULL_FIELDS:
        return [None]
    return []


def _sampled(value: Any) -> Any:
    """`value` with its holes as the samples they are validated as."""
    if value == _RID:
        return _SAMPLE_RID
    if value == _TS:
        return _SAMPLE_TS
    return value


def _kind(value: Any) -> type:
    return bool if isinstance(value, bool) else float if isinstance(value, int | float) else type(value)


def _carried(shaped: Any, uniform: Any) -> bool:
    """Whether the uniform body already has every field of the shaped one, with the same value."""
    if shaped is _MISSING:
        return True
    if not isinstance(shaped, dict) or not isinstance(uniform, dict):
        return False
    return all(name in uniform and uniform[name] == value for name, value in shaped.items())


def _resolve(node: Any, defs: Mapping[str, Any]) -> dict[str, Any]:
    """`node` with its `$ref`s followed (to the section's `$defs`)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 32:
        ref: str = node["$ref"]
        if not ref.startswith(DEFS_PREFIX):
            break
        node = defs.get(ref[len(DEFS_PREFIX) :], {})
        seen += 1
    return node if isinstance(node, dict) else {}


def _merged(node: dict[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """An `allOf`'s branches as one object node (properties and required joined; types of the node)."""
    branches = node.get("allOf")
    if not isinstance(branches, list):
        return node
    out: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    properties: dict[str, Any] = dict(out.get("properties", {}))
    required: list[str] = list(out.get("required", []))
    for branch in branches:
        part = _merged(_resolve(branch, defs), defs)
        properties.update(part.get("properties", {}))
        required.extend(r for r in part.get("required", []) if r not in required)
        if "type" in part and "type" not in out:
            out["type"] = part["type"]
    out["properties"] = properties
    out["required"] = required
    return out


def _json_template(ctype: bytes, source: str, holed: Any, sample: Any) -> Template:
    text = _dumps(holed)
    if _RID_JSON in _dumps(sample) or _TS_JSON in _dumps(sample):
        # a fact holds a marker's text (never seen): no chunks, the body is dumped on each render
        return Template(ctype, source, dynamic=True, value=holed)
    pieces = _HOLES.split(text)
    chunks = tuple(p.encode() for p in pieces[0::2])
    holes = tuple("rid" if p == _RID_JSON else "ts" for p in pieces[1::2])
    return Template(ctype, source, chunks, holes, value=sample)


def _holes_filled(value: Any, request_id: str, stamp: str) -> Any:
    if value == _RID:
        return request_id
    if value == _TS:
        return stamp
    if isinstance(value, dict):
        return {k: _holes_filled(v, request_id, stamp) for k, v in value.items()}
    if isinstance(value, list):
        return [_holes_filled(v, request_id, stamp) for v in value]
    return value


__all__ = [
    "MARKETPLACE_BY_STATUS",
    "MARKETPLACE_CODES",
    "ORIGIN",
    "PLATFORM",
    "ErrorShape",
    "Template",
    "marketplace_code",
]
