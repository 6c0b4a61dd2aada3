"""The Jam gate as WB's documents state it, in-process through the gateway: the CSV report types that need
Jam (11-analytics: DETAIL_HISTORY_REPORT, GROUPED_HISTORY_REPORT; the stock types do not), pinning
feedbacks with Jam or the tariff option (09-communications), and `till` on the test clock, also for a
request that repeats an admitted one. Every answer is validated against the operation's declared response."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.api.kit import (
    CATALOG,
    Api,
    Call,
    check_answer,
    check_error,
    defs_of,
    production,
    scope_for,
    valid_call,
)
from wbseller.backends.general import DAY, General
from wbseller.catalog import Operation
from wbseller.cli import app
from wbseller.methods.table import TableError, load_table
from wbseller.schemas.validate import Validator
from wbseller.tokens import TokenType

REPORTS = CATALOG.by_id("post-api-v2-nm-report-downloads")
PINS = CATALOG.by_id("post-api-feedbacks-v1-pins")
SEED_JAM = "If you want to use the Jam methods, check your subscription in your personal account"
PINS_DETAIL = "this feature requires active subscription or active tariff"  # its document's 403 example
OPTION = "pin-feedbacks"  # the tariff option «Закрепление отзыва»


def _by_type() -> dict[str, Any]:
    """Each report type's documented request (one example per schema the discriminator maps to)."""
    assert REPORTS.request is not None
    return {b["reportType"]: b for b in REPORTS.request.content["application/json"].examples.values()}


BY_TYPE = _by_type()
NEED_JAM = ("DETAIL_HISTORY_REPORT", "GROUPED_HISTORY_REPORT")
STOCK = ("STOCK_HISTORY_REPORT_CSV", "STOCK_HISTORY_DAILY_CSV")


def call(op: Operation, body: Any) -> Call:
    return Call(op, {}, (), (("Content-Type", "application/json"),), json.dumps(body).encode(), body)


def report(kind: str) -> Call:
    return call(REPORTS, BY_TYPE[kind])


def pins() -> Call:
    return valid_call(PINS)  # the document's example: one pin by subscription, one by tariff


def send(api: Api, c: Call, token: str) -> httpx.Response:
    api.refill(c.op)
    return api.send(c, token)


def token_of(api: Api, sid: str, op: Operation) -> str:
    return api.token(sid, TokenType.PERSONAL, scope_for(production(op)))


def refused(r: httpx.Response, op: Operation, code: str, detail: str) -> None:
    """The gate's 403: the uniform WB body with the seed's detail, valid against the declared 403."""
    body = check_error(r, 403, code)
    assert body["detail"] == detail
    Validator(op.responses["403"]["application/json"].schema, defs_of(op)).validate(body)


def jam(api: Api, sid: str, days: float) -> None:
    api.run(api.gw.backends.of(General).jam_connect(sid, "standard", "jam", days, api.now))
    api.run(api.gw.apply_events())


def test_the_documents_requests_are_at_hand() -> None:
    assert set(NEED_JAM + STOCK) <= set(BY_TYPE), sorted(BY_TYPE)
    assert {p["pinMethod"] for p in pins().json} == {"subscription", "tariff"}


def test_stock_reports_need_no_jam(api: Api) -> None:
    sid = api.seller()
    token = token_of(api, sid, REPORTS)
    for kind in STOCK:
        check_answer(REPORTS, send(api, report(kind), token))
        check_answer(REPORTS, send(api, report(kind), token))  # from the admitted-request cache


def test_history_reports_need_jam(api: Api) -> None:
    sid = api.seller()
    token = token_of(api, sid, REPORTS)
    check_answer(REPORTS, send(api, report(STOCK[0]), token))  # admitted first: the cache holds this path
    for kind in NEED_JAM:
        refused(send(api, report(kind), token), REPORTS, "subscription-jam", SEED_JAM)
    jam(api, sid, 1)
    for kind in NEED_JAM:
        check_answer(REPORTS, send(api, report(kind), token))
        check_answer(REPORTS, send(api, report(kind), token))
    api.advance(DAY + 1)  # past till on the test clock, no event: each request decides again
    for kind in NEED_JAM:
        refused(api.send(report(kind), token), REPORTS, "subscription-jam", SEED_JAM)
    check_answer(REPORTS, send(api, report(STOCK[1]), token))  # the stock types stay open


def test_pinning_needs_jam_or_the_tariff_option(api: Api) -> None:
    code = f"subscription-jam-or-{OPTION}"
    with_jam, with_option = api.seller(), api.seller()
    for sid in (with_jam, with_option):
        refused(send(api, pins(), token_of(api, sid, PINS)), PINS, code, PINS_DETAIL)
    jam(api, with_jam, 1)
    out = CliRunner().invoke(
        app,
        [
            "seller",
            "subscribe",
            "--seller",
            with_option,
            "--name",
            OPTION,
            "--data-dir",
            str(api.gw.settings.data_dir),
        ],
    )
    assert out.exit_code == 0, out.output
    api.run(api.gw.apply_events())
    for sid in (with_jam, with_option):
        token = token_of(api, sid, PINS)
        check_answer(PINS, send(api, pins(), token))
        check_answer(PINS, send(api, pins(), token))  # from the admitted-request cache
    api.advance(DAY + 1)  # Jam's till passed; the option (on, no end) still opens it
    refused(api.send(pins(), token_of(api, with_jam, PINS)), PINS, code, PINS_DETAIL)
    check_answer(PINS, send(api, pins(), token_of(api, with_option, PINS)))


def test_the_tariff_option_ends_at_its_till(api: Api) -> None:
    sid = api.seller()
    token = token_of(api, sid, PINS)
    api.refill(PINS)  # before the option: a refill moves the clock past a minute
    api.run(api.gw.storage.set_subscription(sid, OPTION, True, api.now, till=api.now + 60))
    api.run(api.gw.apply_events())
    check_answer(PINS, api.send(pins(), token))
    check_answer(PINS, api.send(pins(), token))  # from the admitted-request cache, which stands until till
    api.advance(61)
    refused(api.send(pins(), token), PINS, f"subscription-jam-or-{OPTION}", PINS_DETAIL)


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ({"subscription_when": {"field": "reportType", "in": ["DETAIL"]}}, "DETAIL is not a value"),
        ({"subscription_when": {"field": "reportType"}}, "exactly field and in"),
        ({"subscription_when": {"field": "reportType", "in": []}}, "non-empty list"),
        ({"subscription": []}, "a name or a non-empty list"),
        ({"subscription": ["jam", "jam"]}, "listed twice"),
    ],
)
def test_a_malformed_gate_is_a_table_error(row: dict[str, Any], says: str) -> None:
    with pytest.raises(TableError, match=says):
        load_table(extra={"methods": [{"id": REPORTS.id, **row}]}, handlers=False)


def test_a_body_gate_needs_a_json_body() -> None:
    row = {"id": "ping", "subscription": "jam", "subscription_when": {"field": "x", "in": ["a"]}}
    with pytest.raises(TableError, match=r"methods\[ping\]\.subscription_when: only for a catalog operation"):
        load_table(extra={"methods": [row]}, handlers=False)
