"""Request checks (methods/checks.py): every catalog operation's valid requests pass, its broken ones are refused
with a WB error that names the field; and the coercion, content-type, JSON and multipart rules on their own.

The per-operation cases are computed from the catalog: parameter values and bodies come from
`schemas.generate` (or the documented examples, where valid), the broken ones from the same schemas.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from wbseller.catalog import Limit, Media, Operation, Parameter, Request, load
from wbseller.errors import BadRequest, PayloadTooLarge, Unprocessable, WBError
from wbseller.methods.checks import CODES, Checked, RequestCheck, parse_multipart
from wbseller.schemas.convert import DEFS_PREFIX
from wbseller.schemas.generate import binary_stub, generate
from wbseller.schemas.validate import Validator

CATALOG = load()
OPS = CATALOG.operations
BOUNDARY = "wbseller-test-boundary"
JSON_CT = (b"content-type", b"application/json")


def defs_of(op: Operation) -> dict[str, Any]:
    return dict(CATALOG.defs_of(op))


def resolve(schema: Any, defs: Mapping[str, Any]) -> Any:
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = defs[schema["$ref"].removeprefix(DEFS_PREFIX)]
    return schema


def text(value: Any) -> str:
    """A typed value as a client writes it in a query string, path or header."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body of (name, filename, content type, data) parts."""
    out = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@dataclass
class Sample:
    """A request to one operation, as the gateway hands it to `check`."""

    op: Operation
    path: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    # what `check` should give back
    typed_path: dict[str, Any] = field(default_factory=dict)
    typed_query: dict[str, Any] = field(default_factory=dict)
    typed_headers: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content_type: str | None = None

    def query_string(self) -> bytes:
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.query).encode()

    def run(self) -> Checked:
        return RequestCheck(self.op, CATALOG.defs_of(self.op)).check(
            self.path, self.query_string(), self.headers, self.body
        )

    def refused(self) -> WBError:
        with pytest.raises(WBError) as caught:
            self.run()
        return caught.value


def is_binary(schema: Any, defs: Mapping[str, Any]) -> bool:
    schema = resolve(schema, defs)
    return isinstance(schema, dict) and schema.get("format") == "binary"


def valid(op: Operation, seed: str = "valid", *, optional: bool = True, example: bool = False) -> Sample:
    """A request every rule of `op` accepts: all required parameters (and the optional ones), and a body."""
    defs = defs_of(op)
    s = Sample(op)
    for p in op.parameters:
        if not (p.required or optional):
            continue
        value = generate(p.schema, defs, seed=f"{seed}:{op.id}:{p.name}")
        if example and p.has_example and Validator(p.schema, defs).is_valid(p.example):
            value = p.example
        if p.location == "path":
            s.path[p.name], s.typed_path[p.name] = text(value), value
        elif p.location == "query":
            items = value if isinstance(value, list) else [value]
            s.query += [(p.name, text(item)) for item in items]
            s.typed_query[p.name] = value
        else:
            s.headers.append((p.name.lower().encode(), text(value).encode()))
            s.typed_headers[p.name] = value
    for p in op.parameters:  # absent parameters with a default get it
        schema = resolve(p.schema, defs)
        if p.location == "query" and p.name not in s.typed_query and "default" in schema:
            s.typed_query[p.name] = schema["default"]
    if op.request is None:
        return s
    content_type, media = next(iter(op.request.content.items()))
    s.content_type = content_type
    s.headers.append((b"content-type", content_type.encode()))
    if content_type == "application/json":
        s.json = generate(media.schema, defs, seed=f"{seed}:{op.id}:body")
        s.body = json.dumps(s.json, ensure_ascii=False).encode()
    elif content_type == "multipart/form-data":
        s.headers[-1] = (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())
        parts: list[tuple[str, str | None, str | None, bytes]] = []
        for name, written in resolve(media.schema, defs)["properties"].items():
            prop = resolve(written, defs)
            item = resolve(prop.get("items", {}), defs) if prop.get("type") == "array" else prop
            if is_binary(item, defs):
                stub = binary_stub("image/png")
                parts += [
                    (name, f"{name}{i}.png", "image/png", stub) for i in range(2 if item is not prop else 1)
                ]
            else:
                parts.append((name, None, None, text(generate(item, defs, seed=f"{seed}:{name}")).encode()))
        s.body = form(parts)
    else:
        kind = s.typed_headers.get("X-Content-Type", "application/octet-stream")
        s.body = binary_stub(str(kind))
    return s


