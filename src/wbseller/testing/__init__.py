"""The integrator's test kit: a real wbseller server for a test, and its control API from Python.

    from wbseller.testing import WBServer
    with WBServer() as wb:                      # `wbseller serve --control`, free port, temporary storage
        token = wb.token("personal", categories="all")      # the demo seller's
        other = wb.seller(name="ИП Другой")                # .sid, .token(...)
        wb.clock.advance(3600)
        wb.faults.add("GET /api/v3/orders/new", status=503, times=2)
        wb.requests()                             # the journal
        wb.reset()

`wb.url` is the base URL (path prefixes: `wb.url + "/marketplace-api/api/v3/orders/new"`), usable as
`wbseller.client`'s `base_url`. `ControlClient(url)` is the same control API against a server started
elsewhere (`wbseller serve --control`). The pytest plugin (wbseller.testing.plugin) gives the fixtures
`wb_server` and `wb_token`. docs/testing.md has the whole API and worked examples.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

__all__ = ["ControlClient", "ControlError", "Seller", "WBServer"]

TOKEN_HEADER = "X-Control-Token"  # noqa: S105 - a header name (gateway/control.py)


class ControlError(RuntimeError):
    """The control API refused a call, or could not be reached: one sentence, the server's own detail."""


@dataclass(frozen=True, slots=True)
class Seller:
    sid: str
    name: str
    oid: int
    _control: ControlClient

    def token(
        self, type: str = "personal", categories: str | list[str] = "all", *, read_only: bool = False
    ) -> str:
        """A new token of this seller (the raw token: send it as the Authorization header)."""
        return self._control.token(type, categories, sid=self.sid, read_only=read_only)

    def set_rating(self, feedback_count: int | None, valuation: float | None) -> dict[str, Any]:
        """What GET /api/common/v1/rating answers for this seller (both None: the generated one again)."""
        out: dict[str, Any] = self._control.call(
            "POST",
            f"/_wbseller/sellers/{self.sid}/rating",
            {"feedbackCount": feedback_count, "valuation": valuation},
        )
        return out

    def jam(self, level: str = "standard", days: float = 30, source: str = "jam") -> dict[str, Any]:
        """Connect Jam (or renew it, or change its level) for `days` from now on the server's clock."""
        out: dict[str, Any] = self._control.call(
            "POST", f"/_wbseller/sellers/{self.sid}/jam", {"level": level, "days": days, "source": source}
        )
        return out["jam"]  # type: ignore[no-any-return]

    def jam_cancel(self) -> dict[str, Any]:
        """End the running Jam period now: Jam methods answer 403 from this moment."""
        out: dict[str, Any] = self._control.call("DELETE", f"/_wbseller/sellers/{self.sid}/jam")
        return out["jam"]  # type: ignore[no-any-return]


