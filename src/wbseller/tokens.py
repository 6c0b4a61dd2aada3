"""Token types, claims, signing, verifying and decoding.

A WB token is an ES256 JWT: header `{"alg":"ES256","kid":"<YYYYMMDD>vN","typ":"JWT"}`, payload with
`id` (UUIDv4), `s` (category bitmask + read-only bit 30), `sid` (seller), `exp`, `acc`/`t`/`for` (the
type) and our internal `uid` (creating user) and `oid` (seller number).

Verification follows RFC 8725: the algorithm is fixed to ES256 whatever the header says, `kid` is only
looked up in our key ring, and the claims we rely on are required.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wbseller.categories import KNOWN_MASK, READ_ONLY_MASK, names_of, unknown_bits
from wbseller.errors import Unauthorized

ALGORITHM = "ES256"
LIFETIME = 180 * 24 * 3600
MAX_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ("id", "s", "sid", "exp", "acc")
MAX_EXP = 253402300800  # 10000-01-01: past it, an expiry is no date at all
_KID_RE = re.compile(r"^\d{8}v\d{1,4}$")
_B64URL = re.compile(r"[A-Za-z0-9_-]+\Z")


class TokenType(enum.Enum):
    BASE = "base"
    TEST = "test"
    PERSONAL = "personal"
    SERVICE = "service"

    # Members are singletons: hash by identity in C (Enum's own hashes the name in Python), as the
    # request path looks types up in sets and dicts on every call.
    __hash__ = object.__hash__

    @property
    def acc(self) -> int:
        return _ACC[self]

    @classmethod
    def from_acc(cls, acc: int) -> TokenType | None:
        return _BY_ACC.get(acc)


_ACC = {TokenType.BASE: 1, TokenType.TEST: 2, TokenType.PERSONAL: 3, TokenType.SERVICE: 4}
_BY_ACC = {v: k for k, v in _ACC.items()}
ALL_TYPES: frozenset[TokenType] = frozenset(TokenType)


class TokenError(Unauthorized):
    """A token that is not one of ours, or no longer valid. `detail` never quotes the token."""

    def __init__(self, why: str, code: str) -> None:
        super().__init__(f"token problem; {why}", code)
        self.why = why


@dataclass(frozen=True, slots=True)
class Claims:
    """What a token says about itself."""

    id: str
    sid: str
    scope: int  # the `s` bitmask
    exp: int
    type: TokenType
    kid: str
    uid: int | None = None
    oid: int | None = None
    service_id: int | None = None
    nbf: int | None = None

    @property
    def read_only(self) -> bool:
        return bool(self.scope & READ_ONLY_MASK)

    @property
    def categories(self) -> list[str]:
        return names_of(self.scope)

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.exp, UTC)


def payload_for(
    *,
    token_id: str,
    sid: str,
    scope: int,
    type: TokenType,
    now: int,
    uid: int | None = None,
    oid: int | None = None,
    service_id: int | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": token_id,
        "s": scope,
        "sid": sid,
        "exp": now + LIFETIME,
        "acc": type.acc,
        "t": type is TokenType.TEST,
    }
    if type is TokenType.PERSONAL:
        payload["for"] = "self"
    elif type is TokenType.SERVICE:
        payload["for"] = f"asid:{service_id}"
    if uid is not None:
        payload["uid"] = uid
    if oid is not None:
        payload["oid"] = oid
    return payload


# --- keys ---------------------------------------------------------------------------------------


def generate_private_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def next_kid(existing: set[str], today: datetime) -> str:
    day = today.strftime("%Y%m%d")
    n = 1
    while f"{day}v{n}" in existing:
        n += 1
    return f"{day}v{n}"


class KeyRing:
    """Our signing keys by `kid`. The newest signs; every one verifies until removed."""

    def __init__(self) -> None:
        self._public: dict[str, ec.EllipticCurvePublicKey] = {}
        self._private: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.signing_kid: str | None = None

    def add(self, kid: str, private_pem: bytes, *, signing: bool = False) -> None:
        key = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"key {kid} is not a P-256 key")
        self._private[kid] = key
        self._public[kid] = key.public_key()
        if signing or self.signing_kid is None:
            self.signing_kid = kid

    def __contains__(self, kid: object) -> bool:
        return kid in self._public

    @property
    def kids(self) -> list[str]:
        return list(self._public)

    def sign(self, payload: dict[str, Any]) -> str:
        kid = self.signing_kid
        if kid is None:
            raise RuntimeError("no signing key")
        token = jwt.encode(
            payload, self._private[kid], algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"}
        )
        head, body, sig = token.rsplit(".", 2)
        return f"{head}.{body}.{_low_s(sig)}"

    def precheck(self, token: str, now: float) -> Claims:
        """Every check but the signature, at a few microseconds: shape, algorithm, our `kid`, low-s,
        the required claims of the right types, known bits, times. The claims are not to be trusted
        until `verify` passes; they only tell which stored token the request claims to be."""
        header = _header(token)
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._public:
            raise TokenError("unknown signing key", "token-kid-unknown")
        if not _is_low_s(token.rsplit(".", 1)[1]):
            raise TokenError("signature is invalid", "token-signature-invalid")
        payload = _b64json(token.split(".")[1])
        if not isinstance(payload, dict):
            raise TokenError("token is malformed", "token-malformed")
        for name in REQUIRED_CLAIMS:
            if name not in payload:
                raise TokenError(f"token is malformed: missing claim {name}", "token-claim-missing")
        claims = claims_of(payload, kid)
        if claims.scope & ~KNOWN_MASK:
            raise TokenError("token has unknown scope bits", "token-scope-unknown")
        check_times(claims, now)
        return claims

    def verify(self, token: str, now: float) -> Claims:
        """The claims of a token we signed, still valid at `now`; else TokenError."""
        header = _header(token)
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._public:
            raise TokenError("unknown signing key", "token-kid-unknown")
        if not _is_low_s(token.rsplit(".", 1)[1]):
            # (r, n - s) verifies too; we only ever issue the low-s form, so one token has one spelling.
            raise TokenError("signature is invalid", "token-signature-invalid")
        try:
            payload = jwt.decode(
                token,
                self._public[kid],
                algorithms=[ALGORITHM],
                options={
                    "verify_exp": False,  # checked below against our clock
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "require": list(REQUIRED_CLAIMS),
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(
                f"token is malformed: missing claim {exc.claim}", "token-claim-missing"
            ) from None
        except jwt.InvalidSignatureError:
            raise TokenError("signature is invalid", "token-signature-invalid") from None
        except (jwt.InvalidTokenError, RecursionError):
            raise TokenError("token is malformed", "token-malformed") from None
        claims = claims_of(payload, kid)
        if claims.scope & ~KNOWN_MASK:
            raise TokenError("token has unknown scope bits", "token-scope-unknown")
        check_times(claims, now)
        return claims


# The order of P-256's group: an ECDSA signature (r, s) and (r, n - s) are both valid.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _low_s(sig: str) -> str:
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    s = int.from_bytes(raw[32:], "big")
    if s <= P256_ORDER // 2:
        return sig
    raw = raw[:32] + (P256_ORDER - s).to_bytes(32, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _is_low_s(sig: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 64 and int.from_bytes(raw[32:], "big") <= P256_ORDER // 2


def check_times(claims: Claims, now: float) -> None:
    if claims.exp <= now:
        raise TokenError("token is expired", "token-expired")
    if claims.nbf is not None and claims.nbf > now + 60:
        raise TokenError("token is not valid yet", "token-not-yet-valid")


def _b64json(part: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):  # RecursionError: `[[[[...` nested deep
        return None


def _header(token: str) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("token is malformed: too long", "token-malformed")
    parts = token.split(".")
    if len(parts) != 3 or not parts[0]:
        raise TokenError("token is malformed: not a JWT", "token-malformed")
    header = _b64json(parts[0])
    if not isinstance(header, dict):
        raise TokenError("token is malformed: bad header", "token-malformed")
    if header.get("alg") != ALGORITHM:  # `none` and HS256 included: the algorithm is ours to fix
        raise TokenError("token is malformed: signing method is not ES256", "token-alg-invalid")
    if not _B64URL.match(parts[1]) or not _B64URL.match(parts[2]) or not _B64URL.match(parts[0]):
        # Strict base64url without padding (RFC 7515): no `=`, no other alphabet, nothing empty.
        raise TokenError("token is malformed: a part is not base64url", "token-malformed")
    return header


def claims_of(payload: Any, kid: str) -> Claims:
    """Claims from a decoded payload; TokenError if a claim is of the wrong shape."""
    if not isinstance(payload, dict):
        raise TokenError("token is malformed: bad payload", "token-malformed")

    def bad(name: str) -> TokenError:
        return TokenError(f"token is malformed: bad claim {name}", "token-claim-invalid")

    for name in REQUIRED_CLAIMS:
        if name not in payload:
            raise TokenError(f"token is malformed: missing claim {name}", "token-claim-missing")
    tid, sid, scope, exp, acc = payload["id"], payload["sid"], payload["s"], payload["exp"], payload["acc"]
    if not isinstance(tid, str) or not _is_uuid(tid):
        raise bad("id")
    if not isinstance(sid, str) or not _is_uuid(sid):
        raise bad("sid")
    if type(scope) is not int or scope < 0:
        raise bad("s")
    if type(exp) is not int or not 0 < exp < MAX_EXP:
        raise bad("exp")
    ttype = TokenType.from_acc(acc) if type(acc) is int else None
    if ttype is None:
        raise bad("acc")
    if payload.get("t", False) is not (ttype is TokenType.TEST):
        raise bad("t")
    service_id: int | None = None
    target = payload.get("for")
    if ttype is TokenType.PERSONAL and target != "self":
        raise bad("for")
    if ttype is TokenType.SERVICE:
        if not isinstance(target, str) or not target.startswith("asid:"):
            raise bad("for")
        try:
            service_id = int(target[5:])
        except ValueError:
            raise bad("for") from None
    if ttype in (TokenType.BASE, TokenType.TEST) and target is not None:
        raise bad("for")
    uid, oid, nbf = payload.get("uid"), payload.get("oid"), payload.get("nbf")
    return Claims(
        id=tid,
        sid=sid,
        scope=scope,
        exp=exp,
        type=ttype,
        kid=kid,
        uid=uid if type(uid) is int else None,
        oid=oid if type(oid) is int else None,
        service_id=service_id,
        nbf=nbf if type(nbf) is int else None,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- decoding without verifying (the decoder: what a token says, and whether it is still valid) ---


@dataclass(frozen=True, slots=True)
class Decoded:
    claims: Claims
    unknown_bits: list[int]
    expired: bool
    days_left: float


def decode_unverified(token: str, now: float) -> Decoded:
    """What a token claims, without checking its signature (WB's decode page does this)."""
    token = strip_scheme(token)
    header = _header(token)
    kid = header.get("kid")
    payload = _b64json(token.split(".")[1])
    claims = claims_of(payload, kid if isinstance(kid, str) else "")
    return Decoded(
        claims=claims,
        unknown_bits=unknown_bits(claims.scope),
        expired=claims.exp <= now,
        days_left=(claims.exp - now) / 86400,
    )


def strip_scheme(value: str) -> str:
    """The token of an Authorization value: raw, or after `Bearer ` (a bare `Bearer` is no token)."""
    value = value.strip()
    scheme = value[:7].lower()
    if scheme == "bearer ":
        return value[7:].strip()
    if scheme == "bearer" and len(value) == 6:
        return ""
    return value


def new_token_id() -> str:
    return str(uuid.uuid4())


def kid_is_well_formed(kid: str) -> bool:
    return bool(_KID_RE.match(kid))
