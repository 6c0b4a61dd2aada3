"""Every operation's own limit, through the gateway: each operation is limited by its catalog rate per token type
(its burst, then 429), a named group is one bucket, a sandbox group too, a 4xx on marketplace-api costs 10
(shown in `X-Ratelimit-Remaining`), a base token's stricter row, and the operations whose numbers come from our
overlay. The clock is frozen (tests/api/kit.py), so every number is exact."""

from __future__ import annotations

import math

import httpx
import pytest

from tests.api.kit import (
    CATALOG,
    OPS,
    Api,
    Broken,
    allowed_type,
    broken_calls,
    check_answer,
    check_error,
    check_op_error,
    check_remaining,
    error_for,
    ids,
    production,
    request,
    scope_for,
    twin,
    valid_call,
)
from tests.catalog.test_catalog import OVERLAY_LIMITS
from wbseller.catalog import Operation, Rate
from wbseller.categories import Host
from wbseller.tokens import TokenType

TYPES = (TokenType.BASE, TokenType.PERSONAL, TokenType.SERVICE, TokenType.TEST)


def seconds(value: float) -> str:
    """Whole seconds rounded up, as X-Ratelimit-Retry and -Reset carry them (float noise aside)."""
    return str(max(0, math.ceil(value - 1e-4)))


def check_limited(r: httpx.Response, bucket: str, rate: Rate, retry: float, reset: float) -> None:
    body = check_error(r, 429, "rate-limited")
    assert body["detail"] == f"limited by {bucket}"
    assert r.headers["x-ratelimit-limit"] == str(rate.burst)
    assert r.headers["x-ratelimit-retry"] == seconds(retry)
    assert r.headers["x-ratelimit-reset"] == seconds(reset)
    assert "x-ratelimit-remaining" not in r.headers


def host_for(op: Operation, ttype: TokenType) -> Host:
    host = twin(op) if ttype is TokenType.TEST else production(op)
    assert host is not None
    return host


def drain(api: Api, op: Operation, ttype: TokenType, token: str | None = None) -> None:
    """Spend a full bucket of `op` for `ttype`: `burst` answers counting down, then a 429."""
    rate = op.limit.rates[ttype.value]
    token = token or api.token_for(op, ttype)
    call, host = valid_call(op), host_for(op, ttype)
    *answers, refused = api.send_all([request(call, token, host) for _ in range(rate.burst + 1)])
    assert [(r.status_code < 300, check_remaining(r)) for r in answers] == [
        (True, left) for left in range(rate.burst - 1, -1, -1)
    ]
    # the bucket is `burst` intervals ahead: the next request passes in one interval, all of it in `burst`
    check_limited(refused, op.limit.group or op.id, rate, rate.interval, rate.burst * rate.interval)


@pytest.mark.parametrize("op", OPS, ids=ids(OPS))
def test_every_operation_has_its_limit(api: Api, op: Operation) -> None:
    """Each token type the operation takes starts at its own burst (test tokens on the sandbox twin); the
    preferred one is spent to its 429."""
    assert set(op.limit.rates) == set(op.token_types), op.id
    api.refill(op)
    for ttype in TYPES:
        if ttype.value not in op.token_types:
            continue
        r = api.send(valid_call(op), api.token_for(op, ttype), host=host_for(op, ttype))
        check_answer(op, r)
        assert check_remaining(r) == op.limit.rates[ttype.value].burst - 1, ttype
    api.refill(op)
    drain(api, op, allowed_type(op))


# --------------------------------------------------------------------------------------- named groups

GROUPS = CATALOG.groups()


def tolerance(op: Operation, ttype: str) -> float:
    """How far ahead of now a request of `op` leaves the bucket before the next is refused."""
    rate = op.limit.rates[ttype]
    return (rate.burst - 1) * rate.interval


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a_named_group_is_one_bucket(api: Api, group: str) -> None:
    """Spent through the member that tolerates most, every other member is refused (429, the group named);
    the same group for another token type and for another seller is untouched (their own buckets)."""
    members = GROUPS[group]
    assert len(members) >= 2
    ttype = TokenType.PERSONAL
    assert all(ttype.value in o.token_types for o in members), group
    spender = max(members, key=lambda o: tolerance(o, ttype.value))
    api.refill(spender)
    drain(api, spender, ttype)
    token = api.token_for(spender, ttype)
    for op in members:
        if op is spender:
            continue
        r = api.call(op, token)
        check_error(r, 429, "rate-limited")
        assert r.json()["detail"] == f"limited by {group}", op.id
    other = next(
        t for t in (TokenType.SERVICE, TokenType.BASE) if all(t.value in o.token_types for o in members)
    )
    neighbour = next(o for o in members if o is not spender)
    check_answer(neighbour, api.call(neighbour, api.token_for(neighbour, other)))
    fresh = api.token(api.seller(), ttype, scope_for(production(spender)))
    check_answer(spender, api.call(spender, fresh))


def test_the_named_groups() -> None:
    assert len(GROUPS) == 17
    assert sum(len(m) for m in GROUPS.values()) == 142
    for gid, members in GROUPS.items():
        assert {o.limit.group for o in members} == {gid}
        assert len({o.host for o in members}) == 1, gid


SANDBOX_GROUPS: dict[str, list[Operation]] = {}
for _op in OPS:
    if twin(_op) is not None and _op.limit.test_group is not None:
        SANDBOX_GROUPS.setdefault(_op.limit.test_group, []).append(_op)


