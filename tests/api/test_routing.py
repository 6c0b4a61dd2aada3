"""Routing, through the gateway: a literal path beats a template (WB Digital's `offers/thumb` beside
`offers/{offer_id}`), path parameters are typed, no path is served by two hosts, `/ping` answers on every host
that has one and is 404 on the others, and a wrong verb is 405 with `Allow`."""

from __future__ import annotations

import re

import pytest

from tests.api.kit import (
    CATALOG,
    OPS,
    Api,
    allowed_type,
    check_answer,
    check_error,
    check_op_error,
    check_remaining,
    error_for,
    ids,
    kind_of,
    production,
    request,
    scope_for,
    twin,
    valid_call,
)
from wbseller.catalog import Operation
from wbseller.categories import ALL_HOSTS, Host
from wbseller.tokens import TokenType

PING = CATALOG.by_id("ping")
VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def matches(template: str, path: str) -> bool:
    """Whether a concrete path (segments as sent) fits a template."""
    a, b = template.split("/"), path.split("/")
    return len(a) == len(b) and all(
        x == y or (x[:1] == "{" and x[-1:] == "}" and y) for x, y in zip(a, b, strict=True)
    )


def served_on(host: Host) -> list[Operation]:
    """What the catalog says a host serves (a sandbox twin: its production host's test operations)."""
    return [o for o in OPS if o.category != "all" and (production(o) is host or twin(o) is host)]


# ------------------------------------------------------------------------------ literal and template


OVERLAPS = [(CATALOG.by_id(lit), CATALOG.by_id(tpl)) for lit, tpl in CATALOG.overlaps()]


@pytest.mark.parametrize(("literal", "template"), OVERLAPS, ids=[f"{a.id}-{b.id}" for a, b in OVERLAPS])
def test_a_literal_path_beats_a_template(api: Api, literal: Operation, template: Operation) -> None:
    """The literal's own answer and its own bucket; the template's bucket untouched (then answered on a value
    that is not the literal); a verb only the template has goes to the template, where the literal segment
    is a bad value of its typed parameter."""
    token = api.token_for(literal)
    api.refill(literal)
    api.refill(template)
    r = api.call(literal, token)
    check_answer(literal, r)
    assert check_remaining(r) == literal.limit.rates[allowed_type(literal).value].burst - 1
    r = api.call(template, token)
    check_answer(template, r)
    assert check_remaining(r) == template.limit.rates[allowed_type(template).value].burst - 1
    assert literal.limit.group is None and template.limit.group is None  # separate buckets: the counts tell
    verbs_of_literal = {o.http for o in OPS if o.host == literal.host and o.path == literal.path}
    for other in OPS:
        if other.host != template.host or other.path != template.path or other.http in verbs_of_literal:
            continue
        (name,) = re.findall(r"\{([^{}]+)\}", other.path)
        api.refill(other)
        r = api.send(valid_call(other).with_path(name, literal.path.rsplit("/", 1)[1]), token)
        body = check_op_error(r, other, error_for(other), "parameter-invalid")
        assert body["detail"] == f"path.{name}: must be an integer"


def test_the_overlaps_are_wb_digital_s() -> None:
    assert {(a.path, b.path) for a, b in OVERLAPS} == {
        ("/api/v1/offers/thumb", "/api/v1/offers/{offer_id}"),
        ("/api/v1/offers/author", "/api/v1/offers/{offer_id}"),
    }


# -------------------------------------------------------------------------------- typed parameters

TYPED_PATHS = [
    (op, p) for op in OPS for p in op.parameters if p.location == "path" and kind_of(op, p) == "integer"
]


@pytest.mark.parametrize(
    ("op", "name"), [(o, p.name) for o, p in TYPED_PATHS], ids=[f"{o.id}-{p.name}" for o, p in TYPED_PATHS]
)
def test_integer_path_parameters(api: Api, op: Operation, name: str) -> None:
    """Routed by shape (any segment fits a template), then typed: not an integer is a 400 naming it."""
    token = api.token_for(op)
    for bad in ("abc", "1.5", "0x1f", "١٢"):  # the last: Arabic-Indic digits, which are not ASCII
        api.refill(op)
        r = api.send(valid_call(op).with_path(name, bad), token)
        body = check_op_error(r, op, error_for(op), "parameter-invalid")
        assert body["detail"] == f"path.{name}: must be an integer", bad
    api.refill(op)
    r = api.send(valid_call(op).with_path(name, "9" * 30), token)
    assert check_op_error(r, op, error_for(op), "parameter-invalid")["detail"].startswith(
        f"path.{name}: must be <= "
    )


