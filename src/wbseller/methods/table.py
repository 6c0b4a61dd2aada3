"""The table the server routes and limits by: every operation of the catalog, the handlers registered for
some of them (`general.toml`), and a deployment's config over both.

The catalog (`wbseller.catalog`, built from WB's documents) gives each operation its path, hosts, token rules
and limit. `general.toml` names the handlers of the operations answered by code ([[methods]] rows by catalog
id) and the limits that are not an operation's (`auth-failures`). A config file (`serve --config`) overrides a
limit by its bucket id (a named group's slug, or an operation's id) key by key, overrides a method's fields by
id, or adds a method of its own. An operation without a handler gets a generated answer (`generated.py`).
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wbseller.catalog import ALL as CATALOG_ALL
from wbseller.catalog import Catalog, Limit, Operation
from wbseller.catalog import load as load_catalog
from wbseller.catalog.config import LimitChange, limit_change
from wbseller.categories import ALL_BY_NAME, ALL_HOST_BY_PREFIX, ALL_HOSTS, Host, hosts_of, sandbox_of
from wbseller.ratelimit import Block, Rate
from wbseller.tokens import TokenType

if TYPE_CHECKING:
    from wbseller.methods.checks import Checked, RequestCheck
    from wbseller.methods.context import Context, Reply
    from wbseller.methods.shapes import ErrorShape

Handler = Callable[["Context"], Awaitable["Reply"]]

DEFAULT_TABLE = Path(__file__).with_name("general.toml")
DEFAULT_MAX_BODY = 1 << 20
ALL = "all"


class TableError(ValueError):
    """The table or a config file is not well formed; says where."""


@dataclass(frozen=True, slots=True)
class LimitGroup:
    """One bucket per seller and token type (and host, where `per_host`): its id and this method's rates.

    Members of a named group share the id (one bucket); a member whose table states other numbers keeps
    them (its own interval and burst against the group's TAT: docs/catalog.md)."""

    id: str
    rates: Mapping[TokenType, Rate]  # a token type missing here is not limited by this group
    per_host: bool = False
    block: Block | None = None
    costs: Mapping[int, int] = field(default_factory=dict)  # response status -> total cost
    class_costs: Mapping[int, int] = field(default_factory=dict)  # status // 100 -> total cost (4xx = 10)
    test_id: str | None = None  # test tokens' bucket (WB's sandbox limits), where it differs

    def rate_for(self, token_type: TokenType) -> Rate | None:
        return self.rates.get(token_type)

    @property
    def charged(self) -> bool:
        """Whether some response costs more than one request."""
        return bool(self.costs or self.class_costs)

    def cost(self, status: int) -> int:
        """What a response with `status` costs in all (1 unless a cost rule says otherwise)."""
        cost = self.costs.get(status)
        if cost is None:
            cost = self.class_costs.get(status // 100, 1)
        return cost

    def bucket(self, token_type: TokenType) -> str:
        """The bucket's id within a seller, before the token type (and host)."""
        if token_type is TokenType.TEST and self.test_id is not None:
            return self.test_id
        return self.id


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a method needs of the seller: any one of `names` active (a subscription such as Jam, or a
    tariff option), until its `till`. With `field`, only a request whose JSON body's top-level `field` is
    one of `values` needs it: the gateway decides that after the request's checks, on every request."""

    names: tuple[str, ...]
    field: str | None = None
    values: frozenset[Any] = frozenset()

    def needed(self, checked: Checked | None) -> bool:
        """Whether this request needs it (a body-conditioned gate: the checked JSON body's `field`)."""
        if self.field is None:
            return True
        body = checked.json if checked is not None else None
        return isinstance(body, dict) and body.get(self.field) in self.values


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
    subscription: Subscription | None = None
    summary: str = ""
    operation: Operation | None = None  # the catalog's facts; None for a method a config file adds
    generated: bool = False  # answered by generation from the documents, not by a handler of ours
    host_prefixes: tuple[str, ...] = ()  # where it is served; () = every host of `category`
    check: RequestCheck | None = None  # the operation's request checks (the server's table only)
    shape: ErrorShape | None = None  # its own errors in its declared shapes (the server's table only)

    def hosts(self) -> list[Host]:
        if self.host_prefixes:
            return [ALL_HOST_BY_PREFIX[p] for p in self.host_prefixes]
        if self.category == ALL:
            return [h for h in ALL_HOSTS if h.ping]
        return list(hosts_of(self.category))

    def home(self) -> Host:
        """The host a bare address sends this path to: common-api for `all`, else production."""
        if self.category == ALL:
            return ALL_HOST_BY_PREFIX["common-api"]
        return next(h for h in self.hosts() if not h.sandbox)

    @property
    def templated(self) -> bool:
        return "{" in self.path


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
    config: Path | None = None,
    extra: Mapping[str, Any] | None = None,
    *,
    handlers: bool = True,
    catalog: Catalog | None = None,
) -> Table:
    """The catalog with the built-in registrations, a config file and then `extra` (already parsed) over it.

    `handlers=False` skips importing handlers: the client reads the same table for its limits."""
    doc = _read(DEFAULT_TABLE)
    if config is not None:
        doc = merge(doc, _read(config))
    if extra:
        doc = merge(doc, extra)
    return build(doc, handlers=handlers, catalog=load_catalog() if catalog is None else catalog)


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


def build(doc: Mapping[str, Any], *, handlers: bool = True, catalog: Catalog | None = None) -> Table:
    """The table of `doc` (limits and method rows) over `catalog`'s operations (None: `doc` alone)."""
    overrides: Mapping[str, Any] = doc.get("limits", {})
    rows = {str(m.get("id")): m for m in doc.get("methods", [])}
    ops = catalog.operations if catalog is not None else ()
    own = [(op, _catalog_group(op, overrides.get(op.limit.group or op.id))) for op in ops]
    limits: dict[str, LimitGroup] = {}
    for _, group in own:
        limits.setdefault(group.id, group)
    for gid, g in overrides.items():
        if gid not in limits:
            limits[gid] = _group(gid, g)
    methods_list = [
        _from_operation(op, group, rows.pop(op.id, None), limits, handlers, catalog) for op, group in own
    ]
    methods_list.extend(_method(m, limits, handlers) for m in rows.values())
    methods = tuple(methods_list)
    seen: set[tuple[str, str, str]] = set()
    for m in methods:
        for h in m.hosts():
            key = (h.prefix, m.http, m.path)
            if key in seen:
                raise TableError(f"method {m.id}: {m.http} {m.path} is defined twice on {h.name}")
            seen.add(key)
    return Table(methods, limits, doc)


def _change(g: Any, gid: str) -> LimitChange:
    try:
        return limit_change(g, f"limits.{gid}")
    except ValueError as exc:
        raise TableError(str(exc)) from None


def _group(gid: str, g: Mapping[str, Any]) -> LimitGroup:
    """A bucket that is no operation's (`auth-failures`, a config file's own)."""
    return _limit_group(gid, _change(g, gid).limit(gid))


def _catalog_group(op: Operation, over: Mapping[str, Any] | None) -> LimitGroup:
    """An operation's limit from the catalog, with a config's [limits.<bucket id>] over it key by key."""
    gid = op.limit.group or op.id
    return _limit_group(gid, op.limit if not over else _change(over, gid).apply(op.limit))


def _limit_group(gid: str, lim: Limit) -> LimitGroup:
    """The catalog's limit in the limiter's terms: token types, a status's cost apart from a class's."""
    rates = {TokenType(t): Rate(r.period, r.limit, r.burst) for t, r in lim.rates.items()}
    block = Block(lim.block.strikes, lim.block.window, lim.block.seconds) if lim.block else None
    costs: dict[int, int] = {}
    class_costs: dict[int, int] = {}
    for status, cost in lim.costs.items():
        if status.endswith("xx"):
            class_costs[int(status[0])] = cost
        else:
            costs[int(status)] = cost
    return LimitGroup(gid, rates, lim.per_host, block, costs, class_costs, lim.test_group)


def _from_operation(
    op: Operation,
    group: LimitGroup,
    row: Mapping[str, Any] | None,
    limits: Mapping[str, LimitGroup],
    handlers: bool,
    catalog: Catalog | None,
) -> Method:
    """A catalog operation as a method: its handler from a [[methods]] row of the same id, else generated.
    A row may also change the operation's fields (a deployment's config: its limit group, read-only...)."""
    row = row or {}
    where = f"methods[{op.id}]"
    if "limit" in row:
        limit_id = str(_get(row, "limit", str, where))
        if limit_id not in limits:
            raise TableError(f"{where}: unknown limit group {limit_id!r}")
        group = limits[limit_id]
    prefixes: tuple[str, ...] = ()
    if op.category != CATALOG_ALL:
        twin = sandbox_of(op.host) if "test" in op.token_types else None
        prefixes = (op.host,) if twin is None else (op.host, twin.prefix)
    handler_path = str(row.get("handler", ""))
    handler: Handler
    if handler_path:
        handler = _import(handler_path, where) if handlers else _not_loaded
    elif handlers and catalog is not None:
        handler = _generated(op, catalog)
    else:
        handler = _not_loaded
    types = row.get("token_types", sorted(op.token_types))
    return Method(
        id=op.id,
        http=op.http,
        path=op.path,
        category=op.category,
        read_only=bool(row.get("read_only", op.read_only)),
        token_types=frozenset(_token_type(n, where) for n in types),
        limit=group,
        handler=handler,
        handler_path=handler_path,
        max_body=int(row.get("max_body", op.max_body or DEFAULT_MAX_BODY)),
        subscription=_subscription(row, where, op, catalog),
        summary=str(row.get("summary", "")),
        operation=op,
        generated=not handler_path,
        host_prefixes=prefixes,
        check=_check(op, catalog) if handlers and catalog is not None else None,
        shape=_shape(op, catalog) if handlers and catalog is not None else None,
    )


def _check(op: Operation, catalog: Catalog) -> RequestCheck:
    from wbseller.methods.checks import RequestCheck  # compiled validators: the server's

    return RequestCheck(op, catalog.defs_of(op))


def _shape(op: Operation, catalog: Catalog) -> ErrorShape:
    from wbseller.methods.shapes import ErrorShape  # validators and generation: the server's

    return ErrorShape(op, catalog.defs_of(op))


def _generated(op: Operation, catalog: Catalog) -> Handler:
    # Imported here: the generator and its validators are the server's (the client builds the table too).
    from wbseller.methods.generated import Generated

    return Generated(op, catalog.defs_of(op))


def _method(m: Mapping[str, Any], limits: Mapping[str, LimitGroup], handlers: bool) -> Method:
    mid = str(_get(m, "id", str, "methods"))
    where = f"methods[{mid}]"
    category = str(_get(m, "category", str, where))
    if category != ALL and category not in ALL_BY_NAME:
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
        subscription=_subscription(m, where, None, None),
        summary=str(m.get("summary", "")),
    )