def expected_error(op: Operation) -> type[WBError]:
    return Unprocessable if "422" in op.responses and "400" not in op.responses else BadRequest


def assert_refused(sample: Sample, code: str, detail: str | Callable[[str], bool]) -> WBError:
    err = sample.refused()
    assert type(err) is expected_error(sample.op), (err.status, err.detail)
    assert err.status in (400, 422)
    assert err.code == code, err.detail
    assert err.code in CODES
    if isinstance(detail, str):
        assert err.detail == detail
    else:
        assert detail(err.detail), err.detail
    return err


def ids(ops: list[Operation]) -> list[str]:
    return [o.id for o in ops]


# ----------------------------------------------------------------------------- every operation, valid


@pytest.mark.parametrize("op", OPS, ids=ids(list(OPS)))
def test_valid_request_passes(op: Operation) -> None:
    for sample in (valid(op), valid(op, "minimal", optional=False), valid(op, "examples", example=True)):
        checked = sample.run()
        assert checked.path == sample.typed_path
        assert checked.query == sample.typed_query
        assert checked.headers == sample.typed_headers
        assert checked.content_type == sample.content_type
        assert checked.json == sample.json
        if sample.content_type == "multipart/form-data":
            assert checked.parts and all(p.data for ps in checked.parts.values() for p in ps)


JSON_OPS = [o for o in OPS if o.request is not None and "application/json" in o.request.content]


def body_examples(op: Operation) -> list[Any]:
    assert op.request is not None
    media: Media = op.request.content["application/json"]
    found = ([media.example] if media.has_example else []) + list(media.examples.values())
    return [e for e in found if Validator(media.schema, defs_of(op)).is_valid(e)]


@pytest.mark.parametrize("op", [o for o in JSON_OPS if body_examples(o)], ids=lambda o: o.id)
def test_documented_body_examples_pass(op: Operation) -> None:
    sample = valid(op)
    for example in body_examples(op):
        sample.body = json.dumps(example, ensure_ascii=False).encode()
        assert sample.run().json == example


def test_every_operation_is_covered() -> None:
    assert len(OPS) == 302
    assert len(JSON_OPS) == 153
    # 36 JSON bodies carry a documented example (all valid today), so the examples test has work to do
    assert sum(1 for o in JSON_OPS if body_examples(o)) >= 30


# --------------------------------------------------------------------------- every operation, broken


def params(
    where: str, pred: Callable[[Parameter], bool] = lambda p: True
) -> list[tuple[Operation, Parameter]]:
    return [(o, p) for o in OPS for p in o.parameters if p.location == where and pred(p)]


REQUIRED = [(o, p) for where in ("query", "header", "path") for o, p in params(where, lambda p: p.required)]


@pytest.mark.parametrize(
    ("op", "param"), REQUIRED, ids=[f"{o.id}-{p.location}.{p.name}" for o, p in REQUIRED]
)
def test_missing_required_parameter(op: Operation, param: Parameter) -> None:
    sample = valid(op)
    sample.path.pop(param.name) if param.location == "path" else None
    sample.query = [(k, v) for k, v in sample.query if param.location != "query" or k != param.name]
    sample.headers = [
        (k, v) for k, v in sample.headers if param.location != "header" or k != param.name.lower().encode()
    ]
    assert_refused(sample, "parameter-missing", f"{param.location}.{param.name}: is required")


def kind_of(op: Operation, param: Parameter) -> str:
    return str(resolve(param.schema, defs_of(op)).get("type"))


TYPED = [
    (o, p) for where in ("query", "header", "path") for o, p in params(where) if kind_of(o, p) != "string"
]


@pytest.mark.parametrize(("op", "param"), TYPED, ids=[f"{o.id}-{p.location}.{p.name}" for o, p in TYPED])
def test_wrong_parameter_type(op: Operation, param: Parameter) -> None:
    sample = valid(op)
    where = f"{param.location}.{param.name}"
    kind = kind_of(op, param)
    bad, expect = {
        "integer": ("12x", f"{where}: must be an integer"),
        "number": ("1,5", f"{where}: must be a number"),
        "boolean": ("yes", f"{where}: must be true or false"),
    }.get(kind, ("x", ""))
    if kind == "array":
        item = resolve(resolve(param.schema, defs_of(op))["items"], defs_of(op))
        bad = "1,x" if item.get("type") == "integer" else "not-a-uuid"
        expect = (
            f"{where}[1]: must be an integer" if item.get("type") == "integer" else f"{where}[0]: must be"
        )
    if param.location == "path":
        sample.path[param.name] = bad
    elif param.location == "query":
        sample.query = [(k, v) for k, v in sample.query if k != param.name] + [(param.name, bad)]
    else:
        name = param.name.lower().encode()
        sample.headers = [(k, v) for k, v in sample.headers if k != name] + [(name, bad.encode())]
    assert_refused(sample, "parameter-invalid", lambda d: d.startswith(expect))


