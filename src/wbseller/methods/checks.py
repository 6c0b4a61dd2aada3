"""Request checks: an operation's parameters and body against its catalog schemas, before its handler runs.

    check = RequestCheck(op, catalog.defs_of(op))        # once per operation at start: nothing compiled yet
    checked = check.check(path_params, query_string, headers, body)
    checked.query["limit"], checked.json                 # typed values, the parsed body

A request that breaks a rule is refused with a WB error (400, or 422 where the operation's document declares
422 and not 400) whose `detail` names the field and the rule, e.g. `query.limit: must be <= 1000`,
`path.orderId: must be an integer`, `body: data[3].price: must be >= 0`, `body: not JSON (line 1, column 5)`,
`header.X-Nm-Id: is required`; `code` is one of `CODES`. The rules and the decisions behind them are in
docs/requests.md.

Cost: preparing an operation (coercion plans, validators) waits for its first request; schemas are compiled
by `Validator` on first use and shared between equal schemas. A request without parameters and body costs
a few attribute reads; a JSON body costs its UTF-8 decode, the parse and the validation, little else.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

from wbseller.catalog import Operation
from wbseller.errors import BadRequest, PayloadTooLarge, Unprocessable, WBError
from wbseller.schemas.convert import DEFS_PREFIX
from wbseller.schemas.validate import SchemaViolation, Validator

# The stable codes of the refusals made here (docs/requests.md).
PARAMETER_MISSING = "parameter-missing"
PARAMETER_INVALID = "parameter-invalid"
BODY_MISSING = "body-missing"
BODY_NOT_JSON = "body-not-json"
BODY_INVALID = "body-invalid"
CONTENT_TYPE_UNSUPPORTED = "content-type-unsupported"
MULTIPART_INVALID = "multipart-invalid"
PART_TOO_LARGE = "part-too-large"
BODY_TOO_LARGE = "body-too-large"  # errors.PayloadTooLarge's own default
CODES = (
    PARAMETER_MISSING,
    PARAMETER_INVALID,
    BODY_MISSING,
    BODY_NOT_JSON,
    BODY_INVALID,
    CONTENT_TYPE_UNSUPPORTED,
    MULTIPART_INVALID,
    PART_TOO_LARGE,
    BODY_TOO_LARGE,
)

JSON_TYPE = "application/json"
MULTIPART_TYPE = "multipart/form-data"
_UTF8 = frozenset({"utf-8", "utf8"})

# Formats jsonschema-rs asserts; any other `format` (int64, uint, binary, "UUID", ...) is an annotation, so a
# parameter whose schema is only `type` (+ such a format, + default) needs no validator after its coercion.
_ASSERTED_FORMATS = frozenset(
    {
        "date",
        "date-time",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    }
)
_PLAIN_KEYS = frozenset({"type", "format", "default", "readOnly", "writeOnly"})

# Integer parameters fit the integer WB's services parse them into (Go's int64 unless the format says more).
_INT64 = (-(2**63), 2**63 - 1)
_INT_RANGES: dict[str, tuple[int, int]] = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": _INT64,
    "uint": (0, 2**64 - 1),
    "uint64": (0, 2**64 - 1),
}

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Go's strconv.ParseBool: what a Go service takes, and Python clients' `True`/`False` among it
_BOOLEANS = {
    "true": True,
    "True": True,
    "TRUE": True,
    "t": True,
    "T": True,
    "1": True,
    "false": False,
    "False": False,
    "FALSE": False,
    "f": False,
    "F": False,
    "0": False,
}
# Query dates are looser than `format: date-time`: a date alone, no seconds, fractions, no zone (docs).
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?)?"
    r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
# a `\uD800`-`\uDFFF` escape: the parse may then hold a lone surrogate, which no UTF-8 text can carry
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_INF = float("inf")


class _Bad(ValueError):
    """A value that breaks a rule: the message after `where: `."""


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart/form-data body."""

    name: str  # the declared property it fills (`file` for a part sent as `file[]`)
    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """A request that passed its operation's checks, its values typed by their schemas."""

    path: dict[str, Any]
    query: dict[str, Any]  # declared parameters sent, and absent ones with a schema `default`
    headers: dict[str, Any]  # declared header parameters sent, by their declared names
    json: Any  # the parsed JSON body, or None
    content_type: str | None  # the declared request content type the body matched; None: no body
    parts: dict[str, list[Part]] = field(default_factory=dict)  # a multipart body's declared parts
    body: bytes = b""


