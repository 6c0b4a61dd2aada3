"""Swagger UI at /docs in headless Chromium: the selector lists the 14 sections and the merged document, a
section renders (the vendored UI shows our OpenAPI 3.0 documents), and "Try it out" with a token reaches
this server through the operation's path-prefix server and gets the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from tests.conftest import Server

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.usefixtures("browser")

SECTIONS = 14


def test_swagger_ui_lists_every_section(page: Page, server: Server) -> None:
    page.goto(f"{server.base_url}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    options = page.locator(".topbar select option").all_inner_texts()
    assert len(options) == SECTIONS + 1, options
    assert options[0] == "01 General" and options[-1] == "All sections"
    assert "WB seller API, General" in page.locator(".info .title").inner_text()
    # every operation of the section is listed, with the operation id as its summary
    assert page.locator(".opblock").count() == 9
    page.locator(".topbar select").select_option(label="14 WB Digital")
    page.wait_for_selector(".info .title:has-text('WB Digital')")
    assert page.locator(".opblock").count() == 22


def test_try_it_out_with_a_token_reaches_the_operation(page: Page, server: Server) -> None:
    token = server.token(server.seller(), "personal", "all")
    page.goto(f"{server.base_url}/docs?urls.primaryName={quote('03 Orders FBS')}")
    page.wait_for_selector(".info .title:has-text('Orders FBS')")
    page.locator("button.authorize").click()
    page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(token)
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    op = page.locator("#operations-marketplace-api-get-api-v3-orders-new")
    op.locator(".opblock-summary").click()
    op.locator("button.try-out__btn").click()
    # the operation's servers: this server's path prefixes, production first, then the sandbox twin
    servers = op.locator(".operation-servers select option").all_inner_texts()
    assert [s.split(" ")[0] for s in servers] == ["/marketplace-api", "/marketplace-api-sandbox"], servers
    with page.expect_response(lambda r: "/marketplace-api/api/v3/orders/new" in r.url) as answer:
        op.locator("button.execute").click()
    assert answer.value.status == 200
    assert answer.value.request.headers["authorization"] == token
    page.wait_for_selector("#operations-marketplace-api-get-api-v3-orders-new .live-responses-table")
    status = op.locator(".live-responses-table tbody .response-col_status").first.inner_text()
    assert status.strip() == "200"
    assert '"orders"' in op.locator(".live-responses-table .microlight").first.inner_text()