def bounded(op: Operation, param: Parameter) -> tuple[str, str] | None:
    """A value just past the parameter's bound or outside its enum, and the detail it must get."""
    schema = resolve(param.schema, defs_of(op))
    where = f"{param.location}.{param.name}"
    if "enum" in schema:
        outside = "zzz" if schema.get("type") == "string" else "987654"
        return outside, f"{where}: must be one of: " + ", ".join(map(str, schema["enum"]))
    if "maximum" in schema:
        return str(schema["maximum"] + 1), f"{where}: must be <= {schema['maximum']}"
    if "minimum" in schema:
        return str(schema["minimum"] - 1), f"{where}: must be >= {schema['minimum']}"
    if schema.get("maxItems") is not None:
        return ",".join(str(i) for i in range(schema["maxItems"] + 1)), f"{where}: must not have more than"
    return None


BOUNDED = [(o, p) for where in ("query", "header", "path") for o, p in params(where) if bounded(o, p)]


@pytest.mark.parametrize(("op", "param"), BOUNDED, ids=[f"{o.id}-{p.location}.{p.name}" for o, p in BOUNDED])
def test_parameter_out_of_bounds(op: Operation, param: Parameter) -> None:
    sample = valid(op)
    found = bounded(op, param)
    assert found is not None
    bad, expect = found
    if param.location == "query":
        sample.query = [(k, v) for k, v in sample.query if k != param.name] + [(param.name, bad)]
    elif param.location == "path":
        sample.path[param.name] = bad
    else:
        name = param.name.lower().encode()
        sample.headers = [(k, v) for k, v in sample.headers if k != name] + [(name, bad.encode())]
    assert_refused(sample, "parameter-invalid", lambda d: d.startswith(expect))


@pytest.mark.parametrize("op", JSON_OPS, ids=ids(JSON_OPS))
def test_body_not_json(op: Operation) -> None:
    sample = valid(op)
    sample.body = b'{"data": [1, 2'
    assert_refused(sample, "body-not-json", "body: not JSON (line 1, column 15)")
    sample.body = b"\xff\xfe{}"
    assert_refused(sample, "body-not-json", "body: not JSON (not UTF-8 at byte 0)")


BODY_OPS = [o for o in OPS if o.request is not None]


@pytest.mark.parametrize("op", BODY_OPS, ids=ids(BODY_OPS))
def test_wrong_content_type(op: Operation) -> None:
    assert op.request is not None
    sample = valid(op)
    declared = " or ".join(op.request.content)
    for wrong in (b"text/plain", b"application/x-www-form-urlencoded", b"application/jsonx"):
        sample.headers = [h for h in sample.headers if h[0] != b"content-type"] + [(b"content-type", wrong)]
        assert_refused(sample, "content-type-unsupported", f"header.Content-Type: must be {declared}")


REQUIRED_BODY = [o for o in BODY_OPS if o.request is not None and o.request.required]


@pytest.mark.parametrize("op", REQUIRED_BODY, ids=ids(REQUIRED_BODY))
def test_required_body_missing(op: Operation) -> None:
    sample = valid(op)
    sample.body = b""
    assert_refused(sample, "body-missing", "body: is required")


def top_object(op: Operation) -> dict[str, Any] | None:
    assert op.request is not None
    schema = resolve(op.request.content["application/json"].schema, defs_of(op))
    return schema if isinstance(schema, dict) and schema.get("required") and "properties" in schema else None


FIELD_OPS = [o for o in JSON_OPS if top_object(o)]


@pytest.mark.parametrize("op", FIELD_OPS, ids=ids(FIELD_OPS))
def test_body_field_missing_or_wrong_type(op: Operation) -> None:
    schema = top_object(op)
    assert schema is not None
    defs = defs_of(op)
    sample = valid(op)
    name = schema["required"][0]
    sample.body = json.dumps({k: v for k, v in sample.json.items() if k != name}).encode()
    assert_refused(sample, "body-invalid", f"body: {name}: is required")
    prop = resolve(schema["properties"].get(name, {}), defs)
    kind = prop.get("type") if isinstance(prop, dict) else None
    if isinstance(kind, str):
        wrong = 12345 if kind == "string" else "not-a-" + kind
        sample.body = json.dumps({**sample.json, name: wrong}).encode()
        assert_refused(sample, "body-invalid", lambda d: d.startswith(f"body: {name}: must be"))


