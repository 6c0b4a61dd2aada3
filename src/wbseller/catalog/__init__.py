"""The catalog of WB's seller API operations: every operation of WB's 14 OpenAPI documents, as facts.

    from wbseller.catalog import load
    cat = load()
    op = cat.by_id("news")             # or cat.by_key("GET", "/api/communications/v2/news")
    op.limit.rate_for("base")          # Rate(period=3600.0, limit=1, burst=1)
    cat.for_host("marketplace-api")    # the operations served there (with /ping)

Built by `python -m wbseller.catalog build --from DIR` into `catalog/data/*.json` (see `catalog.build` and
docs/catalog.md). This module reads only those files: it imports no part of the server, so the client can
use it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wbseller.categories import ALL_HOST_BY_PREFIX

DATA_DIR = Path(__file__).with_name("data")
ALL = "all"  # the category of /ping: every host
TEST = "test"  # the token type of the sandbox


@dataclass(frozen=True, slots=True)
class Rate:
    period: float  # seconds
    limit: int  # requests per period
    burst: int  # requests at once

    @property
    def interval(self) -> float:
        """The emission interval: one request per `interval` seconds once the burst is spent."""
        return self.period / self.limit


@dataclass(frozen=True, slots=True)
class Block:
    strikes: int  # refusals (429) within `window` seconds ...
    window: float
    seconds: float  # ... block the bucket for this long


@dataclass(frozen=True, slots=True)
class Limit:
    group: str | None  # a shared bucket's id; None: the operation's own bucket (its id)
    rates: Mapping[str, Rate]  # token type -> rate; a type missing here cannot call the operation
    costs: Mapping[str, int] = field(default_factory=dict)  # "4xx" (or a status) -> what a response costs
    per_host: bool = False  # one bucket per host (/ping)
    block: Block | None = None
    test_group: str | None = None  # test tokens' bucket on the sandbox twin; None: as for the others
    automation_block: bool = False  # the document warns that automated use is blocked
    overlay: bool = False  # numbers from overlay.toml, not (only) from the document

    def rate_for(self, token_type: str) -> Rate | None:
        return self.rates.get(token_type)

    def cost(self, status: int) -> int:
        """What a response with `status` costs (1 unless a cost rule says otherwise)."""
        return self.costs.get(str(status), self.costs.get(f"{status // 100}xx", 1))

    def bucket(self, op_id: str, token_type: str, host: str) -> str:
        """The bucket's key within one seller: group (or operation), token type, and host where per host."""
        sandbox = token_type == TEST and self.test_group is not None
        base = self.test_group if sandbox else (self.group or op_id)
        return f"{base}:{token_type}:{host}" if self.per_host else f"{base}:{token_type}"


@dataclass(frozen=True, slots=True)
class Media:
    schema: Any  # JSON Schema 2020-12 fragment ($refs to `#/$defs/X` of the operation's section), or None
    example: Any = None
    has_example: bool = False
    examples: Mapping[str, Any] = field(default_factory=dict)  # name -> value


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str  # query, path, header
    required: bool
    schema: Any
    deprecated: bool = False
    example: Any = None
    has_example: bool = False
    examples: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Request:
    required: bool
    content: Mapping[str, Media]  # content type -> media
    max_part: Mapping[str, int] = field(default_factory=dict)  # multipart part name -> bytes


@dataclass(frozen=True, slots=True)
class Operation:
    id: str
    section: str  # the document's slug: `products` for 02-products
    http: str  # GET, POST, ...
    path: str  # the template: /api/v3/orders/{orderId}/stickers
    host: str  # prefix: marketplace-api
    category: str  # our category name (categories.ALL_CATEGORIES), or "all" (/ping)
    read_only: bool
    token_types: frozenset[str]
    limit: Limit
    parameters: tuple[Parameter, ...]
    request: Request | None
    responses: Mapping[str, Mapping[str, Media]]  # status -> content type -> media ({} if no body)
    max_body: int | None = None  # bytes, where the documents state one
    deprecated: bool = False
    operation_id: str | None = None  # WB's own, where it gives one

    @property
    def key(self) -> str:
        return f"{self.http} {self.path}"

    @property
    def templated(self) -> bool:
        return "{" in self.path


