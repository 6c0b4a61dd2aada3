"""Reading a token offline, as WB's decode page does: what it claims, without checking the signature."""

from __future__ import annotations

import time

from wbseller import tokens
from wbseller.client.exceptions import TokenError
from wbseller.client.models import TokenInfo, utc

EXPIRY_WARNING_DAYS = 14


def decode_token(token: str, now: float | None = None) -> TokenInfo:
    """What `token` says about itself: type, categories, access, seller, expiry. No network.

    Raises TokenError, with the reason, for anything that is not a WB token."""
    if not isinstance(token, str):
        raise TokenError(f"a token is a string, not {type(token).__name__}")
    if not token.strip():
        raise TokenError("the token is empty")
    when = time.time() if now is None else now
    try:
        decoded = tokens.decode_unverified(token, when)
        claims = decoded.claims
        expires = utc(claims.exp)
    except tokens.TokenError as exc:
        raise TokenError(f"not a WB token: {exc.why}") from None
    except (ValueError, OverflowError, OSError):  # e.g. an `exp` no datetime can hold
        raise TokenError("not a WB token: token is malformed: bad claim exp") from None
    return TokenInfo(
        type=claims.type,
        categories=tuple(claims.categories),
        read_only=claims.read_only,
        seller_id=claims.sid,
        token_id=claims.id,
        expires=expires,
        days_left=decoded.days_left,
        unknown_bits=tuple(decoded.unknown_bits),
        service_id=claims.service_id,
        kid=claims.kid,
    )


__all__ = ["EXPIRY_WARNING_DAYS", "decode_token"]