@pytest.mark.parametrize("group", sorted(SANDBOX_GROUPS))
def test_a_sandbox_group_is_one_bucket(api: Api, group: str) -> None:
    """Test tokens share one bucket over a sandbox section (1 request a second, SANDBOX.md): spent through one
    member, the others are refused; the production buckets of the same operations are untouched."""
    members = SANDBOX_GROUPS[group]
    first, rest = members[0], members[1:]
    test = api.token_for(first, TokenType.TEST)
    api.refill(first)
    for _ in range(first.limit.rates["test"].burst):
        check_answer(first, api.call(first, test, host=twin(first)))
    for op in rest:
        r = api.call(op, test, host=twin(op))
        check_error(r, 429, "rate-limited")
        # the bucket that refused is the sandbox's, not the production group's (`fbs-orders`: 300 a minute)
        assert r.json()["detail"] == f"limited by {group}", op.id
        assert r.headers["x-ratelimit-limit"] == str(op.limit.rates["test"].burst)
    check_answer(rest[0], api.call(rest[0], api.token_for(rest[0])))


def test_sandbox_methods_without_a_group_have_their_own_buckets(api: Api) -> None:
    """supplies-api-sandbox: 1 request a second per method (SANDBOX.md)."""
    ops = [o for o in OPS if twin(o) is not None and o.limit.test_group is None]
    assert {o.host for o in ops} >= {"supplies-api"}
    for op in ops:
        api.refill(op)
    for op in ops:  # each its own bucket: none is refused for the others' requests
        r = api.call(op, api.token_for(op, TokenType.TEST), host=twin(op))
        check_answer(op, r)
        assert check_remaining(r) == op.limit.rates["test"].burst - 1


# ------------------------------------------------------------------------------------------ costs

COSTED = [(op, broken_calls(op)[0]) for op in OPS if broken_calls(op)]


@pytest.mark.parametrize(("op", "broken"), COSTED, ids=[op.id for op, _ in COSTED])
def test_a_refusal_costs_what_the_operation_says(api: Api, op: Operation, broken: Broken) -> None:
    """A 400 (or 422) for a bad request costs 10 on marketplace-api (its documents' rule) and 1 elsewhere,
    charged before its headers go out: a full bucket shows `burst - cost` on the refusal itself, and the next
    valid request gets `burst - cost - 1`, or a 429 where the refusal left no room."""
    status = error_for(op)
    cost = op.limit.cost(status)
    assert cost == (10 if op.host == "marketplace-api" else 1), op.id
    ttype = allowed_type(op)
    rate = op.limit.rates[ttype.value]
    token = api.token_for(op)
    api.refill(op)
    r = api.send(broken.call, token)
    check_op_error(r, op, status)
    assert check_remaining(r) == max(0, rate.burst - cost)
    r = api.call(op, token)
    if cost + 1 <= rate.burst:
        check_answer(op, r)
        assert check_remaining(r) == rate.burst - cost - 1
    else:
        check_limited(
            r, op.limit.group or op.id, rate, (cost + 1 - rate.burst) * rate.interval, cost * rate.interval
        )


def test_the_cost_rule_is_shown_on_marketplace(api: Api) -> None:
    """The rule of the brief, on one marketplace operation with room for it: 20 - 10 = 10 left after a bad
    body; a refusal before the token is known (no token, 401) costs nothing."""
    op = next(
        o
        for o, b in COSTED
        if o.host == "marketplace-api"
        and b.label.startswith("body")
        and o.limit.rates["personal"].burst >= 20
    )
    assert sum(1 for o, _ in COSTED if o.host == "marketplace-api") >= 80
    burst = op.limit.rates["personal"].burst
    token = api.token_for(op, TokenType.PERSONAL)
    api.refill(op)
    check_error(api.call(op, None), 401, "token-missing")
    check_error(api.call(op, "not a token"), 401)
    bad = next(b for o, b in COSTED if o is op)
    r = api.send(bad.call, token)
    check_op_error(r, op, 400, bad.code)
    assert check_remaining(r) == burst - 10
    assert check_remaining(api.call(op, token)) == burst - 11


# -------------------------------------------------------------------------------------- base tokens

BASE_ROWS = [
    o
    for o in OPS
    if "base" in o.limit.rates and o.limit.rates["base"] != o.limit.rates[allowed_type(o).value]
]


@pytest.mark.parametrize("op", BASE_ROWS, ids=ids(BASE_ROWS))
def test_a_base_token_has_the_stricter_row(api: Api, op: Operation) -> None:
    base, other = op.limit.rates["base"], op.limit.rates[allowed_type(op).value]
    assert base.interval >= other.interval and base.burst <= other.burst, op.id  # stricter, never looser
    api.refill(op)
    drain(api, op, TokenType.BASE)
    r = api.call(op, api.token_for(op))  # the same seller's personal token: its own row and bucket
    check_answer(op, r)
    assert check_remaining(r) == other.burst - 1


def test_base_rows_exist() -> None:
    assert len(BASE_ROWS) >= 100


# ------------------------------------------------------------------------------------------ overlay


def test_the_overlay_limits_are_listed(api: Api) -> None:
    # The reviewed list is the catalog suite's (one list); here the gateway limits by those numbers.
    assert {o.id for o in OPS if o.limit.overlay} == OVERLAY_LIMITS
    for op_id in sorted(OVERLAY_LIMITS):  # and the gateway limits by them: spent to the overlay's burst
        op = CATALOG.by_id(op_id)
        api.refill(op)
        drain(api, op, allowed_type(op))
