"""The harness of tests/api: one in-process gateway, requests built from the catalog, and the checks of answers.

    api = Api(data_dir)                     # a Gateway on its own data directory, started, on a frozen clock
    token = api.token_for(op)               # of the module's seller (api.sid), a type `op` takes, its bit
    api.refill(op)                          # time moved until op's buckets are full
    r = api.send(valid_call(op), token)     # Host header form; form="localhost" | "prefix" | "bare"
    check_answer(op, r)                     # a declared success, body valid against its declared schema
    check_error(api.send(broken.call, token), 400, broken.code)   # a WB error body

The decisions behind it are in tests/api/__init__.py.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import io
import json
import re
import struct
import sys
import time
import zipfile
import zlib
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx

from wbseller.backends.general import General
from wbseller.catalog import Catalog, Operation, Parameter, load
from wbseller.categories import (
    ALL_HOST_BY_PREFIX,
    ALL_HOSTS,
    BY_NAME,
    READ_ONLY_MASK,
    WB_DOMAIN,
    Host,
    sandbox_of,
)
from wbseller.clock import OffsetClock
from wbseller.config import Settings
from wbseller.gateway.app import Gateway
from wbseller.schemas.convert import DEFS_PREFIX
from wbseller.schemas.generate import binary_stub, generate
from wbseller.schemas.validate import SchemaViolation, Validator
from wbseller.tokens import LIFETIME, TokenType

T = TypeVar("T")

# httpx's ASGITransport tries `import sniffio` on every request; where it is not installed, each failed import
# searches sys.path again (about half of a request's cost here). Not installed is remembered as Python does
# for a module known to be absent: None in sys.modules makes the import fail at once.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

CATALOG: Catalog = load()
OPS: tuple[Operation, ...] = CATALOG.operations
BARE_HOST = "127.0.0.1:8000"
BOUNDARY = "wbseller-api-test"
ERROR_FIELDS = {"title", "detail", "code", "requestId", "origin", "status", "statusText", "timestamp"}
# The token types a valid call prefers, in order: the first the operation allows (never test on production).
PREFERRED = (TokenType.PERSONAL, TokenType.SERVICE, TokenType.BASE)
# A category bit for hosts that require none (common-api, user-management-api, devapi-digital): any works.
ANY_BIT = BY_NAME["finance"].mask

# Responses no instance can satisfy as the documents write them (docs/catalog.md "Generated answers": an
# allOf of respond.SuccessResponse, `data: object` required, with a member that redefines `data`). Their
# answers are held to the later member plus `data` present; `check_answer` also asserts the full schema
# still fails, so this list must shrink when the documents are fixed.
UNSATISFIABLE = frozenset(
    {
        "get-api-feedbacks-v1-pins",
        "post-api-feedbacks-v1-pins",
        "delete-api-feedbacks-v1-pins",
        "get-api-feedbacks-v1-pins-count",
    }
)


def _refills() -> dict[str, float]:
    """Per operation: the time after which every bucket it charges is full, whatever charged it last. A
    bucket's TAT runs at most (burst + extra cost) intervals ahead of its member's rate, so the most of that
    over the bucket's members (a named group, a sandbox group), and a block's length on top."""

    def worst(op: Operation, types: tuple[str, ...]) -> float:
        cost = max([1, *op.limit.costs.values()])
        block = op.limit.block.seconds if op.limit.block else 0.0
        return max((op.limit.rates[t].burst + cost) * op.limit.rates[t].interval for t in types) + block

    by_bucket: dict[str, float] = {}
    for op in OPS:
        own = tuple(t for t in op.limit.rates if t != "test")
        key = op.limit.group or op.id
        by_bucket[key] = max(by_bucket.get(key, 0.0), worst(op, own) if own else 0.0)
        if "test" in op.limit.rates:
            key = f"test:{op.limit.test_group or op.id}"
            by_bucket[key] = max(by_bucket.get(key, 0.0), worst(op, ("test",)))
    return {
        op.id: max(
            by_bucket[op.limit.group or op.id], by_bucket.get(f"test:{op.limit.test_group or op.id}", 0.0)
        )
        for op in OPS
    }


REFILL = _refills()


def ids(ops: tuple[Operation, ...] | list[Operation]) -> list[str]:
    return [o.id for o in ops]


def defs_of(op: Operation) -> dict[str, Any]:
    found = CATALOG.defs_of(op)
    assert isinstance(found, dict)
    return found


def resolve(schema: Any, defs: Mapping[str, Any]) -> Any:
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = defs[schema["$ref"].removeprefix(DEFS_PREFIX)]
    return schema


def kind_of(op: Operation, p: Parameter) -> str:
    """The JSON type of a parameter's schema (`string` when it names none)."""
    schema = resolve(p.schema, defs_of(op))
    kind = schema.get("type") if isinstance(schema, dict) else None
    return kind if isinstance(kind, str) else "string"


