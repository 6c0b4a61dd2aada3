"""Invalid requests of every operation, through the gateway: where an operation has something to break (a
required parameter or body property left out, a parameter of the wrong type, outside its enum or format, a
bad path parameter, a body that is missing, not JSON, of the wrong type or Content-Type), the answer is the WB
error body, 400 (422 where the document declares 422 and not 400), whose `detail` names the field; the
refusal is charged (checks run after the limit), so `X-Ratelimit-Remaining` shows its cost."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.api.kit import (
    OPS,
    Api,
    Broken,
    allowed_type,
    broken_calls,
    check_op_error,
    check_remaining,
    error_for,
)
from wbseller.catalog import Operation
from wbseller.methods.checks import CODES

CASES = [(op, b) for op in OPS for b in broken_calls(op)]


@pytest.mark.parametrize(("op", "broken"), CASES, ids=[f"{op.id}-{b.label}" for op, b in CASES])
def test_invalid_request_is_refused(api: Api, op: Operation, broken: Broken) -> None:
    token = api.token_for(op)
    api.refill(op)
    r = api.send(broken.call, token)
    status = error_for(op)
    body = check_op_error(r, op, status, broken.code, api.now)
    assert body["code"] is None or body["code"] in CODES  # None: the operation's own shape
    assert broken.matches(body["detail"]), f"expected {broken.detail!r}, got {body['detail']!r}"
    # charged after the limit: a full bucket less this answer's cost (10 for a 4xx on marketplace-api)
    burst = op.limit.rates[allowed_type(op).value].burst
    assert check_remaining(r) == max(0, burst - op.limit.cost(status))


def test_the_cases_cover_the_catalog() -> None:
    """The computed cases are not few by accident: the documents have this much to break."""
    broken_ops = {op.id for op, _ in CASES}
    assert len(broken_ops) >= 240
    kinds = Counter(b.label.rsplit("-", 1)[-1] if "." in b.label else b.label for _, b in CASES)
    assert kinds["missing"] >= 150  # required query and header parameters, required body properties
    assert kinds["type"] >= 150
    assert kinds["body-not-json"] == 153  # every JSON body
    assert kinds["content-type"] == 159  # every body
    assert any(b.label.startswith("path.") for _, b in CASES)
    statuses = Counter(error_for(op) for op, _ in CASES)
    assert statuses[422] > 0 and statuses[400] > 0
