"""The declarative table of methods and limits, loaded from `general.toml` plus a deployment's config.

Adding a method or changing a limit is a change to data: a [[methods]] row names its handler by import
path, and a [limits.<group>] row gives the rates per token type.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wbseller.categories import BY_NAME, HOSTS, Host
from wbseller.ratelimit import Block, Rate
from wbseller.tokens import ALL_TYPES, TokenType

if TYPE_CHECKING:
    from wbseller.methods.context import Context, Reply

Handler = Callable[["Context"], Awaitable["Reply"]]

DEFAULT_TABLE = Path(__file__).with_name("general.toml")
DEFAULT_MAX_BODY = 1 << 20
ALL = "all"


class TableError(ValueError):
    """The table or a config file is not well formed; says where."""


@dataclass(frozen=True, slots=True)
class LimitGroup:
    id: str
    rates: Mapping[TokenType, Rate]  # a token type missing here is not limited by this group
    per_host: bool = False
    block: Block | None = None
    costs: Mapping[int, int] = field(default_factory=dict)  # response status -> total cost

    def rate_for(self, token_type: TokenType) -> Rate | None:
        return self.rates.get(token_type)


@dataclass(frozen=True, slots=True)
class Method:
    id: str
    http: str
    path: str
    category: str  # a category name, or "all": the method exists on every host
    read_only: bool
    token_types: frozenset[TokenType]
    limit: LimitGroup
    handler: Handler
    handler_path: str
    max_body: int = DEFAULT_MAX_BODY
    subscription: str | None = None
    summary: str = ""

    def hosts(self) -> list[Host]:
        if self.category == ALL:
            return list(HOSTS)
        return [h for h in HOSTS if h.category.name == self.category]

    def home(self) -> Host:
        """The host a bare address sends this path to: common-api for `all`, else production."""
        name = "common" if self.category == ALL else self.category
        return next(h for h in HOSTS if h.category.name == name and not h.sandbox)


@dataclass(frozen=True, slots=True)
class Table:
    methods: tuple[Method, ...]
    limits: Mapping[str, LimitGroup]
    raw: Mapping[str, Any]  # the merged document, for the client and for display

    def by_id(self, method_id: str) -> Method:
        for m in self.methods:
            if m.id == method_id:
                return m
        raise KeyError(method_id)


def load_table(
    config: Path | None = None, extra: Mapping[str, Any] | None = None, *, handlers: bool = True
) -> Table:
    """The built-in table, with a config file and then `extra` (already parsed) merged over it.

    `handlers=False` skips importing handlers: the client reads the same table for its limits."""
    doc = _read(DEFAULT_TABLE)
    if config is not None:
        doc = merge(doc, _read(config))
    if extra:
        doc = merge(doc, extra)
    return build(doc, handlers=handlers)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TableError(f"{path}: {exc}") from exc


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """[limits.X] merged key by key; [[methods]] replaced by id or appended."""
    limits: dict[str, Any] = {k: dict(v) for k, v in base.get("limits", {}).items()}
    for gid, group in over.get("limits", {}).items():
        merged = limits.setdefault(gid, {})
        for key, value in group.items():
            if key == "rates" and isinstance(value, dict):
                merged["rates"] = {**merged.get("rates", {}), **value}
            else:
                merged[key] = value
    methods: list[dict[str, Any]] = [dict(m) for m in base.get("methods", [])]
    for m in over.get("methods", []):
        for i, old in enumerate(methods):
            if old.get("id") == m.get("id"):
                methods[i] = {**old, **m}
                break
        else:
            methods.append(dict(m))
    return {"limits": limits, "methods": methods}


def build(doc: Mapping[str, Any], *, handlers: bool = True) -> Table:
    limits = {gid: _group(gid, g) for gid, g in doc.get("limits", {}).items()}
    methods = tuple(_method(m, limits, handlers) for m in doc.get("methods", []))
    seen: set[tuple[str, str, str]] = set()
    for m in methods:
        for h in m.hosts():
            key = (h.prefix, m.http, m.path)
            if key in seen:
                raise TableError(f"method {m.id}: {m.http} {m.path} is defined twice on {h.name}")
            seen.add(key)
    return Table(methods, limits, doc)


def _group(gid: str, g: Mapping[str, Any]) -> LimitGroup:
    where = f"limits.{gid}"
    rates: dict[TokenType, Rate] = {}
    for tname, r in _get(g, "rates", dict, where).items():
        rate = _rate(r, f"{where}.rates.{tname}")
        types = ALL_TYPES if tname == ALL else {_token_type(tname, where)}
        for tt in types:
            rates[tt] = rate
    block = None
    if "block" in g:
        b = _get(g, "block", dict, where)
        block = Block(
            strikes=int(_get(b, "strikes", int, f"{where}.block")),
            window=float(_get(b, "window", (int, float), f"{where}.block")),
            seconds=float(_get(b, "seconds", (int, float), f"{where}.block")),
        )
    costs: dict[int, int] = {}
    for status, cost in g.get("costs", {}).items():
        try:
            costs[int(status)] = int(cost)
        except (TypeError, ValueError):
            raise TableError(f"{where}.costs: {status!r} = {cost!r} is not status = cost") from None
    return LimitGroup(gid, rates, bool(g.get("per_host", False)), block, costs)


def _rate(r: Any, where: str) -> Rate:
    if not isinstance(r, dict):
        raise TableError(f"{where}: expected {{period, limit, burst}}")
    try:
        return Rate(
            period=float(_get(r, "period", (int, float), where)),
            limit=int(_get(r, "limit", int, where)),
            burst=int(_get(r, "burst", int, where)),
        )
    except ValueError as exc:
        raise TableError(f"{where}: {exc}") from exc


def _method(m: Mapping[str, Any], limits: Mapping[str, LimitGroup], handlers: bool) -> Method:
    mid = str(_get(m, "id", str, "methods"))
    where = f"methods[{mid}]"
    category = str(_get(m, "category", str, where))
    if category != ALL and category not in BY_NAME:
        raise TableError(f"{where}: unknown category {category!r}")
    limit_id = str(_get(m, "limit", str, where))
    if limit_id not in limits:
        raise TableError(f"{where}: unknown limit group {limit_id!r}")
    path = str(_get(m, "path", str, where))
    if not path.startswith("/"):
        raise TableError(f"{where}: path must start with /")
    handler_path = str(_get(m, "handler", str, where))
    return Method(
        id=mid,
        http=str(_get(m, "http", str, where)).upper(),
        path=path,
        category=category,
        read_only=bool(_get(m, "read_only", bool, where)),
        token_types=frozenset(_token_type(n, where) for n in _get(m, "token_types", list, where)),
        limit=limits[limit_id],
        handler=_import(handler_path, where) if handlers else _not_loaded,
        handler_path=handler_path,
        max_body=int(m.get("max_body", DEFAULT_MAX_BODY)),
        subscription=m.get("subscription"),
        summary=str(m.get("summary", "")),
    )


async def _not_loaded(ctx: Context) -> Reply:
    raise RuntimeError("handlers were not loaded (load_table(handlers=False))")


def _token_type(name: Any, where: str) -> TokenType:
    try:
        return TokenType(name)
    except ValueError:
        raise TableError(f"{where}: unknown token type {name!r}") from None


def _import(path: str, where: str) -> Handler:
    module, _, attr = path.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise TableError(f"{where}: cannot import handler {path!r}: {exc}") from exc
    if not callable(fn):
        raise TableError(f"{where}: handler {path!r} is not callable")
    return fn  # type: ignore[no-any-return]


def _get(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise TableError(f"{where}: missing {key!r}")
    value = d[key]
    if not isinstance(value, kind):
        raise TableError(f"{where}.{key}: wrong type {type(value).__name__}")
    return value