class Clock:
    """The server's clock: every limit, token expiry and timed state follows it."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def now(self) -> float:
        return float(self._control.call("GET", "/_wbseller/clock")["now"])

    def advance(self, seconds: float) -> float:
        """Move it `seconds` forward; returns the new time."""
        return float(self._control.call("POST", "/_wbseller/clock", {"advance": seconds})["now"])

    def freeze(self) -> float:
        return float(self._control.call("POST", "/_wbseller/clock/freeze")["now"])

    def unfreeze(self) -> float:
        return float(self._control.call("POST", "/_wbseller/clock/unfreeze")["now"])


class Faults:
    """Rules that make matching calls fail, slow down or drop (docs/testing.md, "Faults")."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def add(
        self,
        match: str = "*",
        *,
        status: int | None = None,
        delay: float | None = None,
        drop: bool = False,
        times: int | None = None,
        share: float | None = None,
        seconds: float | None = None,
        seller: str | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """A rule: `match` an operation id, "VERB /path", a host or "*"; for the next `times` calls, a
        `share` of calls, or `seconds` on the server's clock; answer `status`, wait `delay`, or `drop`."""
        spec: dict[str, Any] = {"match": match}
        for key, value in (
            ("status", status),
            ("delay", delay),
            ("times", times),
            ("share", share),
            ("for", seconds),
            ("seller", seller),
            ("seed", seed),
        ):
            if value is not None:
                spec[key] = value
        if drop:
            spec["drop"] = True
        rule: dict[str, Any] = self._control.call("POST", "/_wbseller/faults", spec)
        return rule

    def list(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self._control.call("GET", "/_wbseller/faults")["rules"]
        return rules

    def remove(self, rule_id: int) -> None:
        self._control.call("DELETE", f"/_wbseller/faults/{rule_id}")

    def clear(self) -> None:
        self._control.call("DELETE", "/_wbseller/faults")


class ControlClient:
    """The control API of a server at `url` (started with --control)."""

    def __init__(self, url: str, control_token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        headers = {TOKEN_HEADER: control_token} if control_token else {}
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)
        self.clock = Clock(self)
        self.faults = Faults(self)

    def close(self) -> None:
        self._http.close()

    def call(self, verb: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            r = self._http.request(verb, path, json=body)
        except httpx.TransportError as exc:
            raise ControlError(f"cannot reach wbseller at {self.url}: {exc or type(exc).__name__}") from None
        if r.status_code == 404 and path.startswith("/_wbseller/"):
            raise ControlError(f"the server at {self.url} has no control API: start it with --control")
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail") or r.reason_phrase
            except ValueError:
                detail = r.reason_phrase
            raise ControlError(f"{verb} {path}: {r.status_code} {detail}")
        return r.json()

    # --- the control API ---------------------------------------------------------------------

    def reset(self) -> dict[str, Any]:
        """Everything back to a fresh start: the demo seller alone, buckets full, no faults, no journal."""
        out: dict[str, Any] = self.call("POST", "/_wbseller/reset")
        return out

    def sellers(self) -> list[Seller]:
        return [self._seller(s) for s in self.call("GET", "/_wbseller/sellers")["sellers"]]

    def seller(self, name: str = "ИП Тестов Т. Т.", tin: str = "", trade_mark: str = "") -> Seller:
        return self._seller(
            self.call("POST", "/_wbseller/sellers", {"name": name, "tin": tin, "trade_mark": trade_mark})
        )

    def token(
        self,
        type: str = "personal",
        categories: str | list[str] = "all",
        *,
        sid: str | None = None,
        read_only: bool = False,
    ) -> str:
        """A new token (of the first seller, the demo one, unless `sid`)."""
        body: dict[str, Any] = {"type": type, "read_only": read_only}
        if type != "service":
            body["categories"] = categories
        if sid is not None:
            body["sid"] = sid
        return str(self.call("POST", "/_wbseller/tokens", body)["token"])

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The journal: every request received since the last reset or clear, oldest first."""
        path = "/_wbseller/journal" + (f"?limit={limit}" if limit is not None else "")
        entries: list[dict[str, Any]] = self.call("GET", path)["requests"]
        return entries

    def clear_requests(self) -> None:
        self.call("DELETE", "/_wbseller/journal")

    def errors(self, request_id: str | None = None) -> list[dict[str, Any]]:
        path = "/_wbseller/journal/errors" + (f"?request_id={request_id}" if request_id else "")
        entries: list[dict[str, Any]] = self.call("GET", path)["errors"]
        return entries

    def seed(self, sid: str | None = None, **counts: int) -> dict[str, Any]:
        body: dict[str, Any] = dict(counts)
        if sid is not None:
            body["sid"] = sid
        out: dict[str, Any] = self.call("POST", "/_wbseller/seed", body)
        return out

    def _seller(self, s: dict[str, Any]) -> Seller:
        return Seller(s["sid"], s["name"], s["oid"], self)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class WBServer(ControlClient):
    """A real `wbseller serve --control` process on a free port with a temporary data directory (removed
    at stop). Ready when /ready answers. `env` adds to the server's environment (WBSELLER_* settings of
    the caller's environment are left out, so a test's server is its own)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        data_dir: Path | None = None,
        config: Path | None = None,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self.host = host
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="wbseller-test-"))
        self.config = config
        self.env = env or {}
        self.args = args
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path = self.data_dir / "server.log"
        super().__init__(f"http://{host}:0")

    def start(self) -> Self:
        for _attempt in range(3):  # a port taken between choosing it and binding it: choose again
            self.port = _free_port(self.host)
            self.url = f"http://{self.host}:{self.port}"
            self._http.base_url = httpx.URL(self.url)
            if self._launch():
                return self
        raise ControlError(f"wbseller did not start; its log ends:\n{self.log[-2000:]}")

    def _launch(self) -> bool:
        cmd = [sys.executable, "-m", "wbseller", "serve", "--host", self.host, "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir / "data"), "--control", "--no-access-log"]
        cmd += ["--log-level", "warning", *self.args]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("WBSELLER_")}
        env.update(self.env)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # exited: the port was taken, or the settings are wrong (the log says)
            try:
                r = self._http.get("/ready", timeout=0.5)
            except httpx.TransportError:
                time.sleep(0.02)
                continue
            # An answer may be another process's on a port taken since it was chosen: ours must be alive.
            if self.proc.poll() is None and r.status_code in (200, 503):
                return True
        self.stop()
        raise ControlError(
            f"wbseller did not answer in {self.startup_timeout:.0f} s; its log ends:\n{self.log[-2000:]}"
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.close()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