@dataclass(frozen=True, slots=True)
class Catalog:
    operations: tuple[Operation, ...]
    defs: Mapping[str, Mapping[str, Any]]  # section -> schema name -> JSON Schema
    _by_id: dict[str, Operation] = field(repr=False)
    _by_key: dict[str, Operation] = field(repr=False)
    _by_host: dict[str, tuple[Operation, ...]] = field(repr=False)

    def by_id(self, op_id: str) -> Operation:
        return self._by_id[op_id]

    def by_key(self, http: str, path: str) -> Operation:
        return self._by_key[f"{http.upper()} {path}"]

    def for_host(self, prefix: str) -> tuple[Operation, ...]:
        """The operations served on a host prefix: its own; on a sandbox twin, the production host's that
        test tokens may call; /ping wherever WB documents one (`Host.ping`)."""
        if prefix not in self._by_host:
            host = ALL_HOST_BY_PREFIX.get(prefix)
            if host is None:
                raise KeyError(prefix)
            if host.sandbox:
                own = prefix.removesuffix("-sandbox")
                ops = [o for o in self.operations if o.host == own and "test" in o.token_types]
            else:
                ops = [o for o in self.operations if o.host == prefix and o.category != ALL]
            if host.ping:
                ops = [o for o in self.operations if o.category == ALL] + ops
            self._by_host[prefix] = tuple(ops)
        return self._by_host[prefix]

    def defs_of(self, op: Operation) -> Mapping[str, Any]:
        """The `$defs` an operation's schemas refer to."""
        return self.defs[op.section]

    def groups(self) -> dict[str, tuple[Operation, ...]]:
        """Named groups (shared buckets) -> their members."""
        out: dict[str, list[Operation]] = {}
        for o in self.operations:
            if o.limit.group is not None:
                out.setdefault(o.limit.group, []).append(o)
        return {g: tuple(ops) for g, ops in out.items()}

    def overlaps(self) -> list[tuple[str, str]]:
        """(literal, template) operation ids of one host and verb whose paths both match some request path,
        e.g. `/api/v1/offers/thumb` and `/api/v1/offers/{offer_id}`: a router must try the literal first."""
        found = []
        for lit in self.operations:
            if lit.templated:
                continue
            for tpl in self.operations:
                if (
                    tpl.templated
                    and tpl.host == lit.host
                    and tpl.http == lit.http
                    and _matches(tpl.path, lit.path)
                ):
                    found.append((lit.id, tpl.id))
        return found


def _matches(template: str, path: str) -> bool:
    a, b = template.split("/"), path.split("/")
    return len(a) == len(b) and all(
        x == y or (x.startswith("{") and x.endswith("}")) for x, y in zip(a, b, strict=True)
    )


def _media(d: Mapping[str, Any]) -> Media:
    return Media(d.get("schema"), d.get("example"), "example" in d, d.get("examples", {}))


def _limit(d: Mapping[str, Any]) -> Limit:
    b = d.get("block")
    return Limit(
        group=d["group"],
        rates={t: Rate(float(r["period"]), int(r["limit"]), int(r["burst"])) for t, r in d["rates"].items()},
        costs=d.get("costs", {}),
        per_host=bool(d.get("per_host", False)),
        block=Block(int(b["strikes"]), float(b["window"]), float(b["seconds"])) if b else None,
        test_group=d.get("test_group"),
        automation_block=bool(d.get("automation_block", False)),
        overlay=bool(d.get("overlay", False)),
    )


def _operation(section: str, d: Mapping[str, Any]) -> Operation:
    req = d.get("request")
    return Operation(
        id=d["id"],
        section=section,
        http=d["http"],
        path=d["path"],
        host=d["host"],
        category=d["category"],
        read_only=d["read_only"],
        token_types=frozenset(d["token_types"]),
        limit=_limit(d["limit"]),
        parameters=tuple(
            Parameter(
                p["name"],
                p["in"],
                p["required"],
                p.get("schema"),
                bool(p.get("deprecated", False)),
                p.get("example"),
                "example" in p,
                p.get("examples", {}),
            )
            for p in d["parameters"]
        ),
        request=None
        if req is None
        else Request(
            req["required"], {c: _media(m) for c, m in req["content"].items()}, req.get("max_part", {})
        ),
        responses={s: {c: _media(m) for c, m in r.items()} for s, r in d["responses"].items()},
        max_body=d.get("max_body"),
        deprecated=bool(d.get("deprecated", False)),
        operation_id=d.get("operation_id"),
    )


def read(data_dir: Path = DATA_DIR) -> Catalog:
    """The catalog in `data_dir` (uncached; `load()` is the cached default)."""
    ops: list[Operation] = []
    defs: dict[str, Mapping[str, Any]] = {}
    for path in sorted(data_dir.glob("[0-9][0-9]-*.json")):
        doc = json.loads(path.read_bytes())
        defs[doc["section"]] = doc["defs"]
        ops.extend(_operation(doc["section"], o) for o in doc["operations"])
    return Catalog(
        tuple(ops),
        defs,
        {o.id: o for o in ops},
        {o.key: o for o in ops},
        {},
    )


@functools.cache
def load() -> Catalog:
    """The checked-in catalog, read once per process."""
    return read()


__all__ = ["Block", "Catalog", "Limit", "Media", "Operation", "Parameter", "Rate", "Request", "load", "read"]