def _subscription(
    row: Mapping[str, Any], where: str, op: Operation | None, catalog: Catalog | None
) -> Subscription | None:
    """`subscription = "jam"` or `["jam", "pin-feedbacks"]` (any one opens the method), and optionally
    `subscription_when = { field = "reportType", in = [...] }`: only those request bodies need it."""
    names = row.get("subscription")
    when = row.get("subscription_when")
    if names is None:
        if when is not None:
            raise TableError(f"{where}.subscription_when: needs a subscription to gate")
        return None
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise TableError(f"{where}.subscription: a name or a non-empty list of names")
    if len(set(names)) != len(names):
        raise TableError(f"{where}.subscription: a name is listed twice")
    if when is None:
        return Subscription(tuple(names))
    if not isinstance(when, dict) or set(when) != {"field", "in"}:
        raise TableError(f"{where}.subscription_when: a table of exactly field and in")
    field_name, values = when["field"], when["in"]
    if not isinstance(field_name, str) or not field_name:
        raise TableError(f"{where}.subscription_when.field: the name of a property of the JSON body")
    if not isinstance(values, list) or not values or not all(isinstance(v, str | int) for v in values):
        raise TableError(f"{where}.subscription_when.in: a non-empty list of the values that need it")
    media = op.request.content.get("application/json") if op is not None and op.request else None
    if op is None or media is None:  # nothing checks and types the JSON body of such a method
        raise TableError(f"{where}.subscription_when: only for a catalog operation with a JSON body")
    if catalog is not None:  # a value the body cannot take is a typo: the gate would never hold
        known = _values_of(media.schema, catalog.defs_of(op), field_name)
        unknown = sorted(str(v) for v in values if v not in known)
        if unknown:
            raise TableError(
                f"{where}.subscription_when.in: {', '.join(unknown)} is not a value of the body's "
                f"{field_name} (it takes {', '.join(sorted(map(str, known))) or 'no listed value'})"
            )
    return Subscription(tuple(names), field_name, frozenset(values))


def _values_of(schema: Any, defs: Mapping[str, Any], name: str, depth: int = 0) -> set[Any]:
    """The listed values (enum, const) of the top-level property `name` of a body schema, through its
    $refs and its oneOf/anyOf/allOf branches."""
    if not isinstance(schema, dict) or depth > 20:
        return set()
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _values_of(defs.get(ref.rsplit("/", 1)[-1]), defs, name, depth + 1)
    found: set[Any] = set()
    prop = schema.get("properties", {}).get(name)
    if isinstance(prop, dict):
        found.update(prop.get("enum", ()))
        if "const" in prop:
            found.add(prop["const"])
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(key, ()):
            found |= _values_of(branch, defs, name, depth + 1)
    return found


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
