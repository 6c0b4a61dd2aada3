"""A service's own errors in the shape its document declares (methods/shapes.py): every declared error status
of every operation, the body valid against the declared schema (our validator and python-jsonschema on the
document's schema converted afresh), the declared content type, our facts where the shape has a place for
them (computed from the schema), marketplace-api's code names, the uniform body kept where it conforms, the
fallback chain, templates and their cost."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import jsonschema

from tests.schemas.specs import json_media
from wbseller.catalog import Media, Operation, load
from wbseller.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InternalError,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    WBError,
    render_error,
)
from wbseller.gateway.app import ORIGIN as GATEWAY_ORIGIN
from wbseller.methods import checks
from wbseller.methods.generated import is_json
from wbseller.methods.shapes import MARKETPLACE_CODES, ORIGIN, PLATFORM, TEMPLATES_PER_STATUS, ErrorShape
from wbseller.methods.table import load_table
from wbseller.schemas.convert import DEFS_PREFIX, root
from wbseller.schemas.validate import Validator

CATALOG = load()
OPS = CATALOG.operations
RID = "5f0e3c1a9b7d2e4f000000000000002a"  # the gateway's form: 16 random hex digits and the number
NOW = 1_750_000_000.5
TEXT_FIELDS = ("detail", "message", "errorText", "error", "errors")  # where the detail text belongs


class Odd(WBError):
    """An error of a status errors.py has no class for (406, 451, 502): a handler's own."""

    title = "odd"
    default_code = "odd-thing"


def representative(status: int) -> WBError:
    """One error of `status` as the checks or a handler raise it."""
    made: dict[int, WBError] = {
        400: BadRequest("query.limit: must be <= 1000", checks.PARAMETER_INVALID),
        403: Forbidden("access to this order is denied"),
        404: NotFound("order 7 is not found", "not-found"),
        409: Conflict("the supply is closed"),
        413: PayloadTooLarge("body: must not be larger than 10 bytes", checks.BODY_TOO_LARGE),
        422: Unprocessable("body: name: is required", checks.BODY_INVALID),
        500: InternalError("internal error"),
    }
    if status in made:
        return made[status]
    err = Odd(f"status {status} of a handler")
    err.status = status
    return err


def cases() -> Iterator[tuple[Operation, int]]:
    """Every declared error status of every operation but the platform's (401, 402, 429)."""
    for op in OPS:
        for status in sorted(int(s) for s in op.responses):
            if status >= 400 and status not in PLATFORM:
                yield op, status


SHAPES = {op.id: ErrorShape(op, CATALOG.defs_of(op)) for op in OPS}


def defs(op: Operation) -> dict[str, Any]:
    d = CATALOG.defs_of(op)
    assert isinstance(d, dict)
    return d