def test_typed_path_parameters_exist() -> None:
    assert len(TYPED_PATHS) >= 39


# ------------------------------------------------------------------------------------ one host a path

TEMPLATES: dict[str, set[str]] = {}  # host prefix -> its paths
for _op in OPS:
    TEMPLATES.setdefault(_op.host, set()).add(_op.path)


@pytest.mark.parametrize(
    "op", [o for o in OPS if o.category != "all"], ids=ids([o for o in OPS if o.category != "all"])
)
def test_no_path_is_served_by_two_hosts(api: Api, op: Operation) -> None:
    """The operation's path, on every host but its own (and its sandbox twin), is 404 whatever the token;
    on its own host it is routed (no token: 401)."""
    call = valid_call(op)
    token = api.token_for(op)
    others = [
        h
        for h in ALL_HOSTS
        if h is not production(op)
        and h is not twin(op)
        # a template of that host that fits this concrete path would be another operation's (none today)
        and not any(matches(t, call.path) for t in TEMPLATES.get(h.prefix, ()))
    ]
    assert len(others) >= 21
    for r in api.send_all([request(call, token, h) for h in others]):
        check_error(r, 404, "path-not-found")
    check_error(api.send(call, None), 401, "token-missing")


def test_paths_have_one_host() -> None:
    hosts: dict[str, set[str]] = {}
    for o in OPS:
        hosts.setdefault(o.path, set()).add(o.host)
    assert all(len(h) == 1 for h in hosts.values())


# ------------------------------------------------------------------------------------------- /ping


@pytest.mark.parametrize("host", ALL_HOSTS, ids=[h.prefix for h in ALL_HOSTS])
def test_ping_on_every_host_that_has_one(api: Api, host: Host) -> None:
    ttype = TokenType.TEST if host.sandbox else TokenType.PERSONAL
    token = api.token(api.sid, ttype, scope_for(host))
    api.refill(PING)
    r = api.send(valid_call(PING), token, host=host)
    if host.ping:
        check_answer(PING, r)
        assert check_remaining(r) == PING.limit.rates[ttype.value].burst - 1  # one bucket per host
    else:
        check_error(r, 404, "path-not-found")


def test_the_hosts_without_ping() -> None:
    assert {h.prefix for h in ALL_HOSTS if not h.ping} == {
        "advert-media-api",
        "dp-calendar-api",
        "devapi-digital",
        "marketplace-api-sandbox",
        "supplies-api-sandbox",
    }
    assert len(ALL_HOSTS) == 24
    assert all(served_on(h) for h in ALL_HOSTS if not h.ping)  # they serve operations, just no /ping


# ----------------------------------------------------------------------------------------- verbs

PATHS: dict[tuple[str, str], list[Operation]] = {}
for _op in OPS:
    PATHS.setdefault((_op.host, _op.path), []).append(_op)


@pytest.mark.parametrize("key", sorted(PATHS), ids=[f"{h}{p}" for h, p in sorted(PATHS)])
def test_a_wrong_verb_is_405_with_allow(api: Api, key: tuple[str, str]) -> None:
    """A verb the path does not have (and no template of the host fits it with) is 405, `Allow` naming the
    path's verbs (HEAD wherever GET, OPTIONS always); OPTIONS itself answers 204 with the same."""
    ops = PATHS[key]
    call = valid_call(ops[0])
    verbs = {o.http for o in ops}
    fits = {o.http for o in OPS if o.host == ops[0].host and matches(o.path, call.path)}
    allow = ", ".join(sorted(verbs | {"OPTIONS"} | ({"HEAD"} if "GET" in verbs else set())))
    wrong = [v for v in VERBS if v not in fits]
    assert wrong, key
    token = api.token_for(ops[0])
    for verb in wrong:
        r = api.send(call, token, http=verb)
        body = check_error(r, 405, "method-not-allowed")
        assert r.headers["allow"] == allow
        assert body["detail"] == f"method {verb} is not allowed here; use {allow}"
    if "GET" not in fits:  # HEAD is answered wherever GET is, and only there
        r = api.send(call, token, http="HEAD")
        assert (r.status_code, r.headers["allow"]) == (405, allow)
    r = api.send(call, token, http="OPTIONS")
    assert (r.status_code, r.headers["allow"]) == (204, allow)