def text(value: Any) -> str:
    """A typed value as a client writes it in a path, query string or header."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_json(content_type: str) -> bool:
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    return kind.endswith(("/json", "+json"))


def error_for(op: Operation) -> int:
    """The status of a refused request of `op`: 422 where its document declares 422 and not 400."""
    return 422 if "422" in op.responses and "400" not in op.responses else 400


# ------------------------------------------------------------------------------------------ hosts


def production(op: Operation) -> Host:
    return ALL_HOST_BY_PREFIX[op.host]


def twin(op: Operation) -> Host | None:
    """The sandbox host that serves `op` to test tokens, if any (for /ping, served on every host with one:
    the first sandbox host that has it)."""
    if "test" not in op.token_types:
        return None
    if op.category == "all":
        return next(h for h in ALL_HOSTS if h.sandbox and h.ping)
    return sandbox_of(op.host)


def scope_for(host: Host) -> int:
    """The category bits a token needs on `host` (one bit where the host requires none)."""
    return host.mask or ANY_BIT


def allowed_type(op: Operation) -> TokenType:
    return next(t for t in PREFERRED if t.value in op.token_types)


# --------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Call:
    """One request to one operation, before a host and a token are chosen."""

    op: Operation
    path_values: Mapping[str, str] = field(default_factory=dict)  # path parameter -> its text
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    json: Any = None  # the JSON body as a value, where there is one

    @property
    def http(self) -> str:
        return self.op.http

    @property
    def path(self) -> str:
        """The concrete path, each value percent-encoded."""
        return concrete(self.op, self.path_values)

    def without_query(self, name: str) -> Call:
        return replace(self, query=tuple(q for q in self.query if q[0] != name))

    def with_query(self, name: str, value: str) -> Call:
        return replace(self, query=(*self.without_query(name).query, (name, value)))

    def with_header(self, name: str, value: str | None) -> Call:
        kept = tuple(h for h in self.headers if h[0].lower() != name.lower())
        return replace(self, headers=kept if value is None else (*kept, (name, value)))

    def with_body(self, body: bytes, value: Any = None) -> Call:
        return replace(self, body=body, json=value)

    def with_path(self, name: str, value: str) -> Call:
        return replace(self, path_values={**self.path_values, name: value})


def concrete(op: Operation, values: Mapping[str, str]) -> str:
    """`op.path` with each `{name}` replaced by its (percent-encoded) value."""
    return re.sub(r"\{([^{}]+)\}", lambda m: quote(values[m.group(1)], safe=""), op.path)


def multipart(parts: list[tuple[str, str | None, str | None, bytes]]) -> bytes:
    """A multipart/form-data body of (name, filename, content type, data) parts."""
    out = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _documented(
    schema: Any, defs: dict[str, Any], has: bool, example: Any, examples: Mapping[str, Any]
) -> tuple[bool, Any]:
    """(True, the first documented example valid against `schema`), else (False, None)."""
    validator = Validator(schema, defs)
    for value in ([example] if has else []) + list(examples.values()):
        if validator.is_valid(value):
            return True, value
    return False, None


def valid_call(op: Operation, seed: str = "valid", *, optional: bool = True, examples: bool = True) -> Call:
    """A request `op` accepts: its required parameters (and with `optional` the others) and a body, from the
    documented examples where they are valid (`examples`), else generated from the schemas. Built once per
    arguments (a Call is not changed, only copied)."""
    call = _valid_call(op.id, seed, optional, examples)
    return _members(call) if op.id in MEMBER_OPS else call


# Operations on the seller's users (backends/general.py) refuse ids of no user of the seller: their valid calls
# name the members the current `Api` made for its seller (one module's at a time): one to change, one to delete.
MEMBER_OPS: dict[str, int] = {"put-api-v1-users-access": 0, "delete-api-v1-user": 0}


def _members(call: Call) -> Call:
    uid = MEMBER_OPS[call.op.id]
    if call.op.id == "delete-api-v1-user":
        return call.with_query("deletedUserID", str(uid))
    body = {"usersAccesses": [{**a, "userId": uid} for a in call.json["usersAccesses"]]}
    return call.with_body(json.dumps(body).encode(), body)


@functools.cache
def _valid_call(op_id: str, seed: str, optional: bool, examples: bool) -> Call:
    op = CATALOG.by_id(op_id)
    defs = defs_of(op)
    path: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    headers: list[tuple[str, str]] = []
    for p in op.parameters:
        if not (p.required or optional):
            continue
        found, value = (
            _documented(p.schema, defs, p.has_example, p.example, p.examples) if examples else (False, None)
        )
        if not found:
            value = generate(p.schema, defs, seed=f"{seed}:{op.id}:{p.name}")
        if p.location == "path":
            path[p.name] = text(value)
        elif p.location == "query":
            query += [(p.name, text(v)) for v in (value if isinstance(value, list) else [value])]
        else:
            headers.append((p.name, text(value)))
    call = Call(op, path, tuple(query), tuple(headers))
    if op.request is None or not (op.request.required or optional):
        return call
    content_type, media = next(iter(op.request.content.items()))
    if content_type == "application/json":
        found, value = (
            _documented(media.schema, defs, media.has_example, media.example, media.examples)
            if examples
            else (False, None)
        )
        if not found:
            value = generate(media.schema, defs, seed=f"{seed}:{op.id}:body")
        body = json.dumps(value, ensure_ascii=False).encode()
        return replace(call, headers=(*headers, ("Content-Type", content_type)), body=body, json=value)
    if content_type == "multipart/form-data":
        parts: list[tuple[str, str | None, str | None, bytes]] = []
        for name, written in resolve(media.schema, defs)["properties"].items():
            prop = resolve(written, defs)
            item = resolve(prop.get("items", {}), defs) if prop.get("type") == "array" else prop
            if item.get("format") == "binary":
                parts.append((name, f"{name}.png", "image/png", binary_stub("image/png")))
            else:
                parts.append((name, None, None, text(generate(item, defs, seed=f"{seed}:{name}")).encode()))
        kind = f"multipart/form-data; boundary={BOUNDARY}"
        return replace(call, headers=(*headers, ("Content-Type", kind)), body=multipart(parts))
    # a binary upload: the file's real type is in the X-Content-Type header parameter
    declared = dict(headers).get("X-Content-Type", "application/octet-stream")
    return replace(call, headers=(*headers, ("Content-Type", content_type)), body=binary_stub(declared))


@dataclass(frozen=True)
class Broken:
    """An invalid request of an operation and what its refusal's detail must say."""

    label: str  # for the test id: `query.limit-missing`
    call: Call
    detail: str  # the detail, exactly, or (with `prefix`) how it starts
    code: str
    prefix: bool = False

    def matches(self, detail: str) -> bool:
        return detail.startswith(self.detail) if self.prefix else detail == self.detail


