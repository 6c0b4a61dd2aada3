"""decode_token, offline: the four token types, real-WB quirks, garbage; and what the client does with it."""

from __future__ import annotations

import contextlib
import warnings
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.client.helpers import crafted_token
from tests.conftest import Server
from wbseller.client import (
    Access,
    Client,
    TokenError,
    TokenExpiringWarning,
    TokenInfo,
    TokenType,
    decode_token,
)


def _service(server: Server) -> str:
    return server.cli("service", "create", "--name", "Client test ERP", "--categories", "content,prices")


@pytest.mark.parametrize(
    ("kind", "categories", "read_only"),
    [
        ("base", "content,marketplace", True),
        ("test", "content,prices", False),
        ("personal", "all", False),
        ("service", "", False),
    ],
)
def test_decode_every_token_type(server: Server, kind: str, categories: str, read_only: bool) -> None:
    sid = server.seller()
    if kind == "service":
        token = server.token(sid, "service", service=_service(server))
    else:
        token = server.token(sid, kind, categories, read_only=read_only)
    info = decode_token(token)
    assert isinstance(info, TokenInfo)
    assert info.type is TokenType(kind)
    assert info.seller_id == sid
    assert info.sandbox is (kind == "test")
    assert info.read_only is read_only
    assert info.access is (Access.READ_ONLY if read_only else Access.READ_WRITE)
    expected = {
        "base": ("content", "marketplace"),
        "test": ("content", "prices"),
        "service": ("content", "prices"),
    }.get(kind)
    if expected is None:  # personal, all: every category with a bit
        assert len(info.categories) == 12 and "common" not in info.categories
    else:
        assert info.categories == expected
    assert info.service_id is (None if kind != "service" else info.service_id)
    if kind == "service":
        assert isinstance(info.service_id, int)
    assert info.expires.tzinfo is UTC
    assert 179.9 < info.days_left <= 180
    assert not info.expired
    assert info.to_json()["type"] == kind


def test_decode_reads_the_bearer_form_and_unknown_bits() -> None:
    token = crafted_token(s=(1 << 1) | (1 << 8) | (1 << 16) | (1 << 30))
    info = decode_token(f"Bearer {token}")
    assert info.categories == ("content",)
    assert info.unknown_bits == (8, 16)  # real WB tokens carry such bits: reported, not refused
    assert info.read_only


def test_decode_an_expired_token_says_so() -> None:
    info = decode_token(crafted_token(-2))
    assert info.expired and -2.01 < info.days_left < -1.99


@pytest.mark.parametrize(
    ("garbage", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hello", "not a JWT"),
        ("a.b.c", "bad header"),
        ("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "signing method is not ES256"),  # {"alg":"HS256"}: a pre-2023 token
        (crafted_token(acc=9), "bad claim acc"),
        (crafted_token(sid="not-a-uuid"), "bad claim sid"),
        (crafted_token(exp=10**20), "bad claim exp"),
        (crafted_token(**{"for": "asid:x", "acc": 4}), "bad claim for"),
    ],
)
def test_decode_garbage_is_a_clear_token_error(garbage: str, why: str) -> None:
    with pytest.raises(TokenError, match=why) as info:
        decode_token(garbage)
    assert isinstance(info.value, ValueError)  # usable as a plain ValueError too
    if len(garbage) > 10:
        assert garbage not in str(info.value)  # the message never quotes the token


def test_decode_refuses_a_non_string() -> None:
    with pytest.raises(TokenError, match="string"):
        decode_token(b"abc")  # type: ignore[arg-type]


@given(st.text(max_size=300))
def test_decode_anything_is_a_result_or_a_token_error(text: str) -> None:
    with contextlib.suppress(TokenError):
        decode_token(text)


@given(st.dictionaries(st.sampled_from(["id", "s", "sid", "exp", "acc", "t", "for"]), st.from_type(object)))
def test_decode_any_payload_is_a_result_or_a_token_error(claims: dict[str, object]) -> None:
    try:
        crafted = crafted_token(**claims)
    except TypeError:  # not JSON-serialisable: not a token at all
        return
    with contextlib.suppress(TokenError):
        decode_token(crafted)


# --- what the client does with its token ----------------------------------------------------------


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"sent {request.url}")


def test_client_takes_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    token = crafted_token()
    monkeypatch.setenv("WB_API_TOKEN", token)
    with Client(transport=httpx.MockTransport(_no_network)) as client:
        assert client.token_info.token_id == decode_token(token).token_id
    monkeypatch.delenv("WB_API_TOKEN")
    with pytest.raises(TokenError, match="WB_API_TOKEN"):
        Client()


def test_client_refuses_a_garbage_token_at_once() -> None:
    with pytest.raises(TokenError, match="not a JWT"):
        Client("garbage")


def test_client_warns_when_the_token_expires_within_14_days() -> None:
    with pytest.warns(TokenExpiringWarning, match=r"expires in 3\.\d days") as record:
        Client(crafted_token(3.5)).close()
    assert record[0].filename == __file__  # points at the line that made the client
    with pytest.warns(TokenExpiringWarning, match="has expired"):
        Client(crafted_token(-1)).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Client(crafted_token(15)).close()


def test_token_info_json_is_plain_data() -> None:
    exp = int(datetime(2030, 1, 2, tzinfo=UTC).timestamp())
    info = decode_token(crafted_token(exp=exp), now=exp - 86400)
    data = info.to_json()
    assert data["expires"] == "2030-01-02T00:00:00+00:00"
    assert data["daysLeft"] == 1.0
    assert data["categories"] == ["content", "marketplace"]
