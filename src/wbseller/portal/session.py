"""Sessions in signed cookies: who is signed in, and the CSRF token every form carries.

The cookie holds a small JSON object signed with itsdangerous (readable by its owner, not forgeable).
Its key comes from a secret in the data directory (file `portal-secret`, 0600), so every worker and every
restart accepts the same cookies; when the directory cannot be written, a secret made at start is used
(sessions then end when the server restarts).

What the server keeps about a session is only what a cookie cannot undo: nonces of sessions that signed
out, until those sessions would have expired anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from wbseller.clock import Clock

log = logging.getLogger("wbseller.portal")

COOKIE = "wbseller_session"
SECRET_FILE = "portal-secret"  # noqa: S105 - a file name, not a secret
LIFETIME = 12 * 3600  # a session ends 12 hours after sign-in, whatever happens
_SALT = "wbseller-portal-session"


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    nonce: str
    iat: float
    uid: int | None = None
    fp: str = ""  # fingerprint of the password hash at sign-in: a new password ends older sessions
    flash: str = ""  # one message for the next page ("Token deleted")
    changed: bool = field(default=False, compare=False)

    @property
    def signed_in(self) -> bool:
        return self.uid is not None

    def with_flash(self, message: str) -> Session:
        return replace(self, flash=message, changed=True)

    def take_flash(self) -> tuple[str, Session]:
        if not self.flash:
            return "", self
        return self.flash, replace(self, flash="", changed=True)

    def csrf_ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(self.csrf.encode(), (value or "").encode())


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def load_secret(data_dir: Path) -> bytes:
    """The secret in `data_dir`, made on first use (atomically, so that workers agree); else a fresh one."""
    path = data_dir / SECRET_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            secret = path.read_bytes().strip()
            if len(secret) >= 32:
                return secret
        tmp = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode())
        try:
            os.link(tmp, path)  # fails if another process made it first: then theirs wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        path.chmod(0o600)
        return path.read_bytes().strip()
    except OSError:
        log.warning("cannot keep the portal secret in %s; sessions end when the server restarts", data_dir)
        return secrets.token_hex(32).encode()


class Sessions:
    def __init__(self, secret: bytes, clock: Clock) -> None:
        self.clock = clock
        self._serializer = URLSafeSerializer(secret, salt=_SALT)
        self._ended: dict[str, float] = {}  # nonce -> when that session would have expired

    def new(self) -> Session:
        return Session(
            csrf=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(16),
            iat=self.clock.now(),
            changed=True,
        )

    def signed_in(self, uid: int, password_hash: str) -> Session:
        # New CSRF token and nonce: nothing from before sign-in carries over (session fixation).
        return replace(self.new(), uid=uid, fp=password_fingerprint(password_hash))

    def load(self, cookie: str | None) -> Session:
        """The session in a cookie; a fresh anonymous one when it is missing, forged, expired or ended."""
        if not cookie or len(cookie) > 4096:
            return self.new()
        try:
            data: Any = self._serializer.loads(cookie)
        except BadSignature:
            return self.new()
        try:
            session = Session(
                csrf=str(data["c"]),
                nonce=str(data["n"]),
                iat=float(data["i"]),
                uid=int(data["u"]) if data.get("u") is not None else None,
                fp=str(data.get("f", "")),
                flash=str(data.get("m", "")),
            )
        except (KeyError, TypeError, ValueError):
            return self.new()
        now = self.clock.now()
        if not session.iat <= now + 60 or now - session.iat > LIFETIME or session.nonce in self._ended:
            return self.new()
        return session

    def dump(self, session: Session) -> str:
        data: dict[str, Any] = {"c": session.csrf, "n": session.nonce, "i": session.iat}
        if session.uid is not None:
            data["u"] = session.uid
            data["f"] = session.fp
        if session.flash:
            data["m"] = session.flash
        return self._serializer.dumps(data)

    def end(self, session: Session) -> None:
        """Sign-out: this session's cookie stops working here even if someone kept a copy."""
        now = self.clock.now()
        self._ended = {n: t for n, t in self._ended.items() if t > now}
        self._ended[session.nonce] = session.iat + LIFETIME