# ----------------------------------------------------------------------------------- parameter plans


def _resolve(schema: Any, defs: Mapping[str, Any]) -> Any:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 20:
        schema = defs.get(schema["$ref"].removeprefix(DEFS_PREFIX), {})
        seen += 1
    return schema


def _kind(schema: Any, defs: Mapping[str, Any]) -> str:
    """The JSON type a parameter's text is coerced to: integer, number, boolean, array or string."""
    schema = _resolve(schema, defs)
    if not isinstance(schema, dict):
        return "string"
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind in ("integer", "number", "boolean", "array"):
        return str(kind)
    return "string"


def _plain(schema: Any) -> bool:
    """Nothing for a validator to check once the text is coerced to the schema's type (a date-time parameter
    is checked by `_date_time`, not by its format)."""
    return (
        isinstance(schema, dict)
        and set(schema) <= _PLAIN_KEYS
        and isinstance(schema.get("type"), str)
        and (schema.get("format") not in _ASSERTED_FORMATS or schema.get("format") == "date-time")
    )


def _coerce_integer(text: str, bounds: tuple[int, int]) -> int:
    if not _INTEGER.fullmatch(text):
        raise _Bad("must be an integer")
    value = int(text)
    if value < bounds[0]:
        raise _Bad(f"must be >= {bounds[0]}")
    if value > bounds[1]:
        raise _Bad(f"must be <= {bounds[1]}")
    return value


def _coerce_number(text: str) -> float | int:
    if not _NUMBER.fullmatch(text):
        raise _Bad("must be a number")
    if _INTEGER.fullmatch(text):
        return int(text)
    value = float(text)
    if value in (_INF, -_INF):
        raise _Bad("must be a finite number")
    return value


def _coerce_boolean(text: str) -> bool:
    value = _BOOLEANS.get(text)
    if value is None:
        raise _Bad("must be true or false")
    return value


def _date_time(text: str) -> None:
    m = _DATE_TIME.fullmatch(text)
    try:
        if m is None:
            raise ValueError(text)
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in m.groups())
        dt.datetime(year, month, day, hour, minute, min(second, 59))  # 60: a leap second
    except ValueError:
        raise _Bad("must be a date or date-time") from None


def _scalar_coercer(schema: Any, defs: Mapping[str, Any]) -> Callable[[str], Any]:
    kind = _kind(schema, defs)
    resolved = _resolve(schema, defs)
    if kind == "integer":
        fmt = resolved.get("format") if isinstance(resolved, dict) else None
        bounds = _INT_RANGES.get(str(fmt), _INT64)
        return lambda text: _coerce_integer(text, bounds)
    if kind == "number":
        return _coerce_number
    if kind == "boolean":
        return _coerce_boolean
    return str