TYPED_BODIES = [
    o
    for o in JSON_OPS
    if o.request is not None
    and resolve(o.request.content["application/json"].schema, defs_of(o)).get("type") in ("object", "array")
]


@pytest.mark.parametrize("op", TYPED_BODIES, ids=ids(TYPED_BODIES))
def test_body_of_wrong_top_level_type(op: Operation) -> None:
    assert op.request is not None
    kind = resolve(op.request.content["application/json"].schema, defs_of(op))["type"]
    sample = valid(op)
    sample.body = b"[]" if kind == "object" else b"{}"
    assert_refused(sample, "body-invalid", f"body: must be {kind}")


def test_broken_cases_cover_the_catalog() -> None:
    # the computed lists are not empty by accident: the documents have this much to break
    # (required parameters by location as SPECS-REPORT.md §4.2 counts them)
    assert Counter(p.location for _, p in REQUIRED) == {"query": 115, "path": 58, "header": 8}
    assert len(TYPED) >= 150
    assert len(BOUNDED) >= 60
    assert len(FIELD_OPS) >= 70
    assert len(TYPED_BODIES) >= 140
    assert len(BODY_OPS) == 159
    assert {o.id for o in OPS if expected_error(o) is Unprocessable} == {
        "get-api-v1-question",
        "get-api-v1-feedback",
    }


MULTIPART_OPS = [o for o in BODY_OPS if o.request is not None and "multipart/form-data" in o.request.content]


@pytest.mark.parametrize("op", MULTIPART_OPS, ids=ids(MULTIPART_OPS))
def test_multipart_parts(op: Operation) -> None:
    assert op.request is not None
    defs = defs_of(op)
    schema = resolve(op.request.content["multipart/form-data"].schema, defs)
    sample = valid(op)
    parts = parse_multipart(sample.body, BOUNDARY)
    for name in schema.get("required", []):
        sample.body = form([(p.name, p.filename, p.content_type, p.data) for p in parts if p.name != name])
        assert_refused(sample, "body-invalid", f"body: {name}: is required")
    if not schema.get("required"):  # nothing required by name: a body without any declared part is refused
        sample.body = form([("other", None, None, b"x")])
        assert_refused(sample, "body-invalid", lambda d: d.startswith("body: must have a part named"))
    for sent, limit in op.request.max_part.items():
        name = sent.removesuffix("[]")
        sample.body = form(
            [
                *((p.name, p.filename, p.content_type, p.data) for p in parts),
                (sent, "big.bin", None, b"\0" * (limit + 1)),
            ]
        )
        with pytest.raises(PayloadTooLarge) as caught:
            sample.run()
        if op.max_body is not None and len(sample.body) > op.max_body:  # media/file: one file is the body
            assert (caught.value.code, caught.value.detail) == (
                "body-too-large",
                f"body: must not be larger than {op.max_body} bytes",
            )
        else:
            assert (caught.value.code, caught.value.detail) == (
                "part-too-large",
                f"body: {name}: must not be larger than {limit} bytes",
            )
    sample.headers = [h for h in sample.headers if h[0] != b"content-type"] + [
        (b"content-type", b"multipart/form-data")
    ]
    sample.body = form([(p.name, p.filename, p.content_type, p.data) for p in parts])
    assert_refused(sample, "multipart-invalid", "header.Content-Type: multipart/form-data needs a boundary")


def test_bodies_of_every_kind_are_covered() -> None:
    assert len(MULTIPART_OPS) == 3
    assert (
        sum(1 for o in BODY_OPS if o.request is not None and "application/octet-stream" in o.request.content)
        == 3
    )


# ---------------------------------------------------------------------------- the rules on their own


def operation(
    parameters: tuple[Parameter, ...] = (),
    content: dict[str, Any] | None = None,
    *,
    required: bool = True,
    max_part: dict[str, int] | None = None,
    max_body: int | None = None,
    responses: tuple[str, ...] = ("200", "400"),
) -> RequestCheck:
    """A RequestCheck of a made-up operation (no $defs)."""
    request = (
        None
        if content is None
        else Request(required, {k: Media(v) for k, v in content.items()}, max_part or {})
    )
    op = Operation(
        id="made-up",
        section="made",
        http="POST",
        path="/x/{id}",
        host="content-api",
        category="content",
        read_only=False,
        token_types=frozenset({"personal"}),
        limit=Limit(None, {}),
        parameters=parameters,
        request=request,
        responses={s: {} for s in responses},
        max_body=max_body,
    )
    return RequestCheck(op, {})