MISSING = "parameter-missing"
INVALID = "parameter-invalid"
# A text of the wrong type per parameter type, and the rule its refusal names.
WRONG = {
    "integer": ("12x", "must be an integer"),
    "number": ("1,5", "must be a number"),
    "boolean": ("yes", "must be true or false"),
}
# A text outside a string format the checks assert, and the start of the rule its refusal names.
WRONG_FORMAT = {
    "uuid": ("not-a-uuid", "must be a valid uuid"),
    "date": ("2024-13-45", "must be a valid date"),
    "date-time": ("2024-13-45", "must be a date or date-time"),
}


def _replace_param(call: Call, p: Parameter, value: str | None) -> Call:
    if p.location == "path":
        assert value is not None
        return call.with_path(p.name, value)
    if p.location == "query":
        return call.without_query(p.name) if value is None else call.with_query(p.name, value)
    return call.with_header(p.name, value)


def broken_calls(op: Operation) -> list[Broken]:
    """The invalid requests `op` has room for: each required parameter left out, each typed parameter of the
    wrong type or outside its format or enum, and for a body: none where one is required, not JSON, of the
    wrong top-level type, a required property left out or of the wrong type, a Content-Type not declared."""
    defs = defs_of(op)
    good = valid_call(op)
    out: list[Broken] = []
    for p in op.parameters:
        where = f"{p.location}.{p.name}"
        if p.required and p.location != "path":  # a path without its segment is another path (routing)
            out.append(
                Broken(f"{where}-missing", _replace_param(good, p, None), f"{where}: is required", MISSING)
            )
        schema = resolve(p.schema, defs)
        kind = kind_of(op, p)
        if kind in WRONG:
            bad, rule = WRONG[kind]
            out.append(Broken(f"{where}-type", _replace_param(good, p, bad), f"{where}: {rule}", INVALID))
        elif kind == "array" and resolve(schema.get("items", {}), defs).get("type") == "integer":
            out.append(
                Broken(
                    f"{where}-item",
                    _replace_param(good, p, "1,x"),
                    f"{where}[1]: must be an integer",
                    INVALID,
                )
            )
        elif kind == "string" and "enum" in schema:
            rule = f"{where}: must be one of: " + ", ".join(map(str, schema["enum"]))
            out.append(Broken(f"{where}-enum", _replace_param(good, p, "zzz"), rule, INVALID))
        elif kind == "string" and schema.get("format") in WRONG_FORMAT:
            bad, rule = WRONG_FORMAT[schema["format"]]
            out.append(
                Broken(f"{where}-format", _replace_param(good, p, bad), f"{where}: {rule}", INVALID, True)
            )
    request = op.request
    if request is None:
        return out
    declared = " or ".join(request.content)
    if request.required:
        out.append(Broken("body-missing", good.with_body(b""), "body: is required", "body-missing"))
    wrong_type = good.with_header("Content-Type", "text/plain")
    out.append(
        Broken(
            "content-type", wrong_type, f"header.Content-Type: must be {declared}", "content-type-unsupported"
        )
    )
    if "application/json" not in request.content:
        return out
    out.append(
        Broken("body-not-json", good.with_body(b'{"data": [1, 2'), "body: not JSON (", "body-not-json", True)
    )
    schema = resolve(request.content["application/json"].schema, defs)
    top = schema.get("type") if isinstance(schema, dict) else None
    if top in ("object", "array"):
        other = b"[]" if top == "object" else b"{}"
        out.append(Broken("body-top-type", good.with_body(other), f"body: must be {top}", "body-invalid"))
    if top == "object" and schema.get("required") and isinstance(good.json, dict):
        name = schema["required"][0]
        kept = {k: v for k, v in good.json.items() if k != name}
        out.append(
            Broken(
                f"body.{name}-missing",
                good.with_body(json.dumps(kept).encode(), kept),
                f"body: {name}: is required",
                "body-invalid",
            )
        )
        prop = resolve(schema.get("properties", {}).get(name, {}), defs)
        prop_type = prop.get("type") if isinstance(prop, dict) else None
        if isinstance(prop_type, str):
            wrong = {**good.json, name: 12345 if prop_type == "string" else f"not-a-{prop_type}"}
            out.append(
                Broken(
                    f"body.{name}-type",
                    good.with_body(json.dumps(wrong).encode(), wrong),
                    f"body: {name}: must be",
                    "body-invalid",
                    True,
                )
            )
    return out


