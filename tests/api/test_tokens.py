"""The token rules, per operation, through the gateway: the host's category bit, read-only tokens on write
operations, the operation's token types (`x-token-types`), and the sandbox (test tokens there and only there,
on the seven twins, two of them without a /ping)."""

from __future__ import annotations

import pytest

from tests.api.kit import (
    CATALOG,
    OPS,
    Api,
    check_answer,
    check_error,
    check_remaining,
    ids,
    production,
    scope_for,
    twin,
    valid_call,
)
from wbseller.catalog import Operation
from wbseller.categories import ALL_HOST_BY_PREFIX, BY_NAME, CATEGORY_MASK, sandbox_of
from wbseller.tokens import TokenType

NEEDS_BIT = [op for op in OPS if production(op).mask]
NO_BIT = [op for op in OPS if not production(op).mask and op.category != "all"]
WRITES = [op for op in OPS if not op.read_only]
TYPES = (TokenType.BASE, TokenType.PERSONAL, TokenType.SERVICE)
SANDBOXED = [op for op in OPS if twin(op) is not None]
# Operations of a host that has a sandbox twin, which test tokens may not call: the twin does not serve them.
NOT_SANDBOXED = [
    op for op in OPS if op.category != "all" and sandbox_of(op.host) is not None and twin(op) is None
]
MISMATCH = "token-category-mismatch"


@pytest.mark.parametrize("op", NEEDS_BIT, ids=ids(NEEDS_BIT))
def test_category_bit_is_required(api: Api, op: Operation) -> None:
    """Every category but the host's: still refused, on the production host and on its sandbox twin."""
    host = production(op)
    others = CATEGORY_MASK & ~host.mask
    ttype = next(t for t in TYPES if t.value in op.token_types)
    token = api.token(api.sid, ttype, others)
    body = check_error(api.call(op, token), 401, MISMATCH)
    assert body["detail"] == f"token problem; token scope not allowed for {host.name}"
    sandbox = twin(op)
    if sandbox is not None:
        test = api.token(api.sid, TokenType.TEST, others)
        body = check_error(api.call(op, test, host=sandbox), 401, MISMATCH)
        assert body["detail"] == f"token problem; token scope not allowed for {sandbox.name}"


@pytest.mark.parametrize("op", NO_BIT, ids=ids(NO_BIT))
def test_hosts_without_a_bit_take_any_category(api: Api, op: Operation) -> None:
    """common-api, user-management-api and devapi-digital require no bit: a token of one other category
    (content; the valid calls of test_answers use finance) is answered."""
    api.refill(op)
    token = api.token(api.sid, next(t for t in TYPES if t.value in op.token_types), BY_NAME["content"].mask)
    check_answer(op, api.call(op, token))


def test_which_hosts_need_a_bit() -> None:
    assert {o.host for o in NO_BIT} == {"common-api", "user-management-api", "devapi-digital"}
    # a category's second host takes the category's own bit
    hosts = {o.host for o in NEEDS_BIT}
    assert {"advert-media-api", "dp-calendar-api"} <= hosts
    assert ALL_HOST_BY_PREFIX["advert-media-api"].mask == BY_NAME["promotion"].mask
    assert ALL_HOST_BY_PREFIX["dp-calendar-api"].mask == BY_NAME["prices"].mask


@pytest.mark.parametrize("prefix", ["advert-media-api", "dp-calendar-api"])
def test_a_second_host_of_a_category(api: Api, prefix: str) -> None:
    """The second host of Promotion and of Prices: a token of that category alone is answered there on every
    operation; the same token without the bit (all the other categories) is refused on every one."""
    host = ALL_HOST_BY_PREFIX[prefix]
    ops = [o for o in OPS if o.host == prefix]
    assert len(ops) == 4
    own = api.token(api.sid, TokenType.PERSONAL, host.mask)
    others = api.token(api.sid, TokenType.PERSONAL, CATEGORY_MASK & ~host.mask)
    for op in ops:
        api.refill(op)
        check_answer(op, api.call(op, own))
        check_error(api.call(op, others), 401, MISMATCH)


@pytest.mark.parametrize("op", OPS, ids=ids(OPS))
def test_read_only_tokens(api: Api, op: Operation) -> None:
    """Refused on every write operation; answered on every read one."""
    token = api.token_for(op, read_only=True)
    api.refill(op)
    r = api.call(op, token)
    if op.read_only:
        check_answer(op, r)
        check_remaining(r)
    else:
        body = check_error(r, 401, "token-read-only")
        assert body["detail"] == "token problem; read-only token is not allowed for this method"
        assert "x-ratelimit-remaining" not in r.headers  # refused before the limit: not charged