def q(name: str, schema: Any, required: bool = False) -> Parameter:
    return Parameter(name, "query", required, schema)


def query_of(check: RequestCheck, query: bytes) -> dict[str, Any]:
    return check.check({}, query, [], b"").query


def refusal(run: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(WBError) as caught:
        run()
    return caught.value.status, caught.value.code, caught.value.detail


def query_refusal(check: RequestCheck, query: bytes) -> tuple[int, str, str]:
    return refusal(lambda: query_of(check, query))


def test_integer_coercion() -> None:
    check = operation(
        (
            q("n", {"type": "integer"}),
            q("i32", {"type": "integer", "format": "int32"}),
            q("u", {"type": "integer", "format": "uint"}),
        )
    )
    assert query_of(check, b"n=42&i32=-7&u=0") == {"n": 42, "i32": -7, "u": 0}
    # a sign and leading zeros are fine (as Go's ParseInt has it); an empty value is no value
    assert query_of(check, b"n=%2B5&i32=007&u=") == {"n": 5, "i32": 7}
    for bad in (b"1.0", b"1e3", b"%201", b"1_000", b"0x10", b"+", b"--1", b"%D9%A1"):
        assert query_refusal(check, b"n=" + bad) == (400, "parameter-invalid", "query.n: must be an integer")
    assert (
        refusal(lambda: query_of(check, b"n=9223372036854775808"))[2]
        == "query.n: must be <= 9223372036854775807"
    )
    assert refusal(lambda: query_of(check, b"i32=2147483648"))[2] == "query.i32: must be <= 2147483647"
    assert refusal(lambda: query_of(check, b"u=-1"))[2] == "query.u: must be >= 0"


def test_number_and_boolean_coercion() -> None:
    check = operation((q("x", {"type": "number"}), q("b", {"type": "boolean"})))
    assert query_of(check, b"x=1.5&b=true") == {"x": 1.5, "b": True}
    assert query_of(check, b"x=-2&b=False") == {"x": -2, "b": False}
    assert query_of(check, b"x=.5e2&b=1") == {"x": 50.0, "b": True}
    for bad in (b"nan", b"inf", b"1,5", b"1.2.3"):
        assert query_refusal(check, b"x=" + bad)[2] == "query.x: must be a number"
    assert refusal(lambda: query_of(check, b"x=1e400"))[2] == "query.x: must be a finite number"
    for bad in (b"yes", b"on", b"2", b"truth"):
        assert query_refusal(check, b"b=" + bad)[2] == "query.b: must be true or false"


def test_arrays_repeated_comma_and_brackets() -> None:
    ids_ = q("ids", {"type": "array", "items": {"type": "integer"}, "maxItems": 3, "uniqueItems": True}, True)
    check = operation((ids_,))
    assert query_of(check, b"ids=1&ids=2") == {"ids": [1, 2]}
    assert query_of(check, b"ids=1,2,3") == {"ids": [1, 2, 3]}
    assert query_of(check, b"ids=1%2C2&ids=3") == {"ids": [1, 2, 3]}
    assert query_of(check, b"ids%5B%5D=4&ids[]=5") == {"ids": [4, 5]}
    assert refusal(lambda: query_of(check, b"ids=1,x"))[2] == "query.ids[1]: must be an integer"
    assert refusal(lambda: query_of(check, b"ids=1,2,3,4"))[2] == "query.ids: must not have more than 3 items"
    assert refusal(lambda: query_of(check, b"ids=1,1"))[2] == "query.ids: must not contain duplicate items"
    assert refusal(lambda: query_of(check, b"ids="))[1:] == ("parameter-missing", "query.ids: is required")
    bracketed = operation(
        (q("filter[downloadIds]", {"type": "array", "items": {"type": "string", "format": "uuid"}}),)
    )
    uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert query_of(bracketed, f"filter%5BdownloadIds%5D={uuid}".encode()) == {"filter[downloadIds]": [uuid]}
    assert (
        refusal(lambda: query_of(bracketed, b"filter[downloadIds]=x"))[2]
        == "query.filter[downloadIds][0]: must be a valid uuid"
    )


def test_query_rules() -> None:
    check = operation(
        (
            q("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}),
            q("name", {"type": "string"}),
            q("dateFrom", {"type": "string", "format": "date-time"}),
            q("day", {"type": "string", "format": "date"}),
        )
    )
    assert query_of(check, b"") == {"limit": 50}  # a default fills an absent parameter
    assert query_of(check, b"limit=7&limit=8&unknown=%ff&%ff=1&name=a+b%20c%26") == {
        "limit": 8,
        "name": "a b c&",
    }
    assert query_of(check, b"limit=&name=") == {"limit": 50, "name": ""}  # empty: absent, but for a string
    assert refusal(lambda: query_of(check, b"limit=1001")) == (
        400,
        "parameter-invalid",
        "query.limit: must be <= 1000",
    )
    assert refusal(lambda: query_of(check, b"name=%ff"))[2] == "query.name: not UTF-8"
    for moment in (
        "2019-06-20",
        "2019-06-20T23:59:59",
        "2019-06-20T00:00:00.12345",
        "2025-01-01T10:00:00Z",
        "2025-01-01T10:00:00+03:00",
        "2025-01-01T10:00",
    ):
        assert query_of(check, b"dateFrom=" + quote(moment).encode())["dateFrom"] == moment
    for bad in ("2019-13-01", "20190620", "yesterday", "2019-06-20T25:00:00"):
        detail = query_refusal(check, b"dateFrom=" + bad.encode())[2]
        assert detail == "query.dateFrom: must be a date or date-time"
    assert (
        refusal(lambda: query_of(check, b"day=2019-06-20T10:00:00"))[2] == "query.day: must be a valid date"
    )
    assert refusal(lambda: query_of(check, b"limit=0"))[2] == "query.limit: must be >= 1"
    # a list default is the request's own: a handler that changes it changes nothing for the next request
    listed = operation((q("ids", {"type": "array", "items": {"type": "integer"}, "default": [1]}),))
    query_of(listed, b"")["ids"].append(2)
    assert query_of(listed, b"") == {"ids": [1]}


def test_path_and_header_parameters() -> None:
    check = operation(
        (
            Parameter("id", "path", True, {"type": "integer", "format": "int64"}),
            Parameter("X-Photo-Number", "header", True, {"type": "integer"}),
            Parameter("Range", "header", False, {"type": "string"}),
        )
    )
    got = check.check({"id": "123"}, b"", [(b"x-photo-number", b"2"), (b"x-other", b"z")], b"")
    assert (got.path, got.headers, got.query, got.json) == ({"id": 123}, {"X-Photo-Number": 2}, {}, None)
    assert (
        refusal(lambda: check.check({"id": "12a"}, b"", [(b"x-photo-number", b"2")], b""))[2]
        == "path.id: must be an integer"
    )
    assert refusal(lambda: check.check({"id": "1"}, b"", [], b""))[1:] == (
        "parameter-missing",
        "header.X-Photo-Number: is required",
    )
    assert (
        refusal(lambda: check.check({}, b"", [(b"x-photo-number", b"2")], b""))[2] == "path.id: is required"
    )


def test_status_422_where_the_document_has_no_400() -> None:
    check = operation((q("id", {"type": "string"}, True),), responses=("200", "401", "422"))
    assert refusal(lambda: query_of(check, b"")) == (422, "parameter-missing", "query.id: is required")
    both = operation((q("id", {"type": "string"}, True),), responses=("200", "400", "422"))
    assert refusal(lambda: query_of(both, b""))[0] == 400


OBJ = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "array",
            "items": {"type": "object", "properties": {"price": {"type": "integer", "minimum": 0}}},
        }
    },
}