# ------------------------------------------------------------------------------------------ checks


def media_of(op: Operation, status: int, content_type: str) -> Any:
    content = op.responses[str(status)]
    assert content_type in content, f"{op.id}: {content_type} is not declared for {status}: {list(content)}"
    return content[content_type]


def check_answer(op: Operation, r: httpx.Response) -> None:
    """A success the operation declares, its body valid against that status's declared schema."""
    assert str(r.status_code) in op.responses, f"{op.id}: {r.status_code} not declared: {r.text[:300]}"
    assert 200 <= r.status_code < 300, f"{op.id}: {r.status_code} {r.text[:300]}"
    content = op.responses[str(r.status_code)]
    if not content:
        assert r.content == b"", op.id
        return
    kind = r.headers["content-type"]
    media = media_of(op, r.status_code, kind)
    if not is_json(kind):
        check_file(kind, r.content)
        return
    value = r.json()
    if media.schema is None:
        return
    validator = Validator(media.schema, defs_of(op))
    if op.id not in UNSATISFIABLE:
        try:
            validator.validate(value)
        except SchemaViolation as bad:
            raise AssertionError(f"{op.id}: {r.status_code} body fails its schema: {bad}") from None
        return
    assert not validator.is_valid(value), f"{op.id}: satisfiable now; take it off UNSATISFIABLE"
    later = media.schema["allOf"][-1]
    Validator({"allOf": [later, {"required": ["data"]}]}, defs_of(op)).validate(value)


