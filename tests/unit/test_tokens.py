"""Tokens: claims of each type, signing and verifying with the key ring, decoding without verifying."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wbseller.categories import CATEGORY_MASK, READ_ONLY_MASK
from wbseller.errors import Unauthorized
from wbseller.tokens import (
    LIFETIME,
    KeyRing,
    TokenError,
    TokenType,
    decode_unverified,
    generate_private_pem,
    kid_is_well_formed,
    new_token_id,
    next_kid,
    payload_for,
    strip_scheme,
)

KID = "20261127v1"
SID = "e8923014-e233-4708-898e-3cc86d67ea61"
NOW = 1_790_000_000
CONTENT_MARKETPLACE = (1 << 1) | (1 << 4)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    h, p, s = token.split(".")
    return json.loads(unb64(h)), json.loads(unb64(p)), unb64(s)


@pytest.fixture(scope="module")
def pem() -> bytes:
    return generate_private_pem()


@pytest.fixture
def ring(pem: bytes) -> KeyRing:
    r = KeyRing()
    r.add(KID, pem)
    return r


def payload(type: TokenType = TokenType.PERSONAL, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "token_id": new_token_id(),
        "sid": SID,
        "scope": CONTENT_MARKETPLACE,
        "type": type,
        "now": NOW,
        "uid": 42,
        "oid": 4242,
    }
    if type is TokenType.SERVICE:
        args["service_id"] = 17
    args.update(kw)
    return payload_for(**args)


def public_pem(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def assert_refused(ring: KeyRing, token: str, code: str | tuple[str, ...], now: float = NOW) -> TokenError:
    with pytest.raises(TokenError) as exc:
        ring.verify(token, now)
    codes = (code,) if isinstance(code, str) else code
    assert exc.value.code in codes, (exc.value.code, exc.value.detail)
    assert exc.value.status == 401
    assert exc.value.detail.startswith("token problem; ")
    if len(token) > 8:
        assert token not in exc.value.detail  # a refusal never quotes the token
    return exc.value


# --- types and payloads ------------------------------------------------------------------------


def test_type_acc_values() -> None:
    assert [(t.value, t.acc) for t in TokenType] == [
        ("base", 1),
        ("test", 2),
        ("personal", 3),
        ("service", 4),
    ]
    for t in TokenType:
        assert TokenType.from_acc(t.acc) is t
    assert TokenType.from_acc(0) is None
    assert TokenType.from_acc(5) is None


@pytest.mark.parametrize(
    ("type", "acc", "t", "for_"),
    [
        (TokenType.BASE, 1, False, None),
        (TokenType.TEST, 2, True, None),
        (TokenType.PERSONAL, 3, False, "self"),
        (TokenType.SERVICE, 4, False, "asid:17"),
    ],
)
def test_payload_of_each_type(type: TokenType, acc: int, t: bool, for_: str | None) -> None:
    tid = new_token_id()
    p = payload(type, token_id=tid)
    assert p["id"] == tid
    assert p["s"] == CONTENT_MARKETPLACE
    assert p["sid"] == SID
    assert p["exp"] == NOW + 180 * 24 * 3600
    assert p["acc"] == acc
    assert p["t"] is t
    assert p.get("for") == for_
    assert ("for" in p) is (for_ is not None)
    assert p["uid"] == 42
    assert p["oid"] == 4242


def test_lifetime_is_180_days() -> None:
    assert LIFETIME == 180 * 86400


def test_token_ids_are_uuid4() -> None:
    ids = {new_token_id() for _ in range(50)}
    assert len(ids) == 50
    for i in ids:
        assert uuid.UUID(i).version == 4
        assert str(uuid.UUID(i)) == i


# --- keys and kids -----------------------------------------------------------------------------


def test_generated_keys_are_p256() -> None:
    key = serialization.load_pem_private_key(generate_private_pem(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert generate_private_pem() != generate_private_pem()


def test_next_kid() -> None:
    day = datetime(2026, 11, 27, 23, 59, tzinfo=UTC)
    assert next_kid(set(), day) == "20261127v1"
    assert next_kid({"20261127v1"}, day) == "20261127v2"
    assert next_kid({"20261127v1", "20261127v2", "20261126v3"}, day) == "20261127v3"
    assert next_kid({"20261126v1"}, day) == "20261127v1"


@pytest.mark.parametrize(
    ("kid", "ok"),
    [
        ("20250520v1", True),
        ("20261127v12", True),
        ("2025052v1", False),
        ("20250520", False),
        ("20250520v", False),
        ("20250520V1", False),
        ("x20250520v1", False),
        ("20250520v1 ", False),
    ],
)
def test_kid_is_well_formed(kid: str, ok: bool) -> None:
    assert kid_is_well_formed(kid) is ok


def test_a_key_that_is_not_p256_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="P-256"):
        KeyRing().add(KID, other)


def test_key_ring_signs_with_the_newest_signing_key(pem: bytes) -> None:
    r = KeyRing()
    assert r.signing_kid is None
    with pytest.raises(RuntimeError):
        r.sign(payload())
    r.add("20260101v1", pem)
    assert r.signing_kid == "20260101v1"  # the first key signs
    r.add("20260102v1", generate_private_pem())
    assert r.signing_kid == "20260101v1"  # added without signing=True: only verifies
    r.add("20260103v1", generate_private_pem(), signing=True)
    assert r.signing_kid == "20260103v1"
    assert r.kids == ["20260101v1", "20260102v1", "20260103v1"]
    assert "20260102v1" in r
    assert "20260104v1" not in r


# --- sign and verify ---------------------------------------------------------------------------


def test_sign_header_is_es256_with_kid(ring: KeyRing) -> None:
    token = ring.sign(payload())
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    header, body, sig = parts(token)
    assert header == {"alg": "ES256", "kid": KID, "typ": "JWT"}
    assert body["sid"] == SID
    assert len(sig) == 64  # JWS ES256: r || s, 32 bytes each


@pytest.mark.parametrize("type", list(TokenType))
def test_round_trip_for_each_type(ring: KeyRing, pem: bytes, type: TokenType) -> None:
    p = payload(type, scope=CONTENT_MARKETPLACE | READ_ONLY_MASK)
    token = ring.sign(p)
    claims = ring.verify(token, NOW + 1)
    assert claims.id == p["id"]
    assert claims.sid == SID
    assert claims.scope == CONTENT_MARKETPLACE | READ_ONLY_MASK
    assert claims.exp == NOW + LIFETIME
    assert claims.type is type
    assert claims.kid == KID
    assert claims.uid == 42
    assert claims.oid == 4242
    assert claims.service_id == (17 if type is TokenType.SERVICE else None)
    assert claims.read_only
    assert claims.categories == ["content", "marketplace"]
    assert claims.expires == datetime.fromtimestamp(NOW + LIFETIME, UTC)
    # Any ES256 verifier with the public key agrees.
    assert jwt.decode(token, public_pem(pem), algorithms=["ES256"], options={"verify_exp": False}) == p


def test_verify_accepts_every_known_key_after_rotation(pem: bytes) -> None:
    r = KeyRing()
    r.add("20260101v1", pem)
    old = r.sign(payload())
    r.add("20260601v1", generate_private_pem(), signing=True)
    new = r.sign(payload())
    assert parts(new)[0]["kid"] == "20260601v1"
    assert r.verify(old, NOW).kid == "20260101v1"
    assert r.verify(new, NOW).kid == "20260601v1"


def test_expired(ring: KeyRing) -> None:
    token = ring.sign(payload())
    assert ring.verify(token, NOW + LIFETIME - 1).exp == NOW + LIFETIME
    err = assert_refused(ring, token, "token-expired", now=NOW + LIFETIME)
    assert "expired" in err.detail
    assert_refused(ring, token, "token-expired", now=NOW + LIFETIME + 86400)


def test_not_valid_yet(ring: KeyRing) -> None:
    token = ring.sign({**payload(), "nbf": NOW + 3600})
    assert_refused(ring, token, "token-not-yet-valid")
    assert ring.verify(token, NOW + 3600).nbf == NOW + 3600


def test_alg_none_is_refused(ring: KeyRing) -> None:
    body = b64json(payload())
    for alg in ("none", "None", "NONE"):
        header = b64json({"alg": alg, "kid": KID, "typ": "JWT"})
        assert_refused(ring, f"{header}.{body}.", ("token-alg-invalid", "token-malformed"))
        assert_refused(ring, f"{header}.{body}.{b64(b'x' * 64)}", ("token-alg-invalid", "token-malformed"))
    # No alg at all.
    header = b64json({"kid": KID, "typ": "JWT"})
    assert_refused(ring, f"{header}.{body}.{b64(b'x' * 64)}", ("token-alg-invalid", "token-malformed"))


def test_hs256_with_the_public_key_as_secret_is_refused(ring: KeyRing, pem: bytes) -> None:
    """The classic algorithm confusion: an HMAC token keyed with the (public) verification key."""
    for secret in (public_pem(pem), public_pem(pem).strip()):
        header = b64json({"alg": "HS256", "kid": KID, "typ": "JWT"})
        body = b64json(payload())
        signing_input = f"{header}.{body}".encode()
        sig = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
        assert_refused(ring, f"{header}.{body}.{sig}", "token-alg-invalid")


@pytest.mark.parametrize("alg", ["ES384", "RS256", "EdDSA", "PS256", "es256"])
def test_other_algorithms_are_refused(ring: KeyRing, alg: str) -> None:
    token = ring.sign(payload())
    _, p, s = token.split(".")
    header = b64json({"alg": alg, "kid": KID, "typ": "JWT"})
    assert_refused(ring, f"{header}.{p}.{s}", "token-alg-invalid")


def test_unknown_kid(ring: KeyRing) -> None:
    other = KeyRing()
    other.add("20991231v1", generate_private_pem())
    assert_refused(ring, other.sign(payload()), "token-kid-unknown")
    # A header without kid, or with a kid that is no string.
    token = ring.sign(payload())
    _, p, s = token.split(".")
    for header in ({"alg": "ES256", "typ": "JWT"}, {"alg": "ES256", "kid": 1, "typ": "JWT"}):
        assert_refused(ring, f"{b64json(header)}.{p}.{s}", "token-kid-unknown")


def test_a_known_kid_with_another_key_is_a_bad_signature(ring: KeyRing) -> None:
    impostor = KeyRing()
    impostor.add(KID, generate_private_pem())
    assert_refused(ring, impostor.sign(payload()), "token-signature-invalid")


def test_tampered_payload(ring: KeyRing) -> None:
    token = ring.sign(payload(scope=1 << 1))
    h, p, s = token.split(".")
    body = json.loads(unb64(p))
    for change in ({"s": CATEGORY_MASK}, {"sid": str(uuid.uuid4())}, {"exp": NOW + 10 * LIFETIME}):
        forged = b64json({**body, **change})
        assert_refused(ring, f"{h}.{forged}.{s}", "token-signature-invalid")
    # Tampered signature.
    sig = bytearray(unb64(s))
    sig[10] ^= 1
    assert_refused(ring, f"{h}.{p}.{b64(bytes(sig))}", "token-signature-invalid")
    # Tampered header (kid kept) also breaks the signature.
    header = b64json({"alg": "ES256", "kid": KID, "typ": "JWT", "x": 1})
    assert_refused(ring, f"{header}.{p}.{s}", "token-signature-invalid")


@pytest.mark.parametrize("claim", ["id", "s", "sid", "exp", "acc"])
def test_a_missing_claim(ring: KeyRing, claim: str) -> None:
    p = payload()
    del p[claim]
    assert_refused(ring, ring.sign(p), "token-claim-missing")


@pytest.mark.parametrize(
    "change",
    [
        {"id": "not-a-uuid"},
        {"id": 5},
        {"sid": "e8923014-e233-47q8-898e-3cc86d67ea61"},  # the official spec's example sid
        {"s": -1},
        {"s": "2"},
        {"s": True},
        {"exp": "1790000000"},
        {"exp": 1.5},
        {"acc": 9},
        {"acc": "3"},
        {"t": True},  # a personal token is no test token
        {"for": "asid:17"},  # a personal token is for self
    ],
)
def test_a_claim_of_the_wrong_shape(ring: KeyRing, change: dict[str, Any]) -> None:
    assert_refused(ring, ring.sign({**payload(), **change}), "token-claim-invalid")


@pytest.mark.parametrize(
    "p",
    [
        {"acc": 4, "t": False, "for": "self"},
        {"acc": 4, "t": False},
        {"acc": 4, "t": False, "for": "asid:x"},
        {"acc": 1, "t": False, "for": "self"},
        {"acc": 2, "t": False},
        {"acc": 2},
        {"acc": 1, "t": True},
    ],
)
def test_type_claims_that_contradict(ring: KeyRing, p: dict[str, Any]) -> None:
    base = payload(TokenType.BASE)
    base.pop("for", None)
    base.pop("t")
    assert_refused(ring, ring.sign({**base, **p}), "token-claim-invalid")


def test_unknown_scope_bits_are_refused_by_our_server(ring: KeyRing) -> None:
    token = ring.sign(payload(scope=CONTENT_MARKETPLACE | (1 << 8)))
    assert_refused(ring, token, "token-scope-unknown")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "a..c",
        "!!!.###.$$$",
        b64json([1, 2]) + ".e30.c2ln",
        "x" * 5000,
    ],
)
def test_malformed(ring: KeyRing, token: str) -> None:
    assert_refused(ring, token, ("token-malformed", "token-alg-invalid"))


def test_token_error_is_a_401() -> None:
    err = TokenError("token is expired", "token-expired")
    assert isinstance(err, Unauthorized)
    assert err.status == 401
    assert err.detail == "token problem; token is expired"
    assert err.why == "token is expired"


# --- decode without verifying ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type", "service_id"),
    [(TokenType.BASE, None), (TokenType.TEST, None), (TokenType.PERSONAL, None), (TokenType.SERVICE, 17)],
)
def test_decode_unverified_each_type(ring: KeyRing, type: TokenType, service_id: int | None) -> None:
    p = payload(type)
    token = ring.sign(p)
    d = decode_unverified(token, NOW)
    assert d.claims.type is type
    assert d.claims.id == p["id"]
    assert d.claims.sid == SID
    assert d.claims.scope == CONTENT_MARKETPLACE
    assert d.claims.categories == ["content", "marketplace"]
    assert not d.claims.read_only
    assert d.claims.kid == KID
    assert d.claims.service_id == service_id
    assert d.claims.uid == 42
    assert d.unknown_bits == []
    assert not d.expired
    assert d.days_left == pytest.approx(180)


def test_decode_unverified_needs_no_key_and_checks_no_signature() -> None:
    other = KeyRing()
    other.add("20200101v1", generate_private_pem())
    token = other.sign(payload(TokenType.BASE, scope=READ_ONLY_MASK | 2))
    h, p, _ = token.split(".")
    d = decode_unverified(f"{h}.{p}.{b64(b'0' * 64)}", NOW)
    assert d.claims.type is TokenType.BASE
    assert d.claims.read_only
    assert d.claims.kid == "20200101v1"


def test_decode_unverified_reports_real_wb_bits_instead_of_failing(ring: KeyRing) -> None:
    # Real WB tokens carry bits such as 8 and 16.
    token = ring.sign(payload(scope=CONTENT_MARKETPLACE | (1 << 8) | (1 << 16) | READ_ONLY_MASK))
    d = decode_unverified(token, NOW)
    assert d.unknown_bits == [8, 16]
    assert d.claims.categories == ["content", "marketplace"]
    assert d.claims.read_only


def test_decode_unverified_of_an_expired_token(ring: KeyRing) -> None:
    token = ring.sign(payload())
    d = decode_unverified(token, NOW + LIFETIME + 86400)
    assert d.expired
    assert d.days_left == pytest.approx(-1)
    assert decode_unverified(token, NOW + LIFETIME).expired


def test_decode_unverified_strips_bearer_and_whitespace(ring: KeyRing) -> None:
    token = ring.sign(payload())
    for raw in (f"Bearer {token}", f"bearer {token}\n", f"  {token}  \n", f"BEARER   {token}"):
        assert decode_unverified(raw, NOW).claims.sid == SID
    assert strip_scheme(f" Bearer {token} ") == token
    assert strip_scheme(token) == token


@pytest.mark.parametrize("garbage", ["", "hello", "a.b.c", "Bearer ", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_decode_unverified_of_garbage(garbage: str) -> None:
    with pytest.raises(TokenError):
        decode_unverified(garbage, NOW)


def test_a_real_time_round_trip(ring: KeyRing) -> None:
    now = int(time.time())
    token = ring.sign(payload(now=now))
    assert ring.verify(token, time.time()).exp == now + LIFETIME