def body_check(headers: list[tuple[bytes, bytes]], body: bytes, *, required: bool = True) -> Checked:
    return operation(content={"application/json": OBJ}, required=required).check({}, b"", headers, body)


def body_refusal(body: bytes) -> tuple[int, str, str]:
    return refusal(lambda: body_check([JSON_CT], body))


def test_json_content_types() -> None:
    good = b'{"data": [{"price": 1}]}'
    for ct in (
        b"application/json",
        b"application/json; charset=utf-8",
        b'Application/JSON;charset="UTF-8"',
        b"application/json ; charset=utf8",
    ):
        checked = body_check([(b"content-type", ct)], good)
        assert (checked.json, checked.content_type) == ({"data": [{"price": 1}]}, "application/json")
    # no Content-Type: taken as the one declared type, JSON
    assert body_check([], good).json == {"data": [{"price": 1}]}
    assert refusal(
        lambda: body_check([(b"content-type", b"application/json; charset=windows-1251")], good)
    ) == (400, "content-type-unsupported", "header.Content-Type: charset must be utf-8")
    assert (
        refusal(lambda: body_check([(b"content-type", b"text/json")], good))[1] == "content-type-unsupported"
    )
    assert body_check([JSON_CT], b"", required=False).json is None  # an optional body left out
    assert refusal(lambda: body_check([JSON_CT], b"")) == (400, "body-missing", "body: is required")