def check_file(kind: str, data: bytes) -> None:
    """`data` is a whole file of `kind` (the non-JSON media the catalog's successes declare), read as one."""
    if kind == "application/pdf":
        assert data.startswith(b"%PDF-1.") and b"startxref" in data and data.rstrip().endswith(b"%%EOF")
    elif kind == "application/zip":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.namelist() and z.testzip() is None
    elif kind == "image/png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        pos, chunks = 8, []
        while pos < len(data):  # every chunk whole, its CRC right; IHDR first, IEND last
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            name, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
            (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
            assert crc == zlib.crc32(name + body), name
            chunks.append(name)
            pos += 12 + length
        assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    elif kind == "image/jpeg":
        assert data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9")
    else:
        raise AssertionError(f"no check for a file of type {kind}")


def check_remaining(r: httpx.Response) -> int:
    raw = r.headers.get("x-ratelimit-remaining")
    assert raw is not None, f"no X-Ratelimit-Remaining on {r.status_code}: {r.text[:200]}"
    assert raw.isdigit(), raw
    return int(raw)


def check_error(
    r: httpx.Response, status: int, code: str | None = None, now: float | None = None
) -> dict[str, Any]:
    """A WB error body with all its fields, of `status` (and `code`); returns it."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:300]}"
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert isinstance(body, dict) and set(body) == ERROR_FIELDS, body
    assert body["status"] == status
    assert body["statusText"] == HTTPStatus(status).phrase
    assert body["requestId"] == r.headers["x-request-id"]
    assert body["origin"] == "wbseller-gateway"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    if now is not None:
        assert body["timestamp"] == datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return body


def _is_uniform(r: httpx.Response) -> bool:
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body, dict) and set(body) == ERROR_FIELDS


# Where a shaped error body (methods/shapes.py) carries the detail text, in this order.
_TEXT_FIELDS = ("detail", "message", "errorText", "error", "errors")


def check_op_error(
    r: httpx.Response, op: Operation, status: int, code: str | None = None, now: float | None = None
) -> dict[str, Any]:
    """An operation's own refusal: the uniform WB body where it is sent (application/problem+json),
    else a body of the content type and schema the operation declares for `status`, with the request id
    of X-Request-Id wherever the shape has a place for it. Returns {"detail": its text, "code": the
    uniform body's code, or None for a shaped one}."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:300]}"
    content_type = r.headers["content-type"]
    if content_type == "application/problem+json" and _is_uniform(r):
        body = check_error(r, status, code, now)
        return {"detail": body["detail"], "code": body["code"]}
    declared = op.responses[str(status)]
    assert content_type in declared, (op.id, content_type, list(declared))
    schema = declared[content_type].schema
    request_id = r.headers["x-request-id"]
    data: Any = r.text
    if "json" in content_type or (schema is not None and schema.get("type") != "string"):
        data = r.json()  # JSON, or a JSON schema under a text type (as some documents declare)
    elif schema is not None:
        Validator(schema, defs_of(op)).validate(data)
        assert data
        return {"detail": data, "code": None}
    if schema is not None:
        Validator(schema, defs_of(op)).validate(data)
    texts: list[str] = []
    if isinstance(data, dict):
        for key in ("requestId", "request_id"):
            if key in data:
                assert data[key] == request_id, (op.id, data)
        for key in _TEXT_FIELDS:
            value = data.get(key)
            if isinstance(value, str) and value:
                texts.append(value)
            elif isinstance(value, dict) and isinstance(value.get("message"), str):
                texts.append(value["message"])
            elif isinstance(value, list) and value and isinstance(value[0], str):
                texts.append(value[0])
        uniform = data.get("code") if data.keys() >= ERROR_FIELDS else None
    else:
        if isinstance(data, str) and data:  # a JSON string (advert's older methods)
            texts.append(data)
        uniform = None
    assert texts, (op.id, data)  # every shape has a place for what was wrong
    if code is not None and uniform is not None:
        assert uniform == code, data
    return {"detail": texts[0], "code": uniform}


# ------------------------------------------------------------------------------------------- the API


def request(
    call: Call,
    token: str | None,
    host: Host | str | None = None,
    form: str = "host",
    http: str | None = None,
) -> httpx.Request:
    """The HTTP request of `call` (see `Api.send`)."""
    prefix = host.prefix if isinstance(host, Host) else host or call.op.host
    headers = list(call.headers)
    if token is not None:
        headers.append(("Authorization", token))
    url = call.path
    if form == "host":
        headers.append(("Host", f"{prefix}.{WB_DOMAIN}"))
    elif form == "localhost":
        headers.append(("Host", f"{prefix}.localhost:8000"))
    elif form == "prefix":
        headers.append(("Host", BARE_HOST))
        url = f"/{prefix}{call.path}"
    else:
        assert form == "bare", form
        headers.append(("Host", BARE_HOST))
    if call.query:
        url += "?" + urlencode(call.query, quote_via=quote)
    # made here and sent with `client.send`: the client's own URL merging costs more than the gateway's answer
    return httpx.Request(
        http or call.http,
        f"http://{BARE_HOST}{url}",
        headers=[(k.encode(), v.encode()) for k, v in headers],
        content=call.body or None,
    )


class FrozenClock(OffsetClock):
    """The test clock without the real time under it: it moves only when a test moves it, so two requests
    a few milliseconds apart see the same time and a bucket's remaining is exact."""

    __slots__ = ("start",)

    def __init__(self, start: float) -> None:
        super().__init__()
        self.start = start

    def now(self) -> float:
        return self.start + self.offset


class Api:
    """One started Gateway on its own data directory, and sync helpers over its ASGI app."""

    def __init__(self, data_dir: Path) -> None:
        self.clock = FrozenClock(float(int(time.time())))
        self.gw = Gateway(Settings(data_dir=data_dir, test_clock=True), clock=self.clock)
        self.runner = asyncio.Runner()
        self.run(self.gw.startup())
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.gw), base_url=f"http://{BARE_HOST}", timeout=10
        )
        self._services: dict[int, int] = {}  # category bits -> a service of the catalog with them
        self._tokens: dict[tuple[str, TokenType, int, bool], tuple[str, float]] = {}
        self._sellers = 0
        # One seller for the module: every test refills the buckets it spends first (`refill`), so tests
        # do not see each other's charges, and tokens are few (each new one costs storage lookups).
        self.sid = self.seller()
        # Its members (MEMBER_OPS) and a Jam subscription that outlasts every refill: the module's valid calls
        # of the General section's users and of Jam-gated methods are answered, not refused by state.
        general = self.gw.backends.of(General)
        for op_id in MEMBER_OPS:
            MEMBER_OPS[op_id] = self.run(self.gw.storage.create_user(self.sid, op_id, "user", self.now)).id
        self.run(general.jam_connect(self.sid, "premium", "jam", 36_500, self.now))

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.gw.shutdown())
        self.runner.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    @property
    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def refill(self, op: Operation) -> None:
        """Move time until every bucket `op` charges is full again, whatever its members' last answers cost."""
        self.advance(REFILL[op.id])

    # --- sellers and tokens

    def seller(self) -> str:
        self._sellers += 1
        seller, _ = self.run(self.gw.storage.create_seller(f"seller {self._sellers}", now=self.now))
        return seller.sid

    def token(self, sid: str, ttype: TokenType, scope: int, *, read_only: bool = False) -> str:
        """A token of `sid`; the same one again for the same arguments until a quarter of its life is gone
        (refills move the clock by days)."""
        key = (sid, ttype, scope, read_only)
        kept = self._tokens.get(key)
        if kept is not None and self.now - kept[1] < LIFETIME / 4:
            return kept[0]
        if ttype is TokenType.SERVICE:
            bits = scope | (READ_ONLY_MASK if read_only else 0)
            service_id = self._services.get(bits)
            if service_id is None:
                service = self.run(self.gw.storage.create_service(f"service {bits}", bits, self.now))
                service_id = self._services[bits] = service.id
            issued = self.run(self.gw.accounts.issue_token(sid, ttype, service_id=service_id))
        else:
            issued = self.run(
                self.gw.accounts.issue_token(
                    sid, ttype, scope=scope, read_only=read_only, accept_liability=True
                )
            )
        self._tokens[key] = (issued.token, self.now)
        return issued.token

    def token_for(self, op: Operation, ttype: TokenType | None = None, *, read_only: bool = False) -> str:
        """A token of this module's seller that `op` takes on its production host (on its sandbox twin for
        `TokenType.TEST`)."""
        ttype = ttype or allowed_type(op)
        host = twin(op) if ttype is TokenType.TEST else production(op)
        assert host is not None, op.id
        return self.token(self.sid, ttype, scope_for(host), read_only=read_only)

    # --- requests

    def send(
        self,
        call: Call,
        token: str | None,
        host: Host | str | None = None,
        form: str = "host",
        http: str | None = None,
    ) -> httpx.Response:
        """`call` to `host` (default: the operation's production host) in one of the gateway's forms:
        `host` (the Host header), `localhost` (`<prefix>.localhost:8000`), `prefix` (`/<prefix>/...` on a bare
        address) or `bare` (the path alone on a bare address)."""
        return self.run(self.client.send(request(call, token, host, form, http)))

    def send_all(self, requests: list[httpx.Request]) -> list[httpx.Response]:
        """Requests (made by `request`) one after another, in one turn of the loop (cheaper than `send` each)."""

        async def each() -> list[httpx.Response]:
            return [await self.client.send(r) for r in requests]

        return self.run(each())

    def call(self, op: Operation, token: str | None, **kw: Any) -> httpx.Response:
        return self.send(valid_call(op), token, **kw)