class _Param:
    """How one declared parameter's text becomes a checked value."""

    __slots__ = (
        "array",
        "coerce",
        "date_time",
        "default",
        "has_default",
        "name",
        "names",
        "required",
        "validator",
        "where",
    )

    def __init__(self, name: str, location: str, required: bool, schema: Any, defs: dict[str, Any]) -> None:
        self.name = name
        self.where = f"{location}.{name}"
        self.required = required
        resolved = _resolve(schema, defs)
        self.array = _kind(schema, defs) == "array"
        items = resolved.get("items", {}) if self.array and isinstance(resolved, dict) else schema
        self.coerce = _scalar_coercer(items, defs)
        # the names it may be sent as: an array also as `name[]` (PHP, axios and qs spell arrays so)
        self.names = (name, f"{name}[]") if self.array else (name,)
        resolved_items = _resolve(items, defs)
        self.date_time = isinstance(resolved_items, dict) and resolved_items.get("format") == "date-time"
        self.has_default = isinstance(resolved, dict) and "default" in resolved
        self.default = resolved.get("default") if self.has_default else None
        # (an array's schema is never plain: its items, counts and uniqueness are the validator's)
        self.validator = (
            None
            if schema is None or _plain(resolved)
            else Validator(schema, defs, root=self.where, formats=not self.date_time)
        )

    def value(self, texts: list[str], error: type[WBError]) -> Any:
        """The typed, validated value of the texts sent (the last one for a scalar)."""
        try:
            if self.array:
                items = [item for text in texts for item in text.split(",")]
                value: Any = []
                for i, item in enumerate(items):
                    try:
                        value.append(self.coerce(item))
                        if self.date_time:
                            _date_time(item)
                    except _Bad as bad:
                        raise _Bad(f"[{i}]: {bad}") from None
            else:
                value = self.coerce(texts[-1])
                if self.date_time:
                    _date_time(value)
        except _Bad as bad:
            text = str(bad)
            sep = "" if text.startswith("[") else ": "
            raise error(f"{self.where}{sep}{text}", PARAMETER_INVALID) from None
        if self.validator is not None:
            try:
                self.validator.validate(value)
            except SchemaViolation as violation:
                raise error(str(violation), PARAMETER_INVALID) from None
        return value

    def missing(self, error: type[WBError]) -> WBError:
        return error(f"{self.where}: is required", PARAMETER_MISSING)


def _text_of(raw: bytes) -> str:
    """A query key or value: `+` is a space, `%XX` a byte; UTF-8 (raises UnicodeDecodeError)."""
    if b"%" in raw or b"+" in raw:
        raw = unquote_to_bytes(raw.replace(b"+", b" "))
    return raw.decode("utf-8")


# ---------------------------------------------------------------------------------------- bodies


def _media_type(raw: bytes) -> tuple[str, dict[str, str]]:
    """`Application/JSON; charset="UTF-8"` -> (`application/json`, {charset: UTF-8})."""
    text = raw.decode("latin-1")
    head, _, rest = text.partition(";")
    params: dict[str, str] = {}
    for piece in rest.split(";") if rest else ():
        key, eq, value = piece.partition("=")
        if eq:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            params[key.strip().lower()] = value
    return head.strip().lower(), params


