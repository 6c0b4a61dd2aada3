"""The test kit as its users use it: the pytest plugin's fixtures alone (`wb_server`, `wb_token`), a real
server over HTTP, and every answer checked against what the operation declares (tests/api/kit.py)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.api.kit import check_answer, check_op_error
from wbseller.catalog import load
from wbseller.testing import ControlError, WBServer

ORDERS_NEW = "/marketplace-api/api/v3/orders/new"
CANCEL = "/marketplace-api/api/v3/orders/{}/cancel"
PING = "/content-api/ping"
DAY = 86400.0


def get(wb: WBServer, path: str, token: str, **kw: object) -> httpx.Response:
    return httpx.get(wb.url + path, headers={"Authorization": token}, timeout=10, **kw)  # type: ignore[arg-type]


def test_a_fault_answers_the_status_with_wb_body_then_runs_out(wb_server: WBServer, wb_token: str) -> None:
    op = load().by_id("get-api-v3-orders-new")
    rule = wb_server.faults.add("GET /api/v3/orders/new", status=503, times=2)
    assert rule["times"] == 2 and [r["id"] for r in wb_server.faults.list()] == [rule["id"]]
    for _ in range(2):
        r = get(wb_server, ORDERS_NEW, wb_token)
        check_op_error(r, op, 503)
    check_answer(op, get(wb_server, ORDERS_NEW, wb_token))  # the rule is spent: the real answer again
    assert wb_server.faults.list() == []


def test_a_429_fault_carries_the_limit_headers(wb_server: WBServer, wb_token: str) -> None:
    op = load().by_id("get-api-v3-orders-new")
    wb_server.faults.add("get-api-v3-orders-new", status=429, times=1)
    r = get(wb_server, ORDERS_NEW, wb_token)
    body = check_op_error(r, op, 429, "rate-limited")
    assert body["detail"].startswith("limited by ")
    for name in ("x-ratelimit-retry", "x-ratelimit-limit", "x-ratelimit-reset"):
        assert int(r.headers[name]) >= 1, (name, r.headers)
    assert "x-ratelimit-remaining" not in r.headers  # as the limiter's own 429


def test_a_409_fault_takes_the_operations_documented_shape(wb_server: WBServer, wb_token: str) -> None:
    op = load().by_id("patch-api-v3-orders-order-id-cancel")
    wb_server.faults.add("marketplace-api", status=409, times=1)
    r = httpx.patch(wb_server.url + CANCEL.format(123), headers={"Authorization": wb_token}, timeout=10)
    out = check_op_error(r, op, 409)
    assert out["code"] is None  # the document's {code, message}, not the uniform body


def test_a_delay_fault_slows_the_answer_by_its_seconds(wb_server: WBServer, wb_token: str) -> None:
    op = load().by_id("get-api-v3-orders-new")
    wb_server.faults.add("*", delay=0.4, times=1)
    started = time.perf_counter()
    r = get(wb_server, ORDERS_NEW, wb_token)
    slow = time.perf_counter() - started
    check_answer(op, r)
    assert slow >= 0.4, slow
    assert wb_server.faults.list() == []  # spent: the next call is not slowed (no timing bound to flake)
    check_answer(op, get(wb_server, ORDERS_NEW, wb_token))


def test_a_drop_fault_closes_the_connection_without_an_answer(wb_server: WBServer, wb_token: str) -> None:
    wb_server.faults.add("GET /api/v3/orders/new", drop=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        get(wb_server, ORDERS_NEW, wb_token)
    assert get(wb_server, ORDERS_NEW, wb_token).status_code == 200
    dropped = [e for e in wb_server.requests() if e["status"] == 0]
    assert len(dropped) == 1 and dropped[0]["operation"] == "get-api-v3-orders-new"


def test_a_rule_for_one_seller_and_a_share_of_calls(wb_server: WBServer, wb_token: str) -> None:
    other = wb_server.seller(name="ИП Другой")
    other_token = other.token("personal", "all")
    wb_server.faults.add("*", status=500, seller=other.sid, share=0.5, seed=7)
    assert all(get(wb_server, ORDERS_NEW, wb_token).status_code == 200 for _ in range(5))
    first = [get(wb_server, ORDERS_NEW, other_token).status_code for _ in range(12)]
    assert set(first) == {200, 500}, first
    wb_server.faults.clear()
    wb_server.faults.add("*", status=500, seller=other.sid, share=0.5, seed=7)
    again = [get(wb_server, ORDERS_NEW, other_token).status_code for _ in range(12)]
    assert again == first  # seeded: the same calls fail in the same order


def test_the_clock_expires_tokens_and_refills_limits(wb_server: WBServer, wb_token: str) -> None:
    statuses = [get(wb_server, PING, wb_token).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # /ping: 3 per 30 s
    wb_server.clock.advance(10)  # one interval: one request
    assert [get(wb_server, PING, wb_token).status_code for _ in range(2)] == [200, 429]
    frozen = wb_server.clock.freeze()
    assert wb_server.clock.now() == frozen
    wb_server.clock.advance(181 * DAY)  # past the token's 180 days
    r = get(wb_server, PING, wb_token)
    assert r.status_code == 401 and r.json()["code"] == "token-expired", r.text
    assert wb_server.clock.unfreeze() >= frozen + 181 * DAY


def test_reset_is_a_fresh_start(wb_server: WBServer, wb_token: str) -> None:
    other = wb_server.seller(name="ИП Другой")
    old_token = other.token("personal", "all")
    assert get(wb_server, ORDERS_NEW, old_token).status_code == 200
    wb_server.faults.add("*", status=503)
    wb_server.clock.freeze()
    started = time.perf_counter()
    answer = wb_server.reset()
    took = time.perf_counter() - started
    sellers = wb_server.sellers()
    assert [s.name for s in sellers] == ["ИП Демо Д. Д."] and answer["demo"]["sid"] == sellers[0].sid
    assert wb_server.faults.list() == [] and wb_server.requests() == []
    assert not wb_server.call("GET", "/_wbseller/clock")["frozen"]
    for token in (old_token, wb_token):  # made before the reset: unknown now
        r = get(wb_server, ORDERS_NEW, token)
        assert r.status_code == 401 and r.json()["code"] == "token-unknown", r.text
    assert get(wb_server, ORDERS_NEW, wb_server.token()).status_code == 200
    # The target (50 ms, measured ~25 ms) is a figure of docs/testing.md; asserted here only at ten times
    # it, so that a busy CI machine cannot fail it while a reset that walks rows one by one still would.
    assert answer["seconds"] <= 0.5, (answer, took)


def test_the_journal_has_what_was_sent_and_never_a_token(wb_server: WBServer, wb_token: str) -> None:
    get(wb_server, ORDERS_NEW, wb_token)
    body = {"orders": [1, 2, 3]}
    r = httpx.post(
        wb_server.url + "/marketplace-api/api/v3/orders/status",
        json=body,
        headers={"Authorization": wb_token},
        timeout=10,
    )
    get(wb_server, ORDERS_NEW, wb_token + "x")  # a bad token: refused, journaled, still not kept
    entries = wb_server.requests()
    assert [e["status"] for e in entries] == [200, r.status_code, 401]
    first, write, refused = entries
    assert first["operation"] == "get-api-v3-orders-new" and first["host"] == "marketplace-api"
    assert first["sid"] == write["sid"] == wb_server.sellers()[0].sid and first["token_id"]
    assert first["body"] is None and json.loads(write["body"]) == body
    assert refused["request_id"] and wb_server.errors(refused["request_id"])[0]["status"] == 401
    shown = json.dumps([entries, wb_server.errors()])
    assert wb_token not in shown and wb_token[40:80] not in shown
    wb_server.clear_requests()
    assert wb_server.requests() == []


def test_a_refused_control_call_is_one_sentence(wb_server: WBServer) -> None:
    with pytest.raises(ControlError, match=r"^POST /_wbseller/faults: 400 match 'nope' is no operation id"):
        wb_server.faults.add("nope", status=503)
    with pytest.raises(ControlError, match="a rule needs what to do"):
        wb_server.faults.add("*")
    r = httpx.post(wb_server.url + "/_wbseller/faults", content=b"[1]", timeout=10)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "expected a JSON object in the body"


def test_the_rating_and_jam_set_through_the_kit_are_what_the_api_answers(
    wb_server: WBServer, wb_token: str
) -> None:
    rating_op = load().by_id("get-common-v1-rating")
    jam_op = load().by_id("get-common-v1-subscriptions")
    demo = wb_server.sellers()[0]
    service = wb_server.token("service")
    demo.set_rating(1234, 4.7)
    r = get(wb_server, "/feedbacks-api/api/common/v1/rating", service)
    check_answer(rating_op, r)
    assert r.json() == {"feedbackCount": 1234, "valuation": 4.7}
    assert get(wb_server, "/common-api/api/common/v1/subscriptions", service).json() == {}  # never connected
    state = demo.jam(level="premium", days=10)
    assert state["active"] and state["level"] == "premium"
    r = get(wb_server, "/common-api/api/common/v1/subscriptions", service)
    check_answer(jam_op, r)
    assert r.json()["state"] == "active" and r.json()["level"] == "premium"
    assert demo.jam_cancel()["active"] is False
    r = get(wb_server, "/common-api/api/common/v1/subscriptions", service)
    check_answer(jam_op, r)
    assert r.json()["state"] != "active"
    with pytest.raises(ControlError, match="no active Jam"):
        demo.jam_cancel()
    with pytest.raises(ControlError, match="level 'gold' is unknown"):
        demo.jam(level="gold")
