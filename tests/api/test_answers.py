"""Every operation of the catalog answers a valid request through the gateway: a declared success, its body valid
against that status's declared schema, `X-Ratelimit-Remaining` a number; in every form a host is reached by
(Host header, `*.localhost`, path prefix, bare address by path), with the same bytes."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.api.kit import (
    OPS,
    Api,
    allowed_type,
    check_answer,
    check_remaining,
    ids,
    is_json,
    valid_call,
)
from wbseller.catalog import Operation

# What the documents say only in prose, so a request of the required parameters alone is refused: news takes
# `from` or `fromID`, one of them (its handler refuses neither with 400, which the document declares).
ONE_OF_REQUIRED = {"news": ("from", "fromID")}
# Each answer is a new thing, so two are never the same bytes: an invitation (its uuid, its URL by the host's
# name). Compared by status and schema.
FRESH = frozenset({"post-api-v1-invite"})


@pytest.mark.parametrize("op", OPS, ids=ids(OPS))
def test_valid_request(api: Api, op: Operation) -> None:
    token = api.token_for(op)
    rate = op.limit.rates[allowed_type(op).value]
    api.refill(op)
    r = api.send(valid_call(op), token)
    check_answer(op, r)
    assert check_remaining(r) == rate.burst - 1  # the bucket was full
    api.refill(op)
    minimal = valid_call(op, "minimal", optional=False, examples=False)
    if op.id in ONE_OF_REQUIRED:
        r = api.send(minimal, token)
        assert r.status_code == 400 and "400" in op.responses, r.text
        assert (
            r.json()["detail"]
            == f"{', '.join(f'query.{n}' for n in ONE_OF_REQUIRED[op.id])}: one of them is required"
        )
        api.refill(op)
        minimal = minimal.with_query(ONE_OF_REQUIRED[op.id][1], "1")
    r = api.send(minimal, token)
    check_answer(op, r)
    check_remaining(r)


@pytest.mark.parametrize("op", OPS, ids=ids(OPS))
def test_every_form_of_the_host(api: Api, op: Operation) -> None:
    """The same request in the four forms gets the same answer, byte for byte: the host is the same whichever
    way it is named. Compared with a Host-header answer at the same time (ping's depends on it), or where the
    bucket holds one request at a time with the first answer (a generated one does not)."""
    token = api.token_for(op)
    burst = op.limit.rates[allowed_type(op).value].burst
    call = valid_call(op, "forms")
    api.refill(op)
    first = api.send(call, token)
    check_answer(op, first)
    for form in ("localhost", "prefix", "bare"):
        api.refill(op)
        reference = api.send(call, token) if burst >= 2 else first
        r = api.send(call, token, form=form)
        if op.id in FRESH:
            check_answer(op, r)
            check_remaining(r)
            continue
        assert (r.status_code, r.headers["content-type"], r.content) == (
            reference.status_code,
            reference.headers["content-type"],
            reference.content,
        ), f"{form}: {r.text[:300]}"
        check_remaining(r)


def test_the_catalog_is_whole() -> None:
    """302 operations, and answers of every kind for `check_answer` to judge: no body, a file, JSON."""
    assert len(OPS) == 302
    assert len({o.id for o in OPS}) == 302
    kinds: Counter[str] = Counter()
    for op in OPS:
        lowest = min(s for s in op.responses if s.isdigit() and s.startswith("2"))
        content = op.responses[lowest]
        kinds["empty" if not content else "json" if any(is_json(c) for c in content) else "binary"] += 1
    assert kinds == {"empty": 46, "binary": 2, "json": 254}
