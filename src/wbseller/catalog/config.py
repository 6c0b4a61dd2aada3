"""A deployment's config file over the catalog: the one reader of `[limits.<bucket id>]` and `[[methods]]`,
for the server's table (methods/table.py) and the client (client/_ops.py) alike.

The format is methods/general.toml's (its header says what each key means). A malformed entry is a
ValueError naming the file (or table) and the key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wbseller.catalog import ALL, Block, Limit, Rate

TOKEN_TYPES = ("base", "test", "personal", "service")


@dataclass(frozen=True, slots=True)
class LimitChange:
    """One `[limits.NAME]` of a config file, checked."""

    rates: Mapping[str, Rate]  # token type -> rate (`all` already spread over the four)
    costs: Mapping[str, int] | None = None  # None: the operation's own cost rules stay
    per_host: bool | None = None
    block: Block | None = None
    has_block: bool = False

    def apply(self, limit: Limit) -> Limit:
        return dataclasses.replace(
            limit,
            rates={**limit.rates, **self.rates},
            costs=limit.costs if self.costs is None else self.costs,
            per_host=limit.per_host if self.per_host is None else self.per_host,
            block=self.block if self.has_block else limit.block,
        )

    def limit(self, name: str) -> Limit:
        """The limit of a bucket the config file alone defines."""
        return self.apply(Limit(group=name, rates={}))


@dataclass(frozen=True, slots=True)
class Config:
    limits: Mapping[str, LimitChange] = field(default_factory=dict)
    methods: tuple[Mapping[str, Any], ...] = ()  # [[methods]] rows, as written


def read_config(path: Path) -> Config:
    """A config file's limits and methods; ValueError (naming the file and the key) if one is malformed."""
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    limits = doc.get("limits", {})
    methods = doc.get("methods", [])
    if not isinstance(limits, dict):
        raise ValueError(f"{path}: [limits] must be a table")
    if not isinstance(methods, list) or not all(isinstance(m, dict) for m in methods):
        raise ValueError(f"{path}: methods must be [[methods]] tables")
    for m in methods:
        if not isinstance(m.get("id"), str):
            raise ValueError(f"{path}: a [[methods]] row needs an id")
    return Config(
        {name: limit_change(g, f"{path}: limits.{name}") for name, g in limits.items()}, tuple(methods)
    )


def limit_change(g: Any, where: str) -> LimitChange:
    """One `[limits.NAME]` table, checked: what it changes of a limit, key by key."""
    if not isinstance(g, dict):
        raise ValueError(f"{where}: expected a table")
    rates: dict[str, Rate] = {}
    for tname, r in _table(g, "rates", where).items():
        if tname != ALL and tname not in TOKEN_TYPES:
            raise ValueError(f"{where}.rates: unknown token type {tname!r}; expected all or {TOKEN_TYPES}")
        rate = _rate(r, f"{where}.rates.{tname}")
        # `all` is every token type, as on the server; a type named beside it wins, whatever the order.
        for t in TOKEN_TYPES if tname == ALL else (tname,):
            if tname == ALL and t in rates:
                continue
            rates[t] = rate
    costs: dict[str, int] | None = None
    if "costs" in g:
        costs = {}
        for status, cost in _table(g, "costs", where).items():
            if not re.fullmatch(r"[1-5](\d\d|xx)", status.lower()) or type(cost) is not int or cost < 1:
                raise ValueError(f"{where}.costs: {status!r} = {cost!r} is not status = cost")
            costs[status.lower()] = cost
    per_host = g.get("per_host")
    if per_host is not None and not isinstance(per_host, bool):
        raise ValueError(f"{where}.per_host: expected true or false")
    block = None
    if "block" in g:
        b = _table(g, "block", where)
        try:
            block = Block(int(b["strikes"]), float(b["window"]), float(b["seconds"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{where}.block: expected {{strikes, window, seconds}}") from None
    return LimitChange(rates, costs, per_host, block, "block" in g)


def _table(g: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = g.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{where}.{key}: expected a table")
    return value


def _rate(r: Any, where: str) -> Rate:
    if not isinstance(r, dict):
        raise ValueError(f"{where}: expected {{period, limit, burst}}")
    period, limit, burst = r.get("period"), r.get("limit"), r.get("burst")
    if (
        not isinstance(period, int | float)
        or isinstance(period, bool)
        or type(limit) is not int
        or type(burst) is not int
        or period <= 0
        or limit <= 0
        or burst <= 0
    ):
        raise ValueError(f"{where}: expected positive period (seconds), limit and burst (integers)")
    return Rate(float(period), limit, burst)


__all__ = ["TOKEN_TYPES", "Config", "LimitChange", "limit_change", "read_config"]