def resolve(node: Any, d: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        node = d[node["$ref"].removeprefix(DEFS_PREFIX)]
    return node if isinstance(node, dict) else {}


def objects(node: Any, d: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The object schemas a body of `node` may be (through $ref, allOf, oneOf, anyOf and array items)."""
    node = resolve(node, d)
    for key in ("allOf", "oneOf", "anyOf"):
        for branch in node.get(key, ()):
            yield from objects(branch, d)
    if "properties" in node:
        yield node
    if "items" in node:
        yield from objects(node["items"], d)


def types(node: Any, d: dict[str, Any]) -> set[str]:
    """The JSON types a property schema allows (all of them where it says none)."""
    node = resolve(node, d)
    found: set[str] = set()
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in node.get(key, ()):
            found |= types(branch, d)
    kind = node.get("type")
    if isinstance(kind, str):
        found.add(kind)
    elif isinstance(kind, list):
        found.update(kind)
    elif not found and "enum" not in node:
        found = {"string", "array", "object", "number", "integer", "boolean", "null"}
    return found


def text_places(node: Any, d: dict[str, Any]) -> set[str]:
    """Names of the fields that can hold the detail text: text fields that take a string (or a list of them)."""
    places = set()
    for obj in objects(node, d):
        for name, prop in obj.get("properties", {}).items():
            if name not in TEXT_FIELDS:
                continue
            allowed = types(prop, d)
            items = resolve(prop, d).get("items")
            if "string" in allowed or (
                "array" in allowed and items is not None and "string" in types(items, d)
            ):
                places.add(name)
    return places


def values_at(body: Any, names: set[str]) -> Iterator[Any]:
    """Every value of a field named in `names`, anywhere in the body."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in names:
                yield value
            yield from values_at(value, names)
    elif isinstance(body, list):
        for item in body:
            yield from values_at(item, names)


def as_text(content_type: str, media: Media, d: dict[str, Any]) -> bool:
    """A body read as text: a non-JSON type whose schema is a string or absent."""
    if is_json(content_type):
        return False
    return media.schema is None or resolve(media.schema, d).get("type") == "string"


def read(op: Operation, status: int, content_type: str, body: bytes) -> Any:
    media = op.responses[str(status)][content_type]
    return body.decode() if as_text(content_type, media, defs(op)) else json.loads(body)


OFFICIAL = {
    (m.file[3:].removesuffix(".yaml"), m.verb.upper(), m.path, m.status, m.content_type): m
    for m in json_media()
}


def official_judge(op: Operation, status: int, content_type: str, value: Any) -> bool:
    """python-jsonschema, on the document's own schema converted afresh: a second judge, another engine."""
    media = OFFICIAL.get((op.section, op.http, op.path, str(status), content_type))
    if media is None:
        return False
    document = root(media.fragment, media.defs)
    jsonschema.Draft202012Validator(document, format_checker=jsonschema.FormatChecker()).validate(value)
    return True


def test_every_declared_error_conforms() -> None:
    judged = shaped = kept = none = 0
    for op, status in cases():
        err = representative(status)
        content = op.responses[str(status)]
        out = SHAPES[op.id].render(err, RID, NOW)
        uniform = render_error(err, RID, ORIGIN, NOW)
        where = f"{op.id} {status}"
        if out is None:
            # the uniform body goes out as it is: only where nothing is declared, or where it is the declared
            # problem+json body already
            none += 1
            if content:
                assert list(content) == ["application/problem+json"], where
                Validator(content["application/problem+json"].schema, defs(op)).validate(json.loads(uniform))
            continue
        content_type, body = out[0].decode(), out[1]
        assert content_type in content, where
        media = content[content_type]
        value = read(op, status, content_type, body)
        if media.schema is not None:
            Validator(media.schema, defs(op)).validate(value)
        if is_json(content_type) and media.schema is not None:
            judged += official_judge(op, status, content_type, value)
        if body == uniform:
            kept += 1
            continue
        shaped += 1
        if isinstance(value, str):  # a plain-text shape or a JSON string
            assert value == err.detail, where
            continue
        places = text_places(media.schema, defs(op))
        if places:
            found = list(values_at(value, places))
            assert err.detail in found or [err.detail] in found or {"message": err.detail} in found, where
        for obj in objects(media.schema, defs(op)):
            props = obj["properties"]
            for name in ("requestId", "request_id"):
                if name in props and "string" in types(props[name], defs(op)) and isinstance(value, dict):
                    assert value.get(name) == RID, where
            if (
                "error" in props
                and types(props["error"], defs(op)) == {"boolean"}
                and isinstance(value, dict)
            ):
                assert value.get("error") is True, where
    # every JSON body of a declared JSON type was judged twice (the document has all of them)
    assert judged == shaped + kept - sum(1 for op, s in cases() if _text_only(op, s))
    assert shaped > 400 and kept > 100 and none > 20  # measured: 404 shaped, 133 uniform bytes, 38 None


def _text_only(op: Operation, status: int) -> bool:
    content = op.responses[str(status)]
    return bool(content) and not any(is_json(c) for c in content)


def test_a_shaped_body_differs_from_the_uniform_one_for_a_reason() -> None:
    """The uniform body is kept exactly where it conforms and already carries what the shape has a place for:
    wherever a shaped body went out instead, the uniform one fails the schema or lacks one of its fields."""
    for op, status in cases():
        err = representative(status)
        out = SHAPES[op.id].render(err, RID, NOW)
        uniform = render_error(err, RID, ORIGIN, NOW)
        if out is None or out[1] == uniform:
            continue
        content_type = out[0].decode()
        media = op.responses[str(status)][content_type]
        value = read(op, status, content_type, out[1])
        fails = not Validator(media.schema, defs(op)).is_valid(json.loads(uniform))
        mine = json.loads(uniform)
        lacks = not isinstance(value, dict) or any(mine.get(k) != v for k, v in value.items())
        assert fails or lacks, f"{op.id} {status}: {value} is no better than the uniform body"


def test_the_general_section_keeps_the_uniform_body() -> None:
    """01-general: news declares its 400 without a body (None: the uniform body as it is); user-management's
    four declare `errorResponse`, which the uniform body already is: its bytes, under the declared type."""
    general = [op for op in OPS if op.section == "general" and "400" in op.responses]
    assert {op.id for op in general} >= {"news", "get-api-v1-users"}
    err = representative(400)
    for op in general:
        out = SHAPES[op.id].render(err, RID, NOW)
        content = op.responses["400"]
        if not content:
            assert out is None, op.id
        else:
            assert out == (b"application/json", render_error(err, RID, ORIGIN, NOW)), op.id


def test_the_problem_details_family_keeps_the_uniform_body() -> None:
    """`{title, detail, origin, requestId}` (analytics, statistics, tariffs...): the uniform body has them all."""
    for op_id in ("post-api-v2-search-report-report", "get-api-v1-tariffs-box", "post-v1-sales-reports-list"):
        op = CATALOG.by_id(op_id)
        err = representative(400)
        out = SHAPES[op_id].render(err, RID, NOW)
        content = op.responses["400"]
        if list(content) == ["application/problem+json"]:
            assert out is None, op_id
        else:
            assert out is not None and out[1] == render_error(err, RID, ORIGIN, NOW), op_id


# The mapping is a decision (docs/requests.md "Error shapes"); each name is checked below against the
# names marketplace-api's own documents use for that status.
EXPECTED_CODES = {
    (checks.PARAMETER_MISSING, 400): "IncorrectParameter",
    (checks.PARAMETER_INVALID, 400): "IncorrectParameter",
    (checks.BODY_MISSING, 400): "IncorrectRequestBody",
    (checks.BODY_NOT_JSON, 400): "IncorrectRequestBody",
    (checks.BODY_INVALID, 400): "IncorrectRequestBody",
    (checks.CONTENT_TYPE_UNSUPPORTED, 400): "IncorrectRequestBody",
    (checks.MULTIPART_INVALID, 400): "IncorrectRequestBody",
    ("bad-request", 400): "IncorrectRequest",
    ("forbidden", 403): "AccessDenied",
    ("token-type-not-allowed", 403): "AccessDenied",
    ("not-found", 404): "NotFound",
    ("order-not-found", 404): "NotFound",
    ("path-not-found", 404): "NotFound",
    ("conflict", 409): "Conflict",
    ("StatusMismatch", 409): "StatusMismatch",  # a handler's own CamelCase name passes as it is
}


def documented_codes() -> dict[int, set[str]]:
    """status -> the `code`s marketplace-api's documented error examples use."""
    found: dict[int, set[str]] = {}

    def walk(value: Any, status: int) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("code"), str):
                found.setdefault(status, set()).add(value["code"])
            for v in value.values():
                walk(v, status)
        elif isinstance(value, list):
            for v in value:
                walk(v, status)

    for op in OPS:
        if op.host != "marketplace-api":
            continue
        for status, content in op.responses.items():
            for media in content.values():
                walk(media.example, int(status))
                for example in media.examples.values():
                    walk(example, int(status))
    return found


def test_marketplace_codes() -> None:
    documented = documented_codes()
    for (code, status), name in EXPECTED_CODES.items():
        if status != 409:  # 409's names are per cause (FailedToUpdateMeta, SupplyHasOrders...): a handler's
            assert name in documented[status], (code, name)
    assert set(MARKETPLACE_CODES) >= {c for c, s in EXPECTED_CODES if c in checks.CODES and s == 400}
    seen = 0
    for op in OPS:
        if op.host != "marketplace-api":
            continue
        shape = ErrorShape(op, defs(op))  # a fresh one: templates of these errors only
        for (code, status), name in EXPECTED_CODES.items():
            media = op.responses.get(str(status), {}).get("application/json")
            if media is None or media.schema is None:
                continue
            if not any("code" in o["properties"] for o in objects(media.schema, defs(op))):
                continue
            err = representative(status)
            err = type(err)(f"{code}: the detail", code)
            out = shape.render(err, RID, NOW)
            assert out is not None, (op.id, code)
            codes = list(values_at(json.loads(out[1]), {"code"}))
            assert codes == [name], (op.id, code, codes)
            seen += 1
    assert seen > 300  # every marketplace-api error shape with a `code`, for each of its statuses' codes


def test_codes_elsewhere_are_ours() -> None:
    """A string `code` outside marketplace-api (WBD ProblemDetails, content's 413) carries our code as it is."""
    for op in OPS:
        if op.host == "marketplace-api":
            continue
        for status in (400, 404, 413, 500):
            content = op.responses.get(str(status))
            if not content:
                continue
            err = representative(status)
            out = SHAPES[op.id].render(err, RID, NOW)
            if out is None or not is_json(out[0].decode()):
                continue
            value = json.loads(out[1])
            assert all(c == err.code for c in values_at(value, {"code"})), (op.id, status)


def test_declared_content_types_as_written() -> None:
    """plain/text, text/plain; charset=utf-8 and application/json; charset=utf-8 go out as declared; where a
    status declares JSON and plain text (content cards), a body that cannot be read gets the text one."""
    odd = {
        (op.id, int(s), c)
        for op in OPS
        for s, content in op.responses.items()
        for c in content
        if int(s) >= 400
        and int(s) not in PLATFORM
        and c not in ("application/json", "application/problem+json")
    }
    assert len(odd) == 15  # SPECS-REPORT.md 5.3: 14 text/plain-ish and the charset one
    for op_id, status, content_type in odd:
        op = CATALOG.by_id(op_id)
        json_too = any(is_json(c) for c in op.responses[str(status)] if c != content_type)
        code = checks.BODY_NOT_JSON if json_too else checks.BODY_INVALID
        err = type(representative(status))("body: not JSON (line 1, column 2)", code)
        out = ErrorShape(op, defs(op)).render(err, RID, NOW)
        assert out is not None and out[0] == content_type.encode(), (op_id, status)
    cards = CATALOG.by_id("post-content-v2-get-cards-list")
    shape = ErrorShape(cards, defs(cards))
    unreadable = shape.render(BadRequest("body: not JSON (line 1, column 2)", checks.BODY_NOT_JSON), RID, NOW)
    assert unreadable == (b"plain/text", b"body: not JSON (line 1, column 2)")
    invalid = shape.render(BadRequest("body: settings: is required", checks.BODY_INVALID), RID, NOW)
    assert invalid is not None and invalid[0] == b"application/json"
    assert json.loads(invalid[1])["errorText"] == "body: settings: is required"


def test_platform_and_undeclared_statuses_stay_uniform() -> None:
    for op in OPS:
        shape = SHAPES[op.id]
        for err in (Unauthorized("token problem"), TooManyRequests("limited by x")):
            assert shape.render(err, RID, NOW) is None, op.id
        payment = Odd("insufficient funds")
        payment.status = 402
        assert shape.render(payment, RID, NOW) is None, op.id
        if "409" not in op.responses:
            assert shape.render(Conflict("undeclared"), RID, NOW) is None, op.id


def test_origin_is_the_gateways() -> None:
    assert ORIGIN == GATEWAY_ORIGIN
    op = CATALOG.by_id("get-api-advert-v2-adverts")  # advert's {detail, origin, request_id, status, title}
    err = BadRequest("query.id: must be an integer", checks.PARAMETER_INVALID)
    out = SHAPES[op.id].render(err, RID, NOW)
    assert out is not None
    assert json.loads(out[1]) == {
        "detail": "query.id: must be an integer",
        "origin": ORIGIN,
        "request_id": RID,
        "status": 400,
        "title": "bad request",
    }
    own = BadRequest("bad ids", checks.PARAMETER_INVALID, origin="camp-api-public-cache")
    out = SHAPES[op.id].render(own, RID, NOW)
    assert out is not None and json.loads(out[1])["origin"] == "camp-api-public-cache"


def test_the_request_id_and_time_change_only_their_places() -> None:
    for op, status in cases():
        err = representative(status)
        first = SHAPES[op.id].render(err, RID, NOW)
        if first is None:
            continue
        other = "abcdef0123456789abcdef0123456789"
        again = SHAPES[op.id].render(err, other, NOW + 3600)
        assert again is not None
        stamp = (b"2025-06-15T15:06:40Z", b"2025-06-15T16:06:40Z")
        assert again[1] == first[1].replace(RID.encode(), other.encode()).replace(*stamp), op.id


def synthetic(
    schema: Any, example: Any = None, content_type: str = "application/json", **examples: Any
) -> Operation:
    """A real operation with one declared 400 of our making (the fallback chain has no catalog case)."""
    base = CATALOG.by_id("get-api-v1-users")
    media = Media(schema, example, example is not None, examples)
    return dataclasses.replace(base, responses={**base.responses, "400": {content_type: media}})


def test_fallback_to_the_example_with_our_text() -> None:
    # a code is forbidden beside the message: our shape (code, message) fails, the example with our text fits
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        "required": ["message"],
        "not": {"required": ["code"]},
    }
    op = synthetic(schema, {"message": "Неправильный запрос"})
    shape = ErrorShape(op, defs(op))
    err = BadRequest("query.limit: must be <= 1000", checks.PARAMETER_INVALID)
    assert shape.render(err, RID, NOW) == (b"application/json", b'{"message":"query.limit: must be <= 1000"}')
    assert shape.template(err).source == "example+facts"


