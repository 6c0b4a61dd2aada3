"""The shortest path through the whole system: a seller, a token, /ping on a host."""

from __future__ import annotations

from tests.conftest import Server, assert_wb_error


def test_ping_with_a_new_token(server: Server) -> None:
    sid = server.seller()
    token = server.token(sid, "personal", "content")
    r = server.get("/content-api/ping", token)
    assert r.status_code == 200, r.text
    assert r.json()["Status"] == "OK"
    assert r.json()["TS"].endswith("+03:00")
    assert r.headers["x-ratelimit-remaining"] == "2"


def test_unknown_path_is_a_wb_404(server: Server) -> None:
    body = assert_wb_error(server.get("/no/such/path"), 404, "path-not-found")
    assert body["title"] == "path not found"
