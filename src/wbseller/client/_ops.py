"""The operations a client can call: the catalog (`wbseller.catalog`), with a deployment's config over it.

The catalog is the one table of WB's operations and their limits, the one the server serves from; the
client reads it and nothing else. A config file (`config=`, the same file as `wbseller serve --config`)
changes it as it changes the server's (methods/general.toml says how):

    [limits.seller-info]        # a bucket id: a named group's slug, or an operation's own id
    rates.personal = { period = 0.3, limit = 3, burst = 3 }   # or rates.all: every token type
    per_host = false
    block = { strikes = 5, window = 60, seconds = 600 }
    costs = { "409" = 5 }       # replaces the operation's cost rules: status (or "4xx") -> cost

    [[methods]]                 # a catalog id: changes its limit (a bucket id), read_only, token_types;
    id = "my-report"            # another id: a method of the deployment's, callable by that id
    http = "GET"
    path = "/api/v1/my-report"
    category = "common"
    read_only = true
    token_types = ["personal"]
    limit = "seller-info"       # shares that bucket; or a [limits.*] of the file

A bucket id no operation has and the file does not define (the server's `auth-failures`) paces nothing
here; `handler`, `max_body`, `subscription`, `summary` and `[server]` are the server's business.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from wbseller.catalog import ALL, Catalog, Limit, Operation
from wbseller.catalog.config import TOKEN_TYPES, Config, LimitChange, read_config
from wbseller.categories import ALL_BY_NAME
from wbseller.client.exceptions import InvalidCall, UnknownOperation

MATCHES = 5  # close matches named when an id is unknown
CONFIG_SECTION = "config"  # the `section` of a method a config file adds
_VAR = re.compile(r"\{([^{}]+)\}")

PathValue = str | int


def bucket_name(op: Operation) -> str:
    """The bucket id of an operation (what `[limits.NAME]` names): its group, else its own id."""
    return op.limit.group or op.id


class Operations:
    """The catalog's operations by id (or by `VERB /path`), with a config file's changes and methods."""

    def __init__(self, catalog: Catalog, config: Config | None = None, where: str = "config") -> None:
        self.catalog = catalog
        self.config = config or Config()
        self._cache: dict[str, Operation] = {}
        self._rows: dict[str, Mapping[str, Any]] = {}
        self._added: dict[str, Operation] = {}
        for row in self.config.methods:
            rid = str(row["id"])
            try:
                catalog.by_id(rid)
            except KeyError:
                self._added[rid] = self._new(row, f"{where}: methods[{rid}]")
            else:
                self._rows[rid] = row
        for rid in self._rows:  # check the rows now, not at the first call
            self.get(rid)

    def get(self, name: str) -> Operation:
        op = self._cache.get(name)
        if op is None:
            op = self._added.get(name) or self._changed(self._find(name))
            self._cache[name] = op
        return op

    def _find(self, name: str) -> Operation:
        try:
            return self.catalog.by_id(name)
        except KeyError:
            pass
        verb, _, path = name.strip().partition(" ")
        if path:
            try:
                return self.catalog.by_key(verb, path.strip())
            except KeyError:
                pass
        matches = self.close_matches(name)
        hint = f"; did you mean {', '.join(matches)}?" if matches else ""
        raise UnknownOperation(
            f"no operation {name!r} in the catalog{hint} (where the ids are: docs/client.md, Operation ids)",
            name=name,
            matches=matches,
        )

    def close_matches(self, name: str) -> tuple[str, ...]:
        """Ids like `name`: those containing it first (shortest first), then difflib's closest."""
        ids = [o.id for o in self.catalog.operations] + list(self._added)
        needle = name.strip().lower()
        contained = sorted((i for i in ids if needle and needle in i), key=lambda i: (len(i), i))
        close = difflib.get_close_matches(needle, ids, n=MATCHES, cutoff=0.6)
        found = dict.fromkeys([*contained, *close])  # ordered, without repeats
        return tuple(list(found)[:MATCHES])

    def limit_named(self, name: str) -> Limit:
        """The limit of bucket `name`, as a config's `limit = name` means it: an operation's (a group's
        first member, as the server takes it) with the file's change, else the file's own, else none."""
        for op in self.catalog.operations:
            if bucket_name(op) == name:
                return dataclasses.replace(self._limit(op), group=name)
        change = self.config.limits.get(name)
        return change.limit(name) if change is not None else Limit(group=name, rates={})

    def _limit(self, op: Operation) -> Limit:
        change = self.config.limits.get(bucket_name(op))
        return op.limit if change is None else change.apply(op.limit)

    def _changed(self, op: Operation) -> Operation:
        row = self._rows.get(op.id)
        limit = self._limit(op)
        if row is None:
            return op if limit is op.limit else dataclasses.replace(op, limit=limit)
        where = f"config: methods[{op.id}]"
        if "limit" in row:
            limit = self.limit_named(_field(row, "limit", str, where))
        return dataclasses.replace(
            op,
            limit=limit,
            read_only=_field(row, "read_only", bool, where) if "read_only" in row else op.read_only,
            token_types=_types(row, where) if "token_types" in row else op.token_types,
        )

    def _new(self, row: Mapping[str, Any], where: str) -> Operation:
        category = _field(row, "category", str, where)
        if category != ALL and category not in ALL_BY_NAME:
            raise ValueError(f"{where}: unknown category {category!r}")
        path = _field(row, "path", str, where)
        if not path.startswith("/"):
            raise ValueError(f"{where}: path must start with /")
        return Operation(
            id=str(row["id"]),
            section=CONFIG_SECTION,
            http=_field(row, "http", str, where).upper(),
            path=path,
            host="" if category == ALL else ALL_BY_NAME[category].prefix,
            category=category,
            read_only=_field(row, "read_only", bool, where),
            token_types=_types(row, where),
            limit=self.limit_named(_field(row, "limit", str, where)),
            parameters=(),
            request=None,
            responses={},
        )