def test_fallback_to_the_example_as_it_is() -> None:
    # no title beside the detail, and a detail of the document's own words: neither our shape, nor our text
    # in the example, nor the uniform body fits; the example does
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "detail": {"type": "string", "pattern": "^Некорр"}},
        "required": ["detail"],
        "additionalProperties": False,
        "not": {"required": ["title"]},
    }
    op = synthetic(schema, {"detail": "Некорректный ID РК"})
    shape = ErrorShape(op, defs(op))
    err = BadRequest("query.id: must be an integer", checks.PARAMETER_INVALID)
    assert shape.render(err, RID, NOW) == (b"application/json", '{"detail":"Некорректный ID РК"}'.encode())
    assert shape.template(err).source == "example"


def test_fallback_to_a_generated_instance() -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string"}, "errorText": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["errorText", "n"],
        "not": {"required": ["code"]},
    }
    op = synthetic(schema)
    shape = ErrorShape(op, defs(op))
    err = BadRequest("body: n: is required", checks.BODY_INVALID)
    out = shape.render(err, RID, NOW)
    assert out is not None
    body = json.loads(out[1])
    Validator(schema, {}).validate(body)
    assert body["errorText"] == err.detail
    assert shape.template(err).source == "generated+facts"


def test_plain_text_with_one_documented_value() -> None:
    op = synthetic({"type": "string", "enum": ["Некорректный ID РК"]}, "Некорректный ID РК", "text/plain")
    shape = ErrorShape(op, defs(op))
    out = shape.render(BadRequest("query.id: must be an integer", checks.PARAMETER_INVALID), RID, NOW)
    assert out == (b"text/plain", "Некорректный ID РК".encode())