def test_json_is_rfc_8259() -> None:
    cases = {
        b'{"data": [{"price": NaN}]}': "body: not JSON (NaN is not a JSON number)",
        b'{"data": [{"price": -Infinity}]}': "body: not JSON (-Infinity is not a JSON number)",
        b'{"data": [{"price": 1e400}]}': "body: not JSON (number 1e400 is out of range)",
        '{"data": "\u00e9"}'.encode("latin-1"): "body: not JSON (not UTF-8 at byte 10)",
        b'\xef\xbb\xbf{"data": []}': "body: not JSON (line 1, column 1)",
        b'{"data": ["\\ud800"]}': "body: not JSON (a \\u escape of half a surrogate pair)",
        b"[" * 100_000: "body: not JSON (nested too deeply)",
        b'{"data": [1' + b"0" * 5000 + b"]}": "body: not JSON (an integer with too many digits)",
        b'{"data": []} x': "body: not JSON (line 1, column 14)",
        b'{\n  "data": [,]}': "body: not JSON (line 2, column 12)",
    }
    for body, detail in cases.items():
        assert body_refusal(body) == (400, "body-not-json", detail)
    # a valid surrogate pair and other escapes are fine
    assert body_check([JSON_CT], b'{"data": [], "x": "\\ud83d\\ude00\\n"}').json == {
        "data": [],
        "x": "\U0001f600\n",
    }
    assert refusal(lambda: body_check([JSON_CT], b'{"data": [{"price": 1}, {"price": -1}]}')) == (
        400,
        "body-invalid",
        "body: data[1].price: must be >= 0",
    )
    assert refusal(lambda: body_check([JSON_CT], b"null"))[2] == "body: must be object"


def test_no_declared_body_is_not_read() -> None:
    check = operation()
    got = check.check({}, b"", [(b"content-type", b"text/plain")], b"not json")
    assert (got.json, got.content_type) == (None, None)


def test_binary_bodies() -> None:
    check = operation(
        content={"application/octet-stream": {"type": "string", "format": "binary"}}, max_body=10
    )
    png = b"\x89PNG\r\n"
    got = check.check({}, b"", [(b"content-type", b"application/octet-stream")], png)
    assert (got.body, got.content_type, got.json) == (png, "application/octet-stream", None)
    assert check.check({}, b"", [], png).content_type == "application/octet-stream"
    assert (
        refusal(lambda: check.check({}, b"", [(b"content-type", b"image/png")], png))[1]
        == "content-type-unsupported"
    )
    assert refusal(lambda: check.check({}, b"", [], b"x" * 11)) == (
        413,
        "body-too-large",
        "body: must not be larger than 10 bytes",
    )


def test_multipart_rules() -> None:
    schema = {
        "type": "object",
        "required": ["replySign"],
        "properties": {
            "replySign": {"type": "string", "maxLength": 5},
            "count": {"type": "integer"},
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
        },
    }
    check = operation(content={"multipart/form-data": schema}, max_part={"file[]": 4})
    ct = [(b"content-type", f'multipart/form-data; boundary="{BOUNDARY}"'.encode())]
    body = form(
        [
            ("replySign", None, None, b"abc"),
            ("count", None, None, b"3"),
            ("file[]", "a.png", "image/png", b"1234"),
            ("file", "b.pdf", None, b"56"),
            ("ignored", None, None, b"zzz"),
        ]
    )
    got = check.check({}, b"", ct, body)
    assert sorted(got.parts) == ["count", "file", "replySign"]
    assert [(p.filename, p.data, p.content_type) for p in got.parts["file"]] == [
        ("a.png", b"1234", "image/png"),
        ("b.pdf", b"56", None),
    ]
    assert got.content_type == "multipart/form-data"
    assert refusal(lambda: check.check({}, b"", ct, form([("replySign", None, None, b"toolong")]))) == (
        400,
        "body-invalid",
        "body: replySign: must not be longer than 5 characters",
    )
    assert (
        refusal(
            lambda: check.check(
                {}, b"", ct, form([("replySign", None, None, b"a"), ("count", None, None, b"x")])
            )
        )[2]
        == "body: count: must be an integer"
    )
    assert (
        refusal(lambda: check.check({}, b"", ct, form([("replySign", None, None, b"\xff")])))[2]
        == "body: replySign: not UTF-8"
    )
    assert refusal(
        lambda: check.check(
            {}, b"", ct, form([("replySign", None, None, b"a"), ("file", "x", None, b"12345")])
        )
    ) == (413, "part-too-large", "body: file: must not be larger than 4 bytes")
    assert refusal(lambda: check.check({}, b"", ct, b"garbage"))[1:] == (
        "multipart-invalid",
        "body: not multipart/form-data (no boundary line)",
    )
    truncated = form([("replySign", None, None, b"a")])[:-10]
    assert (
        refusal(lambda: check.check({}, b"", ct, truncated))[2]
        == "body: not multipart/form-data (no closing boundary)"
    )
    assert refusal(lambda: check.check({}, b"", [], body))[1:] == (
        "content-type-unsupported",
        "header.Content-Type: is required: multipart/form-data",
    )