class _NotJSON(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        raise _NotJSON(f"number {text[:20]} is out of range")
    return value


# The one decoder: NaN, Infinity and numbers too large for a float are refused (Python's json takes them).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def parse_json(body: bytes) -> Any:
    """The body as JSON, as RFC 8259 has it: UTF-8, no NaN/Infinity; raises _NotJSON with where it broke."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _NotJSON(f"not UTF-8 at byte {exc.start}") from None
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise _NotJSON(f"line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise _NotJSON("nested too deeply") from None
    except ValueError as exc:  # _NotJSON, or an integer of more digits than Python converts
        raise _NotJSON(str(exc) if isinstance(exc, _NotJSON) else "an integer with too many digits") from None
    # a backslash is one memchr away; the scan for surrogate escapes and the re-encoding are for the rare rest
    if b"\\" in body and _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _NotJSON("a \\u escape of half a surrogate pair") from None
    return value


_DISPOSITION = re.compile(r';\s*(name|filename)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))', re.IGNORECASE)


def parse_multipart(body: bytes, boundary: str) -> list[Part]:
    """The named parts of a multipart/form-data body (RFC 7578); raises ValueError saying what is wrong."""
    delimiter = b"--" + boundary.encode("latin-1")
    if body.startswith(delimiter):
        pos = len(delimiter)
    else:  # a preamble before the first boundary
        start = body.find(b"\r\n" + delimiter)
        if start < 0:
            raise ValueError("no boundary line")
        pos = start + 2 + len(delimiter)
    parts: list[Part] = []
    while True:
        if body.startswith(b"--", pos):
            return parts  # the close delimiter; the epilogue is ignored
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            raise ValueError("a boundary line must end in CRLF")
        pos = line_end + 2
        if body.startswith(b"\r\n", pos):
            head, content = b"", pos + 2
        else:
            end = body.find(b"\r\n\r\n", pos)
            if end < 0:
                raise ValueError("a part's headers do not end")
            head, content = body[pos:end], end + 4
        close = body.find(b"\r\n" + delimiter, content)
        if close < 0:
            raise ValueError("no closing boundary")
        name, filename, content_type = None, None, None
        for line in head.split(b"\r\n"):
            key, _, value = line.decode("utf-8", "replace").partition(":")
            key = key.strip().lower()
            if key == "content-disposition":
                for m in _DISPOSITION.finditer(value):
                    given = m.group(2) if m.group(2) is not None else m.group(3)
                    given = re.sub(r"\\(.)", r"\1", given)
                    if m.group(1).lower() == "name":
                        name = given
                    else:
                        filename = given
            elif key == "content-type":
                content_type = value.strip()
        if name is not None:
            parts.append(Part(name, body[content:close], filename, content_type))
        pos = close + 2 + len(delimiter)


def _binary(schema: Any, defs: Mapping[str, Any]) -> bool:
    schema = _resolve(schema, defs)
    return isinstance(schema, dict) and schema.get("format") == "binary"


class _Form:
    """How a multipart body's parts are checked: text parts by their property schemas, files by size."""

    def __init__(self, schema: Any, defs: dict[str, Any], max_part: Mapping[str, int]) -> None:
        resolved = _resolve(schema, defs)
        properties: dict[str, Any] = resolved.get("properties", {}) if isinstance(resolved, dict) else {}
        self.properties = properties
        self.required = bool(resolved.get("required")) if isinstance(resolved, dict) else False
        self.arrays = {n for n, s in properties.items() if _kind(s, defs) == "array"}
        self.files: set[str] = set()
        self.coercers: dict[str, Callable[[str], Any]] = {}
        for n, s in properties.items():
            item = (_resolve(s, defs) or {}).get("items", {}) if n in self.arrays else s
            if _binary(item, defs):
                self.files.add(n)
            else:
                self.coercers[n] = _scalar_coercer(item, defs)
        # the overlay keys the sizes by the part names clients send (`file[]`): by property here
        self.max_part = {k.removesuffix("[]"): v for k, v in max_part.items()}
        self.validator = Validator(schema, defs) if schema is not None else None

    def declared(self, sent: str) -> str | None:
        if sent in self.properties:
            return sent
        bare = sent.removesuffix("[]")
        return bare if bare != sent and bare in self.arrays else None

    def check(
        self, parts: list[Part], required: bool, error: type[WBError]
    ) -> tuple[dict[str, list[Part]], dict[str, Any]]:
        by_name: dict[str, list[Part]] = {}
        instance: dict[str, Any] = {}
        for part in parts:
            name = self.declared(part.name)
            if name is None:
                continue  # a part the document does not declare is ignored, as unknown parameters are
            limit = self.max_part.get(name)
            if limit is not None and len(part.data) > limit:
                raise PayloadTooLarge(f"body: {name}: must not be larger than {limit} bytes", PART_TOO_LARGE)
            by_name.setdefault(name, []).append(Part(name, part.data, part.filename, part.content_type))
            if name in self.files:
                value: Any = part.filename or ""  # a file stands for itself as a string: its schema's type
            else:
                try:
                    value = self.coercers[name](part.data.decode("utf-8"))
                except UnicodeDecodeError:
                    raise error(f"body: {name}: not UTF-8", BODY_INVALID) from None
                except _Bad as bad:
                    raise error(f"body: {name}: {bad}", BODY_INVALID) from None
            if name in self.arrays:
                instance.setdefault(name, []).append(value)
            else:
                instance[name] = value  # a property sent twice: the last, as for query parameters
        if self.validator is not None:
            try:
                self.validator.validate(instance)
            except SchemaViolation as violation:
                raise error(_body_detail(violation), BODY_INVALID) from None
        if required and not self.required and self.properties and not by_name:
            raise error(f"body: must have a part named {' or '.join(self.properties)}", BODY_INVALID)
        return by_name, instance


def _body_detail(violation: SchemaViolation) -> str:
    if violation.path == "body":
        return f"body: {violation.message}"
    return f"body: {violation.path}: {violation.message}"


# ------------------------------------------------------------------------------------------ checks


class _Plan:
    """An operation's checks, made on its first request."""

    def __init__(self, op: Operation, defs: dict[str, Any]) -> None:
        self.path = [
            _Param(p.name, "path", True, p.schema, defs) for p in op.parameters if p.location == "path"
        ]
        query = [
            _Param(p.name, "query", p.required, p.schema, defs)
            for p in op.parameters
            if p.location == "query"
        ]
        self.query = {n: p for p in query for n in p.names}
        self.query_params = query
        self.required_query = [p for p in query if p.required]
        self.defaults = {p.name: p.default for p in query if p.has_default}
        # a list or object default is copied for each request: a handler may change what it gets
        self.shared_defaults = all(not isinstance(v, list | dict) for v in self.defaults.values())
        header = [
            _Param(p.name, "header", p.required, p.schema, defs)
            for p in op.parameters
            if p.location == "header"
        ]
        self.header = {p.name.lower().encode("latin-1"): p for p in header}
        self.header_params = header
        self.media: dict[str, Any] = {}  # declared content type (lower case) -> validator, form or None
        request = op.request
        if request is not None:
            for content_type, media in request.content.items():
                kind = content_type.lower()
                if kind == MULTIPART_TYPE:
                    self.media[kind] = _Form(media.schema, defs, request.max_part)
                elif _is_json(kind):
                    self.media[kind] = Validator(media.schema, defs) if media.schema is not None else None
                else:
                    self.media[kind] = None
        # a body without Content-Type is taken as the one declared type, unless that is multipart (no boundary)
        only = next(iter(self.media)) if len(self.media) == 1 else None
        self.implied = only if only is not None and only != MULTIPART_TYPE else None


def _is_json(media_type: str) -> bool:
    return media_type == JSON_TYPE or (media_type.startswith("application/") and media_type.endswith("+json"))


class RequestCheck:
    """The checks of one operation's requests. Cheap to make: the work waits for the first request."""

    __slots__ = ("_plan", "defs", "error", "max_body", "op", "request")

    def __init__(self, op: Operation, defs: Mapping[str, Any]) -> None:
        self.op = op
        self.defs = defs
        self.request = op.request
        self.max_body = op.max_body
        # 400 unless the document answers bad input of this operation with 422 only (docs/requests.md)
        self.error: type[WBError] = (
            Unprocessable if "422" in op.responses and "400" not in op.responses else BadRequest
        )
        self._plan: _Plan | None = None

    @property
    def plan(self) -> _Plan:
        if self._plan is None:
            self._plan = _Plan(self.op, dict(self.defs))
        return self._plan

    def check(
        self,
        path_params: Mapping[str, str],
        query_string: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> Checked:
        """The request's typed values; raises the WB error of the first rule it breaks."""
        plan = self._plan if self._plan is not None else self.plan
        error = self.error
        path: dict[str, Any] = {}
        for param in plan.path:
            text = path_params.get(param.name)
            if text is None:
                raise param.missing(error)
            path[param.name] = param.value([text], error)
        query = self._query(plan, query_string) if plan.query_params else {}
        typed_headers: dict[str, Any] = {}
        content_type: bytes | None = None
        if plan.header_params or (body and self.request is not None):
            sent: dict[str, list[str]] = {}
            for name, value in headers:
                if name == b"content-type":
                    content_type = value
                declared = plan.header.get(name) if plan.header else None
                if declared is not None:
                    sent.setdefault(declared.name, []).append(value.decode("latin-1"))
            for param in plan.header_params:
                texts = sent.get(param.name)
                if texts is None:
                    if param.required:
                        raise param.missing(error)
                    continue
                typed_headers[param.name] = param.value(texts, error)
        if self.request is None or not body or not plan.media:
            if self.request is not None and self.request.required and not body:
                raise error("body: is required", BODY_MISSING)
            # a body where none is declared is not read: WB's services ignore it too
            return Checked(path, query, typed_headers, None, None)
        return self._body(plan, path, query, typed_headers, content_type, body)

    def _query(self, plan: _Plan, query_string: bytes) -> dict[str, Any]:
        error = self.error
        sent: dict[str, list[str]] = {}
        if query_string:
            known = plan.query
            for piece in query_string.split(b"&"):
                key, _, value = piece.partition(b"=")
                try:
                    name = _text_of(key)
                except UnicodeDecodeError:
                    continue  # not UTF-8: no declared name, so ignored like any unknown one
                param = known.get(name)
                if param is None:
                    continue
                try:
                    text = _text_of(value)
                except UnicodeDecodeError:
                    raise error(f"{param.where}: not UTF-8", PARAMETER_INVALID) from None
                # an empty value of a typed parameter is no value (`dateFrom=` where allowEmptyValue is meant)
                if text or (param.coerce is str and not param.array):
                    sent.setdefault(param.name, []).append(text)
        query = dict(plan.defaults) if plan.shared_defaults else copy.deepcopy(plan.defaults)
        for param in plan.required_query:
            if param.name not in sent:
                raise param.missing(error)
        for name, texts in sent.items():
            query[name] = plan.query[name].value(texts, error)
        return query

    def _body(
        self,
        plan: _Plan,
        path: dict[str, Any],
        query: dict[str, Any],
        headers: dict[str, Any],
        content_type: bytes | None,
        body: bytes,
    ) -> Checked:
        error = self.error
        if self.max_body is not None and len(body) > self.max_body:
            raise PayloadTooLarge(f"body: must not be larger than {self.max_body} bytes", BODY_TOO_LARGE)
        params: dict[str, str] = {}
        if content_type is None:
            if plan.implied is None:
                raise error(f"header.Content-Type: is required: {_listed(plan)}", CONTENT_TYPE_UNSUPPORTED)
            kind = plan.implied
        else:
            kind, params = _media_type(content_type)
            if kind not in plan.media:
                raise error(f"header.Content-Type: must be {_listed(plan)}", CONTENT_TYPE_UNSUPPORTED)
        media = plan.media[kind]
        if isinstance(media, _Form):
            boundary = params.get("boundary")
            if not boundary:
                raise error("header.Content-Type: multipart/form-data needs a boundary", MULTIPART_INVALID)
            try:
                parts = parse_multipart(body, boundary)
            except ValueError as exc:
                raise error(f"body: not multipart/form-data ({exc})", MULTIPART_INVALID) from None
            by_name, _ = media.check(parts, self.request is not None and self.request.required, error)
            return Checked(path, query, headers, None, kind, by_name, body)
        if not _is_json(kind):
            return Checked(path, query, headers, None, kind, body=body)  # binary: type and size only
        charset = params.get("charset")
        if charset is not None and charset.lower() not in _UTF8:
            raise error("header.Content-Type: charset must be utf-8", CONTENT_TYPE_UNSUPPORTED)
        try:
            value = parse_json(body)
        except _NotJSON as exc:
            raise error(f"body: not JSON ({exc})", BODY_NOT_JSON) from None
        if media is not None:
            try:
                media.validate(value)
            except SchemaViolation as violation:
                raise error(_body_detail(violation), BODY_INVALID) from None
        return Checked(path, query, headers, value, kind, body=body)


def _listed(plan: _Plan) -> str:
    return " or ".join(plan.media)


__all__ = ["CODES", "Checked", "Part", "RequestCheck", "parse_json", "parse_multipart"]