def test_nothing_satisfiable_is_the_uniform_body() -> None:
    op = synthetic({"not": {}})
    err = BadRequest("query.id: must be an integer", checks.PARAMETER_INVALID)
    out = ErrorShape(op, defs(op)).render(err, RID, NOW)
    assert out == (b"application/json", render_error(err, RID, ORIGIN, NOW))


def test_a_detail_holding_a_marker_is_still_exact() -> None:
    op = CATALOG.by_id("get-api-advert-v2-adverts")
    shape = ErrorShape(op, defs(op))
    detail = "query.id: \x00\x00request-id\x00 and \x00\x00timestamp\x00"
    out = shape.render(BadRequest(detail, checks.PARAMETER_INVALID), RID, NOW)
    assert out is not None
    body = json.loads(out[1])
    assert body["detail"] == detail and body["request_id"] == RID


def test_templates_are_kept_and_bounded() -> None:
    op = CATALOG.by_id("post-api-v3-passes")
    shape = ErrorShape(op, defs(op))
    for i in range(TEMPLATES_PER_STATUS + 10):
        out = shape.render(BadRequest(f"query.limit: must be <= {i}", checks.PARAMETER_INVALID), RID, NOW)
        assert out is not None and json.loads(out[1])["message"] == f"query.limit: must be <= {i}"
    assert 0 < shape.cached(400) <= TEMPLATES_PER_STATUS


def test_the_table_builds_one_per_operation() -> None:
    table = load_table(catalog=CATALOG)
    for method in table.methods:
        if method.operation is not None:
            assert isinstance(method.shape, ErrorShape) and method.shape.op is method.operation, method.id
    assert all(m.shape is None for m in load_table(catalog=CATALOG, handlers=False).methods)


def test_construction_is_cheap_and_rendering_fast() -> None:
    started = time.perf_counter()
    for _ in range(10):
        made = [ErrorShape(op, CATALOG.defs_of(op)) for op in OPS]
    assert time.perf_counter() - started < 1.0  # measured ~0.3 ms for all 302: nothing decided yet
    assert len(made) == 302
    op = CATALOG.by_id("post-api-v3-passes")
    shape = ErrorShape(op, defs(op))
    err = BadRequest("query.limit: must be <= 1000", checks.PARAMETER_INVALID)
    shape.render(err, RID, NOW)
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        shape.render(err, RID, NOW)
    per_call = (time.perf_counter() - started) / n
    assert per_call < 50e-6  # measured ~0.4 us on the shared 2-CPU machine; the bound is for a loaded one