def test_read_and_write_operations_both_exist() -> None:
    assert 0 < len(WRITES) < len(OPS)


@pytest.mark.parametrize("op", OPS, ids=ids(OPS))
def test_token_types(api: Api, op: Operation) -> None:
    """Each production token type: answered where the operation's `x-token-types` has it, else 403."""
    for ttype in TYPES:
        token = api.token(api.sid, ttype, scope_for(production(op)))
        api.refill(op)
        r = api.call(op, token)
        if ttype.value in op.token_types:
            check_answer(op, r)
        else:
            body = check_error(r, 403, "token-type-not-allowed")
            assert body["detail"] == f"{ttype.value} token is not allowed"


def test_user_management_takes_personal_tokens_only(api: Api) -> None:
    ops = [o for o in OPS if o.host == "user-management-api"]
    assert len(ops) == 4
    base = api.token(api.sid, TokenType.BASE, BY_NAME["content"].mask)
    for op in ops:
        assert op.token_types == frozenset({"personal"}), op.id
        body = check_error(api.call(op, base), 403)
        assert body["detail"] == "base token is not allowed"


@pytest.mark.parametrize("op", OPS, ids=ids(OPS))
def test_test_tokens_only_on_sandbox_hosts(api: Api, op: Operation) -> None:
    """A test token on the production host: 401, on every operation; where the operation has a sandbox twin
    it is answered there (the sandbox's own limit), and a production token is refused on the twin."""
    host = twin(op) or production(op)
    test = api.token(api.sid, TokenType.TEST, scope_for(host))
    body = check_error(api.call(op, test), 401, "token-test-on-production")
    assert body["detail"] == "token problem; a test token works only on sandbox hosts"
    sandbox = twin(op)
    if sandbox is None:
        return
    api.refill(op)
    r = api.call(op, test, host=sandbox)
    check_answer(op, r)
    burst = op.limit.rates["test"].burst
    assert check_remaining(r) == burst - 1
    for form in ("localhost", "prefix"):  # the twin named the other ways: the same answer
        if burst < 3:  # (refilled only where needed: ping's answer is of its time)
            api.refill(op)
        again = api.call(op, test, host=sandbox, form=form)
        assert (again.status_code, again.content) == (r.status_code, r.content), form
    body = check_error(api.call(op, api.token_for(op), host=sandbox), 401, "token-not-test")
    assert body["detail"] == "token problem; a sandbox host accepts only test tokens"


@pytest.mark.parametrize("op", NOT_SANDBOXED, ids=ids(NOT_SANDBOXED))
def test_sandbox_twins_serve_only_test_operations(api: Api, op: Operation) -> None:
    sandbox = sandbox_of(op.host)
    assert sandbox is not None
    test = api.token(api.sid, TokenType.TEST, scope_for(sandbox))
    check_error(api.call(op, test, host=sandbox), 404, "path-not-found")


@pytest.mark.parametrize("prefix", ["marketplace-api-sandbox", "supplies-api-sandbox"])
def test_sandbox_twins_without_ping(api: Api, prefix: str) -> None:
    """WB runs these two twins without documenting a /ping there: their operations are served, /ping is not."""
    host = ALL_HOST_BY_PREFIX[prefix]
    assert host.sandbox and not host.ping
    ops = [o for o in OPS if twin(o) is host]
    assert len(ops) >= 7 and {o.id for o in ops} == {o.id for o in CATALOG.for_host(prefix)}
    test = api.token(api.sid, TokenType.TEST, host.mask)
    for op in ops:
        api.refill(op)
        check_answer(op, api.send(valid_call(op), test, host=host))
    check_error(api.send(valid_call(CATALOG.by_id("ping")), test, host=host), 404, "path-not-found")


def test_the_sandbox_cases_cover_the_twins() -> None:
    twins = {h.prefix for h in ALL_HOST_BY_PREFIX.values() if h.sandbox}
    assert len(twins) == 7
    assert {t.prefix for o in SANDBOXED if (t := twin(o)) is not None} == twins
    assert NOT_SANDBOXED  # content-api, for one, has operations test tokens may not call
