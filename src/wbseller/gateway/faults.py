"""Faults on demand (the control API's): rules that make matching API calls fail, slow down or drop.

A rule matches an operation (its catalog id), a verb and path (`GET /api/v3/orders/new`, the literal
path or the catalog's template), a host (`marketplace-api`, or its full name) or everything (`*`),
optionally for one seller. It fires for the next `times` calls, or a `share` of calls (drawn from a
random generator seeded per rule, so a run repeats), or for `for` seconds on the server's clock (or
any combination; none: until cleared). What it does: answer `status` with WB's error body for it (a
429 carries the X-Ratelimit-* headers of the operation's limit; an operation's declared status, like a
409, its documented shape), wait `delay` seconds first, or `drop` the connection without an answer.

Rules apply to requests that passed every check (host, route, token): a fault answers as WB would for
a request it accepted. The first rule that fires wins. While any rule stands, the gateway decides every
request afresh (no admitted-request cache), so an idle kit costs the request path one attribute test.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from wbseller.categories import ALL_HOST_BY_PREFIX, ALL_HOSTS
from wbseller.clock import Clock
from wbseller.errors import TooManyRequests, WBError
from wbseller.gateway.auth import limit_headers
from wbseller.methods.table import Method, Table
from wbseller.ratelimit import Decision, Rate

MAX_DELAY = 120.0  # seconds: past any client's sensible timeout
VERBS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FIELDS = frozenset({"match", "seller", "status", "delay", "drop", "times", "share", "for", "seed"})


class FaultError(ValueError):
    """A rule the control API refuses: one sentence naming the field."""


@dataclass(slots=True)
class Rule:
    id: int
    match: str  # as given: "*", an operation id, "VERB /path" or a host
    kind: str  # "all" | "operation" | "path" | "host"
    seller: str | None = None
    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    times: int | None = None  # calls left to fire on
    share: float | None = None
    until: float | None = None  # on the server's clock
    seed: int = 0
    fired: int = 0
    _verb: str = ""
    _path: str = ""
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, method: Method, host: str, path: str, sid: str) -> bool:
        if self.seller is not None and self.seller != sid:
            return False
        kind = self.kind
        if kind == "all":
            return True
        if kind == "operation":
            return method.id == self.match
        if kind == "host":
            return host == self._path
        return method.http == self._verb and self._path in (method.path, path)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "match": self.match, "seller": self.seller}
        out.update(status=self.status, delay=self.delay, drop=self.drop)
        out.update(times=self.times, share=self.share, until=self.until, seed=self.seed, fired=self.fired)
        return out


class Faults:
    """The rules of one process. `on_change(rules)` is told the standing rules after every change."""

    def __init__(
        self, table: Table, clock: Clock, on_change: Callable[[tuple[Rule, ...]], None] = lambda _: None
    ) -> None:
        self._ops = {m.id for m in table.methods}
        self.clock = clock
        self.on_change = on_change
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    def add(self, spec: Mapping[str, Any]) -> Rule:
        """A rule from the control API's JSON (FaultError says what is wrong with it)."""
        unknown = sorted(set(spec) - _FIELDS)
        if unknown:
            raise FaultError(f"unknown field {unknown[0]!r}; a rule has: {', '.join(sorted(_FIELDS))}")
        match = spec.get("match", "*")
        if not isinstance(match, str) or not match.strip():
            raise FaultError('match must be an operation id, "VERB /path", a host or "*"')
        match = match.strip()
        rule_id = next(self._ids)
        rule = Rule(rule_id, match, "all")
        if match not in ("*", "all"):
            verb, _, path = match.partition(" ")
            if path.strip().startswith("/") and verb.upper() in VERBS:
                rule.kind, rule._verb, rule._path = "path", verb.upper(), path.strip()
            elif match in self._ops:
                rule.kind = "operation"
            elif (host := _host(match)) is not None:
                rule.kind, rule._path = "host", host
            else:
                raise FaultError(
                    f"match {match!r} is no operation id, host or verb and path; "
                    'give e.g. "GET /api/v3/orders/new", "marketplace-api" or "*"'
                )
        seller = spec.get("seller")
        if seller is not None and (not isinstance(seller, str) or not seller):
            raise FaultError("seller must be a seller id (a string)")
        rule.seller = seller
        status = spec.get("status")
        if status is not None:
            if not _int(status) or not 400 <= status <= 599:
                raise FaultError("status must be an error status, 400 to 599")
            rule.status = status
        delay = spec.get("delay", 0)
        if not _number(delay) or not 0 <= delay <= MAX_DELAY:
            raise FaultError(f"delay must be a number of seconds from 0 to {MAX_DELAY:.0f}")
        rule.delay = float(delay)
        drop = spec.get("drop", False)
        if not isinstance(drop, bool):
            raise FaultError("drop must be true or false")
        rule.drop = drop
        if drop and status is not None:
            raise FaultError("a rule either answers a status or drops the connection, not both")
        if status is None and not drop and not rule.delay:
            raise FaultError("a rule needs what to do: status, delay or drop")
        times = spec.get("times")
        if times is not None:
            if not _int(times) or times < 1:
                raise FaultError("times must be a whole number of calls, 1 or more")
            rule.times = times
        share = spec.get("share")
        if share is not None:
            if not _number(share) or not 0 < share <= 1:
                raise FaultError("share must be a fraction of calls, more than 0 and at most 1")
            rule.share = float(share)
        seconds = spec.get("for")
        if seconds is not None:
            if not _number(seconds) or not 0 < seconds <= 10 * 366 * 86400:
                raise FaultError("for must be a number of seconds, more than 0")
            rule.until = self.clock.now() + seconds
        seed = spec.get("seed", rule_id)
        if not _int(seed):
            raise FaultError("seed must be a whole number")
        rule.seed = seed
        rule._rng = random.Random(seed)
        self._rules.append(rule)
        self.on_change(self.rules)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        self.on_change(self.rules)
        return len(self._rules) != before

    def clear(self) -> None:
        self._rules.clear()
        self.on_change(())

    def pick(self, method: Method, host: str, path: str, sid: str, now: float) -> Rule | None:
        """The rule that fires on this call, if any (counting it); rules run out here."""
        fired: Rule | None = None
        spent = False
        for rule in self._rules:
            if rule.until is not None and now >= rule.until:
                spent = True
                continue
            if not rule.matches(method, host, path, sid):
                continue
            if rule.share is not None and rule._rng.random() >= rule.share:
                continue
            rule.fired += 1
            if rule.times is not None:
                rule.times -= 1
                spent = spent or rule.times <= 0
            fired = rule
            break
        if spent:
            self._rules = [
                r
                for r in self._rules
                if (r.until is None or now < r.until) and (r.times is None or r.times > 0)
            ]
            self.on_change(self.rules)
        return fired