def _field(row: Mapping[str, Any], key: str, kind: type[Any], where: str) -> Any:
    if key not in row:
        raise ValueError(f"{where}: missing {key!r}")
    if not isinstance(row[key], kind):
        raise ValueError(f"{where}.{key}: expected {kind.__name__}")
    return row[key]


def _types(row: Mapping[str, Any], where: str) -> frozenset[str]:
    types = _field(row, "token_types", list, where)
    bad = [t for t in types if t not in TOKEN_TYPES]
    if bad:
        raise ValueError(f"{where}.token_types: unknown {bad}; expected some of {TOKEN_TYPES}")
    return frozenset(types)


def fill_path(op: Operation, values: Mapping[str, PathValue] | None) -> str:
    """The operation's path with its `{variables}` filled in, each value percent-quoted whole (a `/` in a
    value stays inside it). InvalidCall, before anything is sent, for a missing, unknown or bad value."""
    names = _VAR.findall(op.path)
    given = dict(values or {})
    for key in given:
        if key not in names:
            near = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
            expected = (
                f"did you mean {near[0]!r}?"
                if near
                else f"it has {', '.join(names)}"
                if names
                else "it has none"
            )
            raise InvalidCall(f"{op.id}: no path parameter {key!r} in {op.path}; {expected}", operation=op.id)
    missing = [n for n in names if n not in given]
    if missing:
        raise InvalidCall(
            f"{op.id} needs path={{{', '.join(repr(n) + ': ...' for n in missing)}}} for {op.path}",
            operation=op.id,
        )

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        v = given[name]
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise InvalidCall(
                f"{op.id}: path parameter {name!r} must be a string or an integer, not {type(v).__name__}",
                operation=op.id,
            )
        text = str(v)
        if text in {"", ".", ".."}:  # an empty segment or a dot segment would name another path
            raise InvalidCall(f"{op.id}: path parameter {name!r} cannot be {text!r}", operation=op.id)
        return quote(text, safe="")

    return _VAR.sub(value, op.path)


__all__ = ["Config", "LimitChange", "Operations", "PathValue", "bucket_name", "fill_path", "read_config"]