def test_parse_multipart_preamble_and_quoting() -> None:
    body = b"preamble\r\n" + form([('a"b', "c;d.txt", None, b"x\r\ny")]) + b"epilogue"
    body = body.replace(b'name="a"b"', b'name="a\\"b"')
    (part,) = parse_multipart(body, BOUNDARY)
    assert (part.name, part.filename, part.data) == ('a"b', "c;d.txt", b"x\r\ny")


# ------------------------------------------------------------------------------------------ costs


def best(run: Callable[[], Any], rounds: int = 30) -> float:
    fastest = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def test_costs() -> None:
    # every operation's check is made at start: that must cost next to nothing
    start = time.perf_counter()
    checks = [RequestCheck(o, CATALOG.defs_of(o)) for o in OPS]
    assert time.perf_counter() - start < 0.05 and len(checks) == 302
    # the 1,000-item price upload: the check adds little to json.loads + Validator.validate of the same bytes
    op = CATALOG.by_key("POST", "/api/v2/upload/task")
    assert op.request is not None
    body = json.dumps(
        {"data": [{"nmID": 10_000_000 + i, "price": 1000 + i, "discount": i % 50} for i in range(1000)]}
    ).encode()
    validator = Validator(op.request.content["application/json"].schema, defs_of(op))
    check = RequestCheck(op, CATALOG.defs_of(op))
    headers = [
        (b"host", b"discounts-prices-api.wildberries.ru"),
        JSON_CT,
        (b"content-length", str(len(body)).encode()),
    ]
    assert len(check.check({}, b"", headers, body).json["data"]) == 1000
    base = best(lambda: validator.validate(json.loads(body)))
    checked = best(lambda: check.check({}, b"", headers, body))
    assert checked < base * 1.25, (checked, base)
    # a GET without parameters: a few microseconds
    seller_info = RequestCheck(CATALOG.by_key("GET", "/api/v1/seller-info"), {})
    assert best(lambda: [seller_info.check({}, b"", headers, b"") for _ in range(1000)]) / 1000 < 20e-6


GARBLE = [
    b"%ff",
    b"%",
    b"+",
    b"&",
    b"=",
    b",",
    b"[]",
    b"\xff",
    b"NaN",
    b"{",
    b"[",
    b'"',
    b"\\ud800",
    b"1e999",
]
GARBLE += [b"\r\n", b"--", BOUNDARY.encode(), b"\r\n\r\n"]


def garble(data: bytes, rnd: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randrange(1, 4)):
        at = rnd.randrange(len(out) + 1)
        out[at : at + rnd.randrange(3)] = rnd.choice(GARBLE)
    return bytes(out)


def test_garbled_requests_get_wb_errors_only() -> None:
    # a seeded fuzz over every operation: whatever is broken, the answer is a WB refusal, never a crash
    rnd = random.Random(12)
    refused = 0
    for op in OPS:
        sample = valid(op)
        check = RequestCheck(op, CATALOG.defs_of(op))
        for _ in range(8):
            path = {k: garble(v.encode(), rnd).decode("latin-1") for k, v in sample.path.items()}
            query, body = garble(sample.query_string(), rnd), garble(sample.body, rnd)
            try:
                check.check(path, query, sample.headers, body)
            except WBError as err:
                assert err.code in CODES and err.status in (400, 413, 422), (op.id, err.detail)
                refused += 1
    assert refused > len(OPS)  # most garbled requests are refused