def error_for(rule: Rule, method: Method, rate: Rate | None, bucket: str) -> WBError:
    """WB's error for the rule's status: a 429 as the limiter words it, with the operation's limit in its
    headers (its bucket empty: retry after one interval, full again after the whole burst)."""
    status = rule.status
    assert status is not None
    if status == 429:
        rate = rate or Rate(1, 1, 1)
        decision = Decision(False, 0, rate.interval, rate.tau, rate.burst)
        return TooManyRequests(f"limited by {bucket}", "rate-limited", headers=limit_headers(decision))
    err = WBError(f"{HTTPStatus(status).phrase.lower()} (fault rule {rule.id} of the control API)", "fault")
    err.status = status
    err.title = HTTPStatus(status).phrase.lower()
    return err


def drop_connection(send: Any) -> bool:
    """Close the client's connection without an answer. uvicorn's `send` is its request cycle's bound
    method: closing the cycle's transport (and marking it gone, so uvicorn writes no 500 after) is a
    dropped connection as the client sees it. False where there is no socket (an in-process ASGI call):
    the caller then sends nothing, which such a client sees as no response."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "close"):
        return False
    transport.close()
    cycle.disconnected = True  # type: ignore[union-attr]
    return True


def _host(value: str) -> str | None:
    if value in ALL_HOST_BY_PREFIX:
        return value
    for h in ALL_HOSTS:
        if h.name == value:
            return h.prefix
    return None


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))


__all__ = ["FaultError", "Faults", "Rule", "drop_connection", "error_for"]
